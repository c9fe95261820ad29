#!/usr/bin/env bash
# hvmd under real Xen 4.17 (../shared/xen-lab, under QEMU's software CPU): xl create with hvmd as
# the device model, libxl's QMP handshake and cont, Xen forwarding our PCI config to hvmd (SeaBIOS
# finds the i440FX), SeaBIOS running, and xl destroy leaving nothing behind.
#   run-lab-test.sh HVMD_BINARY   (LAB dir: $HVMD_XEN_LAB_DIR, default /var/tmp/hvmd-xen-lab)
# Needs root and Debian's package archive; builds the lab the first time (3-5 minutes).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
hvmd=$(readlink -f "${1:?usage: run-lab-test.sh HVMD_BINARY}")
lab_tools=$(readlink -f "$here/../../../../shared/xen-lab")
[ -d "$lab_tools" ] || { echo "SKIP: ../shared/xen-lab not found"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP: the Xen lab needs root"; exit 0; }
lab=${HVMD_XEN_LAB_DIR:-/var/tmp/hvmd-xen-lab}
bash "$lab_tools/build-dom0.sh" "$lab" >/dev/null
payload=$(mktemp -d)
trap 'rm -rf "$payload"' EXIT
cp "$hvmd" "$payload/hvmd"
cp "$here/check" "$payload/check"
out="$payload/report.log"
LAB_TIMEOUT=${LAB_TIMEOUT:-600} bash "$lab_tools/run.sh" "$lab" "$here/guest.cfg" "$payload" 30 \
  | tr -d '\r' > "$out" || true
grep -E '^== |^\(d1\) (Found [0-9]+ PCI|SeaBIOS \(version|No bootable)' "$out"
failed=0
expect() {
  if grep -qE "$1" "$out"; then echo "ok: $2"; else echo "FAILED: $2"; failed=1; fi
}
expect '^== xl create rc=0' "xl create succeeds with hvmd as the device model"
expect '^== dm state: running' "hvmd published its state for libxl"
expect '^\(d1\) Found 1 PCI devices' "Xen forwards PCI config to hvmd (SeaBIOS finds the i440FX)"
expect '^\(d1\) SeaBIOS \(version' "SeaBIOS starts"
expect '^== after destroy: nothing left' "xl destroy leaves nothing behind"
exit $failed
