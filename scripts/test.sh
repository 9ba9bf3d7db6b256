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
command -v cmake >/dev/null || need_apt+=(cmake)            # bundled libopus
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -e /usr/include/alsa/asoundlib.h ] || need_apt+=(libasound2-dev)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)     # test speech
command -v sox >/dev/null || need_apt+=(sox)
command -v opusinfo >/dev/null || need_apt+=(opus-tools)
command -v openssl >/dev/null || need_apt+=(openssl)         # the test TSA
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

if ! python3 -c 'import moto, sys; sys.exit(moto.__version__ != "5.2.5")' 2>/dev/null; then
  say "installing the S3 peer (moto)"
  pip install --quiet 'moto[server]==5.2.5'
fi

if [ ! -d tests/peers/smsc/node_modules/smpp ]; then
  say "installing the SMSC simulator (npm smpp)"
  npm ci --prefix tests/peers/smsc --no-audit --no-fund >/dev/null
fi

say "format"
cargo fmt --all -- --check

say "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

say "tests"
set +e
cargo test --workspace 2>&1 | tee /tmp/vigie-test.log | grep -E '^(test result|failures:|---- |thread .* panicked)'
tests_rc=${PIPESTATUS[0]}
set -e
passed=$(grep -oE '[0-9]+ passed' /tmp/vigie-test.log | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '[0-9]+ failed' /tmp/vigie-test.log | awk '{s+=$1} END {print s+0}')

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

echo "tests: $passed passed, $failed failed"
[ "$tests_rc" -eq 0 ] && [ "$demo_rc" -eq 0 ]
