#!/usr/bin/env bash
#  bench/overhead.sh - the same wrk load against the mock provider directly and through
#  tollgate, in one run; prints what tollgate costs: throughput ratio, added p50/p99, the
#  gateway's CPU time per call and the ZeroMQ messages per call.
#
#  Usage: bench/overhead.sh [--conns "1 16 64"] [--duration 10s] [--workers 1] [--ingest 1]
#                           [--stream] [--body FILE] [--slow | --only-slow]
#                           [--slow-conns "64 256"] [--latency-ms 50] [--csv FILE]
#                           [--hit | --only-hit] [--hit-conns "1 16"]
#
#  The request is bench/bodies/chat-1k.json (chat-1k-stream.json with --stream): a ~1 KB
#  system + user prompt for gpt-4o-mini whose `[[mock:words=138]]` makes the mock answer 138
#  completion tokens. --slow adds a section where the mock waits --latency-ms (50) before
#  answering, at --slow-conns clients, non-streamed and streamed; --only-slow runs just that.
#  The body has no temperature (OpenAI's default 1), so the main and slow sections never
#  use the response cache. --hit adds a section of cache hits: the same bodies with
#  "temperature":0, answered once by the upstream and then by ingest from the cache, at
#  --hit-conns clients, against the same bodies sent to the mock directly.
#  Per run: wrk's total requests are the calls; gateway CPU is utime+stime (/proc/PID/stat,
#  all threads) of the supervisor's tg-ingest, tg-router, tg-worker, tg-analytics and tg-alert
#  children just before and after the tollgate run; messages are tollgate_frames_sent_total
#  from GET /metrics before and after it (read once the processes' next STATS snapshots have
#  arrived, so heartbeats that fall in that wait count too). --csv FILE writes one row per run.
#
#  Needs a Release build in build/ (scripts/up.sh or cmake ... -DCMAKE_BUILD_TYPE=Release) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TG_BIN_DIR:-$PWD/build/bin}
CONNS="1 16 64"
DURATION=10s
WORKERS=1
INGEST=1
STREAM=0
BODY=
MAIN=1
SLOW=0
SLOW_CONNS="64 256"
LATENCY_MS=50
CSV=
HIT=0
HIT_CONNS="1 16"
while [ $# -gt 0 ]; do
    case "$1" in
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --ingest) INGEST=$2; shift 2 ;;
    --stream) STREAM=1; shift ;;
    --body) BODY=$2; shift 2 ;;
    --slow) SLOW=1; shift ;;
    --only-slow) SLOW=1; MAIN=0; shift ;;
    --slow-conns) SLOW_CONNS=$2; shift 2 ;;
    --latency-ms) LATENCY_MS=$2; shift 2 ;;
    --csv) CSV=$2; shift 2 ;;
    --hit) HIT=1; shift ;;
    --only-hit) HIT=1; MAIN=0; SLOW=0; shift ;;
    --hit-conns) HIT_CONNS=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^#  \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (--help)" >&2; exit 2 ;;
    esac
done
BODY_JSON=bench/bodies/chat-1k.json
BODY_STREAM=bench/bodies/chat-1k-stream.json
if [ -z "$BODY" ]; then
    BODY=$BODY_JSON
    [ "$STREAM" = 1 ] && BODY=$BODY_STREAM
fi
[ -r "$BODY" ] || { echo "cannot read body $BODY" >&2; exit 2; }
[ -n "$CSV" ] && CSV=$(realpath -m "$CSV")
STATS_SETTLE=1.5 #  stats.interval_ms (1 s by default) plus a margin
PROCS='^tg-(ingest|router|worker|analytics|alert)$'

#  wrk and both servers hold one descriptor per connection: raise the soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# shellcheck disable=SC2086
need=$((2 * $(printf '%s\n' $CONNS $SLOW_CONNS | sort -n | tail -1) + 200))
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need" ] \
    || { echo "ulimit -n is $(ulimit -n); $need descriptors needed" >&2; exit 2; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_need
bench_start bench-key --workers "$WORKERS" --ingest "$INGEST"
work=$WORK
MOCK_PID=${BENCH_PIDS[0]}
TG_PID=${BENCH_PIDS[1]}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

