#!/usr/bin/env bash
#  bench/metrics.sh - the metrics query API over 90 days of traffic (issue 13, spec A5):
#  1. bench/metrics_gen fills a data dir (DAYS x PER_DAY events, the last RAW_DAYS days with
#     their raw events, older ones as rollups only: see metrics_gen.c), newest day first,
#     stopping after MAX_S seconds at a day boundary (0 = no limit);
#  2. bench/metrics_query times parse + run + JSON of each query kind in-process (cache
#     misses, p50/p95/max);
#  3. `tollgate up` over that data dir: RUNS HTTP requests per query kind with curl, each a
#     cache miss (end_time moves by a second per request), p50/p95 of time_total.
#  Usage: bench/metrics.sh [DATA_DIR (/tmp/tg-bench-metrics)] ; env DAYS PER_DAY RAW_DAYS
#  MAX_S RUNS PORT BUILD (build-release) KEEP=1 (reuse an existing DATA_DIR, skip step 1).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
data=${1:-/tmp/tg-bench-metrics}
DAYS=${DAYS:-90}
PER_DAY=${PER_DAY:-1000000}
RAW_DAYS=${RAW_DAYS:-7}
MAX_S=${MAX_S:-0}
RUNS=${RUNS:-50}
PORT=${PORT:-30500}
BUILD=${BUILD:-build-release}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target metrics_gen metrics_query tollgate tg-ingest tg-router \
    tg-worker tg-analytics tg-alert tg-mock >/dev/null

if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$data"
    echo "== generating $DAYS days x $PER_DAY events/day (raw events: last $RAW_DAYS days)"
    "$BUILD/bin/metrics_gen" "$data" "$DAYS" "$PER_DAY" "$RAW_DAYS" "$MAX_S" | tail -4
fi
du -sh "$data/analytics"

echo "== in-process: parse + run + JSON (no cache), $RUNS runs each"
"$BUILD/bin/metrics_query" "$data" "$RUNS"

echo "== over HTTP through ingest (master key: every organization), $RUNS runs each"
run=$(mktemp -d /tmp/tg-bench-metrics-run-XXXXXX)
TOLLGATE_HTTP_PORT=$PORT TOLLGATE_HTTP_HOST=127.0.0.1 TOLLGATE_RUN_DIR=$run \
    TOLLGATE_DATA_DIR=$data TOLLGATE_MASTER_KEY=bench-master-key TOLLGATE_LOG_LEVEL=warn \
    "$BUILD/bin/tollgate" up >"$run/up.log" 2>&1 &
up=$!
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null; rm -rf "$run"' EXIT
ready=0
for _ in $(seq 1 240); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && ready=1 && break
    sleep 0.5
done
if [ $ready != 1 ]; then
    echo "tollgate did not get ready on port $PORT:" >&2
    tail -20 "$run/up.log" >&2
    exit 1
fi
base="http://127.0.0.1:$PORT"
auth=(-H 'Authorization: Bearer bench-master-key')
now=$(date -u +%s)
pct() { sort -n | awk '{ a[NR] = $1 } END { printf "p50 %.2f ms  p95 %.2f ms  max %.2f ms\n", a[int(NR * 0.5) + (NR % 2 ? 1 : 0)] * 1000, a[int((NR - 1) * 0.95) + 1] * 1000, a[NR] * 1000 }'; }
measure() {  #  name, then a function that prints curl args for run $i
    local name=$1 fn=$2
    for i in $(seq 1 "$RUNS"); do
        curl -sf -o /dev/null -w '%{time_total}\n' "${auth[@]}" $($fn "$i")
    done | pct | sed "s|^|$name: |"
}
simple24() { echo "$base/api/v1/metrics?metrics=request_count,total_cost,duration,error_rate&interval=1hour&start_time=$((now - 86400))&end_time=$((now + $1))"; }
simple90() { echo "$base/api/v1/metrics?metrics=request_count,total_cost&interval=1day&start_time=$((now - 89 * 86400))&end_time=$((now + $1))"; }
complex7() {
    echo "-X POST $base/api/v1/metrics/query -d {\"metrics\":[{\"metric\":\"request_count\",\"alias\":\"n\"},{\"metric\":\"duration\",\"aggregation\":\"p95\"},{\"metric\":\"total_cost\"}],\"interval\":\"1day\",\"start_time\":\"$((now - 7 * 86400))\",\"end_time\":\"$((now + $1))\",\"group_by\":[\"provider\",\"model\",\"environment\"],\"filters\":[{\"dimension\":\"org\",\"operator\":\"eq\",\"value\":\"acme\"}],\"having\":[{\"metric\":\"request_count\",\"operator\":\"gte\",\"value\":1000}],\"sort_by\":{\"field\":\"total_cost\",\"descending\":true},\"limit\":100}"
}
summary() { echo "$base/api/v1/metrics/summary?start_time=$((now - 86400 + $1))"; }
measure "simple 24 h, 1hour, 4 metrics      " simple24
measure "simple 90 days, 1day, 2 metrics    " simple90
measure "complex 7 days, 3 group-bys, having" complex7
measure "summary 24 h vs the 24 h before     " summary
