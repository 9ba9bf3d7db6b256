#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (issue 10) for SECONDS each, one after the
# other, in process (one worker), from the seeds in fuzz/corpus/TARGET, and prints
# per target the executions and executions per second, then
# `fuzz: N passed, M failed`. Exits non-zero if any target found a crash,
# a hang (-timeout), or an allocation over -rss_limit_mb.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 15 s, all)
#
# cargo-fuzz on the stable toolchain: no sanitizer (`-s none`); overflow
# checks and debug assertions stay on. Builds go to $FUZZ_TARGET_DIR
# (default fuzz/target). What a run finds is kept in
# $FUZZ_TARGET_DIR/fuzz-work/{corpus,artifacts}/TARGET, not in the repo.
set -uo pipefail

seconds=${1:-15}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
work=$target_dir/fuzz-work

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || exit 1
fi

cd "$root/fuzz" || exit 1
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "fuzz: building ${#targets[@]} targets" >&2
cargo fuzz build -s none --target-dir "$target_dir" || {
    echo "fuzz: 0 passed, ${#targets[@]} failed (build)"
    exit 1
}

# Largest input per target: a little above its largest real input.
max_len() {
    case "$1" in
        evidence_verify | evidence_zip) echo 65536 ;;
        ogg_opus | smpp_pdu) echo 16384 ;;
        # dc09_frame: a little above FRAME_BYTES_MAX (4105), so over-long frames are tried.
        tsa_token | shop_csv | evidence_files | dc09_frame) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

passed=0
failed=0
failures=()
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    log=$work/$t.log
    seeds=$root/fuzz/corpus/$t
    [ -d "$seeds" ] || seeds=
    cargo fuzz run -s none --target-dir "$target_dir" "$t" "$work/corpus/$t" ${seeds:+"$seeds"} -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -timeout=5 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        printf 'fuzz: %-16s ok     %12s executions  %8s exec/s  (%s s)\n' "$t" "${runs:-?}" "${rate:-?}" "$seconds"
    else
        failed=$((failed + 1))
        failures+=("$t")
        printf 'fuzz: %-16s FAILED %12s executions  %8s exec/s  (log %s)\n' "$t" "${runs:-?}" "${rate:-?}" "$log"
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -8 | sed 's/^/    /'
    fi
done
echo "fuzz: $passed passed, $failed failed${failures[*]:+ (${failures[*]})}"
[ "$failed" -eq 0 ]