#  A wrk script that posts the bytes of file $1 (directives $2 added to its first [[mock:...]]).
lua_for() {
    local body=$1 name
    name=$work/$(basename "$1" .json)${2:+-$2}
    if [ -n "${2:-}" ]; then
        sed "s/\[\[mock:/[[mock:$2,/" "$1" >"$name.json"
        body=$name.json
    fi
    cat >"$name.lua" <<LUA
local f = assert(io.open("$(realpath "$body")", "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
LUA
    echo "$name.lua"
}

#  wrk prints "50%  123.45us" / "1.20ms" / "1.00s": convert to microseconds.
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }
#  url conns lua -> "rps p50_us p99_us calls errors" (errors: "none" or "non2xx=N,timeout=N,...")
run() {
    local out threads=2
    [ "$2" -lt 2 ] && threads=1
    out=$(wrk -t"$threads" -c"$2" -d"$DURATION" --timeout 10s --latency -s "$3" "$1")
    local rps p50 p99 calls errs
    rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
    p50=$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
    p99=$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    calls=$(echo "$out" | awk '/ requests in / { print $1 }')
    errs=$(echo "$out" | awk '
        /Non-2xx or 3xx responses:/ { s = s "non2xx=" $NF "," }
        /Socket errors:/ { gsub(/,/, ""); for (i = 3; i < NF; i += 2) if ($(i + 1) > 0) s = s $i "=" $(i + 1) "," }
        END { sub(/,$/, "", s); print (s == "" ? "none" : s) }')
    echo "$rps $p50 $p99 $calls $errs"
}

#  "pid comm ticks" (utime + stime, all threads) of the given processes.
cpu_of() {
    local p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        awk -v pid="$p" '{ c = $0; sub(/^[^(]*\(/, "", c); comm = c; sub(/\).*$/, "", comm)
            sub(/^.*\) /, "", c); split(c, f, " "); print pid, comm, f[12] + f[13] }' "/proc/$p/stat"
    done
}
gateway_pids() { ps -o pid=,comm= --ppid "$TG_PID" | awk -v re="$PROCS" '$2 ~ re { print $1 }'; }
#  before-file after-file calls -> "total_us_per_call ingest=..,router=..,..." per process kind
cpu_per_call() {
    awk -v calls="$3" -v tick="$TICK_US" '
        FNR == NR { before[$1] = $3; next }
        { kind = $2; sub(/^tg-/, "", kind)
          if (!($1 in before)) { lost = 1; next }
          d = ($3 - before[$1]) * tick; by[kind] += d; total += d }
        END { if (lost || calls == 0) { print "nan -"; exit }
              n = split("ingest router worker analytics alert", order, " ")
              for (i = 1; i <= n; i++) s = s (i > 1 ? "," : "") order[i] "=" sprintf("%.0f", by[order[i]] / calls)
              printf "%.1f %s\n", total / calls, s }' "$1" "$2"
}
#  "type value" lines of tollgate_frames_sent_total from GET /metrics (no auth needed).
frames_sent() {
    curl -fs "http://127.0.0.1:$TPORT/metrics" \
        | sed -n 's/^tollgate_frames_sent_total{type="\([^"]*\)"} \([0-9.e+]*\)$/\1 \2/p'
}
#  before-file after-file calls -> "msgs_per_call req=1.00,job=1.00,..." (known types first)
msgs_per_call() {
    awk -v calls="$3" '
        FNR == NR { before[$1] = $2; next }
        { d[$1] = $2 - before[$1]; total += d[$1] }
        END { if (calls == 0) { print "nan -"; exit }
              n = split("req job acc rep hed chk end use ack cxl qry sta spd alert", order, " ")
              for (i = 1; i <= n; i++) if (order[i] in d) { t = order[i]; s = s "," t "=" sprintf("%.2f", d[t] / calls); delete d[t] }
              for (t in d) s = s "," t "=" sprintf("%.2f", d[t] / calls)
              printf "%.2f %s\n", total / calls, (s == "" ? "-" : substr(s, 2)) }' "$1" "$2"
}

#  Checks the request once against both and reports the answer's size and tokens.
probe() {
    local ans
    ans=$(curl -fs -H 'Authorization: Bearer bench-key' -H 'Content-Type: application/json' \
        --data-binary @"$BODY_JSON" "http://127.0.0.1:$MPORT/v1/chat/completions") \
        || { echo "the mock refused $BODY_JSON" >&2; exit 1; }
    curl -fs -o /dev/null -H 'Authorization: Bearer bench-key' -H 'Content-Type: application/json' \
        --data-binary @"$BODY" "http://127.0.0.1:$TPORT/v1/chat/completions" \
        || { echo "tollgate refused $BODY" >&2; exit 1; }
    echo "$ans" | python3 -c 'import json, sys
d = json.loads(sys.stdin.read())
print("%d prompt + %d completion tokens, %d bytes of JSON" % (d["usage"]["prompt_tokens"],
      d["usage"]["completion_tokens"], len(json.dumps(d, separators=(",", ":")))))'
}

