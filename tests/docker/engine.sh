#!/usr/bin/env bash
#  tests/docker/engine.sh - sourced by compose.sh and curve.sh: a Docker engine for the test.
#    engine_up LOGDIR   when no engine answers, starts dockerd (root needed) with its log in
#                       LOGDIR/dockerd.log and waits up to 30 s for it; sets engine_pid then;
#    engine_down        stops the dockerd that engine_up started (none other).
#  Each script that needs an engine starts its own: one that an earlier script started has
#  been stopped by then (CI runs them on a machine where no engine runs before).
#  The caller defines fail MESSAGE (exits).
engine_pid=
engine_up() {
    local logdir=$1
    docker info >/dev/null 2>&1 && return 0
    [[ $(id -u) -eq 0 ]] || fail "no Docker engine answers and starting dockerd needs root"
    command -v dockerd >/dev/null || fail "dockerd is missing (apt-get install docker.io)"
    echo "no engine answers: starting dockerd (log $logdir/dockerd.log)"
    dockerd >"$logdir/dockerd.log" 2>&1 &
    engine_pid=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$engine_pid" 2>/dev/null || break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        tail -30 "$logdir/dockerd.log" >&2
        fail "dockerd did not start (above: the end of its log)"
    fi
}
engine_down() {
    [[ -n $engine_pid ]] || return 0
    kill "$engine_pid" 2>/dev/null && wait "$engine_pid" 2>/dev/null
    engine_pid=
}
