#!/bin/sh
# Runs libFuzzer targets over their seed corpus plus SECONDS of fuzzing.
#   tests/fuzz/run.sh TARGET|all SECONDS     (SECONDS 0: replay the corpus only)
# Builds the targets with clang (-DCK_FUZZ=ON) in $CK_FUZZ_BUILD (default
# build-fuzz). Inputs found while fuzzing go to a scratch directory, not to
# tests/fuzz/corpus; a crashing input is kept in $CK_FUZZ_BUILD/crashes/.
# Prints one line per target and exits non-zero if any target crashed.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
targets="fuzz_npy fuzz_csv fuzz_model_config fuzz_h5_weights fuzz_cli_args"
if [ $# -ne 2 ] || ! [ "$2" -ge 0 ] 2>/dev/null; then
    echo "usage: $0 TARGET|all SECONDS (targets: $targets)" >&2
    exit 2
fi
[ "$1" = all ] || targets=$1
seconds=$2
build=${CK_FUZZ_BUILD:-$root/build-fuzz}

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi
mkdir -p "$build"
CC=clang cmake -S "$root" -B "$build" -DCK_FUZZ=ON -DCK_BUILD_TESTS=OFF >"$build/fuzz-configure.log" 2>&1 ||
    { cat "$build/fuzz-configure.log" >&2; exit 1; }
cmake --build "$build" -j2 --target $targets >"$build/fuzz-build.log" 2>&1 ||
    { tail -40 "$build/fuzz-build.log" >&2; exit 1; }

# Huge allocations return NULL (the library then reports CK_ERR_MEMORY)
# instead of ending the run: a config asking for 10^12 weights is valid
# input, not a crash.
# Full stacks on malloc let lsan.supp name libhdf5's own leaks precisely.
export ASAN_OPTIONS="allocator_may_return_null=1:max_allocation_size_mb=1024:detect_leaks=1:fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export OPENBLAS_NUM_THREADS=1

failed=0
for t in $targets; do
    seeds=$root/tests/fuzz/corpus/$t
    if ! [ -x "$build/$t" ] || ! [ -d "$seeds" ]; then
        echo "$t: FAIL (no such target or corpus)"
        failed=1
        continue
    fi
    scratch=$(mktemp -d)
    mkdir -p "$build/crashes/$t"
    if [ "$seconds" -eq 0 ]; then limit="-runs=0"; else limit="-max_total_time=$seconds"; fi
    log=$build/crashes/$t.log
    rc=0
    # corpus/<target>_raw/ holds inputs for the target's raw mode (real
    # files and regressions that crash libraries below ckeras when
    # mutated): they are replayed, never mutated.
    if [ -d "${seeds}_raw" ]; then
        CK_FUZZ_RAW=1 nice -n 10 "$build/$t" -runs=0 -timeout=20 -rss_limit_mb=3072 \
            -artifact_prefix="$build/crashes/$t/" "${seeds}_raw" >"$log.raw" 2>&1 || rc=$?
    fi
    if [ $rc -eq 0 ]; then
        nice -n 10 "$build/$t" $limit -timeout=20 -rss_limit_mb=3072 -malloc_limit_mb=3072 \
            -print_final_stats=1 -artifact_prefix="$build/crashes/$t/" "$scratch" "$seeds" >"$log" 2>&1
        rc=$?
    else
        log=$log.raw
    fi
    seeds_n=$(find "$seeds" "${seeds}_raw" -type f 2>/dev/null | wc -l)
    runs=$(sed -n 's/.*stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "$t: OK ($seeds_n seeds replayed, ${runs:-0} runs in ${seconds}s, ${cov:-cov: ?})"
    else
        echo "$t: CRASH (exit $rc) after ${runs:-?} runs; see $log and $build/crashes/$t/"
        grep -m3 -E 'ERROR: |runtime error|SUMMARY' "$log" | sed 's/^/    /'
        failed=1
    fi
    rm -rf "$scratch"
done
exit $failed
