#  bench/lib.sh - shared by the bench scripts: start the mock provider and `tollgate up`
#  pointed at it in a temp dir, wait for /readyz, and stop both on exit. Source it, then call
#  bench_start KEY [tollgate up arguments...]; it sets WORK, MPORT (mock) and TPORT (tollgate).
#  BENCH_KEEP=1 keeps the temp dir (logs, LMDB) after the run.

bench_need() {
    command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
    [ -x "$BIN/tollgate" ] || { echo "no build at $BIN (run scripts/up.sh or build Release)" >&2; exit 2; }
}

bench_start() {
    local key=$1
    shift
    WORK=$(mktemp -d /tmp/tg-bench.XXXXXX)
    BENCH_PIDS=()
    trap bench_stop EXIT
    "$BIN/tg-mock" --host 127.0.0.1 --port 0 --port-file "$WORK/mock.port" >"$WORK/mock.out" 2>"$WORK/mock.log" &
    BENCH_PIDS+=($!)
    for _ in $(seq 100); do [ -s "$WORK/mock.port" ] && break; sleep 0.05; done
    MPORT=$(cat "$WORK/mock.port")
    TPORT=${BENCH_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    TOLLGATE_RUN_DIR="$WORK/run" TOLLGATE_DATA_DIR="$WORK/data" TOLLGATE_HTTP_PORT=$TPORT \
        TOLLGATE_HTTP_HOST=127.0.0.1 TOLLGATE_MASTER_KEY="$key" TOLLGATE_LOG_LEVEL=warn \
        OPENAI_API_KEY=mock OPENAI_BASE_URL="http://127.0.0.1:$MPORT/v1" \
        "$BIN/tollgate" up -v "$@" >"$WORK/tollgate.out" 2>"$WORK/tollgate.log" &
    BENCH_PIDS+=($!)
    for _ in $(seq 300); do
        curl -fs "http://127.0.0.1:$TPORT/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "tollgate did not get ready" >&2
    cat "$WORK/tollgate.log" >&2
    exit 1
}

bench_stop() {
    for p in "${BENCH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${BENCH_KEEP:-}" ]; then
        echo "kept $WORK (logs: mock.log, tollgate.log)" >&2
    else
        rm -rf "$WORK"
    fi
}
