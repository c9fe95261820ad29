#!/usr/bin/env bash
# Builds hvmd twice and runs every test in both builds:
#   build/        GCC, warnings as errors: unit, black-box qtest, simulated-Xen and fuzz-corpus
#                 tests, and hvmd under real Xen 4.17 in ../shared/xen-lab (about 2 minutes once
#                 the lab is built; it skips with a reason where it cannot run), and the
#                 kvm-runner tests inside ../shared/pt-lab's VFIO lab (nested KVM) where this
#                 host has no /dev/kvm
#   build-clang/  clang 14 with ASan+UBSan and libFuzzer: the same tests under sanitizers, plus a
#                 short coverage-guided fuzzing run of hvmd-fuzz
# Benchmarks are not run here (tests/bench/run.sh prints them).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHVMD_WERROR=ON -DHVMD_XEN_LAB=ON -DHVMD_VFIO_LAB=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

CC=clang-14 CXX=clang++-14 cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHVMD_WERROR=ON -DHVMD_LIBFUZZER=ON
cmake --build build-clang -j "$jobs"
ctest --test-dir build-clang --output-on-failure -j "$jobs"
