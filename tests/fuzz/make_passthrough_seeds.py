#!/usr/bin/env python3
"""Seeds for hvmd-fuzz -target=passthrough: per fixture (first byte), what a driver does —
size and place the BARs, enable decoding, program and unmask MSI-X vectors, enable MSI, put PM
in D3, poke hidden capabilities and unknown registers. Operations are 8 bytes:
kind (0 read, 1 write, 2 MSI-X write, 3 MSI-X read), reg low, size (0:1 1:2 2:4 bytes),
value (4 bytes, little-endian), reg high / table offset low."""
import os
import struct
import sys

FIXTURES = 11  # 5 synthetic + 6 recorded


def op(kind, reg, size_code, value, extra=0):
    return struct.pack("<BBBIB", kind, reg & 0xff, size_code, value & 0xffffffff,
                       (extra & 0xfc) | (reg >> 8 & 3))


def driver(fixture, permissive):
    ops = [bytes([fixture, permissive])]
    for i, bar in enumerate(range(0x10, 0x28, 4)):  # size, then place every BAR
        ops.append(op(1, bar, 2, 0xffffffff))
        ops.append(op(0, bar, 2, 0))
        ops.append(op(1, bar, 2, 0xe0000000 + i * 0x1000000))
    ops.append(op(1, 0x30, 2, 0xfff00001))
    ops.append(op(1, 0x04, 1, 0x0407))
    for cap in range(0x40, 0x100, 4):  # enable whatever MSI/MSI-X sits there, mask bits off
        ops.append(op(1, cap + 2, 1, 0x8000))
        ops.append(op(1, cap + 2, 1, 0x0001))
    for entry in range(4):  # MSI-X table: address, data, unmask (table offset 0 / 0x80 / 0x8000)
        for base in (0x0000, 0x0080):
            ops.append(struct.pack("<BBBIB", 2, (base + entry * 16) >> 8, 2, 0xfee00000,
                                   (base + entry * 16) & 0xff))
            ops.append(struct.pack("<BBBIB", 2, (base + entry * 16 + 8) >> 8, 2, 0x4040 + entry,
                                   (base + entry * 16 + 8) & 0xff))
            ops.append(struct.pack("<BBBIB", 2, (base + entry * 16 + 12) >> 8, 2, 0,
                                   (base + entry * 16 + 12) & 0xff))
    ops.append(op(1, 0x44, 1, 0x0003))  # PM control to D3 where PM is at 0x40
    ops.append(op(1, 0x4c, 2, 0xffffffff))  # hidden AGP, unknown registers
    ops.append(op(1, 0xb0, 2, 0x12345678))
    ops.append(op(1, 0x04, 1, 0x0000))  # decoding off, everything unmapped
    return b"".join(ops)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                             "corpus-passthrough")
    os.makedirs(out, exist_ok=True)
    for fixture in range(FIXTURES):
        for permissive in (0, 1):
            with open(os.path.join(out, "driver-%02d-%d" % (fixture, permissive)), "wb") as f:
                f.write(driver(fixture, permissive))


if __name__ == "__main__":
    main()
