#!/usr/bin/env bash
#  tests/docker/curve.sh - compose.curve.yml on a real Docker engine: a worker on a second
#  network joins the core over tcp + CURVE, and a worker with a revoked certificate is refused.
#    1. `run --rm certs` makes the certificates in the certs volume;
#    2. `up -d` (compose.yml + compose.mock.yml + compose.curve.yml) under a project name of
#       its own and a host port of 28000-28999; waits for /readyz 200;
#    3. the router lists two workers (the local one and remote-worker, which is only on the
#       `edge` network); the remote worker's inbox is advertised with its container name;
#    4. with the local worker stopped, calls through ingest answer 200: remote-worker served
#       them (jobs, replies to ingest's tcp inbox, usage to analytics, all over CURVE);
#    5. rogue-worker (revoked client certificate) starts: it logs that the router refused its
#       certificate, and the router logs the refused client; with remote-worker stopped too,
#       the router knows no worker and a call answers 503: none reached the rogue;
#    6. `down -v` leaves no container, network or volume of the project.
#  Needs the image ${TOLLGATE_IMAGE:-tollgate:local} (tests/docker/compose.sh builds it; this
#  script builds it with the classic builder when it is missing). TG_DOCKER=0 skips it.
#  TG_COMPOSE_DIR: where compose.yml, compose.mock.yml and compose.curve.yml are (the repo).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ "${TG_DOCKER:-1}" == 0 ]]; then
    echo "docker curve: skipped (TG_DOCKER=0)"
    exit 0
fi
cd "${TG_COMPOSE_DIR:-$root}"
export DOCKER_BUILDKIT=0
export TOLLGATE_IMAGE=${TOLLGATE_IMAGE:-tollgate:local}
project=tgcurve$$
port=$((28000 + RANDOM % 1000))
key=tg-curve-compose-master-key-0123456789
export TOLLGATE_HTTP_PORT_PUBLISHED=127.0.0.1:$port TOLLGATE_MASTER_KEY=$key
files=(-f compose.yml -f compose.mock.yml -f compose.curve.yml)
dc() { docker-compose -p "$project" "${files[@]}" "$@"; }
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
fail() {
    echo "docker curve: FAIL: $*" >&2
    exit 1
}
cleanup() {
    local rc=$?
    if [[ $rc -ne 0 && -n ${project_up:-} ]]; then
        dc --profile rogue ps >&2 || true
        dc --profile rogue logs --no-color --tail=30 >&2 || true
    fi
    [[ -n ${project_up:-} ]] && dc --profile rogue --profile setup down -v --remove-orphans -t 5 >/dev/null 2>&1
    engine_down
    rm -rf "$work"
    exit $rc
}
work=$(mktemp -d /tmp/tg-curve.XXXXXX)
# shellcheck source=tests/docker/engine.sh
source "$root/tests/docker/engine.sh"
trap cleanup EXIT
for c in docker docker-compose curl python3; do
    command -v $c >/dev/null || fail "$c is not installed"
done
engine_up "$work"
if ! docker image inspect "$TOLLGATE_IMAGE" >/dev/null 2>&1; then
    step "building $TOLLGATE_IMAGE"
    docker build --network host -t "$TOLLGATE_IMAGE" "$root"
fi
base=http://127.0.0.1:$port
auth=(-H "Authorization: Bearer $key")
chat() {
    curl -s -o /dev/null -w '%{http_code}' -m 20 "${auth[@]}" -H 'content-type: application/json' \
        -d "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"$1\"}]}" \
        "$base/v1/chat/completions"
}
workers() {
    curl -s -m 5 "${auth[@]}" "$base/v1/router/metrics" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["workers"]))' 2>/dev/null || echo -1
}
workers_are() { test "$(workers)" = "$1"; }
wait_for() { # what, seconds, command...
    local what=$1 n=$2
    shift 2
    for _ in $(seq "$((n * 2))"); do
        "$@" && return 0
        sleep 0.5
    done
    fail "timed out waiting for $what"
}

step "certificates (run --rm certs)"
project_up=1
dc --profile setup run --rm certs >/dev/null

step "up -d, project $project, port $port"
dc up -d
wait_for "/readyz 200" 90 curl -fs -m 2 "$base/readyz" -o /dev/null

step "the router knows the local and the remote worker"
wait_for "two workers" 60 workers_are 2
rw=$(dc ps -q remote-worker)
rhost=$(docker inspect -f '{{.Config.Hostname}}' "$rw")
dc logs --no-color remote-worker | grep -q "inbox bound=tcp://0.0.0.0:471[0-9][0-9] advertised=tcp://$rhost:471" ||
    fail "remote-worker did not advertise tcp://$rhost:471xx"
docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$rw" | grep -qv default ||
    fail "remote-worker is on the default network"

step "local worker stopped: calls are served by remote-worker"
dc stop -t 15 worker >/dev/null
wait_for "one worker" 30 workers_are 1
for i in $(seq 20); do
    code=$(chat "remote $i")
    [[ $code == 200 ]] || fail "call $i answered $code with only remote-worker"
done
echo "20 calls answered 200 by remote-worker"
dc logs --no-color remote-worker | grep -q "curve:" && fail "remote-worker logged a CURVE failure"

step "rogue-worker (revoked certificate) is refused, logged on both sides"
dc --profile rogue up -d rogue-worker
wait_for "rogue-worker's refusal line" 30 sh -c \
    "docker-compose -p $project ${files[*]} logs --no-color rogue-worker | grep -q \"refused this process's certificate\""
wait_for "the router's refusal line" 30 sh -c \
    "docker-compose -p $project ${files[*]} logs --no-color router | grep -q 'curve: refused a client on tcp://.*:5551'"
dc stop -t 15 remote-worker >/dev/null
wait_for "no admitted worker" 30 workers_are 0
code=$(chat "rogue?")
[[ $code == 503 ]] || fail "with only rogue-worker running a call answered $code, not 503"
echo "only rogue-worker running: the router knows 0 workers, a call answers 503"

step "down -v"
dc --profile rogue --profile setup down -v --remove-orphans -t 5 >/dev/null 2>&1
project_up=
left=$(docker ps -aq --filter "label=com.docker.compose.project=$project"; docker volume ls -q --filter "label=com.docker.compose.project=$project"; docker network ls -q --filter "label=com.docker.compose.project=$project")
[[ -z $left ]] || fail "left behind: $left"
echo "docker curve: OK (${SECONDS}s)"
