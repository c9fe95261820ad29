#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-vga/: inputs for `hvmd-fuzz -device=VGA,vgamem_mb=1` that set modes
as the VGA BIOS and Linux's bochs driver do and replay the VGA/VBE bug classes of
../shared/research/devices.md section 6.3; hvmd-fuzz draws the picture after every input.

Run from anywhere; the encoding follows tests/fuzz/fuzz_machine.cc."""
import os
import struct

OP_PORT_WRITE, OP_MMIO_WRITE = 7, 8
SIZE1, SIZE2 = 0, 1
WINDOW = 0xa0000


def outb(port, value):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE1, port, value)


def outw(port, value):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE2, port, value)


def poke(addr, value):
    return struct.pack('<BBQQ', OP_MMIO_WRITE, SIZE1, addr, value)


def dispi(index, value):
    return outw(0x1ce, index) + outw(0x1cf, value)


def crtc(index, value):
    return outw(0x3d4, value << 8 | index)


def screen_on():
    return outb(0x3c0, 0x20)


def text_mode():
    return (outb(0x3c2, 0x67) + outw(0x3c4, 0x0001) + outw(0x3c4, 0x0302) + outw(0x3c4, 0x0204) +
            crtc(0x01, 79) + crtc(0x07, 0x1f) + crtc(0x09, 0x4f) + crtc(0x12, 0x8f) +
            crtc(0x13, 40) + outw(0x3ce, 0x1005) + outw(0x3ce, 0x0e06) + screen_on())


def mode13():
    return (outb(0x3c2, 0x63) + outw(0x3c4, 0x0f02) + outw(0x3c4, 0x0e04) + crtc(0x01, 79) +
            crtc(0x07, 0x1f) + crtc(0x09, 0x41) + crtc(0x12, 0x8f) + crtc(0x13, 40) +
            outw(0x3ce, 0x4005) + outw(0x3ce, 0x0506) + screen_on())


def vbe(x, y, bpp, enable=0x41):
    return dispi(4, 0) + dispi(1, x) + dispi(2, y) + dispi(3, bpp) + dispi(4, enable)


SEEDS = {
    # CVE-2014-3615: a VBE mode larger than VRAM (1 MiB here).
    'vbe-mode-larger-than-vram': vbe(1600, 1200, 32),
    # CVE-2016-3710: a bank set, then the mode changed under it, then writes through the window.
    'vbe-bank-then-mode-switch': vbe(640, 480, 8) + dispi(5, 15) + vbe(320, 200, 8) +
    poke(WINDOW + 0xfffe, 0x55) + dispi(4, 0) + poke(WINDOW + 0xfffe, 0x55),
    # CVE-2016-3712: virtual width and offsets pushing the frame past VRAM.
    'vbe-virtual-width-offsets': vbe(640, 480, 32) + dispi(6, 0xffff) + dispi(8, 0xfff0) +
    dispi(9, 0xffff) + dispi(6, 1600) + dispi(9, 150),
    # CVE-2017-13672: a start address that wraps past the end of video memory.
    'start-address-wrap': mode13() + crtc(0x0c, 0xff) + crtc(0x0d, 0xff) + crtc(0x13, 0xff),
    # CVE-2017-13673: line compare (split screen) on every line.
    'line-compare': mode13() + crtc(0x18, 0x00) + crtc(0x07, 0x0f) + crtc(0x09, 0x01),
    # CVE-2018-5683: text start address and cursor at the end of the CRTC's range.
    'text-start-and-cursor': text_mode() + crtc(0x0c, 0xff) + crtc(0x0d, 0xf0) +
    crtc(0x0e, 0xff) + crtc(0x0f, 0xff) + crtc(0x01, 0xff) + crtc(0x09, 0x1f),
    'text-hello': text_mode() + b''.join(poke(WINDOW + 0x18000 + i, b) for i, b in
                                         enumerate(b'H\x1fe\x1fl\x1fl\x1fo\x1f')),
    'vbe-8bit-dac': vbe(640, 480, 8, 0x61) + outb(0x3c8, 1) + outb(0x3c9, 0xff) +
    outb(0x3c9, 0x80) + outb(0x3c9, 0x01),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-vga')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
