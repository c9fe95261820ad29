#!/usr/bin/env bash
# hvmd's VFIO backend in-process in the VFIO lab (vfio_lab_host_test.cc): edu on the root bus,
# e1000e, and a second edu behind a PCIe root port (so that a bus hot reset exists); also reports
# whether the lab kernel offers iommufd and VFIO's device cdevs. Exit 77 (skip) with one line when
# the lab cannot run here.
# usage: run-vfio-lab-host-test.sh TEST_PROGRAM
set -uo pipefail
test=${1:?test program}
lab=${PTLAB_DIR:-$HOME/ptlab/vfio}
runner=${PTLAB_RUN:-$(dirname "$(readlink -f "$0")")/../../../shared/pt-lab/vfio-run.sh}
[ -x "$runner" ] || runner=/work/shared/pt-lab/vfio-run.sh
if [ ! -f "$lab/base.cpio" ]; then echo "SKIP: no VFIO lab in $lab (build-vfio-lab.sh)"; exit 77; fi
if [ ! -x "$runner" ]; then echo "SKIP: vfio-run.sh not found"; exit 77; fi
if ! command -v qemu-system-x86_64 >/dev/null; then echo "SKIP: qemu-system-x86_64 missing"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$test" "$tmp/hvmd_vfio_lab_host_test"
cat >"$tmp/run.sh" <<'INNER'
#!/bin/sh
echo "info kernel $(uname -r); /dev/iommu: $([ -e /dev/iommu ] && echo present || echo absent);" \
  "/dev/vfio/devices: $([ -d /dev/vfio/devices ] && echo present || echo absent);" \
  "iommufd symbols: $(grep -c ' iommufd_' /proc/kallsyms 2>/dev/null)"
./hvmd_vfio_lab_host_test --gtest_color=no
INNER
chmod +x "$tmp/run.sh"
PTLAB_QEMU_ARGS="${PTLAB_QEMU_ARGS:-} -device pcie-root-port,id=ptrp,chassis=7,bus=pcie.0,addr=07.0 -device edu,bus=ptrp,addr=00.0" \
  "$runner" -t 110 -d edu,e1000e "$tmp/hvmd_vfio_lab_host_test" "$tmp/run.sh" -- ./run.sh
