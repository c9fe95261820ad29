#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-ide/: inputs for hvmd-fuzz with an IDE disk (ide0-hd0) and CD-ROM
(ide1-cd0) that replay the known IDE/ATAPI bug classes (../shared/research/devices.md section 6)
and walk the common paths, so the fuzzer starts deep in the controller and CI replays each case.

Run from the repository root; the encoding follows tests/fuzz/fuzz_machine.cc."""
import os
import struct

OP_PCI, OP_PORT_ANY, OP_RAM_WRITE, OP_PORT_WRITE = 1, 2, 4, 7
SIZE = {1: 0, 2: 1, 4: 2}
IDE_FUNCTION = 2  # index of 00:01.1 among the present functions (00.0, 01.0, 01.1, 01.3)
BM = 0xc000
PRIMARY, SECONDARY = 0x1f0, 0x170


def pci_write(reg, value, size=4):
    return struct.pack('<BBBBI', OP_PCI, IDE_FUNCTION << 1 | 1, reg, SIZE[size], value)


def outp(port, value, size=1):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE[size], port, value)


def inp(port, size=1):
    return struct.pack('<BHBI', OP_PORT_ANY, port, SIZE[size], 0)  # even data: a read


def ram(addr, value):
    return struct.pack('<BHQ', OP_RAM_WRITE, addr, value)


def prd(addr, entries):
    out = b''
    for i, (buf, count) in enumerate(entries):
        out += ram(addr + 8 * i, buf | count << 32)
    return out


def setup():
    return pci_write(0x20, BM) + pci_write(0x04, 0x5, 2)


def lba28(base, lba, count, unit=0):
    return (outp(base + 2, count) + outp(base + 3, lba & 0xff) + outp(base + 4, lba >> 8 & 0xff) +
            outp(base + 5, lba >> 16 & 0xff) + outp(base + 6, 0x40 | unit << 4 | lba >> 24 & 0xf))


def dma(base, bm, command, to_memory, table=0x1000):
    return (outp(bm, 0) + outp(bm + 2, 6) + outp(bm + 4, table, 4) + outp(base + 7, command) +
            outp(bm, 1 | (8 if to_memory else 0)))


def packet(base, words, dma_flag=0, limit=0xfffe):
    out = (outp(base + 6, 0) + outp(base + 1, dma_flag) + outp(base + 4, limit & 0xff) +
           outp(base + 5, limit >> 8) + outp(base + 7, 0xa0))
    for w in words:
        out += outp(base, w, 2)
    return out


def cdb(*bytes_):
    b = list(bytes_) + [0] * (12 - len(bytes_))
    return [b[i] | b[i + 1] << 8 for i in range(0, 12, 2)]


def reads(port, n, size=2):
    return b''.join(inp(port, size) for _ in range(n))


def dsm(base, feature, blocks):
    """DATA SET MANAGEMENT's task file (LBA48: count high byte first), before dma(..., 0x06)."""
    return (outp(base + 1, 0) + outp(base + 1, feature) + outp(base + 2, blocks >> 8) +
            outp(base + 2, blocks & 0xff) + outp(base + 6, 0x40))


def trim_entry(lba, count):
    return lba | count << 48


