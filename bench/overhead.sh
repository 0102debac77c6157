#!/usr/bin/env bash
#  bench/overhead.sh - the same wrk load against the mock provider directly and through
#  tollgate, in one run; prints throughput, p50/p99 for both and what tollgate adds.
#
#  Usage: bench/overhead.sh [--conns "1 16 64"] [--duration 10s] [--workers 1] [--ingest 1]
#  Needs a Release build in build/ (scripts/up.sh or cmake ... -DCMAKE_BUILD_TYPE=Release) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TG_BIN_DIR:-$PWD/build/bin}
CONNS="1 16 64"
DURATION=10s
WORKERS=1
INGEST=1
STREAM=0
while [ $# -gt 0 ]; do
    case "$1" in
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --ingest) INGEST=$2; shift 2 ;;
    --stream) STREAM=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_need
bench_start bench-key --workers "$WORKERS" --ingest "$INGEST"
work=$WORK

if [ "$STREAM" = 1 ]; then
    body='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello [[mock:words=20]]"}]}'
else
    body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
fi
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
LUA

#  wrk prints "50%  123.45us" / "1.20ms" / "1.00s": convert to microseconds.
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }
run() {  # url conns -> "rps p50_us p99_us errors"
    local out
    local threads=2
    [ "$2" -lt 2 ] && threads=1
    out=$(wrk -t"$threads" -c"$2" -d"$DURATION" --latency -s "$work/post.lua" "$1")
    local rps p50 p99 errs
    rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
    p50=$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
    p99=$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ { s = s $0 " " } END { print (s == "" ? "none" : s) }')
    echo "$rps $p50 $p99 $errs"
}

#  Warm up both paths (connections, caches).
wrk -t1 -c4 -d2s -s "$work/post.lua" "http://127.0.0.1:$MPORT/v1/chat/completions" >/dev/null
wrk -t1 -c4 -d2s -s "$work/post.lua" "http://127.0.0.1:$TPORT/v1/chat/completions" >/dev/null

echo "tollgate overhead benchmark: $(nproc) cores, duration $DURATION, workers $WORKERS, ingest $INGEST, stream $STREAM"
printf "%-7s | %12s %12s %7s | %9s %9s %9s | %9s %9s %9s | %s\n" clients "direct rps" "tollgate rps" ratio \
    "p50 dir" "p50 tg" "p50 +" "p99 dir" "p99 tg" "p99 +" errors
for c in $CONNS; do
    read -r drps dp50 dp99 derr <<<"$(run "http://127.0.0.1:$MPORT/v1/chat/completions" "$c")"
    read -r trps tp50 tp99 terr <<<"$(run "http://127.0.0.1:$TPORT/v1/chat/completions" "$c")"
    awk -v c="$c" -v drps="$drps" -v trps="$trps" -v dp50="$dp50" -v tp50="$tp50" -v dp99="$dp99" \
        -v tp99="$tp99" -v e="direct:$derr tollgate:$terr" 'BEGIN {
        printf "%-7s | %12.0f %12.0f %6.1f%% | %7.0fus %7.0fus %7.0fus | %7.0fus %7.0fus %7.0fus | %s\n",
            c, drps, trps, 100 * trps / drps, dp50, tp50, tp50 - dp50, dp99, tp99, tp99 - dp99, e }'
done
