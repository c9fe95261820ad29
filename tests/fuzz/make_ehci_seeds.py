#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-ehci/: inputs for the ehci fuzz target (tests/fuzz/CMakeLists.txt:
ich9-usb-ehci1 at 1d.7 with a companion UHCI at 1d.0, a usb-tablet and a usb-storage on a
drive) that program the EHCI the way ehci-hcd does (BAR, HCRESET, lists, Run, CONFIGFLAG, port
reset, control transfers on the asynchronous ring, Bulk-Only commands) and replay the EHCI bug
classes of ../shared/research/devices.md: cyclic queue heads and qTDs, an iTD linking to itself
(CVE-2015-8558), siTD and FSTN rings (CVE-2016-4037), qTDs and queue heads outside RAM, qTDs
longer than their five pages, a CBW with a bad signature or length, port hand-off to the
companion while transfers are queued, resets mid-transfer.

Run from anywhere; the encoding follows tests/fuzz/fuzz_machine.cc (RAM writes land in the first
64 KiB, where every structure here lives)."""
import os
import struct

OP_RAM_WRITE, OP_CLOCK_STEP, OP_PORT_WRITE, OP_MMIO_WRITE = 4, 5, 7, 8
SIZE4 = 2
MMIO = 0xfebf0000
OP = MMIO + 0x20
CMD, STS, INTR, FRINDEX, SEG, PERIODIC, ASYNC, CONFIG, PORTSC = (
    OP + 0, OP + 4, OP + 8, OP + 0xc, OP + 0x10, OP + 0x14, OP + 0x18, OP + 0x40, OP + 0x44)
FRAME_LIST, HEAD, QH, INTQH, QTDS, BUF = 0x1000, 0x2000, 0x2100, 0x2200, 0x3000, 0x4000
T, TYPE_QH = 1, 2
SETUP, IN, OUT = 2, 1, 0


def outl(port, value):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE4, port, value)


def mmio(addr, value):
    return struct.pack('<BBQQ', OP_MMIO_WRITE, SIZE4, addr, value)


def ram64(addr, value):
    return struct.pack('<BHQ', OP_RAM_WRITE, addr, value)


def ram_words(addr, words):
    words = list(words) + [0] * (len(words) % 2)
    return b''.join(ram64(addr + 8 * i, words[2 * i] | words[2 * i + 1] << 32)
                    for i in range(len(words) // 2))


def step(ns):
    return struct.pack('<BI', OP_CLOCK_STEP, ns & ~1)


def pci_write(devfn, reg, value):
    return outl(0xcf8, 0x80000000 | devfn << 8 | reg) + outl(0xcfc, value)


def token(pid, length, ioc=False, toggle=0):
    return toggle << 31 | length << 16 | (1 << 15 if ioc else 0) | 3 << 10 | pid << 8 | 0x80


def qtd(at, nxt, tok, buf):
    return ram_words(at, [nxt, T, tok, buf] + [(buf & ~0xfff) + 0x1000 * i for i in range(1, 5)] +
                     [0] * 5)


def qh(at, link, chars, smask, nxt, tok=0):
    return ram_words(at, [link, chars, 1 << 30 | smask, 0, nxt, T, tok] + [0] * 10)


def chars(addr, ep, mps, control):
    return addr | ep << 8 | 2 << 12 | (1 << 14 if control else 0) | mps << 16


def init():
    ops = pci_write(0xef, 0x10, MMIO) + pci_write(0xef, 0x04, 6)
    ops += mmio(CMD, 2) + mmio(SEG, 0) + mmio(INTR, 0x3f)
    for i in range(0, 16):
        ops += ram64(FRAME_LIST + 8 * i, (INTQH | TYPE_QH) | (INTQH | TYPE_QH) << 32)
    ops += qh(INTQH, T, 0, 1, T) + qh(HEAD, HEAD | TYPE_QH, 1 << 15, 0, T, 0x40)
    ops += mmio(PERIODIC, FRAME_LIST) + mmio(ASYNC, HEAD) + mmio(CMD, 1 | 1 << 16 | 0x30)
    return ops + mmio(CONFIG, 1)


def port_reset(port):
    reg = PORTSC + 4 * (port - 1)
    return mmio(reg, 0x1000 | 0x100) + step(50_000_000) + mmio(reg, 0x1000) + step(2_000_000)


def transfer(ch, tds):
    """tds: (pid, bytes, data or None); queued on QH after the head, run for a few frames."""
    ops = b''
    for i, (pid, n, data) in enumerate(tds):
        buf = BUF + 0x1000 * i
        if data:
            ops += ram_words(buf, struct.unpack('<%dI' % (len(data) // 4), data))
        nxt = QTDS + 64 * (i + 1) if i + 1 < len(tds) else T
        ops += qtd(QTDS + 64 * i, nxt, token(pid, n, i + 1 == len(tds), 1 if i else 0), buf)
    ops += qh(QH, HEAD | TYPE_QH, ch, 0, QTDS) + qh(HEAD, QH | TYPE_QH, 1 << 15, 0, T, 0x40)
    return ops + step(1_000_000) * 6


def control(addr, rt, req, value, index, length):
    setup = struct.pack('<BBHHH', rt, req, value, index, length)
    tds = [(SETUP, 8, setup)]
    if length:
        tds.append((IN if rt & 0x80 else OUT, length, None))
    tds.append((OUT if rt & 0x80 else IN, 0, None))
    return transfer(chars(addr, 0, 64, True), tds)


def cbw(tag, length, direction_in, cdb, signature=0x43425355, size=31):
    w = struct.pack('<IIIBBB', signature, tag, length, 0x80 if direction_in else 0, 0, len(cdb))
    w += bytes(cdb) + bytes(16 - len(cdb))
    return (w + bytes(4))[:size] + bytes((4 - size % 4) % 4)


def bulk(addr, ep, pid, n, data=None):
    return transfer(chars(addr, ep, 512, False), [(pid, n, data)])


def enumerate_tablet():
    return (init() + port_reset(1) + control(0, 0x80, 6, 0x100, 0, 18) +
            control(0, 0x00, 5, 3, 0, 0) + control(3, 0x00, 9, 1, 0, 0))


def storage_ready():
    return (init() + port_reset(2) + control(0, 0x00, 5, 2, 0, 0) +
            control(2, 0x00, 9, 1, 0, 0))


def storage_read():
    read10 = [0x28, 0, 0, 0, 0, 1, 0, 0, 2, 0]
    return (storage_ready() + bulk(2, 2, OUT, 31, cbw(1, 1024, True, read10)) +
            bulk(2, 1, IN, 1024) + step(5_000_000) + bulk(2, 1, IN, 13))


def storage_write():
    write10 = [0x2a, 0, 0, 0, 0, 4, 0, 0, 1, 0]
    return (storage_ready() + bulk(2, 2, OUT, 31, cbw(2, 512, False, write10)) +
            bulk(2, 2, OUT, 512, bytes(range(256)) * 2) + bulk(2, 1, IN, 13) +
            bulk(2, 2, OUT, 31, cbw(3, 0, False, [0x35] + [0] * 9)) + bulk(2, 1, IN, 13))


SEEDS = {
    'enumerate-tablet': enumerate_tablet(),
    'storage-read': storage_read(),
    'storage-write-sync': storage_write(),
    # Three queue heads in a ring, none with the H bit, each with a qTD to a NAKing endpoint.
    'async-ring-no-head': enumerate_tablet() +
    qtd(QTDS, T, token(IN, 8), BUF) + qtd(QTDS + 64, T, token(IN, 8), BUF) +
    qh(0x2400, 0x2480 | TYPE_QH, chars(3, 1, 8, False), 0, QTDS) +
    qh(0x2480, 0x2500 | TYPE_QH, chars(3, 1, 8, False), 0, QTDS + 64) +
    qh(0x2500, 0x2400 | TYPE_QH, chars(3, 1, 8, False), 0, T) + mmio(ASYNC, 0x2400) +
    step(1_000_000) * 8,
    # A qTD linking to itself on an endpoint that answers.
    'qtd-self-loop': enumerate_tablet() + qtd(QTDS, QTDS, token(OUT, 0), BUF) +
    qh(QH, HEAD | TYPE_QH, chars(3, 0, 64, True), 0, QTDS) +
    qh(HEAD, QH | TYPE_QH, 1 << 15, 0, T, 0x40) + step(1_000_000) * 4,
    # Periodic: an iTD linking to itself (CVE-2015-8558).
    'itd-self-loop': init() + ram_words(0x6000, [0x6000, 1 << 31 | 1 << 15 | 8 << 16] + [0] * 21) +
    ram64(FRAME_LIST, 0x6000 | 0x6000 << 32) + step(1_000_000) * 4,
    # An siTD ring (CVE-2016-4037) and an FSTN ring.
    'sitd-ring': init() + ram_words(0x6000, [0x6040 | 4, 0, 0, 0x80 | 1 << 31] + [0] * 5) +
    ram_words(0x6040, [0x6000 | 4, 0, 0, 0x80] + [0] * 5) + ram64(FRAME_LIST, 0x6004 | 0x6004 << 32) +
    step(1_000_000) * 4,
    'fstn-ring': init() + ram_words(0x6000, [0x6000 | 6, T]) +
    ram64(FRAME_LIST, 0x6006 | 0x6006 << 32) + step(1_000_000) * 4,
    # Two interrupt queue heads linking to each other.
    'periodic-qh-pair': init() + qh(INTQH, INTQH + 0x80 | TYPE_QH, 0, 1, T) +
    qh(INTQH + 0x80, INTQH | TYPE_QH, 0, 1, T) + step(1_000_000) * 4,
    # Structures outside RAM.
    'qtd-buffer-outside-ram': enumerate_tablet() + qtd(QTDS, T, token(SETUP, 8), 0xf0000000) +
    qh(QH, HEAD | TYPE_QH, chars(3, 0, 64, True), 0, QTDS) +
    qh(HEAD, QH | TYPE_QH, 1 << 15, 0, T, 0x40) + step(1_000_000) * 2,
    'qh-outside-ram': init() + mmio(SEG, 0x10) + step(1_000_000) * 2,
    'frame-list-outside-ram': init() + mmio(CMD, 0) + mmio(PERIODIC, 0xfec00000) +
    mmio(CMD, 0x11) + step(1_000_000) * 2,
    # qTDs longer than five pages allow.
    'qtd-oversized': enumerate_tablet() + qtd(QTDS, T, token(IN, 0x7fff), BUF + 0x800) +
    qh(QH, HEAD | TYPE_QH, chars(3, 0, 64, True), 0, QTDS) +
    qh(HEAD, QH | TYPE_QH, 1 << 15, 0, T, 0x40) + step(1_000_000) * 2,
    # CBWs that are not meaningful, then reset recovery.
    'cbw-bad-signature': storage_ready() + bulk(2, 2, OUT, 31, cbw(1, 0, False, [0] * 6, 0x1234)) +
    bulk(2, 1, IN, 13) + control(2, 0x21, 0xff, 0, 0, 0) + control(2, 0x02, 1, 0, 0x81, 0) +
    control(2, 0x02, 1, 0, 0x02, 0),
    'cbw-bad-length': storage_ready() + bulk(2, 2, OUT, 32, cbw(1, 0, False, [0] * 6, size=32)) +
    bulk(2, 1, IN, 13),
    'cbw-length-mismatch': storage_ready() +
    bulk(2, 2, OUT, 31, cbw(1, 0xffffffff, True, [0x28, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0])) +
    bulk(2, 1, IN, 0x4000) + bulk(2, 1, IN, 13),
    # The port handed to the companion mid-transfer, then CONFIGFLAG cleared and set again.
    'handoff-mid-transfer': enumerate_tablet() + mmio(PORTSC, 0x1000 | 0x2000) +
    pci_write(0xe8, 0x20, 0xc0a0) + pci_write(0xe8, 0x04, 5) + outl(0xc0a0, 0x2) +
    mmio(CONFIG, 0) + step(2_000_000) + mmio(CONFIG, 1) + port_reset(1),
    # Host reset while a read is streaming.
    'reset-mid-read': storage_ready() +
    bulk(2, 2, OUT, 31, cbw(1, 4096, True, [0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0])) +
    mmio(CMD, 2) + step(2_000_000) + init() + port_reset(2),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-ehci')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
