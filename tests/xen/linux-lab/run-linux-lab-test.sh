#!/usr/bin/env bash
# A real Linux HVM guest (Debian's kernel, a busybox initramfs) under real Xen 4.17 with hvmd as
# its device model, checked from inside the guest with Linux's own drivers: PCI IDs, ata_piix
# (size, model, known bytes, write + read-back, the bytes in the image afterwards), e1000 (link,
# ping both ways, TCP both ways), 8250, rtc_cmos, i8042 keyboard and mouse, a key sent over QMP
# arriving as an input event, no ACPI GPE errors, the ATAPI CD-ROM with a medium changed by xl
# cd-insert; xl pause/unpause, save + restore and live migration of the running guest with its
# disk and NIC working afterwards, the guest's reboot, xl shutdown ending the domain. Then a
# second boot of the same guest with its PV drivers (the emulated disk and NIC unplugged,
# blkfront/netfront on dom0's backends, the PV keyboard on hvmd's vkbd backend), xl reboot and
# the guest's poweroff. Nothing may be left after a poweroff.
#   run-linux-lab-test.sh HVMD_BINARY VNC_CAPTURE_BINARY (tests/support/vnc_capture.cc)
# Environment: HVMD_LINUX_LAB_DM=qemu-xen runs the same checks on Debian's qemu-xen (to tell a
# lab problem from ours); HVMD_LINUX_LAB_BOOTS="emulated" or "pv" runs one of the two boots (both by
# default, emulated first); HVMD_LINUX_LAB_BOOT=disk
# boots through syslinux from the IDE disk instead of libxl's kernel=/ramdisk=/cmdline= (direct
# kernel boot: hvmd's fw_cfg and the linuxboot option ROM, 2-4 minutes less per boot);
# HVMD_LINUX_LAB_DEBUG=1 runs hvmd with HVMD_LOG=debug (its device tracing in the dm log);
# HVMD_XEN_LAB_DIR (default
# /var/tmp/hvmd-xen-lab); HVMD_LINUX_LAB_KEEP=DIR keeps the report there.
# Needs root and Debian's package archive (the lab and the guest are built from packages).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
hvmd=$(readlink -f "${1:?usage: run-linux-lab-test.sh HVMD_BINARY VNC_CAPTURE_BINARY}")
vnc_capture=$(readlink -f "${2:?usage: run-linux-lab-test.sh HVMD_BINARY VNC_CAPTURE_BINARY}")
dm=${HVMD_LINUX_LAB_DM:-hvmd}
case "$dm" in hvmd|qemu-xen) ;; *) echo "HVMD_LINUX_LAB_DM=$dm: must be hvmd or qemu-xen" >&2; exit 2;; esac
boot_from=${HVMD_LINUX_LAB_BOOT:-direct}
case "$boot_from" in direct|disk) ;; *) echo "HVMD_LINUX_LAB_BOOT=$boot_from: must be direct or disk" >&2; exit 2;; esac
lab_tools=""
for dir in "${HVMD_XEN_LAB_TOOLS:-}" "$here/../../../../shared/xen-lab" /work/shared/xen-lab; do
  [ -n "$dir" ] && [ -x "$dir/run.sh" ] && [ -f "$dir/linux-guest/build-guest.sh" ] && { lab_tools=$(readlink -f "$dir"); break; }
