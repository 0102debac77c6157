#!/usr/bin/env bash
#  bench/events_http.sh - POST /api/v1/events/batch under wrk: batches of 100 new events
#  (traced, with users and properties-free bodies of about 20 KB) from --conns clients for
#  --duration, against `tollgate up` with the mock provider; prints events/s stored and
#  checks that /v1/usage counts exactly the events acknowledged with a 200.
#
#  Usage: bench/events_http.sh [--conns 128] [--duration 20s] [--threads 2]
#  Needs a Release build in build/ (or TG_BIN_DIR) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TG_BIN_DIR:-$PWD/build/bin}
CONNS=128
DURATION=20s
THREADS=2
while [ $# -gt 0 ]; do
    case "$1" in
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^#  \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (--help)" >&2; exit 2 ;;
    esac
done
. bench/lib.sh
bench_need
KEY=bench-master-key-0123456789abcdef
bench_start "$KEY"
cpu_s() { #  utime + stime of child $1 (run/pids/$1.pid), seconds
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
        "/proc/$(cat "$WORK/run/pids/$1.pid")/stat"
}
A0=$(cpu_s analytics)
I0=$(cpu_s ingest-1)
export BENCH_KEY=$KEY BENCH_RUN="r$$"
OUT=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 10s -s bench/events_batch.lua \
    "http://127.0.0.1:$TPORT")
echo "$OUT" | grep -E "batches_ok|latency p50|Requests/sec"
OK=$(echo "$OUT" | sed -n 's/.*events_ok=\([0-9]*\).*/\1/p')
STORED=$(curl -fs -H "Authorization: Bearer $KEY" \
    "http://127.0.0.1:$TPORT/v1/usage?start=$(($(date +%s) - 7200))" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["requests"])')
A1=$(cpu_s analytics)
I1=$(cpu_s ingest-1)
echo "acknowledged=$OK stored=$STORED (/v1/usage)"
python3 -c "a=$A1-$A0; i=$I1-$I0; print(f'CPU: analytics {a:.2f} s ({$OK/a:.0f} events per analytics CPU second), ingest {i:.2f} s')"
curl -fs "http://127.0.0.1:$TPORT/metrics" |
    grep -E '^tollgate_usage_events_total|^tollgate_analytics_commit_seconds_(sum|count)' || true
#  wrk may cut requests in flight at the end: those can be stored without a 200 seen.
[ "$STORED" -ge "$OK" ] || { echo "fewer events stored than acknowledged" >&2; exit 1; }
