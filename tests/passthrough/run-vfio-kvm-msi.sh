#!/usr/bin/env bash
# hvmd's kvm runner with -device vfio-pci on edu and e1000e inside the VFIO lab (nested KVM): a
# tiny guest (kvm_msi_guest.S, assembled here) takes three edu MSIs and e1000e's MSI-X vectors 0,
# 2 and 3, vector 3 while masked (it waits for the pending bit, then unmasks it). hvmd gives each
# vector a GSI with an MSI route and a KVM_IRQFD from VFIO's eventfd, so the kernel delivers them
# without hvmd; with HVMD_LOG=debug hvmd says so per vector, and names every vector it delivered
# itself from an eventfd: only the masked vector 3 may be one (that is how it becomes pending).
# The lab's /proc/interrupts shows the vfio-msi/vfio-msix interrupts counted. Exit 77 (skip) with
# one line when the lab or the assembler is missing.
# usage: run-vfio-kvm-msi.sh HVMD
set -uo pipefail
hvmd=${1:?hvmd binary}
here=$(dirname "$(readlink -f "$0")")
lab=${PTLAB_DIR:-$HOME/ptlab/vfio}
runner=${PTLAB_RUN:-$here/../../../shared/pt-lab/vfio-run.sh}
[ -x "$runner" ] || runner=/work/shared/pt-lab/vfio-run.sh
if [ ! -f "$lab/base.cpio" ]; then echo "SKIP: no VFIO lab in $lab (build-vfio-lab.sh)"; exit 77; fi
if [ ! -x "$runner" ]; then echo "SKIP: vfio-run.sh not found"; exit 77; fi
if ! command -v as >/dev/null || ! command -v ld >/dev/null; then echo "SKIP: binutils missing"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --32 -o "$tmp/guest.o" "$here/kvm_msi_guest.S" &&
  ld -m elf_i386 -Ttext=0 -e 0 --oformat binary -o "$tmp/msi-bios.bin" "$tmp/guest.o" || exit 1
cp "$hvmd" "$tmp/hvmd"
cat >"$tmp/run-kvm-msi.sh" <<'INNER'
#!/bin/sh
edu=; nic=
for d in $PTLAB_VFIO_DEVICES; do
  case $(cat /sys/bus/pci/devices/$d/device) in
    0x11e8) edu=$d ;;
    0x10d3) nic=$d ;;
  esac
done
[ -n "$edu" ] && [ -n "$nic" ] || { echo "FAIL: edu and e1000e not both in the lab ($PTLAB_VFIO_DEVICES)"; exit 1; }
modprobe kvm_amd 2>/dev/null
vfio_irqs() { grep -i 'vfio-msi' /proc/interrupts | tr -s ' '; }
echo "before: $(vfio_irqs)"
HVMD_LOG=debug timeout 90 /opt/lab/hvmd -accel kvm -m 64 -nodefaults -bios /opt/lab/msi-bios.bin \
  -chardev file,id=dbg,path=/tmp/debug.log -device isa-debugcon,iobase=0x402,chardev=dbg \
  -device vfio-pci,host=$edu,addr=05.0 -device vfio-pci,host=$nic,addr=06.0 \
  -display none >/tmp/hvmd.log 2>&1 &
pid=$!
for i in $(seq 1 60); do grep -q 'DONE\|NOCAP' /tmp/debug.log 2>/dev/null && break; sleep 1; done
vfio_irqs >/tmp/irqs.txt  # VFIO's host IRQs exist while the vectors are enabled
echo "vfio-msi/vfio-msix in /proc/interrupts (hvmd running):"
cat /tmp/irqs.txt
kill $pid 2>/dev/null; wait $pid 2>/dev/null
echo "guest debug port: $(cat /tmp/debug.log 2>/dev/null)"
cat /tmp/hvmd.log
rc=0
for v in "MSI vector 0 of 00:03.0" "MSI-X vector 0 of 00:05.0" "MSI-X vector 2 of 00:05.0" "MSI-X vector 3 of 00:05.0"; do
  grep -q "kvm: $v on GSI [0-9]* (irqfd)" /tmp/hvmd.log || { echo "FAIL: $v not given a GSI and irqfd"; rc=1; }
done
if grep -q "not routed\|MSI routing failed" /tmp/hvmd.log; then echo "FAIL: hvmd fell back to its own delivery"; rc=1; fi
self=$(grep "delivered by hvmd from its eventfd" /tmp/hvmd.log)
if [ "$(echo "$self" | grep -c .)" != 1 ] || ! echo "$self" | grep -q "MSI-X vector 3 "; then
  echo "FAIL: hvmd's loop read vectors KVM should have taken: ${self:-none}"; rc=1
fi
# Host interrupts the lab kernel counted (every CPU) for edu's MSI and e1000e's MSI-X vectors.
total() { grep -i "$1" /tmp/irqs.txt | awk '{ s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break; t += s } END { print t + 0 }'; }
msi=$(total "vfio-msi\[") msix=$(total "vfio-msix\[")
echo "host interrupts counted: vfio-msi $msi, vfio-msix $msix"
[ "$msi" -ge 3 ] || { echo "FAIL: fewer than 3 vfio-msi interrupts counted"; rc=1; }
[ "$msix" -ge 3 ] || { echo "FAIL: fewer than 3 vfio-msix interrupts counted"; rc=1; }
grep -q "MMM02P3DONE" /tmp/debug.log || { echo "FAIL: the guest did not take edu's 3 MSIs and e1000e's vectors 0, 2, 3 (want MMM02P3DONE)"; rc=1; }
[ $rc = 0 ] && echo "PASS kvm-msi: 3 edu MSIs and e1000e MSI-X vectors 0, 2 through KVM irqfds on MSI routes; vector 3 pending while masked, delivered on unmask"
exit $rc
INNER
chmod +x "$tmp/run-kvm-msi.sh"
"$runner" -t 200 -d edu,e1000e "$tmp/hvmd" "$tmp/msi-bios.bin" "$tmp/run-kvm-msi.sh" -- ./run-kvm-msi.sh