ROWS=$work/rows.tsv
: >"$ROWS"
#  section mode lua latency_ms conns...: one direct and one tollgate run per client count.
section() {
    local name=$1 mode=$2 lua=$3 lat=$4 c
    shift 4
    local url_d="http://127.0.0.1:$MPORT/v1/chat/completions"
    local url_t="http://127.0.0.1:$TPORT/v1/chat/completions"
    #  Warm up both paths (connections, caches) at the section's largest client count.
    local top
    top=$(printf '%s\n' "$@" | sort -n | tail -1)
    wrk -t1 -c"$top" -d2s --timeout 10s -s "$lua" "$url_d" >/dev/null
    wrk -t1 -c"$top" -d2s --timeout 10s -s "$lua" "$url_t" >/dev/null
    sleep "$STATS_SETTLE"
    for c in "$@"; do
        echo "  $name $mode c=$c ..." >&2
        local m0 m1 r drps dp50 dp99 dcalls derr
        m0=$(cpu_of "$MOCK_PID")
        r=$(run "$url_d" "$c" "$lua")
        m1=$(cpu_of "$MOCK_PID")
        read -r drps dp50 dp99 dcalls derr <<<"$r"
        local mock_cpu
        mock_cpu=$(awk -v a="${m0##* }" -v b="${m1##* }" -v n="$dcalls" -v t="$TICK_US" \
            'BEGIN { printf "%.1f", n ? (b - a) * t / n : 0 }')
        local pids trps tp50 tp99 tcalls terr
        pids=$(gateway_pids)
        frames_sent >"$work/f0"
        # shellcheck disable=SC2086
        cpu_of $pids >"$work/c0"
        r=$(run "$url_t" "$c" "$lua")
        # shellcheck disable=SC2086
        cpu_of $pids >"$work/c1"
        read -r trps tp50 tp99 tcalls terr <<<"$r"
        sleep "$STATS_SETTLE"
        frames_sent >"$work/f1"
        local cpu cpu_by msgs msgs_by
        read -r cpu cpu_by <<<"$(cpu_per_call "$work/c0" "$work/c1" "$tcalls")"
        read -r msgs msgs_by <<<"$(msgs_per_call "$work/f0" "$work/f1" "$tcalls")"
        [ "$cpu" = nan ] && echo "  a tollgate process restarted during the run: no CPU figure" >&2
        local errs="none"
        [ "$derr $terr" = "none none" ] || errs="direct:$derr tollgate:$terr"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$name" "$mode" "$lat" "$c" "$drps" "$trps" "$dp50" "$tp50" "$dp99" "$tp99" \
            "$dcalls" "$tcalls" "$cpu" "$mock_cpu" "$msgs" "$cpu_by;$msgs_by" "$errs" >>"$ROWS"
    done
}

if [ "$SLOW" = 1 ]; then
    for b in "$BODY_JSON" "$BODY_STREAM"; do
        grep -q '\[\[mock:' "$b" || { echo "$b has no [[mock:...]] directive to extend" >&2; exit 2; }
    done
fi
answer=$(probe)
echo "running (each line: a direct and a tollgate run of $DURATION) ..." >&2
if [ "$MAIN" = 1 ]; then
    mode=json
    grep -q '"stream" *: *true' "$BODY" && mode=stream
    # shellcheck disable=SC2086
    section main "$mode" "$(lua_for "$BODY")" 0 $CONNS
fi
#  body-file -> the same body with "temperature":0 (cacheable), primed into the cache.
hit_lua() {
    local out=$work/$(basename "$1" .json)-t0.json
    sed 's/^{/{"temperature":0,/' "$1" >"$out"
    curl -fs -o /dev/null -H 'Authorization: Bearer bench-key' -H 'Content-Type: application/json' \
        --data-binary @"$out" "http://127.0.0.1:$TPORT/v1/chat/completions" \
        || { echo "tollgate refused $out" >&2; exit 1; }
    sleep 0.5 #  the fill goes worker -> router -> LMDB after the answer
    local h
    h=$(curl -fs -D - -o /dev/null -H 'Authorization: Bearer bench-key' \
        -H 'Content-Type: application/json' --data-binary @"$out" \
        "http://127.0.0.1:$TPORT/v1/chat/completions" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }')
    [ "$h" = hit ] || { echo "$out is not answered from the cache (x-cache: $h)" >&2; exit 1; }
    lua_for "$out"
}
if [ "$HIT" = 1 ]; then
    lua=$(hit_lua "$BODY_JSON")
    # shellcheck disable=SC2086
    section hit hit-json "$lua" 0 $HIT_CONNS
    lua=$(hit_lua "$BODY_STREAM")
    # shellcheck disable=SC2086
    section hit hit-sse "$lua" 0 $HIT_CONNS
