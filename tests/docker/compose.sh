#!/usr/bin/env bash
#  tests/docker/compose.sh - compose.yml on a real Docker engine (Debian 12's docker.io and
#  docker-compose 1.29), the way a new user runs it with the mock provider:
#    1. starts dockerd when no engine answers (root needed; its log is printed if it fails);
#    2. makes the debian:12-slim base with scripts/docker-base.sh when the engine lacks it;
#    3. builds the image (tag tollgate:test) once (classic builder), checks the image has no VOLUME and its
#       user and group are 10001, prints the image size and the build time;
#    3b. `docker run IMAGE` (tollgate up, the built-in mock) becomes healthy and answers;
#    4. `up -d` with compose.mock.yml under a project name of its own and a free host port,
#       waits until every container is healthy;
#    5. a chat call through ingest from the host answers 200 with the admin key the ingest
#       generated (read from the data volume), and `ps`/`logs` work with no variable set;
#    6. `tollgate alerts` on the host (the alert stream's ipc socket on the run volume)
#       receives the budget alert that the calls trigger (TOLLGATE_BUDGET_DAILY_USD tiny);
#    7. `--scale worker=3`: 30 concurrent slow calls reach each of the three workers
#       (tollgate_worker_jobs_total{worker=...} in /metrics, one series per container);
#    8. a worker container SIGKILLed with `docker kill -s KILL` (a manual stop for the engine)
#       is started again by `docker-compose up -d`; the tg-worker process of another,
#       SIGKILLed from the host (a crash), is restarted by the engine (restart:
#       unless-stopped); both healthy again and calls still answer; after a scale down and up, the run volume holds one inbox socket per
#       live worker (stale ones swept);
#    9. `down -v` leaves no container, network or volume of the project.
#  TG_DOCKER=0 skips it. TG_BIN_DIR: the host's tollgate binary (build-debug/bin).
#  TG_DOCKER_CACHE: where the base root tarball is kept (/var/cache/tollgate).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
if [[ "${TG_DOCKER:-1}" == 0 ]]; then
    echo "docker: skipped (TG_DOCKER=0)"
    exit 0
fi
BIN=${TG_BIN_DIR:-$root/build-debug/bin}
export DOCKER_BUILDKIT=0  # the classic builder: no BuildKit/buildx needed, works offline
#  A tag of its own: a user's (or another checkout's) tollgate:local is left alone.
export TOLLGATE_IMAGE=tollgate:test
project=tgtest$$
files=(-f compose.yml -f compose.mock.yml)
dc() { docker-compose -p "$project" "${files[@]}" "$@"; }
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
fail() {
    echo "docker: FAIL: $*" >&2
    exit 1
}
t0=$SECONDS
work=$(mktemp -d /tmp/tg-docker.XXXXXX)
# shellcheck source=tests/docker/engine.sh
source "$root/tests/docker/engine.sh"
alerts_pid=
cleanup() {
    local rc=$?
    if [[ $rc -ne 0 && -n ${project_up:-} ]]; then
        echo "---- docker-compose ps / logs (last 30 lines each) ----" >&2
        dc ps >&2 || true
        dc logs --no-color --tail=30 >&2 || true
    fi
    [[ -n $alerts_pid ]] && kill "$alerts_pid" 2>/dev/null
    [[ -n ${project_up:-} ]] && dc down -v --remove-orphans -t 5 >/dev/null 2>&1
    engine_down
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

for c in docker docker-compose; do
    command -v $c >/dev/null || fail "$c is missing: scripts/deps.sh --test installs docker.io and docker-compose"
done
[[ -x $BIN/tollgate ]] || fail "$BIN/tollgate is missing: build first (TG_BIN_DIR)"

step "engine"
engine_up "$work"
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'
docker-compose version --short | sed 's/^/docker-compose /'

step "base image"
bash scripts/docker-base.sh

step "build"
b0=$SECONDS
dc build router >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; fail "the image did not build"; }
echo "built $TOLLGATE_IMAGE in $((SECONDS - b0)) s"
docker image ls "$TOLLGATE_IMAGE" --format "$TOLLGATE_IMAGE {{.Size}}"
[[ $(docker image inspect -f '{{len .Config.Volumes}}' "$TOLLGATE_IMAGE") == 0 ]] \
    || fail "the image declares VOLUMEs (anonymous volumes would be left behind)"
cid=$(docker create "$TOLLGATE_IMAGE" tollgate version)
mounts=$(docker inspect -f '{{len .Mounts}}' "$cid")
docker rm "$cid" >/dev/null
[[ $mounts == 0 ]] || fail "a container run without volumes gets $mounts anonymous volume(s)"
[[ $(docker run --rm "$TOLLGATE_IMAGE" id -u):$(docker run --rm "$TOLLGATE_IMAGE" id -g) == 10001:10001 ]] \
    || fail "user/group of the image are not 10001:10001"

