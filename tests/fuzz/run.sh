#!/usr/bin/env bash
#  tests/fuzz/run.sh - builds the libFuzzer targets (clang, ASan + UBSan, build-fuzz/) and
#  runs each for SECONDS (default 60), two at a time. New inputs go to a scratch dir, not to
#  the seed corpus; a crash leaves its input in build-fuzz/artifacts/ and fails the run.
#  With --runs N each target stops after N inputs instead (the long runs of docs/benchmarks.md:
#  --runs 10000000 --jobs 1), and the log line gives the time it took.
#  Usage: tests/fuzz/run.sh [--seconds N | --runs N] [--only NAME] [--jobs N]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
seconds=60
runs=0
only=
jobs=2
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTG_FUZZ=ON >/dev/null
all=()
for src in tests/fuzz/fuzz_*.c; do all+=(--target "$(basename "$src" .c)"); done
cmake --build build-fuzz -j "$(nproc 2>/dev/null || echo 2)" "${all[@]}" >/dev/null
mkdir -p build-fuzz/artifacts build-fuzz/scratch
targets=()
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    [ -z "$only" ] || [ "$name" = "fuzz_$only" ] || [ "$name" = "$only" ] || continue
    targets+=("$name")
done
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TOLLGATE_LOG_LEVEL=error
run_one() {
    local name=$1 seeds=tests/fuzz/corpus/${1#fuzz_} scratch=build-fuzz/scratch/${1#fuzz_}
    mkdir -p "$scratch"
    local limit=(-max_total_time="$seconds") t0=$SECONDS
    [ "$runs" -eq 0 ] || limit=(-runs="$runs")
    if build-fuzz/bin/"$name" "$scratch" "$seeds" "${limit[@]}" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix=build-fuzz/artifacts/"$name"- \
        -print_final_stats=1 -close_fd_mask=2 >build-fuzz/"$name".log 2>&1; then
        echo "$name: ok ($(awk '/stat::number_of_executed_units/ { print $2 }' build-fuzz/"$name".log) inputs in $((SECONDS - t0))s)"
    else
        echo "$name: FAILED, see build-fuzz/$name.log and build-fuzz/artifacts/" >&2
        tail -30 build-fuzz/"$name".log >&2
        return 1
    fi
}
fail=0
pids=()
for name in "${targets[@]}"; do
    run_one "$name" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$jobs" ]; then
        wait "${pids[0]}" || fail=1
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
exit $fail
