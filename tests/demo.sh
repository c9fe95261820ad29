#!/usr/bin/env bash
# Builds hvmd and runs its main job on the default machine: the kvm runner boots Debian's SeaBIOS
# against hvmd's devices, with the firmware's console on COM1 shown here (SeaBIOS's sercon), for
# HVMD_DEMO_SECONDS (default 10) or until Ctrl-C. Without /dev/kvm hvmd says so and exits 1.
# Arguments go to hvmd (e.g. -drive file=disk.img,if=ide to boot a disk).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target hvmd >/dev/null
echo "build/hvmd -accel kvm -m 128 -display none -serial stdio $*" >&2
status=0
timeout --foreground "${HVMD_DEMO_SECONDS:-10}" \
  build/hvmd -accel kvm -m 128 -display none -serial stdio "$@" </dev/null || status=$?
echo
[ "$status" = 124 ] && status=0  # the timeout ended it
exit "$status"
