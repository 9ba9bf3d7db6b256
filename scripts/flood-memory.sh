#!/usr/bin/env bash
# The hub's peak resident memory under an inbound SMS flood (issue 10):
# runs the process test that floods `vigie serve` with 10,000 deliver_sm
# from the npm SMSC simulator (kill -9 mid-flood, then the redelivery), and
# reads every `vigie serve` process's VmHWM from /proc while it runs; then
# the same figure for an idle hub that has just become ready.
# Usage: scripts/flood-memory.sh   (prints one line per hub process)
set -euo pipefail
cd "$(dirname "$0")/.."

POLL_S=0.05
work=$(mktemp -d)
trap 'touch "$work/stop"; wait 2>/dev/null; pkill -f "vigie serve --config $work" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build -q -p vigie
poll() {
  while [ ! -e "$work/stop" ]; do
    for p in $(pgrep -f "vigie serve" || true); do
      awk -v p="$p" '/^VmHWM/ {print p, $2}' "/proc/$p/status" 2>/dev/null || true
    done
    sleep "$POLL_S"
  done >> "$work/hwm"
}
poll &
cargo test -q -p vigie --test it kill_9_during_an_inbound_flood -- --nocapture 2>&1 | grep -E '^flood:'
touch "$work/stop"
wait
awk '{ if ($2 > m[$1]) m[$1] = $2 } END { for (p in m) printf "flood: hub process %s peak %.1f MiB\n", p, m[p] / 1024 }' "$work/hwm" | sort

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[server]\nlisten = "127.0.0.1:%s"\npublic_url = "http://127.0.0.1:%s"\n[store]\nsqlite_path = "%s/hub.db"\n[[gateways]]\nkind = "log"\nname = "phones"\n' \
  "$port" "$port" "$work" > "$work/vigie.toml"
"${CARGO_TARGET_DIR:-target}/debug/vigie" serve --config "$work/vigie.toml" > "$work/serve.log" 2>&1 &
hub=$!
curl -sf --retry 50 --retry-delay 1 --retry-connrefused "http://127.0.0.1:$port/readyz" > /dev/null
awk '/^VmHWM/ { printf "idle: ready hub peak %.1f MiB\n", $2 / 1024 }' "/proc/$hub/status"
kill "$hub"
