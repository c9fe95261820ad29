#!/usr/bin/env bash
# Builds hvmd and shows it serving its default machine: the daemon starts with the qtest protocol
# on standard input and a firmware-like sequence enumerates PCI bus 0 through ports 0xcf8/0xcfc.
# The qtest log shows each request ([R]) with hvmd's reply ([S]).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target hvmd >/dev/null
echo "build/hvmd -machine pc -accel qtest -qtest stdio -qtest-log /dev/stderr" >&2
cat <<'QTEST' | build/hvmd -machine pc -accel qtest -qtest stdio -qtest-log /dev/stderr >/dev/null
outl 0xcf8 0x80000000
inl 0xcfc
outl 0xcf8 0x80000008
inl 0xcfc
outl 0xcf8 0x80000800
inl 0xcfc
clock_step 1000000
QTEST
echo >&2 "(00:00.0 is 8086:1237, the i440FX host bridge, class 0600 rev 02; slot 1 is empty)"
