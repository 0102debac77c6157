#!/usr/bin/env bash
#  scripts/up.sh - installs what is missing, builds tollgate (Release) into build/ and runs
#  `tollgate up` in the foreground. Arguments go to `tollgate up` (-c FILE, --workers N ...).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j
exec build/bin/tollgate up "$@"
