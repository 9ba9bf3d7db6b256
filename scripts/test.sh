#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the tests need if it
# is missing (Debian packages, the npm SMSC simulator), then checks
# formatting and lints, runs every test against the real peers, and plays
# the demo scenario.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
[ -x /usr/sbin/bearerbox ] || need_apt+=(kannel)
[ -x /usr/lib/kannel/test/fakesmsc ] || need_apt+=(kannel-extras)
command -v socat >/dev/null || need_apt+=(socat)
command -v curl >/dev/null || need_apt+=(curl)
command -v cmake >/dev/null || need_apt+=(cmake)            # bundled libopus
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -e /usr/include/alsa/asoundlib.h ] || need_apt+=(libasound2-dev)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)     # test speech
command -v faketime >/dev/null || need_apt+=(faketime)       # the test TSA's clock
command -v sox >/dev/null || need_apt+=(sox)
command -v opusinfo >/dev/null || need_apt+=(opus-tools)
command -v openssl >/dev/null || need_apt+=(openssl)         # the test TSA
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)  # the test kit's PostgreSQL
[ -x /usr/bin/chromium ] || need_apt+=(chromium)             # the console's browser tests
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import gsmmodem, serial' 2>/dev/null; then
  say "installing the independent modem client (python-gsmmodem-new)"
  pip install --quiet python-gsmmodem-new==0.13.0 pyserial==3.5
fi

if ! command -v st >/dev/null || [ "$(st --version 2>/dev/null)" != "st, version 4.32.5" ]; then
  say "installing the OpenAPI checker (schemathesis)"
  pip install --quiet schemathesis==4.32.5
fi

if ! python3 -c 'import moto, sys; sys.exit(moto.__version__ != "5.2.5")' 2>/dev/null; then
  say "installing the S3 peer (moto)"
  pip install --quiet 'moto[server]==5.2.5'
fi

if ! python3 -c 'import siadc09, pysiaalarm, importlib.metadata as m, sys; sys.exit(m.version("siadc09") != "1.0.1" or m.version("pysiaalarm") != "3.2.2")' 2>/dev/null; then
  say "installing the DC-09 peers (siadc09, pysiaalarm)"
  pip install --quiet siadc09==1.0.1 pysiaalarm==3.2.2
fi

if [ ! -d tests/peers/smsc/node_modules/smpp ]; then
  say "installing the SMSC simulator (npm smpp)"
  npm ci --prefix tests/peers/smsc --no-audit --no-fund >/dev/null
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  say "installing the browser tests' driver (npm playwright-core, axe-core)"
  # playwright-core never downloads a browser: the tests drive Debian's chromium.
  npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
fi

say "format"
cargo fmt --all -- --check

say "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

say "tests"
# A pass runs the Rust tests once with an environment: run_pass NAME
# VAR=VALUE… -- COMMAND…. It prints one line, "NAME: N passed, N failed"
# (the sum of the pass's `test result:` lines), kept for the summary.
pass_lines=()
tests_rc=0
passed=0
failed=0
run_pass() {
  local name=$1 log
  shift
  local vars=()
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  if [ "$name" = sqlite ]; then log=/tmp/vigie-test.log; else log=/tmp/vigie-test-$name.log; fi
  local started=$SECONDS
  set +e
  env "${vars[@]}" "$@" 2>&1 | tee "$log" | grep -E '^(test result|failures:|---- |thread .* panicked)'
  local rc=${PIPESTATUS[0]}
  set -e
  local took=$((SECONDS - started))
  local pass_passed pass_failed
  read -r pass_passed pass_failed < <(awk '/^test result:/ {
      for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p += $(i - 1); if ($i ~ /^failed/) f += $(i - 1) }
    } END { print p + 0, f + 0 }' "$log")
  # A pass that stopped before its tests ran (a build failure) still counts as a failure.
  if [ "$rc" -ne 0 ] && [ "$pass_failed" -eq 0 ]; then pass_failed=1; fi
  local line="$name: $pass_passed passed, $pass_failed failed in ${took} s (full log: $log)"
  echo "$line"
  pass_lines+=("$line")
  passed=$((passed + pass_passed))
  failed=$((failed + pass_failed))
  if [ "$rc" -ne 0 ]; then tests_rc=$rc; fi
}

# The store, engine, API, console and binary tests run twice, once on each
# backend (the test kit's PostgreSQL server for the second): the same tests,
# so both lines show the same N. The other crates do not touch the store.
store_crates=(-p vigie-testkit -p vigie-hub -p vigie-console -p vigie)
# --no-fail-fast: a failing test binary does not hide the others, so both
# passes count the same tests.
run_pass sqlite VIGIE_TEST_BACKEND=sqlite -- cargo test --no-fail-fast "${store_crates[@]}"
run_pass postgres VIGIE_TEST_BACKEND=postgres -- cargo test --no-fail-fast "${store_crates[@]}"
# Several hubs on one PostgreSQL database (processes of their own, so a
# binary of its own that plain `cargo test` leaves out).
run_pass hubs VIGIE_TEST_BACKEND=postgres -- cargo test --no-fail-fast -p vigie --test hubs
run_pass others VIGIE_TEST_BACKEND=sqlite -- cargo test --no-fail-fast --workspace \
  --exclude vigie-testkit --exclude vigie-hub --exclude vigie-console --exclude vigie

