#!/usr/bin/env bash
# The whole test suite: installs dependencies, then builds and runs ctest twice, under
# ASan+UBSan (build-asan/) and as a normal release build (build/). Exits non-zero if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
tt_install_deps || exit 1
tt_install_python_deps
jobs=$(nproc 2>/dev/null || echo 2)

run_suite() { # dir, cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1 || { cat "$dir.build.log"; return 1; }
  grep -E "warning|error" "$dir.build.log" || true
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
}

mkdir -p build build-asan
echo "== tinytrain tests: ASan + UBSan build =="
ASAN_OPTIONS=detect_leaks=1 run_suite build-asan -DTT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
asan=$?
[ $asan -eq 0 ] || echo "tinytrain: the ASan+UBSan suite FAILED (see above); running the release suite anyway"
echo "== tinytrain tests: release build =="
run_suite build -DCMAKE_BUILD_TYPE=Release
release=$?
exit $(( asan != 0 || release != 0 ))
