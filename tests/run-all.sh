#!/usr/bin/env bash
# Builds hvmd twice and runs every test in both builds:
#   build/        GCC, warnings as errors: unit, black-box qtest, simulated-Xen and fuzz-corpus
#                 tests, hvmd under real Xen 4.17 in ../shared/xen-lab (about 2 minutes once the
#                 lab is built; it skips with a reason where it cannot run), the kvm-runner tests
#                 (directly on /dev/kvm, or inside ../shared/pt-lab's VFIO lab where this host has
#                 none), and the Linux-guest lab: a real Linux HVM guest on hvmd under real Xen,
#                 emulated devices then PV (tests/xen/linux-lab, 15-20 minutes of one core under
#                 the software CPU), run in the background beside the clang build and its tests
#   build-clang/  clang 14 with ASan+UBSan and libFuzzer: the same tests under sanitizers, plus a
#                 short coverage-guided fuzzing run of hvmd-fuzz
# Benchmarks are not run here (tests/bench/run.sh prints them).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHVMD_WERROR=ON -DHVMD_XEN_LAB=ON \
  -DHVMD_VFIO_LAB=ON -DHVMD_LINUX_LAB=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" -E '^xen\.linux_lab$'

# The Linux lab uses one core for most of its run; the clang work beside it is niced so the lab
# keeps the pace its wall-clock limits assume.
ctest --test-dir build --output-on-failure -R '^xen\.linux_lab$' >build/linux-lab.log 2>&1 &
linux_lab=$!
clang_rc=0
(
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHVMD_WERROR=ON -DHVMD_LIBFUZZER=ON
  nice -n 10 cmake --build build-clang -j "$jobs"
  nice -n 10 ctest --test-dir build-clang --output-on-failure -j "$jobs"
) || clang_rc=$?
lab_rc=0
wait "$linux_lab" || lab_rc=$?
cat build/linux-lab.log
[ "$clang_rc" = 0 ] && [ "$lab_rc" = 0 ]
