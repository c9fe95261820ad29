#!/usr/bin/env bash
# hvmd-pci for real in the VFIO lab (../shared/pt-lab): list and check on QEMU's edu (00:03.0),
# e1000e (00:05.0) and pci-testdev (00:06.0), each bound to vfio-pci in its own IOMMU group.
# usage: vfio_lab_test.sh HVMD_PCI_BINARY      exit 77 (skip) when the lab is not built
set -uo pipefail
bin=${1:?usage: vfio_lab_test.sh HVMD_PCI_BINARY}
here=$(dirname "$(readlink -f "$0")")
run=${PTLAB_RUN:-$(readlink -f "$here/../../../shared/pt-lab/vfio-run.sh" 2>/dev/null)}
[ -x "$run" ] || run=/work/shared/pt-lab/vfio-run.sh
lab=${PTLAB_DIR:-$HOME/ptlab/vfio}
if [ ! -x "$run" ]; then echo "SKIP: no pt-lab/vfio-run.sh"; exit 77; fi
if [ ! -f "$lab/base.cpio" ]; then echo "SKIP: the VFIO lab is not built ($lab/base.cpio)"; exit 77; fi

ids=()
[ -f /usr/share/misc/pci.ids ] && ids=(-H /usr/share/misc/pci.ids)
out=$("$run" -t 55 -d edu,e1000e,testdev "${ids[@]}" "$bin" -- \
  './hvmd-pci list; echo "list-rc=$?"
   ./hvmd-pci check 0000:00:03.0; echo "edu-rc=$?"
   ./hvmd-pci --json check 0000:00:05.0; echo "e1000e-rc=$?"
   ./hvmd-pci check 0000:00:06.0; echo "testdev-rc=$?"
   ./hvmd-pci --state-dir /tmp/st unbind 0000:00:06.0; echo "unbind1-rc=$?"
   echo "after-unbind1 driver=$(basename "$(readlink /sys/bus/pci/devices/0000:00:06.0/driver)")"
   ./hvmd-pci --state-dir /tmp/st bind 0000:00:06.0 --to vfio; echo "bind-rc=$?"
   ./hvmd-pci check 0000:00:06.0 >/dev/null; echo "check-after-bind-rc=$?"
   ./hvmd-pci --state-dir /tmp/st unbind 0000:00:06.0; echo "unbind2-rc=$?"
   echo "after-unbind2 driver=$(basename "$(readlink /sys/bus/pci/devices/0000:00:06.0/driver)") override=$(cat /sys/bus/pci/devices/0000:00:06.0/driver_override)"
   ./hvmd-pci check 0000:00:06.0 >/dev/null; echo "check-unbound-rc=$?"' 2>&1)
status=$?
echo "$out"
if [ $status -ne 0 ]; then echo "FAIL: the lab run ended with status $status"; exit 1; fi

fails=0
want() {  # want DESCRIPTION EXTENDED-REGEX
  if grep -qE -- "$2" <<<"$out"; then echo "PASS $1"; else echo "FAIL $1: no line matches /$2/"; fails=$((fails + 1)); fi
}
want "list ran"                      '^list-rc=0$'
want "host has an IOMMU"             '^host: IOMMU on \([0-9]+ groups\), not Xen, vfio-pci loaded'
want "list: edu on vfio-pci, ready"  '^0000:00:03\.0 1234:11e8 vfio-pci +[0-9]+ +ready '
want "edu is assignable (exit 0)"    '^edu-rc=0$'
want "edu ready through VFIO"        '^VFIO +ready: bound to vfio-pci, IOMMU group [0-9]+ viable'
want "edu alone in its group"        '^  IOMMU group +[0-9]+: 0000:00:03\.0 \(vfio-pci\)$'
want "edu's MSI capability"          '^  interrupts +INTx pin A( \(irq [0-9]+\))?; MSI 1 vector, 64-bit'
want "edu has no reset method"       'warning: the device has no reset method'
want "edu's 1 MiB BAR0"              '^  BAR0 +memory 32-bit non-prefetchable, 1 MiB at 0x'
want "e1000e assignable (exit 0)"    '^e1000e-rc=0$'
want "e1000e MSI-X table size 5"     '"table_size": 5'
want "e1000e PM reset"               '"methods": \[$'
want "e1000e ready through VFIO"     '"state": "ready"'
want "testdev has no interrupts"     '^  interrupts +none$'
want "testdev I/O BAR"               '^  BAR1 +I/O, 256 B at 0x'
# Real sysfs writes: the lab bound pci-testdev to vfio-pci with no record of ours, so unbind
# hands it to the kernel (no driver claims it); bind puts it back on vfio-pci and unbind
# restores "no driver" from the saved state.
want "unbind without a record"       '^unbind1-rc=0$'
want "unbound: no driver"            '^after-unbind1 driver=$'
want "bind to vfio-pci"              '^0000:00:06\.0: no driver -> vfio-pci$'
want "bind succeeded"                '^bind-rc=0$'
want "assignable after bind"         '^check-after-bind-rc=0$'
want "unbind restores no driver"     '^0000:00:06\.0: vfio-pci -> no driver \(it had no driver before\)$'
want "unbind succeeded"              '^unbind2-rc=0$'
want "override cleared"              '^after-unbind2 driver= override=\(null\)$'
want "not assignable when unbound"   '^check-unbound-rc=2$'
grep -A3 '"methods": \[' <<<"$out" | grep -q '"pm"' && echo "PASS e1000e reset_method pm" ||
  { echo "FAIL e1000e reset_method pm"; fails=$((fails + 1)); }
echo "$fails failure(s)"
[ $fails -eq 0 ]