fi
if [ "$SLOW" = 1 ]; then
    # shellcheck disable=SC2086
    section slow json "$(lua_for "$BODY_JSON" "latency_ms=$LATENCY_MS")" "$LATENCY_MS" $SLOW_CONNS
    # shellcheck disable=SC2086
    section slow stream "$(lua_for "$BODY_STREAM" "latency_ms=$LATENCY_MS")" "$LATENCY_MS" $SLOW_CONNS
fi

echo
echo "tollgate overhead: $(nproc) cores, $DURATION per run, workers $WORKERS, ingest $INGEST, $(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2 }')"
echo "request: $BODY ($(wc -c <"$BODY") bytes); non-streamed answer from the mock: $answer"
echo
echo "What tollgate costs (ratios first; CPU = gateway processes' CPU time per call; msgs = ZeroMQ messages sent per call):"
printf "%-8s %-8s %7s | %11s | %10s %10s | %12s | %9s | %s\n" upstream mode clients "tg/direct" \
    "p50 added" "p99 added" "tg CPU/call" "msgs/call" errors
awk -F'\t' '{ printf "%-8s %-8s %7s | %9.1f %% | %8.0fus %8.0fus | %10sus | %9s | %s\n",
    $3 "ms", $2, $4, ($5 > 0 ? 100 * $6 / $5 : 0), $8 - $7, $10 - $9, $13, $15, $17 }' "$ROWS"
echo
echo "Absolute (this machine only):"
printf "%-8s %-8s %7s | %10s %10s | %9s %9s | %9s %9s | %9s %9s | %s\n" upstream mode clients \
    "direct r/s" "tg r/s" "p50 dir" "p50 tg" "p99 dir" "p99 tg" "calls dir" "calls tg" "mock CPU/call (direct)"
awk -F'\t' '{ printf "%-8s %-8s %7s | %10.0f %10.0f | %7.0fus %7.0fus | %7.0fus %7.0fus | %9s %9s | %sus\n",
    $3 "ms", $2, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14 }' "$ROWS"
echo
echo "Per call, by tollgate process (CPU us) and by frame type (messages sent):"
awk -F'\t' '{ split($16, p, ";"); gsub(/,/, " ", p[1]); gsub(/,/, " ", p[2]); gsub(/=/, " ", p[2])
    printf "%-8s %-8s %7s | cpu us: %s | msgs: %s\n", $3 "ms", $2, $4, p[1], p[2] }' "$ROWS"
awk -F'\t' '$12 > 0 && $4 / $12 > 0.05 { n++ } END { if (n) print "note: in " n " run(s) the clients exceed 5 % of the calls: calls cut off when wrk stops are not counted but add CPU and messages (req > 1.00); use a longer --duration" }' "$ROWS"

if [ -n "$CSV" ]; then
    {
        echo "section,mode,upstream_ms,clients,direct_rps,tollgate_rps,ratio_pct,p50_direct_us,p50_tollgate_us,p50_added_us,p99_direct_us,p99_tollgate_us,p99_added_us,direct_calls,tollgate_calls,tg_cpu_us_per_call,mock_cpu_us_per_call_direct,msgs_per_call,cpu_us_by_process,msgs_by_type,errors"
        awk -F'\t' '{ split($16, p, ";"); gsub(/,/, " ", p[1]); gsub(/,/, " ", p[2]); gsub(/,/, " ", $17)
            printf "%s,%s,%s,%s,%.0f,%.0f,%.1f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%s,%s,%s,%s,%s,%s,%s,%s\n",
                $1, $2, $3, $4, $5, $6, ($5 > 0 ? 100 * $6 / $5 : 0), $7, $8, $8 - $7, $9, $10, $10 - $9,
                $11, $12, $13, $14, $15, p[1], p[2], $17 }' "$ROWS"
    } >"$CSV"
    echo
    echo "wrote $CSV"
fi
