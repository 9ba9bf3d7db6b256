#!/usr/bin/env bash
# Compare one `vigie bench` between a revision and the working tree.
#
#   scripts/bench-compare.sh [-n ROUNDS] REV [BENCH ARGS…]
#
# Builds REV (release) in a git worktree beside this checkout, with its own
# target folder, and builds the working tree; then runs the same bench on
# both alternately (REV, working tree, REV, working tree…, ROUNDS pairs,
# default 5) with --no-record, so docs/benchmarks.md is left alone. Every
# figure the bench prints in its tables is read back; the script prints,
# for each, the median with min and max over the rounds for both builds,
# and the ratio of the medians (working tree / REV: above 1 is slower when
# the figure is a time). The whole run's wall time is one more figure.
# BENCH ARGS default to `storm`.
#
# Environment:
#   CARGO_TARGET_DIR            the working tree's target folder (default: ./target)
#   BENCH_COMPARE_WORKTREE      REV's worktree (default: ../<checkout>-<rev>)
#   BENCH_COMPARE_TARGET        REV's target folder (default: <worktree>/target)
#   BENCH_COMPARE_SEED=0        do not seed a new target folder for REV with a
#                               copy of the working tree's release build (the
#                               seed spares rebuilding the dependencies)
#   BENCH_COMPARE_OUT           where each run's output is kept
#                               (default: a new folder under ${TMPDIR:-/tmp})
set -euo pipefail

usage() {
  sed -n '4p' "$0" | sed 's/^# *//' >&2
  exit 2
}

rounds=5
while getopts 'n:h' opt; do
  case "$opt" in
    n) rounds="$OPTARG" ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
case "$rounds" in
  '' | *[!0-9]* | 0) echo "bench-compare: -n wants a positive whole number" >&2; exit 2 ;;
esac
rev_arg="$1"
shift
bench_args=("$@")
[ ${#bench_args[@]} -gt 0 ] || bench_args=(storm)
have_no_record=0
for a in "${bench_args[@]}"; do
  [ "$a" = --no-record ] && have_no_record=1
done
[ "$have_no_record" = 1 ] || bench_args+=(--no-record)

top="$(git rev-parse --show-toplevel)"
cd "$top"
rev="$(git rev-parse --verify --quiet "${rev_arg}^{commit}")" \
  || { echo "bench-compare: no such revision: $rev_arg" >&2; exit 2; }
short="$(git rev-parse --short "$rev")"
head_desc="$(git rev-parse --short HEAD)"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  head_desc="$head_desc (with uncommitted changes)"
fi

new_target="${CARGO_TARGET_DIR:-$top/target}"
old_tree="${BENCH_COMPARE_WORKTREE:-$(dirname "$top")/$(basename "$top")-$short}"
old_target="${BENCH_COMPARE_TARGET:-$old_tree/target}"
out="${BENCH_COMPARE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")}"
mkdir -p "$out"

say() { printf '== %s\n' "$*" >&2; }

# REV's worktree, detached at REV.
if [ -e "$old_tree/.git" ]; then
  if [ "$(git -C "$old_tree" rev-parse HEAD)" != "$rev" ]; then
    say "moving $old_tree to $short"
    git -C "$old_tree" checkout --quiet --detach "$rev"
  fi
else
  say "worktree $old_tree at $short"
  git worktree add --quiet --detach "$old_tree" "$rev"
fi

# The SMSC simulator each build starts is the one in its own tree.
for tree in "$top" "$old_tree"; do
  if [ ! -d "$tree/tests/peers/smsc/node_modules/smpp" ]; then
    say "installing the SMSC simulator in $tree"
    npm ci --prefix "$tree/tests/peers/smsc" --no-audit --no-fund >/dev/null
  fi
done

# One build at a time: the machine is shared.
say "building the working tree (release, $new_target)"
CARGO_TARGET_DIR="$new_target" cargo build --release --quiet -p vigie
if [ ! -d "$old_target/release" ] && [ "${BENCH_COMPARE_SEED:-1}" != 0 ] \
  && [ -d "$new_target/release" ]; then
  say "seeding $old_target with the working tree's release build"
  mkdir -p "$old_target"
  cp -a --reflink=auto "$new_target/release" "$old_target/"
fi
say "building $short (release, $old_target)"
(cd "$old_tree" && CARGO_TARGET_DIR="$old_target" cargo build --release --quiet -p vigie)

old_bin="$old_target/release/vigie"
new_bin="$new_target/release/vigie"

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
[ -n "$cpu" ] || cpu="$(uname -m)"
mem_gib="$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
machine="$(nproc) CPUs (nproc), $cpu, $mem_gib GiB RAM"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