done
[ -n "$lab_tools" ] || { echo "SKIP: ../shared/xen-lab (with linux-guest/) not found"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: the Xen lab needs root"; exit 77; }
lab=${HVMD_XEN_LAB_DIR:-/var/tmp/hvmd-xen-lab}
# dom0 gets hvmd's runtime libraries (libpng, libslirp), socat (the driver's QMP client) and libvncclient
# (the VNC capture).
bash "$lab_tools/build-dom0.sh" "$lab" libpng16-16 libslirp0 socat libvncclient1 >/dev/null
kver=$(cat "$lab/kernel-version")
work=$(mktemp -d /var/tmp/hvmd-linux-lab.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

# The guest: linux-guest's disk (syslinux, Debian's kernel, busybox) with our /init and the
# input modules the checks read (evdev, xen-kbdfront); a quiet console (every console byte is
# a trapped port access under the nested software CPU).
GUEST_BASE_CMDLINE="console=ttyS0,115200 quiet" KVER=$kver \
  bash "$lab_tools/linux-guest/build-guest.sh" "$work/guest" xen_emul_unplug=never >"$work/build.log"
rd="$work/guest/build/initramfs"
install -m 755 "$here/guest-init" "$rd/init"
for m in evdev xen-kbdfront sr_mod bochs cirrus uhci_hcd xhci_pci usbhid hid_generic; do
  for f in $(modprobe -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}'); do
    mkdir -p "$rd/$(dirname "$f")"; cp -n "$f" "$rd/$f"
  done
done
depmod -b "$rd" "$kver"
(cd "$rd" && find . | sort | cpio -o -H newc --quiet | gzip -9) > "$work/initrd.gz"
payload="$work/payload"; mkdir -p "$payload"
export MTOOLS_SKIP_CHECK=1
part="@@1048576"  # the FAT partition starts at 1 MiB
syslinux_cfg() {
  printf 'SERIAL 0 115200\nDEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.gz\n  APPEND console=ttyS0,115200 quiet %s\n' "$1"
}
boots=${HVMD_LINUX_LAB_BOOTS:-emulated pv}
case "$boots" in "emulated pv"|emulated|pv) ;; *) echo "HVMD_LINUX_LAB_BOOTS=$boots: must be \"emulated pv\", emulated or pv" >&2; exit 2;; esac
first_boot=${boots%% *}
# Two CD media of random bytes (the guest reads them raw); dom0 swaps them with xl cd-insert.
head -c $((2048 * 512)) /dev/urandom > "$payload/cd1.iso"
head -c $((2048 * 768)) /dev/urandom > "$payload/cd2.iso"
cd1_md5=$(md5sum < "$payload/cd1.iso" | cut -d' ' -f1); cd2_md5=$(md5sum < "$payload/cd2.iso" | cut -d' ' -f1)
[ "$boot_from" = direct ] && cp "/boot/vmlinuz-$kver" "$payload/vmlinuz" && cp "$work/initrd.gz" "$payload/"
for boot in $boots; do
  img="$payload/disk-$boot.img"
  cp "$work/guest/disk.img" "$img"
  args="console=ttyS0,115200 quiet"; [ "$boot" = emulated ] && args="$args xen_emul_unplug=never"
  cfg="$payload/guest-$boot.cfg"
  cdrom=""; [ "$boot" = emulated ] && cdrom=', "format=raw,vdev=hdc,access=ro,devtype=cdrom,target=/opt/lab/cd1.iso"'
  vga='# vga unset: cirrus, as libxl defaults'; [ "$boot" = pv ] && vga='vga = "stdvga"'
  usb='usb = 1\nusbdevice = [ "tablet" ]'; [ "$boot" = pv ] && usb='usbversion = 3'
  sed -e "s/@BOOT@/$boot/g" -e "s|@CDROM@|$cdrom|" -e "s|@VGA@|$vga|" -e "s|@USB@|$usb|" \
    "$here/guest.cfg.in" > "$cfg"
  if [ "$boot_from" = direct ]; then
    # The disk keeps syslinux and its own initramfs: the guest reads and writes it all the same.
    printf 'kernel = "/opt/lab/vmlinuz"\nramdisk = "/opt/lab/initrd.gz"\ncmdline = "%s"\n' "$args" >> "$cfg"
  else
    mcopy -o -i "$img$part" "$work/initrd.gz" ::/initrd.gz
    syslinux_cfg "${args#console=ttyS0,115200 quiet}" > "$work/syslinux.cfg"
    mcopy -o -i "$img$part" "$work/syslinux.cfg" ::/syslinux.cfg
  fi
  [ "$dm" = hvmd ] && echo 'device_model_override = "/opt/lab/hvmd"' >> "$cfg"
done
if [ "$dm" = hvmd ] && [ "${HVMD_LINUX_LAB_DEBUG:-0}" = 1 ]; then
  # libxl starts the device model with its own command line: a wrapper sets the environment.
  cp "$hvmd" "$payload/hvmd.bin"
  printf '#!/bin/sh\nHVMD_LOG=debug exec /opt/lab/hvmd.bin "$@"\n' > "$payload/hvmd"
  chmod 755 "$payload/hvmd"
elif [ "$dm" = hvmd ]; then
  cp "$hvmd" "$payload/hvmd"
