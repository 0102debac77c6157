#!/usr/bin/env bash
#  scripts/deps.sh - installs what tollgate needs to build, run and test, and only what is
#  missing (Debian 12, as root or with sudo). A second run checks and does nothing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libczmq-dev libzmq3-dev libmsgpack-dev liblmdb-dev libcurl4-openssl-dev libevent-dev
    libjansson-dev libyaml-dev libxxhash-dev libcunit1-dev libsodium-dev zlib1g-dev
    prometheus wrk curl clang-format
)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
#  Node.js may come from Debian (nodejs + npm) or from NodeSource (one nodejs package that
#  holds npm and conflicts with Debian's npm): ask for the commands, not the packages.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

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
