#!/usr/bin/env bash
# hvmd with -device vfio-pci on edu, in the VFIO lab: copies hvmd and the test program into the
# lab guest and runs the test there. Exit 77 (skip) with one line when the lab cannot run here.
# usage: run-vfio-lab-test.sh HVMD TEST_PROGRAM
set -uo pipefail
hvmd=${1:?hvmd binary}; test=${2:?test program}
lab=${PTLAB_DIR:-$HOME/ptlab/vfio}
runner=${PTLAB_RUN:-$(dirname "$(readlink -f "$0")")/../../../shared/pt-lab/vfio-run.sh}
[ -x "$runner" ] || runner=/work/shared/pt-lab/vfio-run.sh
if [ ! -f "$lab/base.cpio" ]; then echo "SKIP: no VFIO lab in $lab (build-vfio-lab.sh)"; exit 77; fi
if [ ! -x "$runner" ]; then echo "SKIP: vfio-run.sh not found"; exit 77; fi
if ! command -v qemu-system-x86_64 >/dev/null; then echo "SKIP: qemu-system-x86_64 missing"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$hvmd" "$tmp/hvmd"
cp "$test" "$tmp/hvmd_vfio_lab_test"
# The sandbox stays on: the device is opened before it, as in production.
"$runner" -t 110 -d edu "$tmp/hvmd" "$tmp/hvmd_vfio_lab_test" -- \
  "HVMD_BINARY=/opt/lab/hvmd ./hvmd_vfio_lab_test --gtest_color=no"