run_one() { # SIDE ROUND BIN
  local file="$out/$1-$2.txt" t0 t1 code=0
  t0="$(date +%s.%N)"
  "$3" bench "${bench_args[@]}" >"$file" 2>&1 </dev/null || code=$?
  t1="$(date +%s.%N)"
  printf '\nbench-compare: exit %s, whole run %s s\n' "$code" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" >>"$file"
  [ "$code" = 0 ] || say "$1 round $2 exited with $code (see $file)"
}

for i in $(seq 1 "$rounds"); do
  say "round $i/$rounds: $short"
  run_one old "$i" "$old_bin"
  say "round $i/$rounds: working tree"
  run_one new "$i" "$new_bin"
done
finished="$(date -u '+%H:%M UTC')"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "vigie bench ${bench_args[*]}: $short (old) against $head_desc (new), $rounds rounds alternately"
echo "machine: $machine; load average before / after: $load_before / $load_after"
echo "date: $started – $finished"
echo "runs kept in $out"
echo
python3 - "$out" "$rounds" <<'PY'
"""Read every figure of the bench's tables back and compare the two sides."""
import re
import statistics
import sys

out, rounds = sys.argv[1], int(sys.argv[2])
NUM = re.compile(r"-?\d+(?:\.\d+)?")
UNIT = re.compile(r"(ms|s|µs|MiB|GiB|%|/s)(?!\w)")


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def names_for(header, value, numbers):
    """One name per number of a cell: the column's " / " parts when they
    match the count, else the words before each number in its clause."""
    tail = re.split(r"[:,]", header)[-1]
    parts = [p.strip() for p in re.split(r" / | vs ", tail)]
    if len(parts) == len(numbers) > 1:
        return parts
    names = []
    for m in numbers:
        start = max(value.rfind(s, 0, m.start()) for s in (";", ",", "(", " / ", " vs "))
        before = value[start + 1 : m.start()] if start >= 0 else value[: m.start()]
        before = re.sub(r"^(vs\b|[\d./\s])+", "", before.strip(" ;,(")).strip()
        names.append(before or ("" if not names else f"#{len(names) + 1}"))
    return names


def figures(path):
    figs = {}
    header = None
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    for line in lines:
        m = re.match(r"bench-compare: exit (\d+), whole run ([\d.]+) s", line)
        if m:
            figs["whole run (s)"] = float(m.group(2))
            if m.group(1) != "0":
                return None
            continue
        if not line.startswith("|"):
            header = None
            continue
        row = cells(line)
        if header is None:
            header = row
            continue
        if all(set(c) <= set("-: ") for c in row):
            continue
        for k, value in enumerate(row[1:], start=1):
            col = header[k] if k < len(header) else ""
            if col == "target":
                continue
            numbers = list(NUM.finditer(value))
            where = row[0] if col in ("value", "") else f"{row[0]} — {col}"
            units = [UNIT.match(value[n.end() :].lstrip()) for n in numbers]
            cell_unit = units[-1] if units else None
            for k2, (name, n) in enumerate(zip(names_for(where if len(header) > 3 else row[0], value, numbers), numbers)):
                unit = units[k2]
                if unit is None and value[n.end() :].startswith(" / "):
                    unit = cell_unit
                label = f"{where}: {name}" if name else where
                label += f" ({unit.group(1)})" if unit else ""
                figs.setdefault(label, float(n.group()))
    return figs


sides = {}
for side in ("old", "new"):
    runs = []
    for i in range(1, rounds + 1):
        try:
            f = figures(f"{out}/{side}-{i}.txt")
        except FileNotFoundError:
            f = None
        if f is not None:
            runs.append(f)
    sides[side] = runs

print(f"runs that finished: old {len(sides['old'])}/{rounds}, new {len(sides['new'])}/{rounds}")
labels = []
for run in sides["old"] + sides["new"]:
    for label in run:
        if label not in labels:
            labels.append(label)


def summary(values):
    if not values:
        return "—", None
    med = statistics.median(values)
    return f"{med:g} [{min(values):g}–{max(values):g}]", med


print()
print("| figure | old: median [min–max] | new: median [min–max] | new/old |")
print("| --- | --- | --- | ---: |")
same = []
for label in labels:
    olds = [r[label] for r in sides["old"] if label in r]
    news = [r[label] for r in sides["new"] if label in r]
    if len(set(olds + news)) == 1 and len(olds) == len(sides["old"]) and len(news) == len(sides["new"]):
        same.append(f"{label} = {olds[0] if olds else news[0]:g}")
        continue
    old_text, old_med = summary(olds)
    new_text, new_med = summary(news)
    ratio = f"{new_med / old_med:.2f}" if old_med and new_med is not None else "—"
    print(f"| {label} | {old_text} | {new_text} | {ratio} |")
if same:
    print()
    print("the same in every run of both: " + "; ".join(same))
PY
