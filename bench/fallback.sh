#!/usr/bin/env bash
#  bench/fallback.sh - the cost of a fallback hop: the same wrk load on a model whose target
#  answers (`direct`) and on one whose first target fails at once (connection refused, breaker
#  off so every call hops) and falls back to that same target (`hop`). The difference in
#  latency is what one hop adds inside tollgate (the failed attempt, the switch, the second
#  request), the upstream work being the same.
#  usage: bench/fallback.sh [--duration 10s] [--conns "1 16"]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TG_BIN_DIR:-$PWD/build/bin}
DURATION=10s
CONNS="1 16"
while [ $# -gt 0 ]; do
    case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    *) echo "usage: $0 [--duration D] [--conns \"1 16\"]" >&2; exit 2 ;;
    esac
done
. bench/lib.sh
bench_need
cfgdir=$(mktemp -d /tmp/tg-bench-cfg.XXXXXX)
trap 'rm -rf "$cfgdir"' EXIT
cat >"$cfgdir/tollgate.yaml" <<YAML
upstream:
  max_retries: 0
providers:
  - name: openai          # the mock (bench_start points OPENAI_BASE_URL at it)
    breaker: off
  - name: dead            # nothing listens on port 1: connect refused at once
    kind: openai
    base_url: http://127.0.0.1:1/v1
    breaker: off
models:
  direct:
    targets:
      - {provider: openai, model: gpt-4o-mini}
  hop:
    targets:
      - {provider: dead, model: gpt-4o-mini}
    fallbacks: [direct]
YAML
bench_start bench-key -c "$cfgdir/tollgate.yaml"
trap 'bench_stop; rm -rf "$cfgdir"' EXIT
for m in direct hop; do
    sed "s/\"model\":\"gpt-4o-mini\"/\"model\":\"$m\"/" bench/bodies/chat-1k.json >"$WORK/$m.json"
    cat >"$WORK/$m.lua" <<LUA
local f = assert(io.open("$WORK/$m.json", "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
LUA
    code=$(curl -s -o "$WORK/$m.out" -w '%{http_code}' -H 'Authorization: Bearer bench-key' \
        -H 'Content-Type: application/json' --data-binary @"$WORK/$m.json" \
        "http://127.0.0.1:$TPORT/v1/chat/completions")
    [ "$code" = 200 ] || { echo "$m answered $code: $(cat "$WORK/$m.out")" >&2; exit 1; }
done
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }
printf '%-6s %-7s %10s %10s %10s %8s\n' conns model rps p50_us p99_us errors
for c in $CONNS; do
    for m in direct hop; do
        t=1
        [ "$c" -ge 2 ] && t=2
        wrk -t1 -c"$c" -d2s -s "$WORK/$m.lua" "http://127.0.0.1:$TPORT/v1/chat/completions" >/dev/null
        out=$(wrk -t"$t" -c"$c" -d"$DURATION" --latency -s "$WORK/$m.lua" \
            "http://127.0.0.1:$TPORT/v1/chat/completions")
        rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
        p50=$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
        p99=$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
        err=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
        printf '%-6s %-7s %10s %10s %10s %8s\n' "$c" "$m" "$rps" "$p50" "$p99" "${err:-0}"
    done
done
