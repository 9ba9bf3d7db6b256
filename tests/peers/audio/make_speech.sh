#!/usr/bin/env bash
# Makes test speech for the recorder and the timeline: French sentences
# spoken by espeak-ng, one of them shouted (louder by sox), a silent gap,
# low brown noise under everything; 16 kHz mono 16-bit WAV.
#
#   tests/peers/audio/make_speech.sh OUT.wav   > passages.json
#
# Prints on stdout, as JSON, where each passage is (seconds from the start),
# so tests compare what they detect with what was put there.
# Needs: espeak-ng, sox (Debian packages of the same names).
set -euo pipefail

out=${1:?usage: make_speech.sh OUT.wav}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Repeatable randomness (noise, dither) in every sox call: a test run is reproducible.
export SOX_OPTS="-R"

rate=16000
# Levels: normal speech peaks at -20 dBFS, the shout at -3 dBFS (17 dB louder,
# as a raised voice is 10-20 dB above normal speech); noise about -45 dBFS RMS.
normal_peak_db=-20
shout_peak_db=-3
noise_vol=0.01

fmt=(-r "$rate" -c 1 -b 16)

# say NAME PEAK_DB ESPEAK_ARGS... TEXT: a trimmed utterance at a given peak level.
say() {
  local name=$1 peak=$2
  shift 2
  espeak-ng -v fr "$@" -w "$work/$name.raw.wav"
  sox "$work/$name.raw.wav" "${fmt[@]}" "$work/$name.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm "$peak"
}
gap() { sox -n "${fmt[@]}" "$work/$1.wav" trim 0 "$2"; }
len() { soxi -D "$1"; }

gap lead 1.0
say calm1 "$normal_peak_db" -s 150 "Donne-moi la caisse."
gap pause1 0.8
say shout "$shout_peak_db" -s 190 -p 80 -a 200 "Je vais te tuer, donne l'argent !"
gap silence 4.0
say calm2 "$normal_peak_db" -s 150 "Calmez-vous, je vous donne tout. Partez maintenant."
gap tail 1.0

parts=(lead calm1 pause1 shout silence calm2 tail)
files=()
for p in "${parts[@]}"; do files+=("$work/$p.wav"); done
sox "${files[@]}" "$work/speech.wav"
total=$(len "$work/speech.wav")
sox -n "${fmt[@]}" "$work/noise.wav" synth "$total" brownnoise vol "$noise_vol"
sox -m -v 1 "$work/speech.wav" -v 1 "$work/noise.wav" "${fmt[@]}" "$out"

# Passage times, from the lengths of the pieces.
python3 - "$work" "${parts[@]}" <<'EOF'
import json, subprocess, sys
work, parts = sys.argv[1], sys.argv[2:]
kinds = {"lead": "silence", "pause1": "silence", "silence": "silence", "tail": "silence",
         "calm1": "speech", "calm2": "speech", "shout": "shout"}
texts = {"calm1": "Donne-moi la caisse.", "shout": "Je vais te tuer, donne l'argent !",
         "calm2": "Calmez-vous, je vous donne tout. Partez maintenant."}
t, passages = 0.0, []
for p in parts:
    d = float(subprocess.check_output(["soxi", "-D", f"{work}/{p}.wav"]).decode())
    passages.append({"name": p, "kind": kinds[p], "start": round(t, 3), "end": round(t + d, 3),
                     **({"text": texts[p]} if p in texts else {})})
    t += d
print(json.dumps({"sample_rate": 16000, "duration": round(t, 3), "passages": passages}, ensure_ascii=False))
EOF
