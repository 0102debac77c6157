#!/usr/bin/env bash
#  bench/soak.sh - steady load through tollgate for a while, sampling every process's RSS, to
#  see whether memory stays flat after warm-up (spec S3).
#
#  Usage: bench/soak.sh [--minutes 30] [--conns 16] [--every 60] [--simple]
#  Needs a Release build in build/ and wrk. The load is mixed (issue 16): of every 20 calls,
#  12 chat completions, 4 streamed ones, 2 embeddings, 1 upstream error (400) and 1 call the
#  client gives up on (the mock waits 3 s, wrk's timeout is 1 s: a client abort), all
#  cacheable-free (no temperature). --simple: one short chat body only. Prints one line per
#  sample: minute, calls/s of the last interval, the RSS (MB) and the open descriptors of
#  ingest, router, worker, analytics, alert.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TG_BIN_DIR:-$PWD/build/bin}
MINUTES=30
CONNS=16
EVERY=60
SIMPLE=0
while [ $# -gt 0 ]; do
    case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    --simple) SIMPLE=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_need
bench_start soak-key
work=$WORK
if [ "$SIMPLE" = 1 ]; then
    cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer soak-key"
LUA
else
    cat >"$work/post.lua" <<'LUA'
local h = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer soak-key"}
local reqs = {}
local function add(n, path, body)
  for _ = 1, n do table.insert(reqs, wrk.format("POST", path, h, body)) end
end
local msg = '"messages":[{"role":"user","content":"Tell me about soaking [[mock:words=60]]"}]'
add(12, "/v1/chat/completions", '{"model":"gpt-4o-mini",' .. msg .. '}')
add(4, "/v1/chat/completions", '{"model":"gpt-4o-mini","stream":true,' .. msg .. '}')
add(2, "/v1/embeddings", '{"model":"text-embedding-3-small","input":["soak one","soak two"]}')
add(1, "/v1/chat/completions", '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"[[mock:status=400]] no"}]}')
add(1, "/v1/chat/completions", '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"[[mock:latency_ms=3000]] gone"}]}')
local i = 0
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
LUA
fi
rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$(cat "$work/run/pids/$1.pid")/status"; }
fds() { find "/proc/$(cat "$work/run/pids/$1.pid")/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
echo "tollgate soak: $MINUTES min, $CONNS connections, a sample every $EVERY s (RSS in MB / open fds)"
printf "%6s %9s %12s %12s %12s %12s %12s\n" minute "calls/s" ingest router worker analytics alert
samples=$((MINUTES * 60 / EVERY))
for i in $(seq 1 "$samples"); do
    rps=$(wrk -t2 -c"$CONNS" -d"${EVERY}s" --timeout 1s -s "$work/post.lua" \
        "http://127.0.0.1:$TPORT/v1/chat/completions" | awk '/^Requests\/sec/ { print $2 }')
    printf "%6.1f %9.0f %12s %12s %12s %12s %12s\n" "$(awk -v i="$i" -v e="$EVERY" 'BEGIN { print i * e / 60 }')" "$rps" \
        "$(rss ingest-1)/$(fds ingest-1)" "$(rss router)/$(fds router)" "$(rss worker-1)/$(fds worker-1)" \
        "$(rss analytics)/$(fds analytics)" "$(rss alert)/$(fds alert)"
done
