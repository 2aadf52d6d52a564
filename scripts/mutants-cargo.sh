#!/usr/bin/env bash
# cargo-mutants over the mm crate's refcount and buddy code (`make mutants`,
# second half): every mutant cargo-mutants generates in kernel/mm/src/refcount
# and kernel/mm/src/buddy is built and the mm host tests run against it; a
# mutant that survives is a change to the code no test notices. Survivors and
# the reason each is acceptable (or the test that now kills it) are recorded
# in docs/testing.md.
#
# cargo-mutants comes from the crate registry, pinned, installed on first use.
# The test set is the library's unit tests plus the misuse, per-CPU, misuse
# regressions, buddy and racing-frees integration tests (the proptests and std-thread stress are too slow
# to run once per mutant on 2 cores; the loom models are covered by
# scripts/mutants-orderings.sh).
# Usage: [TESTS='--lib --test misuse_regressions'] scripts/mutants-cargo.sh [extra cargo-mutants args,
#        e.g. --file kernel/mm/src/refcount/frozen.rs]
# Output: target/mutants/mutants.out/{caught,missed,timeout,unviable}.txt
set -uo pipefail
cd "$(dirname "$0")/.."
# (Test modules inside source files, e.g. pcp.rs's, are excluded by name:
# their cfg is `all(test, not(loom))`, which cargo-mutants does not read as
# test code, and mutating a test helper only "survives".)
VERSION=27.1.0
JOBS=${JOBS:-2}
# Seconds one mutant's tests may run: a mutant that makes the allocator loop
# forever is "caught" by this timeout, so it is kept short, yet well above a
# normal run (docs/decisions/mutants-timeout.md).
TIMEOUT=${TIMEOUT:-60}
# The tests each mutant runs (cargo test arguments); override to narrow a run.
TESTS=${TESTS:---lib --test misuse --test pcp --test misuse_regressions --test buddy --test free_race}

if ! cargo mutants --version 2>/dev/null | grep -qF "$VERSION"; then
    cargo install --locked "cargo-mutants@=$VERSION" || exit 2
fi

mkdir -p target  # cargo-mutants creates only the last level (a fresh clone has no target/)
cargo mutants --package mm --output target/mutants \
    --file 'kernel/mm/src/refcount/*.rs' --file 'kernel/mm/src/buddy/*.rs' \
    --exclude 'kernel/mm/src/refcount/tests.rs' --exclude 'kernel/mm/src/buddy/tests.rs' \
    --exclude 'kernel/mm/src/buddy/buddyinfo.rs' \
    --exclude-re 'tests::' \
    --jobs 1 --build-timeout 900 --timeout "$TIMEOUT" "$@" \
    -- -j"$JOBS" $TESTS
rc=$?
echo
echo "==> cargo-mutants: missed (survivors):"
cat target/mutants/mutants.out/missed.txt 2>/dev/null || true
# rc 2 = some mutants missed, 3 = timeouts: reported above, not a failure of
# the run itself; anything else is.
case $rc in
    0 | 2 | 3) exit 0 ;;
    *) exit $rc ;;
esac
