#!/usr/bin/env bash
# Start to SeaBIOS banner, to "No bootable device" without a disk, and to a boot sector read from
# an IDE disk: hvmd's kvm runner side by side with QEMU on KVM, same firmware (Debian's
# bios-256k.bin), 128 MiB, no display, COM1 to a file with SeaBIOS's serial console on it. Prints
# the median of RUNS runs of each, in milliseconds.
#   tests/bench/boot_bench.sh HVMD_BINARY TEST_ROM_TOOL [RUNS]
set -euo pipefail
usage="usage: boot_bench.sh HVMD_BINARY TEST_ROM_TOOL [RUNS]"
hvmd=${1:?$usage}
rom_tool=${2:?$usage}
runs=${3:-5}
[ -r /dev/kvm ] || { echo "no /dev/kvm: nothing to measure"; exit 0; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '\xf8\x03' > "$dir/sercon-port"  # COM1, for QEMU (hvmd sets it itself without a display)
truncate -s 64M "$dir/disk.img"
"$rom_tool" "$dir/disk.img" "boot sector ran" boot-sector

now_ms() { date +%s%3N; }
# Runs one boot until the serial port shows $end_text; prints "banner_ms end_ms".
one_boot() {
  local serial="$dir/serial.log"
  rm -f "$serial"
  local start; start=$(now_ms)
  "$@" -serial "file:$serial" >/dev/null 2>&1 &
  local pid=$! banner="" done=""
  for _ in $(seq 1 3000); do
    if [ -z "$banner" ] && grep -q "SeaBIOS (version" "$serial" 2>/dev/null; then
      banner=$(( $(now_ms) - start ))
    fi
    if grep -q "$end_text" "$serial" 2>/dev/null; then
      done=$(( $(now_ms) - start )); break
    fi
    sleep 0.005
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  echo "${banner:-timeout} ${done:-timeout}"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
  local name=$1; shift
  local results=()
  for _ in $(seq 1 "$runs"); do results+=("$(one_boot "$@")"); done
  local banner done
  banner=$(printf '%s\n' "${results[@]}" | awk '{print $1}' | median)
  done=$(printf '%s\n' "${results[@]}" | awk '{print $2}' | median)
  printf '%-6s start to banner %6s ms   start to "%s" %6s ms   (median of %d)\n' \
    "$name" "$banner" "$end_text" "$done" "$runs"
}

qemu=(qemu-system-x86_64 -accel kvm -machine pc -m 128 -display none -nodefaults -vga none
      -fw_cfg "name=etc/sercon-port,file=$dir/sercon-port")
have_qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$have_qemu" ] || echo "qemu-system-x86_64 not installed (Debian package qemu-system-x86): no comparison"
disk=(-drive "file=$dir/disk.img,if=ide,index=0,format=raw")
for end_text in "No bootable device" "boot sector ran"; do
  extra=()
  [ "$end_text" = "boot sector ran" ] && extra=("${disk[@]}")
  measure hvmd "$hvmd" -accel kvm -m 128 -display none -nodefaults "${extra[@]}"
  [ -z "$have_qemu" ] || measure qemu "${qemu[@]}" "${extra[@]}"
done