fi
install -m 755 "$here/setup" "$here/check" "$here/lab-driver" "$vnc_capture" "$payload/"
boot_limit=${HVMD_LINUX_LAB_BOOT_LIMIT:-$([ "$boot_from" = direct ] && echo 1200 || echo 1500)}
echo "$boot_limit" > "$payload/boot-limit"
echo "$boots" > "$payload/boots"
echo "guest built in $(( $(date +%s) - start )) s; device model: $dm; boots: $boots ($boot_from)"

# One lab run. The nested lab can freeze as a whole (../shared/xen-lab/linux-guest/README.md:
# the outer QEMU idles and nothing more is printed); after 150 s of that the run is ended and,
# once, repeated. Not niced: each boot has a wall-clock limit (HVMD_LINUX_LAB_BOOT_LIMIT, s from
# the guest's creation to its poweroff; a disk boot spends 2-4 minutes in firmware alone).
run_lab() {
  local out=$1 t=$(date +%s)
  ( LAB_TIMEOUT=$(( boot_limit * 2 + 300 )) bash "$lab_tools/run.sh" "$lab" \
      "$payload/guest-$first_boot.cfg" "$payload" $(( boot_limit + 30 )) 2>&1 | sed -u 's/\r//g' > "$out" ) &
  local runner=$! idle=0 last_size=-1 last_cpu=0 qpid cpu size p
  froze=0
  while kill -0 $runner 2>/dev/null; do
    sleep 10
    qpid=""
    for p in $(pgrep -f "qemu-system-x86_64 -accel tcg -cpu qemu64,\+svm" || true); do
      [ "$(cat "/proc/$p/comm" 2>/dev/null)" = qemu-system-x86 ] && grep -q "$lab/dom0.img" "/proc/$p/cmdline" 2>/dev/null && qpid=$p
    done
    [ -n "$qpid" ] || continue
    cpu=$(awk '{print $14 + $15}' "/proc/$qpid/stat" 2>/dev/null) || cpu=$last_cpu
    size=$(stat -c %s "$out" 2>/dev/null) || size=0
    if [ "$size" = "$last_size" ] && [ $((cpu - last_cpu)) -lt 20 ]; then idle=$((idle + 1)); else idle=0; fi
    last_size=$size; last_cpu=$cpu
    if [ $idle -ge 15 ]; then echo "lab froze after $(( $(date +%s) - t )) s"; froze=1; kill "$qpid" || true; idle=0; fi
  done
  wait $runner || true
  echo "lab run took $(( $(date +%s) - t )) s"
}
report="$work/report.log"
run_lab "$report"
if [ "$froze" = 1 ]; then echo "the lab froze (a known flake of the nested lab): running it once more"; run_lab "$report"; fi
if [ -n "${HVMD_LINUX_LAB_KEEP:-}" ]; then mkdir -p "$HVMD_LINUX_LAB_KEEP"; cp "$report" "$HVMD_LINUX_LAB_KEEP/report-$dm.log"; fi
grep -E '^== (emulated|pv) (domain|init|tcp|dom0|dm rss|qmp|after|image|TIMEOUT)|^== (xl create|pv xl create|dom0 blob)' "$report" || true

