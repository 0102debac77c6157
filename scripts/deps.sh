#!/usr/bin/env bash
#  scripts/deps.sh - installs what tollgate needs, and only what is missing (Debian 12, as
#  root or with sudo). A second run checks and does nothing.
#    scripts/deps.sh          build and run (scripts/up.sh)
#    scripts/deps.sh --test   also what the tests need (scripts/test.sh): Node.js for the
#                             integration tests, promtool, clang + libFuzzer for the fuzz
#                             targets, clang-format, wrk for bench/, chromium for the
#                             dashboard's browser test, docker.io, docker-compose and
#                             debootstrap for tests/docker/compose.sh
set -euo pipefail

packages=(
    build-essential cmake pkg-config curl
    libczmq-dev libzmq3-dev libmsgpack-dev liblmdb-dev libcurl4-openssl-dev libevent-dev
    libjansson-dev libyaml-dev libxxhash-dev libcunit1-dev libsodium-dev zlib1g-dev
)
test_deps=0
[[ "${1:-}" == --test ]] && test_deps=1
if ((test_deps)); then
    packages+=(prometheus wrk clang-format clang libclang-rt-14-dev chromium)
    packages+=(debootstrap)  # tests/docker/compose.sh: the base image, made offline
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
#  Node.js may come from Debian (nodejs + npm) or from NodeSource (one nodejs package that
#  holds npm and conflicts with Debian's npm): ask for the commands, not the packages.
if ((test_deps)); then
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    #  tests/docker/compose.sh: an engine and compose 1.29, from Debian unless an engine
    #  (docker-ce, which conflicts with docker.io) is there already.
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
fi

if ((${#missing[@]} == 0)); then
    echo "deps: everything is installed"
    exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: run as root (or install sudo)" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
