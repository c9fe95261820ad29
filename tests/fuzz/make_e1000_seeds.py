#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-e1000/: inputs for `hvmd-fuzz -device=e1000,netdev=fuzz` that program
the NIC as a driver does and replay the known e1000 bug classes (../shared/research/devices.md
section 6), so the fuzzer starts inside the rings and CI replays each case.

Run from anywhere; the encoding follows tests/fuzz/fuzz_machine.cc."""
import os
import struct

OP_PCI, OP_RAM_WRITE, OP_MMIO_WRITE, OP_NET_RECEIVE = 1, 4, 8, 9
SIZE4 = 2  # size selector for 4-byte accesses
NIC_FUNCTION = 4  # 00:02.0 among the present functions (00.0, 01.0, 01.1, 01.3, 02.0)
BAR0 = 0xfebc0000
TX_RING, RX_RING, BUFFERS = 0x1000, 0x2000, 0x4000


def pci_write(reg, value):
    return struct.pack('<BBBBI', OP_PCI, NIC_FUNCTION << 1 | 1, reg, SIZE4, value)


def mmio(reg, value):
    return struct.pack('<BBQQ', OP_MMIO_WRITE, SIZE4, BAR0 + reg, value)


def ram(addr, value):
    return struct.pack('<BHQ', OP_RAM_WRITE, addr, value)


def descriptor(at, low, high):
    return ram(at, low) + ram(at + 8, high)


def frame(data):
    return struct.pack('<BH', OP_NET_RECEIVE, len(data)) + data


def setup():
    return pci_write(0x10, BAR0) + pci_write(0x04, 0x6) + mmio(0xd0, 0x1ffff)  # IMS: all


def tx_ring(entries=8):
    return (mmio(0x3800, TX_RING) + mmio(0x3808, entries * 16) + mmio(0x3810, 0) +
            mmio(0x3818, 0) + mmio(0x400, 2))


def rx_ring(entries=8, rctl=0x8002):
    out = b''
    for i in range(entries):
        out += descriptor(RX_RING + 16 * i, BUFFERS + 0x800 * (i % 4), 0)
    return (out + mmio(0x2800, RX_RING) + mmio(0x2808, entries * 16) + mmio(0x2810, 0) +
            mmio(0x2818, entries - 1) + mmio(0x100, rctl))


def legacy(address, length, cmd):
    return address, length | cmd << 24


ETH = bytes([0xff] * 6 + [0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x00])
IPV4_TCP = bytes([0x45, 0, 0, 100, 0x12, 0x34, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
TCP = bytes([0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0])

SEEDS = {
    # A driver's transmit: two legacy descriptors, one frame, status reported.
    'tx-legacy': setup() + tx_ring() + ram(BUFFERS, 0xffffffffffff) +
    descriptor(TX_RING, BUFFERS, 30 | 0x02 << 24) +
    descriptor(TX_RING + 16, BUFFERS + 30, 40 | 0x0b << 24) + mmio(0x3818, 2),
    # Receive: a broadcast frame into the ring, then one larger than a buffer (two descriptors).
    'rx-frames': setup() + rx_ring() + frame(ETH + IPV4_TCP + TCP + bytes(40)) +
    mmio(0x100, 0x8002 | 0x20) + frame(ETH + bytes(3000)),
    # CVE-2016-1981: TDH and RDH outside the rings.
    'ring-index-outside': setup() + tx_ring() + mmio(0x3810, 0x100) + mmio(0x3818, 3) +
    rx_ring() + mmio(0x2810, 0x80) + frame(ETH + bytes(60)),
    # CVE-2015-6815: a TSO context whose MSS is zero, then data descriptors with TSE.
    'tso-zero-mss': setup() + tx_ring() +
    ram(BUFFERS, int.from_bytes(ETH[:8], 'little')) +
    descriptor(TX_RING, 0x0000220e_2218_0e, (0x27 << 24) | 200 | (54 << 40)) +
    descriptor(TX_RING + 16, BUFFERS, 200 | 1 << 20 | 0x2d << 24 | 0x3 << 40) + mmio(0x3818, 2),
    # CVE-2021-20257: legacy and data descriptors mixed in one frame past MSS + header.
    'tx-mixed-descriptors': setup() + tx_ring(16) +
    descriptor(TX_RING, 0x0000220e_2218_0e, (0x27 << 24) | 1000 | (54 << 40) | (64 << 48)) +
    b''.join(descriptor(TX_RING + 16 * i, BUFFERS, 1000 | ((1 << 20 | 0x24 << 24) if i % 2 else 0))
             for i in range(1, 15)) + mmio(0x3818, 15),
    # CVE-2012-6075: an oversized frame from the network without long-packet enable.
    'rx-oversized': setup() + rx_ring() + frame(ETH + bytes(8000)),
    # Zero-length rings and NULL receive buffers.
    'zero-rings': setup() + mmio(0x3808, 0) + mmio(0x400, 2) + mmio(0x3818, 5) +
    descriptor(RX_RING, 0, 0) + mmio(0x2800, RX_RING) + mmio(0x2808, 0) + mmio(0x2818, 4) +
    mmio(0x100, 0x8002) + frame(ETH + bytes(60)),
    # Descriptors and buffers aimed at the NIC's own registers (DMA re-entrancy) and loopback.
    'dma-into-bar': setup() + mmio(0x3800, BAR0) + mmio(0x3808, 128) + mmio(0x400, 2) +
    mmio(0x3818, 1) + tx_ring() + descriptor(TX_RING, BAR0 + 0x3818, 60 | 0x0b << 24) +
    mmio(0x3818, 1) + rx_ring(rctl=0x8002 | 0xc0) + descriptor(RX_RING, BAR0, 0) +
    frame(ETH + bytes(60)),
    # EEPROM bit-banging, EERD, MDIC, interrupt throttling.
    'eeprom-phy-itr': setup() + mmio(0x10, 0x40) + mmio(0x10, 0x42) + mmio(0x10, 0x47) +
    mmio(0x10, 0x43) + mmio(0x14, 0x0301) + mmio(0x20, 0x08210000) + mmio(0x20, 0x04211140) +
    mmio(0xc4, 1000) + mmio(0xc8, 4) + mmio(0xc8, 4),
}

if __name__ == '__main__':
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-e1000')
    os.makedirs(out_dir, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out_dir, name), 'wb') as f:
            f.write(data)
    print(f'{len(SEEDS)} seeds in {out_dir}')
