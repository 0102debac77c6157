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
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$BIN/tollgate" ] || { echo "no build at $BIN" >&2; exit 2; }

work=$(mktemp -d /tmp/tg-soak.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$BIN/tg-mock" --host 127.0.0.1 --port 0 --port-file "$work/mock.port" >/dev/null 2>"$work/mock.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/mock.port" ] && break; sleep 0.05; done
MPORT=$(cat "$work/mock.port")
TPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOLLGATE_RUN_DIR="$work/run" TOLLGATE_DATA_DIR="$work/data" TOLLGATE_HTTP_PORT=$TPORT \
    TOLLGATE_HTTP_HOST=127.0.0.1 TOLLGATE_MASTER_KEY=soak-key TOLLGATE_LOG_LEVEL=warn \
    OPENAI_API_KEY=mock OPENAI_BASE_URL="http://127.0.0.1:$MPORT/v1" \
    "$BIN/tollgate" up >"$work/tollgate.out" 2>"$work/tollgate.log" &
pids+=($!)
for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$TPORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
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