failed=0; failed_before=0
expect() {  # pattern, what it shows
  if grep -qE -- "$1" "$report"; then echo "ok: $2"; else echo "FAILED: $2"; failed=1; fi
}
expect_none() {  # pattern that must not appear, what it shows
  if grep -qiE -- "$1" "$report"; then
    echo "FAILED: $2"; grep -iE -- "$1" "$report" | head -n 3 | sed 's/^/    /'; failed=1
  else echo "ok: $2"; fi
}
guest_md5() { grep -oE "^== $1 serial: @@ $2" "$report" | head -n 1 | grep -oE '[0-9a-f]{32}$' || true; }
blob=$(grep -oE '^== dom0 blob md5=[0-9a-f]+' "$report" | sed 's/.*md5=//' || true)
for boot in $boots; do
  s="^== $boot serial: @@"
  echo "-- boot: $boot"
  if [ "$boot_from" = direct ]; then
    expect "$s INIT START mode=$boot" "the kernel runs our /init: SeaBIOS loaded kernel and initramfs from the device model's fw_cfg (direct boot)"
  else
    expect "$s INIT START mode=$boot" "the kernel runs our /init from the initramfs read through the firmware's disk calls"
  fi
  # PCI: the board, with the subsystem IDs qemu-xen's functions carry; the e1000 and the
  # platform device name their own. Slots differ between the device models, so by ID.
  expect "$s PCI 0000:00:00.0 8086:1237 sub=1af4:1100 class=0x060000" "PCI: i440FX host bridge, subsystem 1af4:1100"
  expect "$s PCI 0000:00:01.0 8086:7000 sub=1af4:1100 class=0x060100" "PCI: PIIX3 ISA bridge"
  expect "$s PCI 0000:00:01.1 8086:7010 sub=1af4:1100 class=0x010180 driver=ata_piix" "PCI: PIIX3 IDE bound to ata_piix"
  expect "$s PCI 0000:00:01.3 8086:7113 sub=1af4:1100 class=0x068000" "PCI: PIIX4 power management"
  expect "$s PCI 0000:00:0[0-9a-f].0 5853:0001 sub=5853:0001 class=0x0?ff8000 driver=xen-platform-pci" "PCI: Xen platform device bound to xen-platform-pci"
  functions=$(grep -cE "$s PCI " "$report" || true)
  written=$(guest_md5 $boot "DISK write md5=[0-9a-f]+")
  if [ "$boot" = emulated ]; then
    expect "$s PCI 0000:00:0[0-9a-f].0 8086:100e sub=[0-9a-f]{4}:[0-9a-f]{4} class=0x020000 driver=e1000" "PCI: e1000 bound to e1000"
    [ "$functions" = 8 ] && echo "ok: PCI lists exactly the 8 board functions (with the VGA card and the UHCI)" || { echo "FAILED: PCI lists $functions functions, not 8"; failed=1; }
    expect "$s DISK dev=sda sectors=131072 model=(HVMDHARDDISK|QEMUHARDDISK)" "ata_piix: sda, 64 MiB, the drive's model"
    expect "$s NET driver=e1000 carrier=1 speed=1000" "e1000: link up at 1000 Mb/s"
    expect "$s INPUT \"AT Translated Set 2 keyboard\"" "i8042: the AT keyboard is found"
    expect "$s INPUT \".*PS/2 .*Mouse\"" "i8042: the PS/2 mouse is found (psmouse)"
    expect "$s REL x seen by: .*PS_2_.*Mouse" "relative motion sent over QMP reaches the guest through the PS/2 mouse"
    expect "$s KEY a pressed seen by: .*AT_Translated_Set_2_keyboard" "a key sent over QMP input-send-event reaches the guest through the i8042"
    expect "$s CD model=(HVMDDVD-ROM|QEMUDVD-ROM) sectors=2048 md5=$cd1_md5" "ATAPI: sr0 reads the CD's bytes (1 MiB)"
    expect "^== $boot xl cd-insert rc=0" "xl cd-insert changes the medium over QMP"
    expect "$s CD changed md5=$cd2_md5 sectors=3072" "ATAPI: sr0 sees the new medium and reads its bytes"
  else
    if [ "$dm" = hvmd ]; then
      expect "^== pv dm log: .*unplugged emulated devices" "the device model logs the guest's unplug"
    else  # qemu-xen logs nothing of it: the guest's request, and the PCI count below, show it
      expect "$s dmesg .*platform_pci_unplug: .*unplug emulated disks" "the guest asks for the unplug (qemu-xen logs nothing of it)"
    fi
    [ "$functions" = 7 ] && echo "ok: PCI lists the 7 functions left after the unplug (no e1000; the xHCI)" || { echo "FAILED: PCI lists $functions functions after the unplug, not 7"; failed=1; }
    expect "$s DISK dev=xvda sectors=131072" "xen-blkfront: xvda, 64 MiB, on dom0's blkback"
    expect "$s NET driver=vif carrier=1" "xen-netfront: link up on dom0's netback"
    expect "$s INPUT \"Xen Virtual Keyboard\"" "the PV keyboard connects to the device model's vkbd backend"
    expect "$s XEN .*vkbd-0=(4|Connected)" "vkbd frontend Connected"
    if [ "$dm" = hvmd ]; then
      expect "$s KEY a pressed seen by: .*Xen_Virtual_Keyboard" "a key sent over QMP input-send-event reaches the guest through the PV keyboard"
    else  # qemu-xen hands QMP's keys to the emulated AT keyboard, which the PV boot keeps
      expect "$s KEY a pressed seen by: .*(Xen_Virtual_Keyboard|AT_Translated_Set_2_keyboard)" "a key sent over QMP input-send-event reaches the guest (qemu-xen: through the AT keyboard)"
    fi
  fi
  read56=$(guest_md5 $boot "DISK read56 md5=[0-9a-f]+")
  expect "^== $boot image read56 md5=${read56:-none}$" "disk: the guest read the image's bytes (56 MiB, md5 as in dom0)"
  expect "$s DISK write md5=([0-9a-f]+) readback=\\1" "disk: 1 MiB written, flushed and read back the same"
  expect "^== $boot image at60 md5=${written:-none}$" "disk: after poweroff the image holds the bytes the guest wrote"
  expect "$s NET ping 5 packets transmitted, 5 (packets )?received" "network: 5/5 pings of dom0"
  expect "^== $boot dom0 ping: 3 packets transmitted, 3 (packets )?received" "network: dom0 pings the guest 3/3"
  expect "$s NET rx md5=${blob:-none} " "network: 4 MiB downloaded from dom0 intact (receive)"
  served=$(guest_md5 $boot "TCP SERVE md5=[0-9a-f]+")
  expect "^== $boot tcp fetched from guest md5=${served:-none} " "network: 4 MiB fetched by dom0 from the guest intact (transmit)"
  expect "$s SERIAL 0: uart:16550A port:000003F8 irq:4 tx:[1-9]" "8250: COM1 is a 16550A on IRQ 4 and carries the console"
  expect "$s RTC year=20[2-9][0-9]" "rtc_cmos: hwclock reads a sane date"
  expect "^== $boot xl pause rc=0 state=[-rb]+p" "xl pause pauses the domain"
  expect "^== $boot xl unpause rc=0" "xl unpause"
  expect "^== $boot xl save rc=0 .*domain left: none" "xl save: the device model's state saved, the domain gone"
  expect "^== $boot xl restore rc=0" "xl restore: a new device model takes the saved state"
  expect "^== $boot xl migrate rc=0" "xl migrate (live, to this host)"
  expect "^== $boot after lifecycle: domain [-rb]+, device models 1 " "after the life-cycle one domain runs with one device model"
  if [ "$boot" = pv ]; then
    expect "^== $boot after restore: PV devices reconnected after [0-9]+s$" "after xl restore every PV device reconnects (disk, NIC, the device model's vkbd)"
    expect "^== $boot after migrate: PV devices reconnected after [0-9]+s$" "after xl migrate every PV device reconnects"
  fi
  expect "$s AFTER LIFECYCLE at60 md5=${written:-none} " "after pause, save/restore and migration the disk reads the bytes written before"
  expect "$s AFTER LIFECYCLE ping 3 packets transmitted, 3 (packets )?received" "after pause, save/restore and migration the network works (3/3 pings)"
  hcd=uhci_hcd; hc_id=8086:7020; [ "$boot" = pv ] && hcd=xhci_hcd && hc_id=1033:0194
  expect "$s PCI 0000:00:0[0-9a-f].[0-7] $hc_id sub=[0-9a-f:]+ class=0x0c03[0-9a-f]0 driver=$hcd" "PCI: the USB controller ($hc_id) bound to $hcd"
  [ "$boot" = pv ] && expect "^== $boot qmp device_add usb-tablet: \{\"return\": ?\{\}\}" "USB: a tablet hot-plugged over QMP (device_add) into the running guest's xHCI"
  expect "$s USB 0627:0001 .*Tablet" "USB: $hcd enumerates the tablet"
  expect "$s ABS x seen by: .*USB_Tablet" "an absolute position sent over QMP reaches the guest through the USB tablet"
  card=cirrus; vga_id=1013:00b8; [ "$boot" = pv ] && card=bochs-drm && vga_id=1234:1111
  expect "$s PCI 0000:00:0[0-9a-f].0 $vga_id sub=1af4:1100 class=0x030000 driver=$card" "PCI: the VGA card ($vga_id) bound to $card"
  expect "$s FB driver=$card " "display: Linux's $card DRM driver binds the card and gives a framebuffer"
  shot=$(grep -oE "^== $boot screendump [0-9]+x[0-9]+" "$report" | head -n 1 | awk '{print $4}')
  expect "^== $boot screendump [0-9]+x[0-9]+ center=0,25[25],0$" "display: the guest's green framebuffer fill shows in the device model's screendump"
  if [ "$dm" = hvmd ]; then
    expect "^== $boot vnc capture ${shot:-none} center=0,25[25],0$" "VNC: a VNC client in dom0 sees the same picture"
  else  # qemu-xen's VNC clients see black where its screendump is green (every run in this lab)
    expect "^== $boot vnc capture ${shot:-none} center=" "VNC: a VNC client in dom0 gets a picture of the screen's size (qemu-xen: black in this lab)"
  fi
  expect "^== $boot vnc xenstore listen=127.0.0.1 port=59[0-9][0-9]$" "VNC: libxl wrote the device model's VNC address (query-vnc) to xenstore"
  expect "$s INIT DONE" "the guest's checks ran to the end"
  # Power: the emulated boot reboots itself and ends on xl shutdown; the PV boot reboots on xl
  # reboot and powers itself off. Each reboot is xl destroying the domain (and its device model)
  # and creating it again.
  if [ "$boot" = pv ]; then
    expect "^== $boot xl reboot rc=0" "xl reboot"
    expect "$s XL reboot asked after" "xl reboot reaches the guest (xenstore control/shutdown)"
  fi
  expect "$s REBOOTING" "the guest reboots"
  expect "^== $boot domain is now [0-9]+ \\(was" "xl re-creates the domain after the reboot"
  expect "$s REBOOTED uptime=.* at60 md5=${written:-none}$" "after the reboot the kernel boots again and the disk holds what was written before it"
  expect "$s REBOOTED ping 3 packets transmitted, 3 (packets )?received" "after the reboot the network works (3/3 pings)"
  if [ "$boot" = emulated ]; then
    expect "^== $boot xl shutdown rc=0" "xl shutdown"
    expect "$s XL shutdown asked after" "xl shutdown reaches the guest (xenstore control/shutdown)"
    expect "^== $boot domain gone after" "the guest's poweroff on xl shutdown ends the domain"
  else
    expect "^== $boot domain gone after" "poweroff in the guest ends the domain"
  fi
  expect "^== $boot after poweroff: left nothing" "nothing (device model, its xenstore node, QMP socket, tap or vif, domain) is left after poweroff"
  expect_none "$s dmesg .*(failed to assign|can't claim)" "PCI: no BAR assignment or resource claim failures"
  # After xl restore and xl migrate the first (polled) IDENTIFY of libata's revalidation on resume
  # times out and the next one succeeds; the device model answers it at once, and qemu-xen's runs
  # show the same lines (most likely the guest's clock jumping by the time it was away). They are
  # counted, not failed; any other ATA timeout, reset or failed command fails the check.
  resume_identify="qc timeout after [0-9]+ msecs \(cmd 0x(ec|a1)\)"
  ata_other=$(grep -iE -- "$s dmesg .*(ata[0-9.]*: .*(timeout|reset|failed command|exception))" \
    "$report" | grep -vE -- "$resume_identify" || true)
  if [ -n "$ata_other" ]; then
    echo "FAILED: ATA: no timeouts, resets, failed commands"
    printf '%s\n' "$ata_other" | head -n 3 | sed 's/^/    /'; failed=1
  else
    echo "ok: ATA: no timeouts, resets, failed commands ($(grep -cE -- "$s dmesg .*$resume_identify" "$report" || true) IDENTIFY timeouts of the revalidation after resume, as with qemu-xen)"
  fi
  expect_none "$s dmesg .*(Tx Unit Hang|Reset adapter)" "e1000: no transmit hang or adapter reset"
  expect_none "$s dmesg .*(ACPI Error|GPE.*(disabling|No handler))" "ACPI: no GPE errors"
  expect_none "$s dmesg .*(Timeout connecting to device|vkbd.*timeout)" "xenbus: no frontend timeout (vkbd)"
  expect_none "$s STILL RUNNING" "poweroff is not ignored"
  expect_none "^== $boot serial: .*(kernel BUG|Oops|general protection|Call Trace)" "the guest's kernel reports no BUG, oops or warning trace"
  if [ "$failed" != "$failed_before" ]; then  # what CI's log needs to tell why
    echo "-- $boot, for the failures above: the lab's diagnosis, the console's and the device model's last lines"
    grep -E "^== $boot diag: " "$report" || true
    grep -E "^== $boot serial: " "$report" | tail -n 30 || true
    grep -E "^== $boot dm log: " "$report" | tail -n 20 || true
  fi
  failed_before=$failed
done
echo "linux lab ($dm): $(( $(date +%s) - start )) s in all"
exit $failed
