#!/usr/bin/env bash
#  bench/soak.sh - steady load through tollgate for a while, sampling every process's RSS, to
#  see whether memory stays flat after warm-up (spec S3).
#
#  Usage: bench/soak.sh [--minutes 30] [--conns 16] [--every 60]
#  Needs a Release build in build/ and wrk. Prints one line per sample: minute, req/s of the
#  last interval, and the RSS (MB) of ingest, router, worker, analytics, alert.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TG_BIN_DIR:-$PWD/build/bin}
MINUTES=30
CONNS=16
EVERY=60
while [ $# -gt 0 ]; do
    case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_need
bench_start soak-key
work=$WORK
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer soak-key"
LUA
rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$(cat "$work/run/pids/$1.pid")/status"; }
echo "tollgate soak: $MINUTES min, $CONNS connections, a sample every $EVERY s (RSS in MB)"
printf "%6s %9s %8s %8s %8s %10s %8s\n" minute "req/s" ingest router worker analytics alert
samples=$((MINUTES * 60 / EVERY))
for i in $(seq 1 "$samples"); do
    rps=$(wrk -t2 -c"$CONNS" -d"${EVERY}s" -s "$work/post.lua" \
        "http://127.0.0.1:$TPORT/v1/chat/completions" | awk '/^Requests\/sec/ { print $2 }')
    printf "%6.1f %9.0f %8s %8s %8s %10s %8s\n" "$(awk -v i="$i" -v e="$EVERY" 'BEGIN { print i * e / 60 }')" "$rps" \
        "$(rss ingest-1)" "$(rss router)" "$(rss worker-1)" "$(rss analytics)" "$(rss alert)"
done
