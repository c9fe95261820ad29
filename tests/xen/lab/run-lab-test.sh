#!/usr/bin/env bash
# hvmd under real Xen 4.17 (../shared/xen-lab, under QEMU's software CPU): xl create with hvmd as
# the device model, libxl's QMP handshake and cont, Xen forwarding our PCI config to hvmd (SeaBIOS
# finds the i440FX), SeaBIOS running, and xl destroy leaving nothing behind.
#   run-lab-test.sh HVMD_BINARY TEST_ROM_TOOL PACKET_WATCH   (LAB dir: $HVMD_XEN_LAB_DIR,
#   default /var/tmp/hvmd-xen-lab; the tools are tests/support's hvmd-test-rom and
#   hvmd-packet-watch)
# Needs root and Debian's package archive; builds the lab the first time (3-5 minutes).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
usage="usage: run-lab-test.sh HVMD_BINARY TEST_ROM_TOOL PACKET_WATCH"
hvmd=$(readlink -f "${1:?$usage}")
rom_tool=$(readlink -f "${2:?$usage}")
packet_watch=$(readlink -f "${3:?$usage}")
# The lab's scripts: $HVMD_XEN_LAB_TOOLS, else ../shared/xen-lab beside the checkout, else the
# workspace's copy (CI builds a fresh clone elsewhere).
lab_tools=""
for dir in "${HVMD_XEN_LAB_TOOLS:-}" "$here/../../../../shared/xen-lab" /work/shared/xen-lab; do
  [ -n "$dir" ] && [ -x "$dir/run.sh" ] && { lab_tools=$(readlink -f "$dir"); break; }
done
[ -n "$lab_tools" ] || { echo "SKIP: ../shared/xen-lab not found"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: the Xen lab needs root"; exit 77; }
lab=${HVMD_XEN_LAB_DIR:-/var/tmp/hvmd-xen-lab}
# hvmd's runtime libraries that dom0's packages do not already bring (libpng: screendumps;
# libslirp: -netdev user).
bash "$lab_tools/build-dom0.sh" "$lab" libpng16-16 libslirp0 >/dev/null
payload=$(mktemp -d)
trap 'rm -rf "$payload"' EXIT
cp "$hvmd" "$payload/hvmd"
cp "$here/check" "$here/setup" "$here/guest-restricted.cfg" "$payload/"
# The guest's e1000 is on a bridge in dom0 where this watches for iPXE's DHCP requests.
cp "$packet_watch" "$payload/hvmd-packet-watch"
# A pci-testdev whose option ROM prints on COM1: the guest's output on our serial port.
"$rom_tool" "$payload/testdev.rom" "hvmd lab option rom ran" pci-testdev
# The IDE disk SeaBIOS boots: a boot sector that unplugs the emulated NIC and auxiliary disks as
# PV drivers do, prints on COM1, then reads its disk every 64 timer ticks and prints D (or E).
truncate -s 16M "$payload/boot.img"
"$rom_tool" "$payload/boot.img" "hvmd lab boot sector ran" unplug-boot-sector
out="$payload/report.log"
LAB_TIMEOUT=${LAB_TIMEOUT:-600} bash "$lab_tools/run.sh" "$lab" "$here/guest.cfg" "$payload" 90 \
  | tr -d '\r' > "$out" || true
[ -n "${HVMD_XEN_LAB_REPORT:-}" ] && cp "$out" "$HVMD_XEN_LAB_REPORT"
grep -E '^== |^\(d[0-9]+\) (Found [0-9]+ (PCI|serial)|SeaBIOS \(version|No bootable|PCI-ISA link 0|pci dev 0[123]:|Invoking SeaBIOS|Running option rom|ata[0-9]-|Booting from)|hvmd|rom ran|sector ran|iPXE' "$out"
failed=0
expect() {
  if grep -qE "$1" "$out"; then echo "ok: $2"; else echo "FAILED: $2"; failed=1; fi
}
expect '^== xl create rc=0' "xl create succeeds with hvmd as the device model"
expect '^== dm state: running' "hvmd published its state for libxl"
expect '^\(d1\) PCI-ISA link 0 routed to IRQ' "hvmloader routes PCI interrupts through our PIIX3"
expect '^\(d1\) pci dev 03:0 bar 14 size 001000000' "hvmloader places the Xen platform device's BARs"
expect '^\(d1\) pci dev 01:3 INTA->IRQ' "hvmloader finds our PIIX4 power management function"
expect '^\(d1\) Invoking SeaBIOS' "hvmloader enables ACPI (SCI_EN in our PM1a_CNT) and starts SeaBIOS"
expect '^\(d1\) Found 7 PCI devices' "SeaBIOS finds i440FX, PIIX3, its IDE, PIIX4, the platform device, e1000 and pci-testdev"
expect '^== dhcp request from 00:16:3e:00:00:10' "iPXE runs from our e1000's ROM BAR and its DHCP request leaves through our tap"
expect '^\(d1\) ata0-0: HVMD HARDDISK ATA-7 Hard-Disk \(16 MiBytes\)' "SeaBIOS finds our IDE disk"
expect '^\(d1\) Booting from Hard Disk' "SeaBIOS boots from it"
expect 'lab boot sector ran' "the boot sector read from our disk runs (its output on our serial port)"
expect '^\(d1\) Found 1 serial ports' "SeaBIOS finds our 16550 on COM1"
expect 'lab option rom ran' "the guest's output reaches our serial port (an option ROM in our ROM BAR)"
expect '^\(d1\) SeaBIOS \(version' "SeaBIOS starts"
expect '^== dm seccomp: 2' "hvmd serves from inside its seccomp sandbox"

expect '^== unplug: .*unplugged emulated devices \(mask 0x6\): 1 removed' "the guest unplugs the emulated NIC through the platform device, as PV drivers do"
expect '^== disk reads before save: [1-9]' "the guest reads its disk through the BIOS and reports on our serial port"
expect '^== xl save rc=0 dm gone: yes' "xl save of a guest that unplugged: libxl stops hvmd, saves its state, ends it"
expect '^== xl restore rc=0' "xl restore: a fresh hvmd repeats the unplug, loads the state (-incoming) and resumes"
expect '^== restored domain: .*dm state: running' "the restored domain runs with hvmd"
expect '^== disk reads after restore: more' "after the restore the guest's disk and serial port still work"
expect '^== xl migrate rc=0' "xl migrate (live, to this host) with hvmd on both ends, log-dirty reported by hvmd"
expect '^== migrated domain: .*dm state: running' "the migrated domain runs with the receiving hvmd"
expect '^== disk reads after migrate: more' "after the migration the guest's disk and serial port still work"
expect '^== after destroy: nothing left' "xl destroy leaves nothing behind (device model, xenstore node, QMP socket, tap or vif, domain)"

expect '^== restricted: xl create rc=0' "dm_restrict=1: libxl starts hvmd with -S, fd-passed QMP, -xen-domid-restrict, -chroot, -runas UID:GID"
expect '^== restricted: dm uid ([0-9]+) expected \1 root (/var)?/run/xen/qemu-root-[0-9]+ seccomp 2' "dm_restrict=1: hvmd runs as the range-base uid + domid, in its chroot, sandboxed"
expect '^== restricted: disk reads [1-9]' "dm_restrict=1: the guest boots from our disk and prints on our serial port"
expect '^== restricted: after destroy: nothing left' "dm_restrict=1: xl destroy ends hvmd"
exit $failed
