#!/usr/bin/env bash
# hvmd's kvm runner with -device vfio-pci on edu inside the VFIO lab (nested KVM): a tiny guest
# (kvm_intx_guest.S, assembled here) takes three edu INTx interrupts through the PIC. hvmd binds
# the INTx as a KVM_IRQFD with a resample eventfd, so the kernel injects and unmasks it without
# hvmd; the check also fails if hvmd fell back to delivering it itself. Exit 77 (skip) with one
# line when the lab or the assembler is missing.
# usage: run-vfio-kvm-intx.sh HVMD
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
as --32 -o "$tmp/guest.o" "$here/kvm_intx_guest.S" &&
  ld -m elf_i386 -Ttext=0 -e 0 --oformat binary -o "$tmp/intx-bios.bin" "$tmp/guest.o" || exit 1
cp "$hvmd" "$tmp/hvmd"
cat >"$tmp/run-kvm-intx.sh" <<'INNER'
#!/bin/sh
dev=${PTLAB_VFIO_DEVICES%% *}
modprobe kvm_amd 2>/dev/null
timeout 60 /opt/lab/hvmd -accel kvm -m 64 -nodefaults -bios /opt/lab/intx-bios.bin \
  -chardev file,id=dbg,path=/tmp/debug.log -device isa-debugcon,iobase=0x402,chardev=dbg \
  -device vfio-pci,host=$dev,addr=05.0 -display none >/tmp/hvmd.log 2>&1 &
pid=$!
for i in $(seq 1 25); do grep -q DONE /tmp/debug.log 2>/dev/null && break; sleep 1; done
echo "vfio-intx in /proc/interrupts: $(grep -i vfio /proc/interrupts | tr -s ' ')"
kill $pid 2>/dev/null; wait $pid 2>/dev/null
echo "guest debug port: $(cat /tmp/debug.log 2>/dev/null)"
cat /tmp/hvmd.log
if grep -q "delivered by hvmd\|INTx not bound" /tmp/hvmd.log; then echo "FAIL: INTx not on the irqfd"; exit 1; fi
grep -q "IIIDONE" /tmp/debug.log && echo "PASS kvm-intx: 3 edu INTx through KVM_IRQFD with resample" && exit 0
echo "FAIL: the guest did not take 3 interrupts"; exit 1
INNER
chmod +x "$tmp/run-kvm-intx.sh"
"$runner" -t 150 -d edu "$tmp/hvmd" "$tmp/intx-bios.bin" "$tmp/run-kvm-intx.sh" -- ./run-kvm-intx.sh