say "demo scenario"
demo_rc=0
cargo run --quiet -p vigie -- demo --scenario --port 0 > /tmp/vigie-demo.log 2>&1 || demo_rc=$?
tail -1 /tmp/vigie-demo.log
if [ "$demo_rc" -ne 0 ]; then
  grep -E 'ÉCHEC|FAILED|Error' /tmp/vigie-demo.log || true
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi

say "browser tests (the console in headless Chromium)"
browser_rc=0
if cargo build -q -p vigie; then
  # One file at a time: each drives Chromium and a hub, and on 2 cores two
  # at once starve the map's redraws (the suite takes as long either way).
  VIGIE_BIN="${CARGO_TARGET_DIR:-target}/debug/vigie" node --test --test-concurrency=1 --test-reporter=spec tests/browser/ > /tmp/vigie-browser.log 2>&1 || browser_rc=$?
else
  browser_rc=$?
  echo "cargo build -p vigie failed" > /tmp/vigie-browser.log
fi
if [ "$browser_rc" -ne 0 ]; then
  if grep -q 'failing tests:' /tmp/vigie-browser.log; then
    sed -n '/failing tests:/,$p' /tmp/vigie-browser.log
  else
    tail -40 /tmp/vigie-browser.log
  fi
fi
grep -E '^(hub files|screenshots)' /tmp/vigie-browser.log || true
browser_passed=$( (grep -E '^ℹ pass [0-9]+' /tmp/vigie-browser.log || true) | awk '{s+=$3} END {print s+0}')
browser_failed=$( (grep -E '^ℹ (fail|cancelled) [0-9]+' /tmp/vigie-browser.log || true) | awk '{s+=$3} END {print s+0}')
# A run that ended before its summary (a crash, a build failure) still counts as a failure.
if [ "$browser_rc" -ne 0 ] && [ "$browser_failed" -eq 0 ]; then browser_failed=1; fi
echo "browser: $browser_passed passed, $browser_failed failed (full log: /tmp/vigie-browser.log)"
passed=$((passed + browser_passed))
failed=$((failed + browser_failed))

say "the device API against its OpenAPI document (schemathesis, a live vigie serve)"
api_rc=0
api_dir=$(mktemp -d)
api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$api_dir/vigie.toml" <<TOML
[server]
listen = "127.0.0.1:$api_port"
public_url = "http://127.0.0.1:$api_port"
[store]
sqlite_path = "$api_dir/hub.db"
[[gateways]]
kind = "log"
name = "phones"
TOML
"${CARGO_TARGET_DIR:-target}/debug/vigie" serve --config "$api_dir/vigie.toml" > "$api_dir/hub.log" 2>&1 &
api_hub=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# Every check but two: signed routes cannot be signed by the checker
# (ignored_auth), and a schema cannot say that a public key must be a point
# on the curve or that an enrolment code must exist (positive_data_acceptance).
# (Run from the hub's folder: schemathesis keeps its state in ./.schemathesis.)
(cd "$api_dir" && st run "http://127.0.0.1:$api_port/v1/openapi.json" --checks all \
  --exclude-checks ignored_auth,positive_data_acceptance \
  --max-examples 50 --workers 2 --seed 1795699920) > /tmp/vigie-schemathesis.log 2>&1 || api_rc=$?
kill "$api_hub" 2>/dev/null || true
wait "$api_hub" 2>/dev/null || true
tail -3 /tmp/vigie-schemathesis.log
if [ "$api_rc" -ne 0 ]; then
  sed -n '/FAILURES/,$p' /tmp/vigie-schemathesis.log | head -80
  failed=$((failed + 1))
  echo "schemathesis: 0 passed, 1 failed (full log: /tmp/vigie-schemathesis.log)"
else
  passed=$((passed + 1))
  echo "schemathesis: 1 passed, 0 failed"
fi
rm -rf "$api_dir"

say "fuzzing: every parser that takes bytes from outside, briefly (the long run is in docs/benchmarks.md)"
fuzz_rc=0
target_root=${CARGO_TARGET_DIR:-target}
case "$target_root" in /*) ;; *) target_root="$(pwd)/$target_root" ;; esac
FUZZ_TARGET_DIR="$target_root/fuzz" bash scripts/fuzz.sh "${VIGIE_FUZZ_SECONDS:-10}" > /tmp/vigie-fuzz.log 2>&1 || fuzz_rc=$?
grep -E '^fuzz:' /tmp/vigie-fuzz.log || tail -20 /tmp/vigie-fuzz.log
fuzz_passed=$( (grep -E '^fuzz: [0-9]+ passed' /tmp/vigie-fuzz.log || true) | awk '{print $2}' | tail -1)
fuzz_failed=$( (grep -E '^fuzz: [0-9]+ passed' /tmp/vigie-fuzz.log || true) | awk '{print $4}' | tail -1)
if [ "$fuzz_rc" -ne 0 ] && [ "${fuzz_failed:-0}" -eq 0 ]; then fuzz_failed=1; fi
passed=$((passed + ${fuzz_passed:-0}))
failed=$((failed + ${fuzz_failed:-0}))

say "summary"
for line in "${pass_lines[@]}"; do echo "$line"; done
echo "tests: $passed passed, $failed failed"
[ "$tests_rc" -eq 0 ] && [ "$demo_rc" -eq 0 ] && [ "$browser_rc" -eq 0 ] && [ "$api_rc" -eq 0 ] && [ "$fuzz_rc" -eq 0 ]
