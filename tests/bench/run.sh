#!/usr/bin/env bash
# Prints hvmd's benchmark figures: dispatch cost per access, start-up time and idle memory, the
# latter side by side with QEMU when qemu-system-x86_64 is installed.
#   tests/bench/run.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
"$build/tests/bench/hvmd_dispatch_bench" --benchmark_min_time=0.2
"$build/tests/bench/hvmd_ioreq_bench"
"$build/tests/bench/hvmd_startup_bench" hvmd "$build/hvmd" 20
if command -v qemu-system-x86_64 >/dev/null; then
  "$build/tests/bench/hvmd_startup_bench" qemu "$(command -v qemu-system-x86_64)" 10
else
  echo "qemu-system-x86_64 not installed: no comparison"
fi