step "docker run IMAGE: tollgate up in one container"
single=$(docker run -d --rm -p 127.0.0.1::8080 "$TOLLGATE_IMAGE")
for _ in $(seq 120); do
    [[ $(docker inspect -f '{{.State.Health.Status}}' "$single") == healthy ]] && break
    sleep 0.5
done
[[ $(docker inspect -f '{{.State.Health.Status}}' "$single") == healthy ]] || { docker logs "$single" >&2; docker rm -f "$single" >/dev/null; fail "docker run IMAGE did not become healthy"; }
sport=$(docker port "$single" 8080/tcp | sed 's/.*://')
skey=$(docker exec "$single" cat /var/lib/tollgate/master.key)
scode=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "http://127.0.0.1:$sport/v1/chat/completions" \
    -H "Authorization: Bearer $skey" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"one container"}]}')
docker stop -t 15 "$single" >/dev/null
[[ $scode == 200 ]] || fail "docker run IMAGE answered $scode"
echo "healthy, chat: 200 (the mock inside; stopped and removed)"

step "up"
export TOLLGATE_HTTP_PORT_PUBLISHED=127.0.0.1:  # "127.0.0.1::8080": a free port, chosen by docker
export TOLLGATE_BUDGET_DAILY_USD=0.000001       # the first priced call crosses it
unset TOLLGATE_MASTER_KEY OPENAI_API_KEY ANTHROPIC_API_KEY OPENROUTER_API_KEY
project_up=1
dc up -d 2>&1 | tail -3
port=$(dc port ingest 8080 | sed 's/.*://')
[[ -n $port ]] || fail "no host port published for ingest"
base=http://127.0.0.1:$port
echo "ingest at $base"

#  Every container of the project healthy, within $1 s.
healthy() {
    local deadline=$((SECONDS + $1)) ids states
    while :; do
        ids=$(dc ps -q)
        states=$(docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}' $ids)
        if ! grep -qv ' healthy$' <<<"$states"; then
            echo "$states" | sed 's/^/  /'
            return 0
        fi
        if ((SECONDS > deadline)); then
            echo "$states" >&2
            return 1
        fi
        sleep 1
    done
}
healthy 120 || fail "not every container became healthy within 120 s"

key=$(dc exec -T ingest cat /var/lib/tollgate/master.key)
[[ $key == tg-* ]] || fail "no generated admin key on the data volume"
#  One chat call: prints the HTTP status; $1 the message, $2 optional mock directives.
chat() {
    curl -s -o "$work/reply.json" -w '%{http_code}' --max-time 30 "$base/v1/chat/completions" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"$1 ${2:+[[mock:$2]]}\"}]}"
}

step "alerts subscriber on the host"
runvol=$(docker volume inspect -f '{{.Mountpoint}}' "${project}_run")
"$BIN/tollgate" alerts --endpoint "ipc://$runvol/alert_stream.ipc" >"$work/alerts.out" 2>"$work/alerts.err" &
alerts_pid=$!
for _ in $(seq 50); do
    grep -q 'listening for' "$work/alerts.err" && break
    sleep 0.1
done
grep -q 'listening for' "$work/alerts.err" || fail "tollgate alerts did not start: $(cat "$work/alerts.err")"
sleep 0.5  # the SUB connection settles before the first alert can fire

