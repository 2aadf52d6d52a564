#!/usr/bin/env bash
# Ordering mutation check (`make mutants`, first half): weaken each atomic
# memory ordering in kernel/mm/src/refcount/ in turn, run the loom models
# (tests/loom.rs), and report which weakenings survive (the models still
# pass). 0 survivors expected: every ordering of the refcount protocol is
# needed by some model; docs/refcount.md lists which model catches which.
#
# Weakenings per site: SeqCst -> Relaxed, Release; AcqRel -> Relaxed,
# Acquire, Release; Acquire -> Relaxed; Release -> Relaxed. (Never an
# ordering that is invalid for the operation: failure orderings of a
# compare-exchange are never made Release/AcqRel, and the code has no
# non-Relaxed plain loads or stores outside the RMWs.)
#
# The mutants are built in a scratch copy of the repository (the work tree is
# never touched) with the loom step's target dir, target/loom.
# Usage: scripts/mutants-orderings.sh [filter-substring]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-2}
FILTER=${1:-}
SCRATCH=$(mktemp -d /tmp/mutants-orderings.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
# Shares the loom step's target dir: only mm itself rebuilds per mutant.
TARGET_DIR=$ROOT/target/loom

# The sources are snapshotted once (edits to the work tree during the run do
# not leak into mutants); each mutant starts from the snapshot.
mkdir -p "$SCRATCH/pristine"
tar -C "$ROOT" --exclude=./target --exclude=./.git -cf - . | tar -C "$SCRATCH/pristine" -xf -
copy_tree() {
    mkdir -p "$SCRATCH/repo"
    # Same path every time: cargo rebuilds only what changed.
    cp -r "$SCRATCH/pristine/." "$SCRATCH/repo/"
}

run_models() {
    (cd "$SCRATCH/repo" && RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
        cargo test -q -j"$JOBS" -p mm --release --test loom --target-dir "$TARGET_DIR" \
        >"$SCRATCH/log" 2>&1)
}

copy_tree
echo "==> baseline: the loom models must pass unmutated"
if ! run_models; then
    tail -n 40 "$SCRATCH/log"
    echo "baseline failed: fix the models first"
    exit 2
fi

# One line per mutant: file<TAB>line<TAB>column<TAB>from<TAB>to
python3 - "$SCRATCH/pristine" >"$SCRATCH/mutants" <<'EOF'
import re, sys, pathlib
root = pathlib.Path(sys.argv[1])
weaker = {"SeqCst": ["Relaxed", "Release"], "AcqRel": ["Relaxed", "Acquire", "Release"],
          "Acquire": ["Relaxed"], "Release": ["Relaxed"]}
for f in sorted((root / "kernel/mm/src/refcount").glob("*.rs")):
    if f.name == "tests.rs":
        continue
    for n, line in enumerate(f.read_text().splitlines(), 1):
        code = line.split("//", 1)[0]
        if code.strip().startswith("use ") or not code.strip():
            continue
        for m in re.finditer(r"\b(SeqCst|AcqRel|Acquire|Release)\b", code):
            # The failure ordering of a compare_exchange is the last argument
            # of two orderings: never make it Release/AcqRel.
            is_failure = bool(re.search(r"(SeqCst|AcqRel|Acquire|Release|Relaxed)\s*,\s*$", code[:m.start()]))
            for to in weaker[m.group(1)]:
                if is_failure and to in ("Release", "AcqRel"):
                    continue
                print(f"{f.relative_to(root)}\t{n}\t{m.start()}\t{m.group(1)}\t{to}")
EOF

total=0
survivors=0
declare -a report
while IFS=$'\t' read -r file line col from to; do
    [ -n "$FILTER" ] && [[ "$file:$line" != *"$FILTER"* ]] && continue
    total=$((total + 1))
    copy_tree
    python3 - "$SCRATCH/repo/$file" "$line" "$col" "$from" "$to" <<'EOF'
import sys
path, line, col, frm, to = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
lines = open(path).read().split("\n")
l = lines[line - 1]
assert l[col:col + len(frm)] == frm, (l, col, frm)
lines[line - 1] = l[:col] + to + l[col + len(frm):]
open(path, "w").write("\n".join(lines))
EOF
    code=$(sed -n "${line}p" "$SCRATCH/pristine/$file" | sed 's/^ *//')
    if run_models; then
        verdict="SURVIVED"
        survivors=$((survivors + 1))
    elif grep -q "could not compile" "$SCRATCH/log"; then
        verdict="BUILD ERROR (not a valid mutant)"
    else
        caught=$(grep -oE "^    [a-z_:]+$" "$SCRATCH/log" | sed 's/^ *//' | sort -u | tr '\n' ' ')
        verdict="killed by: $caught"
    fi
    report+=("$file:$line $from -> $to: $verdict   [$code]")
    echo "${report[-1]}"
done <"$SCRATCH/mutants"

echo
echo "==> ordering mutants: $total run, $survivors survived"
[ "$survivors" -eq 0 ]