SEEDS = {
    # Ordinary paths: IDENTIFY and PIO reads/writes, DMA both ways.
    'disk-identify-pio': setup() + outp(PRIMARY + 6, 0) + outp(PRIMARY + 7, 0xec) +
    reads(PRIMARY, 256) + lba28(PRIMARY, 3, 2) + outp(PRIMARY + 7, 0x20) + reads(PRIMARY, 512) +
    lba28(PRIMARY, 9, 1) + outp(PRIMARY + 7, 0x30) + b''.join(outp(PRIMARY, 0x1234, 2)
                                                             for _ in range(256)),
    'disk-dma-rw': setup() + prd(0x1000, [(0x2000, 0x8000 | 1 << 31)]) + lba28(PRIMARY, 0, 64) +
    dma(PRIMARY, BM, 0xc8, True) + inp(BM + 2) + lba28(PRIMARY, 100, 64) +
    dma(PRIMARY, BM, 0xca, False) + outp(PRIMARY + 7, 0xe7),
    # CVE-2014-9718: PRD entries adding up to less than a sector; then a sector spread over
    # 300 two-byte entries.
    'prdt-zero-progress': setup() + prd(0x1000, [(0x2000, 2)] * 15 + [(0x2000, 2 | 1 << 31)]) +
    lba28(PRIMARY, 0, 0) + dma(PRIMARY, BM, 0xc8, True) + inp(BM + 2) + outp(BM, 0) +
    prd(0x1000, [(0x2000 + 2 * i, 2) for i in range(299)] + [(0x3000, 2 | 1 << 31)]) +
    lba28(PRIMARY, 0, 1) + dma(PRIMARY, BM, 0xc8, True) + inp(BM + 2),
    # A table and buffers outside guest RAM and aimed at the controller's own bus-master block.
    'dma-outside-ram': setup() + prd(0x1000, [(0xfebf0000, 512 | 1 << 31)]) +
    lba28(PRIMARY, 0, 1) + dma(PRIMARY, BM, 0xc8, True) + outp(BM, 0) +
    lba28(PRIMARY, 0, 1) + dma(PRIMARY, BM, 0xc8, True, table=0xfffff000) + outp(BM, 0) +
    prd(0x1000, [(BM, 512 | 1 << 31)]) + lba28(PRIMARY, 0, 1) + dma(PRIMARY, BM, 0xca, False),
    # Reset in the middle of a DMA command, and a bus master started with no command.
    'reset-during-dma': setup() + prd(0x1000, [(0x2000, 1 << 31)]) + lba28(PRIMARY, 0, 128) +
    dma(PRIMARY, BM, 0xc8, True) + outp(0x3f6, 4) + outp(0x3f6, 0) + outp(BM, 0) + outp(BM, 9) +
    outp(BM, 0),
    # CVE-2015-5154 (XSA-138): data-port writes past the 12-byte packet and past a DRQ block.
    'atapi-pio-overflow': setup() + packet(SECONDARY, cdb(0x12, 0, 0, 0, 36) + [0xffff] * 64) +
    reads(SECONDARY, 64) + b''.join(outp(SECONDARY, 0xdead, 2) for _ in range(64)),
    # CVE-2020-29443: READ(10)/(12) with an LBA and count beyond the medium.
    'atapi-read-beyond': setup() +
    packet(SECONDARY, cdb(0x28, 0, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff)) +
    packet(SECONDARY, cdb(0xa8, 0, 0, 0, 0x01, 0xf0, 0xff, 0xff, 0xff, 0xff)) +
    packet(SECONDARY, cdb(0x28, 0, 0, 0, 0x01, 0xff, 0, 0, 2)) + reads(SECONDARY, 2048) +
    inp(SECONDARY + 7),
    # CVE-2015-6855: disk commands (READ NATIVE MAX, READ SECTORS) to a packet device.
    'atapi-disk-commands': setup() + outp(SECONDARY + 6, 0) + outp(SECONDARY + 7, 0xf8) +
    outp(SECONDARY + 7, 0x27) + outp(SECONDARY + 7, 0x20) + reads(SECONDARY, 8) +
    outp(SECONDARY + 7, 0xc8) + outp(BM + 8, 9),
    # CVE-2014-2894: SMART EXECUTE OFFLINE and the other SMART subcommands.
    'smart-commands': setup() + outp(PRIMARY + 6, 0) + outp(PRIMARY + 4, 0x4f) +
    outp(PRIMARY + 5, 0xc2) + b''.join(outp(PRIMARY + 1, f) + outp(PRIMARY + 7, 0xb0)
                                       for f in (0xd4, 0xd5, 0xd0, 0xda)) + reads(PRIMARY, 256),
    # TRIM: a range in the disk, one past its end and a 48-bit LBA far beyond; a count of
    # 65535 blocks against a one-sector table; feature 0 and a count of zero.
    'trim-ranges': setup() + ram(0x2000, trim_entry(8, 8)) + ram(0x2008, trim_entry(0, 0)) +
    ram(0x2010, trim_entry(0xffffffffffff, 0xffff)) + prd(0x1000, [(0x2000, 0x200 | 1 << 31)]) +
    dsm(PRIMARY, 1, 1) + dma(PRIMARY, BM, 0x06, False) + inp(BM + 2) + inp(PRIMARY + 7) +
    outp(BM, 0) + dsm(PRIMARY, 1, 0xffff) + dma(PRIMARY, BM, 0x06, False) + outp(BM, 0) +
    dsm(PRIMARY, 0, 1) + outp(PRIMARY + 7, 0x06) + dsm(PRIMARY, 1, 0) + outp(PRIMARY + 7, 0x06),
    # ATAPI commands by DMA with short, exact and long tables, and REQUEST SENSE after errors.
    'atapi-dma': setup() + prd(0x1000, [(0x2000, 0x800 | 1 << 31)]) +
    packet(SECONDARY, cdb(0x28, 0, 0, 0, 0, 1, 0, 0, 2), dma_flag=1) + outp(BM + 8, 9) +
    inp(BM + 10) + packet(SECONDARY, cdb(0x03, 0, 0, 0, 18)) + reads(SECONDARY, 9) +
    packet(SECONDARY, cdb(0x43, 2, 2, 0, 0, 0, 0, 0, 200)) + reads(SECONDARY, 100) +
    packet(SECONDARY, cdb(0x46, 0, 0, 0, 0, 0, 0, 0, 200)) + reads(SECONDARY, 100) +
    packet(SECONDARY, cdb(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8)) + reads(SECONDARY, 4),
}

if __name__ == '__main__':
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-ide')
    os.makedirs(out_dir, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out_dir, name), 'wb') as f:
            f.write(data)
    print(f'{len(SEEDS)} seeds in {out_dir}')
