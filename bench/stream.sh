#!/usr/bin/env bash
#  bench/stream.sh - spec S2 (streaming: time-to-first-token and per-chunk cost added, 1,000
#  concurrent streams on one worker) and S3 (RSS of ingest + router + worker with them all
#  open), against the mock directly and through `tollgate up` (one worker, one ingest).
#  The measuring client is bench/stream_bench.py (its docstring says what each figure is).
#  Usage: bench/stream.sh [--n 300] [--conc 1000]
#  Needs a Release build in build/ (scripts/up.sh or cmake ... -DCMAKE_BUILD_TYPE=Release).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TG_BIN_DIR:-$root/build/bin}
[ -x "$BIN/tollgate" ] || { echo "no build at $BIN (run scripts/up.sh or build Release)" >&2; exit 2; }
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
key=tg-bench-stream-key-0123456789abcdef
bench_start "$key" --workers 1 --ingest 1
echo "tollgate streaming: $(nproc) cores, Release, workers 1, ingest 1, commit $(git -C "$root" rev-parse --short HEAD)"
python3 "$root/bench/stream_bench.py" --direct-port "$MPORT" --port "$TPORT" --key "$key" \
    --sup "${BENCH_PIDS[1]}" "$@"
