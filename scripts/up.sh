#!/usr/bin/env bash
#  scripts/up.sh - installs what is missing, builds tollgate (Release) into build/ and runs
#  `tollgate up` in the foreground. Arguments go to `tollgate up` (-c FILE, --workers N, -v ...).
#  The build prints one line; its output is in build/build.log (shown when it fails).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/deps.sh
mkdir -p build
printf 'building tollgate (Release) ... '
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j; } >build/build.log 2>&1; then
    echo "failed:"
    tail -40 build/build.log
    exit 1
fi
echo "done"
exec build/bin/tollgate up "$@"
