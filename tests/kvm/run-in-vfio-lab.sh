#!/usr/bin/env bash
# Runs the kvm-runner tests (hvmd_kvm_tests: SeaBIOS, option ROMs, VGA BIOSes, IDE boot, direct
# kernel boot) where this machine has no /dev/kvm: inside ../shared/pt-lab's VFIO lab, a Linux
# guest under QEMU's software CPU with nested KVM (about 30-90 s). Where /dev/kvm works, the tests
# run directly (ctest's kvm label) and this one skips.
#   run-in-vfio-lab.sh HVMD_KVM_TESTS HVMD_BINARY
# Environment: PTLAB_DIR (the lab's folder, built here when missing), HVMD_PT_LAB_TOOLS.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
tests=$(readlink -f "${1:?usage: run-in-vfio-lab.sh HVMD_KVM_TESTS HVMD_BINARY}")
hvmd=$(readlink -f "${2:?usage: run-in-vfio-lab.sh HVMD_KVM_TESTS HVMD_BINARY}")
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then echo "SKIP: /dev/kvm is usable here; hvmd_kvm_tests runs directly"; exit 77; fi
tools=""
for dir in "${HVMD_PT_LAB_TOOLS:-}" "$here/../../../shared/pt-lab" /work/shared/pt-lab; do
  [ -n "$dir" ] && [ -x "$dir/vfio-run.sh" ] && { tools=$(readlink -f "$dir"); break; }
done
[ -n "$tools" ] || { echo "SKIP: ../shared/pt-lab (the VFIO lab with nested KVM) not found"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing (Debian package qemu-system-x86)"; exit 77; }
lab=${PTLAB_DIR:-$HOME/ptlab/vfio}
[ -f "$lab/vmlinux" ] || bash "$tools/build-vfio-lab.sh" "$lab" >/dev/null
# The tests find hvmd at its build path and the firmware at Debian's paths: the lab copies each
# to the same absolute path in the guest (with the shared libraries they need).
firmware=()
for path in /usr/share/seabios /usr/share/qemu /usr/lib/ipxe/qemu; do [ -e "$path" ] && firmware+=(-H "$path"); done
run() {
  PTLAB_DIR=$lab "$tools/vfio-run.sh" -d edu -t 600 -H "$hvmd" "${firmware[@]}" "$tests" -- \
    "./$(basename "$tests") --gtest_color=no"
}
rc=0; run || rc=$?
# 125: the lab's guest died before the command ran (under heavy load its kernel can fail the
# IO-APIC timer check at boot); that is the lab, not hvmd: once more.
if [ $rc = 125 ]; then echo "the lab's guest died early: running it once more"; rc=0; run || rc=$?; fi
exit $rc
