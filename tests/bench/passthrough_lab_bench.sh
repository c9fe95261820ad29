#!/usr/bin/env bash
# Passthrough figures on a real VFIO function (edu) inside ../shared/pt-lab's VFIO lab: DMA
# throughput through hvmd vs the same transfers from the lab host side with VFIO directly, and a
# trapped config access through hvmd's register table vs the bare VFIO pread/pwrite. Prints
# TABLE lines (bench_table.h); about 20 s.
# usage: passthrough_lab_bench.sh BUILD_DIR
set -euo pipefail
build=${1:?build directory}
runner=${PTLAB_RUN:-/work/shared/pt-lab/vfio-run.sh}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$build/hvmd" "$build/tests/bench/hvmd_passthrough_lab_bench" "$tmp/"
"$runner" -t 200 -d edu "$tmp/hvmd" "$tmp/hvmd_passthrough_lab_bench" -- \
  "HVMD_BINARY=/opt/lab/hvmd ./hvmd_passthrough_lab_bench"
