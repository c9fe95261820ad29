#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-usb/: inputs for `hvmd-fuzz -device=piix3-usb-uhci,addr=1.2
-device=usb-tablet -device=usb-hub -device=usb-kbd,bus=usb.0.2` that program the UHCI the way
uhci-hcd does (reset, frame list, run, port reset, a GET_DESCRIPTOR transfer) and replay the USB
bug classes of ../shared/research/devices.md: cyclic queue heads and TDs, a TD MaxLen beyond
1280, a data stage larger than its TD, a bad PID, links and buffers outside RAM, SET_ADDRESS then
transfers to the old address, hub port resets.

Run from anywhere; the encoding follows tests/fuzz/fuzz_machine.cc."""
import os
import struct

OP_RAM_WRITE, OP_CLOCK_STEP, OP_PORT_WRITE = 4, 5, 7
SIZE2, SIZE4 = 1, 2
IO = 0xc080
FRAME_LIST, QH, QH2, TDS, BUF = 0x1000, 0x2000, 0x2020, 0x2100, 0x3000
T, Q, VF = 1, 2, 4
ACTIVE, IOC, SPD, CERR3 = 1 << 23, 1 << 24, 1 << 29, 3 << 27
SETUP, IN, OUT = 0x2d, 0x69, 0xe1


def outw(port, value):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE2, port, value)


def outl(port, value):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE4, port, value)


def ram64(addr, value):
    return struct.pack('<BHQ', OP_RAM_WRITE, addr, value)


def ram32x2(addr, lo, hi):
    return ram64(addr, lo | hi << 32)


def step(ns):
    return struct.pack('<BI', OP_CLOCK_STEP, ns & ~1)


def pci_write(devfn, reg, value):
    return outl(0xcf8, 0x80000000 | devfn << 8 | reg) + outl(0xcfc, value)


def token(pid, addr, ep, length, toggle=0):
    ml = 0x7ff if length == 0 else length - 1
    return ml << 21 | toggle << 19 | ep << 15 | addr << 8 | pid


def td(at, link, control, tok, buf):
    return ram32x2(at, link, control) + ram32x2(at + 8, tok, buf)


def qh(at, link, element):
    return ram32x2(at, link, element)


def init():
    ops = pci_write(0x0a, 0x20, IO) + pci_write(0x0a, 0x04, 5) + outw(IO, 2)
    # Only a few frame-list entries are written; the rest stay zero (a TD at 0, inactive).
    for i in range(0, 32, 2):
        ops += ram32x2(FRAME_LIST + 4 * i, QH | Q, QH | Q)
    ops += qh(QH, QH2 | Q, T) + qh(QH2, T, T)
    ops += outl(IO + 8, FRAME_LIST) + outw(IO + 6, 0) + outw(IO + 4, 0xf) + outw(IO, 0xc1)
    return ops


def port_reset(port=1):
    reg = IO + 0x10 + 2 * (port - 1)
    return outw(reg, 0x200) + step(50_000_000) + outw(reg, 0) + outw(reg, 4) + outw(reg, 0xe)


def control_in(addr, request_type, request, value, index, length, packet=8):
    setup = struct.unpack('<Q', struct.pack('<BBHHH', request_type, request, value, index,
                                            length))[0]
    ops = ram64(BUF, setup)
    tds = [(ACTIVE | CERR3, token(SETUP, addr, 0, 8), BUF)]
    toggle = 1
    for done in range(0, length, packet):
        n = min(packet, length - done)
        tds.append((ACTIVE | CERR3 | SPD, token(IN, addr, 0, n, toggle), BUF + 0x100 * len(tds)))
        toggle ^= 1
    tds.append((ACTIVE | CERR3 | IOC, token(OUT, addr, 0, 0, 1), BUF))
    for i, (control, tok, buf) in enumerate(tds):
        link = (TDS + 32 * (i + 1)) | VF if i + 1 < len(tds) else T
        ops += td(TDS + 32 * i, link, control, tok, buf)
    return ops + qh(QH, QH2 | Q, TDS) + step(5_000_000) * 4


def enumerate_tablet():
    return (init() + port_reset() + control_in(0, 0x80, 6, 0x100, 0, 18) +
            control_in(0, 0x00, 5, 3, 0, 0) + control_in(3, 0x00, 9, 1, 0, 0) +
            control_in(3, 0x81, 6, 0x2200, 0, 74))


SEEDS = {
    'enumerate-tablet': enumerate_tablet(),
    # A queue head linking to itself around a TD that NAKs forever (the interrupt endpoint).
    'qh-self-loop': enumerate_tablet() + td(TDS, T, ACTIVE, token(IN, 3, 1, 8), BUF) +
    qh(QH2, QH2 | Q, TDS) + step(9_000_000) * 8,
    # A TD linking to itself depth first inside a queue, and one in the frame list.
    'td-self-loop': init() + port_reset() + td(TDS, TDS | VF, ACTIVE, token(IN, 9, 0, 8), BUF) +
    qh(QH, QH2 | Q, TDS) + ram32x2(FRAME_LIST + 8, TDS + 0x40, TDS + 0x40) +
    td(TDS + 0x40, TDS + 0x40, 0, 0, 0) + step(9_000_000) * 4,
    # Two queue heads linking to each other.
    'qh-pair-loop': init() + qh(QH, QH2 | Q, T) + qh(QH2, QH | Q, T) + step(9_000_000) * 4,
    # MaxLen 0x600: beyond what UHCI allows.
    'maxlen-too-large': init() + port_reset() + td(TDS, T, ACTIVE, token(IN, 0, 0, 0x600), BUF) +
    qh(QH, QH2 | Q, TDS) + step(3_000_000),
    # A data stage with 4-byte TDs: the device's 8-byte packets babble.
    'data-stage-babble': init() + port_reset() + control_in(0, 0x80, 6, 0x100, 0, 18, 4),
    # wLength 0xffff: the reply is the descriptor's own size.
    'wlength-huge': init() + port_reset() + control_in(0, 0x80, 6, 0x100, 0, 0xffff, 64),
    'bad-pid': init() + port_reset() + td(TDS, T, ACTIVE, 0x55 | 7 << 21, BUF) +
    qh(QH, QH2 | Q, TDS) + step(3_000_000),
    # Links and buffers outside RAM.
    'element-outside-ram': init() + qh(QH, QH2 | Q, 0xfebf0000) + step(3_000_000),
    'buffer-outside-ram': init() + port_reset() +
    td(TDS, T, ACTIVE, token(SETUP, 0, 0, 8), 0xfffffff0) + qh(QH, QH2 | Q, TDS) +
    step(3_000_000),
    'frame-list-outside-ram': init() + outl(IO + 8, 0xfec00000) + step(3_000_000),
    # The hub on port 2: addressed, configured, port 3 powered and reset, the keyboard behind it.
    'hub-port-reset': init() + port_reset(2) + control_in(0, 0x00, 5, 1, 0, 0) +
    control_in(1, 0x00, 9, 1, 0, 0) + control_in(1, 0x23, 3, 8, 3, 0) +
    control_in(1, 0x23, 3, 4, 3, 0) + control_in(1, 0xa3, 0, 0, 3, 4) +
    control_in(0, 0x80, 6, 0x100, 0, 18),
    # Global reset and host reset while transfers are queued.
    'resets-mid-transfer': enumerate_tablet() + td(TDS, T, ACTIVE, token(IN, 3, 1, 8), BUF) +
    qh(QH2, T, TDS) + step(2_000_000) + outw(IO, 4) + step(2_000_000) + outw(IO, 0) +
    outw(IO, 2) + step(2_000_000),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-usb')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
