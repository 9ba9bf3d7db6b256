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
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
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
cargo test --workspace --quiet 2>&1 | tee /tmp/vigie-test.log | grep -vE '^(running [0-9]+ tests?|)$' | grep -vE '^test .* \.\.\. ok$' || true
grep -q "FAILED\|error\[" /tmp/vigie-test.log && { echo "tests failed"; exit 1; }

say "demo scenario"
cargo run --quiet -p vigie -- demo --scenario --port 0 | tail -3

passed=$(grep -oE '[0-9]+ passed' /tmp/vigie-test.log | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '[0-9]+ failed' /tmp/vigie-test.log | awk '{s+=$1} END {print s+0}')
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
