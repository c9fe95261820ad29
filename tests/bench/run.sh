#!/usr/bin/env bash
# Runs hvmd's benchmarks — dispatch cost per access, the ioreq round trip, start-up time and idle
# memory (beside QEMU's when qemu-system-x86_64 is installed), IDE and block throughput, e1000,
# display, USB, and boot to the SeaBIOS banner on KVM — then prints one table of the headline
# figures: figure, hvmd, the anchor (QEMU or the host's floor), ratio, target, and whether it holds.
# Every step prints its figures as it goes; the lines starting with TABLE<TAB> (see bench_table.h)
# are kept for the table instead.
#   tests/bench/run.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
here=$(dirname "$0")
table=$(mktemp /tmp/hvmd-bench-table.XXXXXX)
trap 'rm -f "$table"' EXIT

# Runs one step: its output shown, its TABLE lines set aside.
step() {
  "$@" 2>&1 | tee -a "$table.raw" | awk -F'\t' '$1 != "TABLE"'
  grep -a $'^TABLE\t' "$table.raw" >>"$table" || true
  rm -f "$table.raw"
}

qemu=$(command -v qemu-system-x86_64 || true)
step "$build/tests/bench/hvmd_dispatch_bench" --benchmark_min_time=0.2
step "$build/tests/bench/hvmd_ioreq_bench"
if [ -n "$qemu" ]; then
  step "$build/tests/bench/hvmd_startup_bench" "$build/hvmd" 20 "$qemu"
else
  echo "qemu-system-x86_64 not installed: no comparison"
  step "$build/tests/bench/hvmd_startup_bench" "$build/hvmd" 20
fi
step "$build/tests/bench/hvmd_ide_bench" --benchmark_min_time=0.5
# Block throughput against the page cache and fio (another step's script, where it exists).
if [ -x "$here/block_bench.sh" ] || [ -f "$here/block_bench.sh" ]; then
  step bash "$here/block_bench.sh" "$build"
fi
step "$build/tests/bench/hvmd_e1000_bench" --benchmark_min_time=0.3
step "$build/tests/bench/hvmd_display_bench" --benchmark_min_time=0.2
step "$build/tests/bench/hvmd_usb_bench" --benchmark_min_time=0.2
step "$build/tests/bench/hvmd_usb_storage_bench" --benchmark_min_time=0.3
step "$here/boot_bench.sh" "$build/hvmd" "$build/tests/hvmd-test-rom" 5

# The table: the holds? column compares the hvmd value (or the ratio) with the target.
echo
awk -F'\t' '
  function holds(value, ratio, target,   n) {
    if (target ~ /^ratio<=/) { n = substr(target, 8) + 0; return ratio == "-" ? "?" : (ratio + 0 <= n ? "yes" : "NO") }
    if (target ~ /^ratio>=/) { n = substr(target, 8) + 0; return ratio == "-" ? "?" : (ratio + 0 >= n ? "yes" : "NO") }
    if (target ~ /^<=/) { n = substr(target, 3) + 0; return value + 0 <= n ? "yes" : "NO" }
    if (target ~ /^>=/) { n = substr(target, 3) + 0; return value + 0 >= n ? "yes" : "NO" }
    return "-"
  }
  {
    rows++
    for (i = 2; i <= 7; i++) cell[rows, i] = $i
    cell[rows, 8] = holds($3, $6, $7)
  }
  END {
    split("figure hvmd anchor value ratio target holds?", head, " ")
    for (i = 2; i <= 8; i++) { width[i] = length(head[i - 1]) }
    for (r = 1; r <= rows; r++)
      for (i = 2; i <= 8; i++) if (length(cell[r, i]) > width[i]) width[i] = length(cell[r, i])
    for (i = 2; i <= 8; i++) printf("%-" width[i] "s  ", head[i - 1])
    printf "\n"
    for (r = 1; r <= rows; r++) {
      for (i = 2; i <= 8; i++) printf("%-" width[i] "s  ", cell[r, i])
      printf "\n"
    }
  }' "$table"
