#!/usr/bin/env bash
# IDE disk throughput against the host's own floor, in one run, on one cached 256 MiB image:
#   sequential DMA read  vs  a plain pread of the same file          (target >= 80 %)
#   sequential DMA write vs  a plain buffered pwrite of the same file (target >= 80 %)
#   4 KiB random DMA reads vs fio's psync randread at the same queue depth (1: IDE has one
#   command per channel) on the same file                            (target >= 80 %)
# each on a quiet machine and with a CPU hog per core beside it. Every figure carries the load
# average when it was taken (the machine may be shared). Prints one line per figure:
#   TABLE<TAB>figure<TAB>hvmd value<TAB>anchor name<TAB>anchor value<TAB>ratio<TAB>target
# (tests/bench/run.sh collects such lines into its table).
#
#   tests/bench/block_bench.sh [BUILD_DIR]
# BLOCK_BENCH_PATHS: "direct" (default: DMA straight into guest RAM, io_uring where the kernel
# offers it) and/or "bounce" (the earlier path: the channel's buffer one chunk at a time on the
# worker pool, for before/after comparisons). BLOCK_BENCH_LOADS: "quiet hog" by default.
# Needs python3; the random-read anchor needs fio (Debian package fio), else that row says so.
set -euo pipefail
build=${1:-build}
bench="$build/tests/bench/hvmd_ide_bench"
paths=${BLOCK_BENCH_PATHS:-direct}
loads=${BLOCK_BENCH_LOADS:-quiet hog}
[ -x "$bench" ] || { echo "block_bench.sh: $bench not built" >&2; exit 1; }

work=$(mktemp -d /tmp/hvmd-block-bench-XXXXXX)
hogs=()
stop_hogs() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${hogs[@]}"; do wait "$pid" 2>/dev/null || true; done
  hogs=()
}
trap 'stop_hogs; rm -rf "$work"' EXIT
image="$work/disk.img"

load_average() { cut -d' ' -f1 /proc/loadavg; }

# One row: figure, hvmd value, anchor name, anchor value, target; the ratio computed here.
row() {
  python3 - "$@" <<'EOF'
import sys
figure, value, anchor, anchor_value, target = sys.argv[1:6]
v, a = float(value), float(anchor_value)
ratio = f"{v / a:.2f}" if a > 0 else "n/a"
print(f"TABLE\t{figure}\t{v:.3g}\t{anchor}\t{a:.3g}\t{ratio}\t{target}")
EOF
}

# Runs the benchmark binary and prints name=value pairs: GB/s for throughput, k/s for items.
run_bench() {
  local json="$work/bench.json"
  HVMD_BENCH_IMAGE="$image" "$bench" --benchmark_min_time=0.5 --benchmark_format=json \
    --benchmark_filter='BM_(IdeSequentialDma|PlainFile|IdeRandom4k)' >"$json" 2>"$work/bench.err" ||
    { cat "$work/bench.err" >&2; return 1; }
  python3 - "$json" <<'EOF'
import json, sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if "bytes_per_second" in b:
        print(f'{b["name"]}={b["bytes_per_second"] / 1e9:.4f}')
    elif "items_per_second" in b:
        print(f'{b["name"]}={b["items_per_second"] / 1e3:.3f}')
EOF
}

fio_iops() {
  command -v fio >/dev/null || { echo 0; return; }
  fio --name=randread --filename="$image" --rw=randread --bs=4k --iodepth=1 --ioengine=psync \
    --size=256M --invalidate=0 --time_based --runtime=2 --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["read"]["iops"] / 1e3)'
}

for load in $loads; do
  if [ "$load" = hog ]; then
    for _ in $(seq "$(nproc)"); do
      (while :; do :; done) &
      hogs+=($!)
    done
    sleep 1
  fi
  for path in $paths; do
    if [ "$path" = bounce ]; then
      export HVMD_BENCH_BOUNCE=1 HVMD_BENCH_DRIVE=",aio=threads"
      label="bounce+threads"
    else
      unset HVMD_BENCH_BOUNCE HVMD_BENCH_DRIVE
      label="direct"
    fi
    before=$(load_average)
    declare -A r=()
    while IFS='=' read -r name value; do r[$name]=$value; done < <(run_bench)
    fio=$(fio_iops)
    tag="$label, $load, load $before-$(load_average)"
    row "IDE seq DMA read GB/s [$tag]" "${r[BM_IdeSequentialDmaRead/real_time]}" \
      "pread 256K chunks" "${r[BM_PlainFileRead/33554432/real_time]}" "ratio>=0.80"
    row "IDE seq DMA write GB/s [$tag]" "${r[BM_IdeSequentialDmaWrite/real_time]}" \
      "buffered pwrite 256K" "${r[BM_PlainFileWrite/real_time]}" "ratio>=0.80"
    if [ "$fio" = 0 ]; then
      printf 'TABLE\tIDE 4K random read k/s QD1 [%s]\t%s\tfio (not installed)\t-\t-\tratio>=0.80\n' \
        "$tag" "${r[BM_IdeRandom4kDmaRead/real_time]}"
    else
      row "IDE 4K random read k/s QD1 [$tag]" "${r[BM_IdeRandom4kDmaRead/real_time]}" \
        "fio psync QD1" "$fio" "ratio>=0.80"
    fi
    unset r
  done
  stop_hogs
done
