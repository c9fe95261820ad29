#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-xhci/: inputs for `hvmd-fuzz -device=nec-usb-xhci,addr=4
-device=usb-tablet -device=usb-hub -device=usb-kbd,bus=usb.0.2` that program the xHCI the way
xhci-hcd does (reset, DCBAA, command ring, event ring, run, port reset, Enable Slot, Address
Device, a control transfer, Configure Endpoint, an interrupt TRB) and replay the xHCI bug classes
of ../shared/research/devices.md: link-TRB loops on the command and transfer rings
(CVE-2016-8576), endless rings of valid TRBs (CVE-2020-14394 class), control TDs that never end
(CVE-2017-5973/9375), TRBs and contexts outside RAM, slot IDs 0 and 255, wLength larger than the
data TRB, ERST sizes 0 and huge, a full event ring.

Run from anywhere; the encoding follows tests/fuzz/fuzz_machine.cc. Files named regression-* in
corpus-xhci are inputs the fuzzer found (kept by hand, not written here)."""
import os
import struct

OP_RAM_WRITE, OP_CLOCK_STEP, OP_PORT_WRITE, OP_MMIO_WRITE = 4, 5, 7, 8
SIZE4, SIZE8 = 2, 3
DEVFN = 0x20
BAR = 0xe0000000
OPER, RT, DB = BAR + 0x40, BAR + 0x1000, BAR + 0x2000
IR0 = RT + 0x20
DCBAA, CMD, ERST, EVT, INPUT, OUTPUT, EP0, EP1, BUF = (
    0x1000, 0x2000, 0x3000, 0x3100, 0x4000, 0x5000, 0x6000, 0x6400, 0x7000)
NEC_USB2 = 5  # nec-usb-xhci: USB3 ports 1-4, USB2 ports 5-8

LINK, SETUP, DATA, STATUS, NORMAL, NOOP = 6, 2, 3, 4, 1, 8
ENABLE_SLOT, ADDRESS, CONFIGURE, RESET_EP, STOP_EP, SET_DEQ, NOOP_CMD = 9, 11, 12, 14, 15, 16, 23
C, TC, ISP, CH, IOC, IDT, BSR, DIR_IN = 1, 2, 4, 0x10, 0x20, 0x40, 0x200, 0x10000


def outl(port, value):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE4, port, value)


def mmio32(addr, value):
    return struct.pack('<BBQQ', OP_MMIO_WRITE, SIZE4, addr, value)


def mmio64(addr, value):
    return struct.pack('<BBQQ', OP_MMIO_WRITE, SIZE8, addr, value)


def ram64(addr, value):
    return struct.pack('<BHQ', OP_RAM_WRITE, addr, value)


def step(ns):
    return struct.pack('<BI', OP_CLOCK_STEP, ns & ~1)


def pci_write(reg, value):
    return outl(0xcf8, 0x80000000 | DEVFN << 8 | reg) + outl(0xcfc, value)


def trb(at, parameter, status, control):
    return ram64(at, parameter) + ram64(at + 8, status | control << 32)


def ctx(at, words):
    ops = b''
    for i in range(0, 8, 2):
        ops += ram64(at + 4 * i, words[i] | words[i + 1] << 32)
    return ops


def init():
    ops = pci_write(0x10, BAR) + pci_write(0x14, 0) + pci_write(0x04, 6)
    ops += mmio32(OPER, 2)  # HCRST
    ops += mmio32(OPER + 0x38, 64) + mmio64(OPER + 0x30, DCBAA) + mmio64(OPER + 0x18, CMD | 1)
    ops += trb(CMD + 15 * 16, CMD, 0, LINK << 10 | TC)  # cycle 0: not yet the controller's
    ops += ram64(ERST, EVT) + ram64(ERST + 8, 16)
    ops += mmio32(IR0 + 8, 1) + mmio64(IR0 + 0x18, EVT) + mmio64(IR0 + 0x10, ERST)
    ops += mmio32(IR0 + 4, 160) + mmio32(IR0, 2)
    return ops + mmio32(OPER, 5)  # run, interrupts


class Rings:
    def __init__(self):
        self.cmd = 0
        self.ep0 = 0
        self.ep1 = 0

    def command(self, parameter, control):
        ops = trb(CMD + 16 * self.cmd, parameter, 0, control | C)
        self.cmd += 1
        return ops + mmio32(DB, 0)

    def control_in(self, slot, request_type, request, value, length, room=None, buf=BUF):
        room = length if room is None else room
        setup = struct.unpack('<Q', struct.pack('<BBHHH', request_type, request, value, 0,
                                                length))[0]
        ops = trb(EP0 + 16 * self.ep0, setup, 8, SETUP << 10 | IDT | (3 << 16 if length else 0) | C)
        self.ep0 += 1
        if length:
            ops += trb(EP0 + 16 * self.ep0, buf, room, DATA << 10 | ISP | DIR_IN | C)
            self.ep0 += 1
        ops += trb(EP0 + 16 * self.ep0, 0, 0, STATUS << 10 | IOC | (0 if length else DIR_IN) | C)
        self.ep0 += 1
        return ops + mmio32(DB + 4 * slot, 1)


def enumerate_tablet(rings, port=NEC_USB2, route=0, interrupt_trb=True):
    ops = init()
    ops += mmio32(OPER + 0x400 + 0x10 * (port - 1), 0x210)  # PP | PR
    ops += rings.command(0, ENABLE_SLOT << 10)
    ops += ram64(DCBAA + 8, OUTPUT)
    ops += ctx(INPUT, [0, 3, 0, 0, 0, 0, 0, 0])
    ops += ctx(INPUT + 32, [1 << 27 | route, port << 16, 0, 0, 0, 0, 0, 0])
    ops += ctx(INPUT + 64, [0, 3 << 1 | 4 << 3 | 8 << 16, EP0 | 1, 0, 8, 0, 0, 0])
    ops += rings.command(INPUT, ADDRESS << 10 | 1 << 24)
    ops += rings.control_in(1, 0x80, 6, 0x100, 18)
    ops += rings.control_in(1, 0x80, 6, 0x200, 34)
    ops += rings.control_in(1, 0x00, 9, 1, 0)
    ops += ctx(INPUT, [0, 1 | 1 << 3, 0, 0, 0, 0, 0, 0])
    ops += ctx(INPUT + 32, [3 << 27 | route, port << 16, 0, 0, 0, 0, 0, 0])
    ops += ctx(INPUT + 4 * 32, [3 << 16, 3 << 1 | 7 << 3 | 8 << 16, EP1 | 1, 0, 8, 0, 0, 0])
    ops += rings.command(INPUT, CONFIGURE << 10 | 1 << 24)
    if interrupt_trb:  # waits (NAK) for a report: nothing after it on the ring runs
        ops += trb(EP1, BUF + 0x100, 8, NORMAL << 10 | ISP | IOC | C) + mmio32(DB + 4, 3)
    return ops + step(1_000_000)


def seeds():
    s = {}
    r = Rings()
    s['enumerate-tablet'] = enumerate_tablet(r)
    # The hub on connector 2 (USB2 port 6), then route string 2: the keyboard behind it.
    r = Rings()
    s['enumerate-hub'] = enumerate_tablet(r, NEC_USB2 + 1) + r.control_in(1, 0x23, 3, 8, 0)
    # Command ring: two links pointing at each other, and a link to itself that toggles.
    s['command-link-loop'] = (init() + trb(CMD, CMD + 16, 0, LINK << 10 | C) +
                              trb(CMD + 16, CMD, 0, LINK << 10 | C) + mmio32(DB, 0))
    s['command-link-toggle-self'] = init() + trb(CMD, CMD, 0, LINK << 10 | TC | C) + mmio32(DB, 0)
    # Transfer ring of links, and an endless ring of no-ops.
    r = Rings()
    s['transfer-link-loop'] = (enumerate_tablet(r, interrupt_trb=False) +
                               trb(EP1, EP1, 0, LINK << 10 | C) +
                               mmio32(DB + 4, 3))
    r = Rings()
    ops = enumerate_tablet(r, interrupt_trb=False)
    for i in range(4):
        ops += trb(EP1 + 16 * i, 0, 0, NOOP << 10 | C)
    s['endless-noop-ring'] = (ops + trb(EP1 + 64, EP1, 0, LINK << 10 | C) + mmio32(DB + 4, 3) +
                              step(200_000) * 8)
    # A control TD with no status stage, and setup stages back to back.
    r = Rings()
    ops = enumerate_tablet(r)
    for i in range(8):
        ops += trb(EP0 + 16 * (r.ep0 + i), 0x0012000001000680, 8, SETUP << 10 | IDT | 3 << 16 | C)
    s['setup-without-status'] = ops + mmio32(DB + 4, 1)
    # Buffers, rings and contexts outside RAM.
    r = Rings()
    s['buffer-outside-ram'] = (enumerate_tablet(r) +
                               r.control_in(1, 0x80, 6, 0x100, 18, buf=0xfff00000000))
    s['command-ring-outside-ram'] = init() + mmio32(OPER, 0) + mmio64(OPER + 0x18, 0xfebf0001) + \
        mmio32(OPER, 1) + mmio32(DB, 0)
    r = Rings()
    s['input-context-outside-ram'] = (init() + r.command(0, ENABLE_SLOT << 10) +
                                      r.command(0xfee00000, ADDRESS << 10 | 1 << 24))
    r = Rings()
    s['dcbaa-outside-ram'] = (init() + mmio64(OPER + 0x30, 0xfffff000) +
                              r.command(0, ENABLE_SLOT << 10) + ctx(INPUT, [0, 3, 0, 0, 0, 0, 0, 0]) +
                              ctx(INPUT + 32, [1 << 27, NEC_USB2 << 16, 0, 0, 0, 0, 0, 0]) +
                              ctx(INPUT + 64, [0, 4 << 3 | 8 << 16, EP0 | 1, 0, 0, 0, 0, 0]) +
                              r.command(INPUT, ADDRESS << 10 | 1 << 24))
    # Slot IDs 0 and 255, endpoint 0 and 31, doorbells past the array.
    r = Rings()
    s['slot-ids-out-of-range'] = (init() + r.command(INPUT, ADDRESS << 10) +
                                  r.command(INPUT, CONFIGURE << 10 | 255 << 24) +
                                  r.command(0, RESET_EP << 10 | 31 << 16 | 255 << 24) +
                                  r.command(EP1 | 1, SET_DEQ << 10 | 0 << 16 | 1 << 24) +
                                  mmio32(DB + 4 * 64, 1) + mmio32(DB + 4 * 5, 0xff))
    # wLength 0xffff into an 8-byte data TRB, and an OUT data stage beyond 4 KiB.
    r = Rings()
    s['wlength-huge'] = enumerate_tablet(r) + r.control_in(1, 0x80, 6, 0x200, 0xffff, 8)
    # ERST: size 0, size 0xffff, a segment of 0 TRBs.
    s['erst-size-zero'] = init() + mmio32(IR0 + 8, 0) + mmio64(IR0 + 0x10, ERST) + \
        Rings().command(0, NOOP_CMD << 10)
    s['erst-size-huge'] = init() + mmio32(IR0 + 8, 0xffff) + mmio64(IR0 + 0x10, ERST) + \
        Rings().command(0, NOOP_CMD << 10)
    s['erst-segment-empty'] = init() + ram64(ERST + 8, 0) + mmio64(IR0 + 0x10, ERST) + \
        Rings().command(0, NOOP_CMD << 10)
    # Twenty no-op commands (a lap of the 16-TRB command ring and five more past its link) into a
    # 16-TRB event ring nobody dequeues: the last slot takes Event Ring Full.
    ops = init()
    for i in range(15):
        ops += trb(CMD + 16 * i, 0, 0, NOOP_CMD << 10 | C)
    ops += trb(CMD + 15 * 16, CMD, 0, LINK << 10 | TC | C) + mmio32(DB, 0)
    for i in range(5):
        ops += trb(CMD + 16 * i, 0, 0, NOOP_CMD << 10)
    s['event-ring-full'] = ops + mmio32(DB, 0)
    # Stop, set dequeue and reset endpoint while an interrupt TRB waits; then a host reset.
    r = Rings()
    s['stop-reset-mid-transfer'] = (enumerate_tablet(r) + r.command(0, STOP_EP << 10 | 3 << 16 | 1 << 24) +
                                    r.command(EP1 | 1, SET_DEQ << 10 | 3 << 16 | 1 << 24) +
                                    r.command(0, RESET_EP << 10 | 3 << 16 | 1 << 24) +
                                    mmio32(DB + 4, 3) + mmio32(OPER, 2) + step(1_000_000))
    return s


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-xhci')
    os.makedirs(out, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