step "calls served"
code=$(chat "hello compose")
[[ $code == 200 ]] || fail "chat answered $code: $(cat "$work/reply.json")"
grep -q 'Mock reply to: hello compose' "$work/reply.json" || fail "unexpected reply: $(cat "$work/reply.json")"
echo "chat: 200, $(grep -o '"content":"[^"]*"' "$work/reply.json")"
#  `ps` and `logs` with no variable set.
(env -u TOLLGATE_HTTP_PORT_PUBLISHED -u TOLLGATE_BUDGET_DAILY_USD \
    docker-compose -p "$project" "${files[@]}" ps >/dev/null) || fail "ps needs variables"
(env -u TOLLGATE_HTTP_PORT_PUBLISHED -u TOLLGATE_BUDGET_DAILY_USD \
    docker-compose -p "$project" "${files[@]}" logs --tail=1 ingest >/dev/null) || fail "logs needs variables"

step "alert received on the host"
for i in $(seq 30); do
    [[ -s $work/alerts.out ]] && break
    chat "spend $i" >/dev/null
    sleep 1
done
[[ -s $work/alerts.out ]] || fail "no alert reached tollgate alerts within 30 s"
head -1 "$work/alerts.out"
grep -q '"kind":"budget"' "$work/alerts.out" || fail "the alert is not a budget alert"
kill "$alerts_pid"
wait "$alerts_pid" 2>/dev/null || true
alerts_pid=

step "scale worker=3"
dc up -d --scale worker=3 2>&1 | tail -2
healthy 90 || fail "not healthy after --scale worker=3"
workers=$(dc ps -q worker)
[[ $(wc -l <<<"$workers") == 3 ]] || fail "there are not three worker containers"
#  The router must know all three before the calls (each worker joins when it starts).
for _ in $(seq 60); do
    n=$(curl -s "$base/v1/router/metrics" -H "Authorization: Bearer $key" | grep -o '"id":"worker-' | wc -l)
    [[ $n == 3 ]] && break
    sleep 0.5
done
[[ $n == 3 ]] || fail "the router lists $n workers, not 3"
#  30 calls, 15 at a time, each held 300 ms by the mock: the router gives each to the worker
#  holding the fewest calls, so all three take some.
seq 30 | xargs -P 15 -I{} bash -c "$(declare -f chat); base=$base key=$key work=$work.{}; mkdir -p \$work; printf '%s\\n' \$(chat 'scale {}' latency_ms=300)" >"$work/codes"
[[ $(grep -c '^200$' "$work/codes") == 30 ]] || fail "not every scaled call answered 200: $(cat "$work/codes")"
rm -rf "$work".*
ok=0
for _ in $(seq 30); do
    metrics=$(curl -s "$base/metrics" | grep '^tollgate_worker_jobs_total{')
    ok=1
    for w in $workers; do
        host=$(docker inspect -f '{{.Config.Hostname}}' "$w")
        line=$(grep "worker=\"worker-$host-" <<<"$metrics" || true)
        [[ -n $line ]] && (($(awk '{print int($2)}' <<<"$line") > 0)) || ok=0
    done
    ((ok)) && break
    sleep 0.5
done
echo "$metrics" | sed 's/^/  /'
((ok)) || fail "not all three worker containers took jobs"

step "SIGKILL: a worker container (docker kill), and the process of another (a crash)"
#  $1 container, $2 restart count before: waits for a higher count and a healthy set.
restarted() {
    for _ in $(seq 60); do
        [[ $(docker inspect -f '{{.RestartCount}}' "$1") -gt $2 ]] && break
        sleep 0.5
    done
    [[ $(docker inspect -f '{{.RestartCount}}' "$1") -gt $2 ]] || fail "$(docker inspect -f '{{.Name}}' "$1") was not restarted"
    healthy 90 || fail "not healthy after $(docker inspect -f '{{.Name}}' "$1") restarted"
    code=$(chat "after a kill")
    [[ $code == 200 ]] || fail "chat after the kill answered $code"
    echo "$(docker inspect -f '{{.Name}}' "$1") restarted (restart count $(docker inspect -f '{{.RestartCount}}' "$1")), chat: 200"
}
#  `docker kill` is a manual stop for the engine (no restart policy applies): compose brings
#  the container back at the next `up -d`.
victim=$(sed -n 1p <<<"$workers")
docker kill -s KILL "$victim" >/dev/null
[[ $(docker inspect -f '{{.State.Status}}' "$victim") == exited ]] || fail "docker kill did not stop $victim"
dc up -d --scale worker=3 2>&1 | tail -1
healthy 90 || fail "not healthy after up -d restarted the killed worker"
[[ $(docker inspect -f '{{.State.Status}}' "$victim") == running ]] || fail "up -d did not restart the killed worker"
code=$(chat "after docker kill")
[[ $code == 200 ]] || fail "chat after docker kill answered $code"
echo "$(docker inspect -f '{{.Name}}' "$victim") killed, started again by up -d, chat: 200"
#  A crash: SIGKILL to tg-worker itself (the child of the container's docker-init), from the
#  host.
victim=$(sed -n 2p <<<"$workers")
before=$(docker inspect -f '{{.RestartCount}}' "$victim")
init_pid=$(docker inspect -f '{{.State.Pid}}' "$victim")
worker_pid=$(cat "/proc/$init_pid/task/$init_pid/children" | awk '{print $1}')
[[ $(cat "/proc/$worker_pid/comm") == tg-worker ]] || fail "no tg-worker under pid $init_pid"
kill -KILL "$worker_pid"
restarted "$victim" "$before"

step "stale inbox sockets"
dc up -d --scale worker=1 2>&1 | tail -1
sleep 11  # the sockets left by the two removed workers age past the sweep's 10 s
dc up -d --scale worker=3 2>&1 | tail -1
healthy 90 || fail "not healthy after scaling 1 -> 3"
socks=$(dc exec -T router sh -c 'ls /run/tollgate' | grep -c '^worker-' || true)
echo "worker inbox sockets on the run volume: $socks (3 workers)"
[[ $socks == 3 ]] || fail "stale worker sockets were left: $(dc exec -T router ls /run/tollgate | tr '\n' ' ')"
dc logs --no-color worker | grep -o 'removed [0-9]* stale worker inbox socket(s)' | sort | uniq -c

step "down -v"
(env -u TOLLGATE_HTTP_PORT_PUBLISHED -u TOLLGATE_BUDGET_DAILY_USD \
    docker-compose -p "$project" "${files[@]}" down -v -t 15) 2>&1 | tail -2
project_up=
left=$(docker ps -aq --filter "label=com.docker.compose.project=$project"; docker volume ls -q --filter "label=com.docker.compose.project=$project"; docker network ls -q --filter "label=com.docker.compose.project=$project")
[[ -z $left ]] || fail "down -v left: $left"
echo "docker: PASS in $((SECONDS - t0)) s"
