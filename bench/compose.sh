#!/usr/bin/env bash
#  bench/compose.sh - scaling (S4): throughput with 1, 2 and 4 workers and 1 and 2 ingest
#  processes, on `tollgate up` (one host, processes) and on compose (one container per
#  process, tests/docker's engine), the same wrk load against the mock provider in both.
#
#  Usage: bench/compose.sh [--duration 10s] [--conns 64] [--workers "1 2 4"] [--ingest "1 2"]
#                          [--modes "up compose"] [--csv FILE]
#
#  Load: bench/bodies/chat-1k.json (a ~1 KB prompt, the mock answers 138 tokens, never a
#  cache hit), wrk with --conns connections for --duration after a 2 s warm-up, per
#  configuration. `up`: `tollgate up --workers W --ingest I` with the mock as a host process
#  (bench/lib.sh); the I ingests share one listening socket, one wrk drives it. `compose`:
#  compose.yml + compose.mock.yml under a project of its own, `--scale worker=W
#  --scale ingest=I`; each ingest container publishes its own host port (a port range), so
#  the connections are split evenly over I wrk processes and their req/s added up.
#  Prints one row per configuration (req/s, p50, p99, errors) with the core count and the
#  load average; --csv FILE also writes them as CSV. Needs a Release build in build/ (for
#  `up`), wrk, and for `compose` a Docker engine with docker-compose (tests/docker/compose.sh
#  makes the image; this script builds it if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TG_BIN_DIR:-$PWD/build/bin}
DURATION=10s
CONNS=64
WORKERS="1 2 4"
INGESTS="1 2"
MODES="up compose"
CSV=
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --ingest) INGESTS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --csv) CSV=$(realpath -m "$2"); shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^#  \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (--help)" >&2; exit 2 ;;
    esac
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
BODY=$PWD/bench/bodies/chat-1k.json
LUA=$(mktemp /tmp/tg-bench-compose.XXXXXX.lua)
cat >"$LUA" <<LUA
local f = assert(io.open("$BODY", "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
LUA
ROWS=$(mktemp /tmp/tg-bench-compose.XXXXXX.tsv)
project=tgbench$$
files=(-f compose.yml -f compose.mock.yml)
dc() { docker-compose -p "$project" "${files[@]}" "$@"; }
compose_up=
cleanup() {
    [ -n "$compose_up" ] && dc down -v -t 5 >/dev/null 2>&1
    rm -f "$LUA" "$ROWS"
}
trap cleanup EXIT

to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }
#  url conns -> "rps p50_us p99_us errors"
wrk_run() {
    local out threads=2
    [ "$2" -lt 2 ] && threads=1
    out=$(wrk -t"$threads" -c"$2" -d"$DURATION" --timeout 10s --latency -s "$LUA" "$1")
    echo "$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')" \
        "$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")" \
        "$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")" \
        "$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); for (i = 4; i <= NF; i += 2) n += $i } END { print n + 0 }')"
}
#  mode workers ingest url... : one warm-up, then one measured run spread over the urls.
measure() {
    local mode=$1 w=$2 i=$3
    shift 3
    local per=$((CONNS / $#)) u pids=()
    #  (waits for these pids only: the servers of `up` are children of this shell too)
    for u in "$@"; do
        wrk -t1 -c"$per" -d2s --timeout 10s -s "$LUA" "$u" >/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"
    local load0 load1 k=0
    pids=()
    load0=$(cut -d' ' -f1 /proc/loadavg)
    for u in "$@"; do
        wrk_run "$u" "$per" >"$ROWS.$k" &
        pids+=($!)
        k=$((k + 1))
    done
    wait "${pids[@]}"
    load1=$(cut -d' ' -f1 /proc/loadavg)
    #  req/s and errors add up; the latencies are the worst of the wrk processes.
    cat "$ROWS".[0-9]* | awk -v m="$mode" -v w="$w" -v i="$i" -v c="$CONNS" -v l0="$load0" -v l1="$load1" -v cores="$(nproc)" '
        { rps += $1; if ($2 > p50) p50 = $2; if ($3 > p99) p99 = $3; err += $4 }
        END { printf "%s\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%d\t%d\t%s-%s\n", m, w, i, c, rps, p50, p99, err, cores, l0, l1 }' \
        | tee -a "$ROWS" | awk -F'\t' '{ printf "  %-7s workers=%s ingest=%s: %s req/s, p50 %s us, p99 %s us, errors %s (load %s)\n", $1, $2, $3, $5, $6, $7, $8, $10 }' >&2
    rm -f "$ROWS".[0-9]*
}

for mode in $MODES; do
    case $mode in
    up)
        command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 2; }
        [ -x "$BIN/tollgate" ] || { echo "no Release build in $BIN" >&2; exit 2; }
        for i in $INGESTS; do
            for w in $WORKERS; do
                (
                    # shellcheck source=bench/lib.sh
                    . bench/lib.sh
                    bench_start bench-key --workers "$w" --ingest "$i"
                    measure up "$w" "$i" "http://127.0.0.1:$TPORT/v1/chat/completions"
                )
            done
        done
        ;;
    compose)
        export DOCKER_BUILDKIT=0 TOLLGATE_MASTER_KEY=bench-key TOLLGATE_LOG_LEVEL=warn
        export TOLLGATE_IMAGE=${TOLLGATE_IMAGE:-tollgate:test}  # the image tests/docker built
        max_i=$(printf '%s\n' $INGESTS | sort -n | tail -1)
        #  A host port range with room for every ingest container.
        first=$(python3 -c "
import socket, sys
n = $max_i
for p in range(27900, 28900 - n):
    try:
        socks = []
        for q in range(p, p + n):
            s = socket.socket(); s.bind(('127.0.0.1', q)); socks.append(s)
        print(p); sys.exit(0)
    except OSError:
        pass
sys.exit(1)")
        export TOLLGATE_HTTP_PORT_PUBLISHED=127.0.0.1:$first-$((first + max_i - 1))
        docker image inspect "$TOLLGATE_IMAGE" >/dev/null 2>&1 || { bash scripts/docker-base.sh && dc build router; }
        compose_up=1
        for i in $INGESTS; do
            for w in $WORKERS; do
                dc up -d --scale worker="$w" --scale ingest="$i" >/dev/null 2>&1
                urls=()
                for c in $(dc ps -q ingest); do
                    p=$(docker port "$c" 8080/tcp | head -1 | sed 's/.*://')
                    urls+=("http://127.0.0.1:$p/v1/chat/completions")
                done
                #  Ready: every ingest answers /readyz and the router lists W workers.
                for _ in $(seq 600); do
                    ok=1
                    for u in "${urls[@]}"; do curl -fs "${u%/v1/*}/readyz" >/dev/null 2>&1 || ok=0; done
                    n=$(curl -s "${urls[0]%/chat/completions}/router/metrics" -H 'Authorization: Bearer bench-key' | grep -o '"id":"worker-' | wc -l)
                    [ "$ok" = 1 ] && [ "$n" = "$w" ] && break
                    sleep 0.1
                done
                [ "$ok" = 1 ] && [ "$n" = "$w" ] || { echo "compose set not ready (workers=$w ingest=$i)" >&2; exit 1; }
                measure compose "$w" "$i" "${urls[@]}"
            done
        done
        dc down -v -t 5 >/dev/null 2>&1
        compose_up=
        ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
    esac
done

echo
echo "| mode | workers | ingest | clients | req/s | p50 | p99 | errors | cores | load avg (1 min) before-after |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %.2f ms | %.2f ms | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 / 1000, $7 / 1000, $8, $9, $10 }' "$ROWS"
if [ -n "$CSV" ]; then
    echo "mode,workers,ingest,clients,rps,p50_us,p99_us,errors,cores,load" >"$CSV"
    tr '\t' ',' <"$ROWS" >>"$CSV"
fi
