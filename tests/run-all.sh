#!/usr/bin/env bash
# Builds hvmd twice and runs every test in both builds:
#   build/        GCC, warnings as errors: unit, black-box qtest, simulated-Xen and fuzz-corpus
#                 tests, the kvm-runner tests (directly on /dev/kvm, or inside ../shared/pt-lab's
#                 VFIO lab where this host has none), and hvmd under real Xen 4.17 in
#                 ../shared/xen-lab (4-6 minutes of one core under QEMU's software CPU once the lab
#                 is built) and then a Linux guest under real Xen on hvmd (tests/xen/linux-lab:
#                 Linux's own drivers on every device, its PV drivers, the life-cycle; 15-25
#                 minutes of one core), both in the background beside the clang half; each skips
#                 with a reason where it cannot run
#   build-clang/  clang 14 with ASan+UBSan and libFuzzer: the same tests under sanitizers, plus a
#                 short coverage-guided fuzzing run of each hvmd-fuzz target
# Benchmarks are not run here (tests/bench/run.sh prints them).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHVMD_WERROR=ON -DHVMD_XEN_LAB=ON \
  -DHVMD_LINUX_LAB=ON -DHVMD_VFIO_LAB=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" -E '^xen\.(lab|linux_lab)$'

# The Xen labs keep one core busy for most of their run (one after the other: they share the
# lab); the clang work beside them is niced so the labs keep the pace their limits assume.
ctest --test-dir build --output-on-failure -R '^xen\.(lab|linux_lab)$' >build/xen-lab.log 2>&1 &
xen_lab=$!
clang_rc=0
(
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHVMD_WERROR=ON -DHVMD_LIBFUZZER=ON -DHVMD_BENCHMARKS=OFF
  nice -n 10 cmake --build build-clang -j "$jobs"
  nice -n 10 ctest --test-dir build-clang --output-on-failure -j "$jobs"
) || clang_rc=$?
lab_rc=0
wait "$xen_lab" || lab_rc=$?
cat build/xen-lab.log
[ "$clang_rc" = 0 ] && [ "$lab_rc" = 0 ]
