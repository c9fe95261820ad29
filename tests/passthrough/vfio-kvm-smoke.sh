#!/usr/bin/env bash
# By hand (about a minute): hvmd's kvm runner with -device vfio-pci on edu inside the VFIO lab
# (nested KVM), SeaBIOS from this machine. Prints SeaBIOS's PCI log: the function found at
# 00:05.0 with edu's IDs and its BAR mapped (a KVM memory slot over the VFIO mmap).
# usage: vfio-kvm-smoke.sh HVMD
set -euo pipefail
hvmd=${1:?hvmd binary}
runner=${PTLAB_RUN:-/work/shared/pt-lab/vfio-run.sh}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$hvmd" "$tmp/hvmd"
cat >"$tmp/run-kvm.sh" <<'INNER'
#!/bin/sh
dev=${PTLAB_VFIO_DEVICES%% *}
modprobe kvm_amd 2>/dev/null
timeout 40 /opt/lab/hvmd -accel kvm -m 64 -nodefaults -bios /usr/share/seabios/bios-256k.bin \
  -chardev file,id=dbg,path=/tmp/debug.log -device isa-debugcon,iobase=0x402,chardev=dbg \
  -device vfio-pci,host=$dev,addr=05.0 -display none
echo "hvmd exit $?"
grep -E "PCI: (map|init) .*05.0" /tmp/debug.log
grep -q "PCI: init bdf=00:05.0 id=1234:11e8" /tmp/debug.log
INNER
chmod +x "$tmp/run-kvm.sh"
"$runner" -t 120 -d edu -H /usr/share/seabios "$tmp/hvmd" "$tmp/run-kvm.sh" -- ./run-kvm.sh
