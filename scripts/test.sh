#!/usr/bin/env bash
#  scripts/test.sh - installs what is missing, builds the Debug (ASan/UBSan) configuration
#  into build-debug/ with warnings as errors and runs every test: unit and integration, then
#  compose.yml on a real Docker engine (tests/docker/compose.sh, then tests/docker/curve.sh;
#  TG_DOCKER=0 skips both), then
#  each fuzz target for TG_FUZZ_SECONDS (60). Arguments go to ctest (e.g. -L unit, -R chat)
#  and skip the fuzzing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/deps.sh --test

#  npm ci only when node_modules is missing or older than the lock file.
it=tests/integration
stamp=$it/node_modules/.tollgate-lock
if [[ ! -f $stamp ]] || ! cmp -s "$it/package-lock.json" "$stamp"; then
    (cd "$it" && npm ci --no-audit --no-fund)
    cp "$it/package-lock.json" "$stamp"
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug -DTG_WERROR=ON
cmake --build build-debug -j "$jobs"
ctest --test-dir build-debug --output-on-failure "$@"

#  compose.yml on a real Docker engine (tests/docker/compose.sh; each docker script starts and
#  stops its own dockerd when none runs: tests/docker/engine.sh), when every test ran, within
#  TG_DOCKER_TIMEOUT seconds (900: a first build makes the base image and compiles in the
#  image; a second run on the machine reuses both). TG_DOCKER=0 skips it.
if [[ $# -eq 0 && "${TG_DOCKER:-1}" != 0 ]]; then
    timeout --kill-after=30 "${TG_DOCKER_TIMEOUT:-900}" tests/docker/compose.sh \
        || { echo "test.sh: tests/docker/compose.sh failed or timed out (TG_DOCKER=0 skips it)" >&2; exit 1; }
    #  The CURVE variant: a worker on a second network over tcp + CURVE, on the image just built.
    TOLLGATE_IMAGE=tollgate:test timeout --kill-after=30 300 tests/docker/curve.sh \
        || { echo "test.sh: tests/docker/curve.sh failed or timed out (TG_DOCKER=0 skips it)" >&2; exit 1; }
fi

#  The fuzz targets (tests/fuzz), TG_FUZZ_SECONDS each (60; 0 skips), when every test ran.
if [[ $# -eq 0 && "${TG_FUZZ_SECONDS:-60}" != 0 ]]; then
    tests/fuzz/run.sh --seconds "${TG_FUZZ_SECONDS:-60}"
fi
