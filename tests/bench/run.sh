#!/usr/bin/env bash
# Prints hvmd's benchmark figures: dispatch cost per access, the ioreq round trip, start-up time
# and idle memory, and start to SeaBIOS banner on KVM; the last three side by side with QEMU when
# qemu-system-x86_64 is installed.
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
"$build/tests/bench/hvmd_ide_bench" --benchmark_min_time=0.5
"$build/tests/bench/hvmd_e1000_bench" --benchmark_min_time=0.3
"$build/tests/bench/hvmd_usb_storage_bench" --benchmark_min_time=0.3
"$(dirname "$0")/boot_bench.sh" "$build/hvmd" "$build/tests/hvmd-test-rom" 5
