#!/usr/bin/env bash
# Build and run the demo on a fresh machine: installs the few build
# packages the box's audio needs (cmake for the bundled libopus, ALSA
# headers), then runs `vigie demo` (a whole Region on embedded SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -e /usr/include/alsa/asoundlib.h ] || need+=(libasound2-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing build packages: ${need[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi
exec cargo run --release -p vigie -- demo "$@"
