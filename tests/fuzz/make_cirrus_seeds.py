#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-cirrus/: inputs for `hvmd-fuzz -device=cirrus-vga` that set the
CL-GD5446's extended modes as Linux's cirrus driver does, drive the BitBLT engine through its
registers at 0xb8000 (SR17 bit 2) and replay the QEMU cirrus CVE classes of
../shared/research/devices.md (CVE-2014-8106, CVE-2016-9921/9922, CVE-2017-2615, CVE-2017-2620,
CVE-2017-7980, CVE-2017-18030); hvmd-fuzz draws the picture after every input.

Run from anywhere; the encoding follows tests/fuzz/fuzz_machine.cc."""
import os
import struct

OP_PORT_WRITE, OP_MMIO_WRITE = 7, 8
SIZE1, SIZE2, SIZE4 = 0, 1, 2
WINDOW = 0xa0000
BLT = 0xb8000  # the BitBLT registers while SR17 = 0x04
VRAM = 4 << 20


def outb(port, value):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE1, port, value)


def outw(port, value):
    return struct.pack('<BBHI', OP_PORT_WRITE, SIZE2, port, value)


def poke(addr, value, size=SIZE1):
    return struct.pack('<BBQQ', OP_MMIO_WRITE, size, addr, value)


def seq(index, value):
    return outw(0x3c4, value << 8 | index)


def gfx(index, value):
    return outw(0x3ce, value << 8 | index)


def crtc(index, value):
    return outw(0x3d4, value << 8 | index)


def mode(width, height, sr07):
    """cirrus_mode_set()'s order, through the legacy ports."""
    pitch = width * {0x11: 1, 0x17: 2, 0x15: 3, 0x19: 4}[sr07] // 8
    vde = height - 1
    return (outb(0x3c2, 0x67) + seq(0x06, 0x12) + crtc(0x11, 0x20) + crtc(0x01, width // 8 - 1) +
            crtc(0x12, vde & 0xff) + crtc(0x07, 0x10 | (0x02 if vde & 0x100 else 0) |
                                          (0x40 if vde & 0x200 else 0)) +
            crtc(0x09, 0x40) + crtc(0x17, 0x03) + seq(0x07, sr07) + crtc(0x13, pitch & 0xff) +
            crtc(0x1b, 0x22 | ((pitch >> 4) & 0x10)) + gfx(0x05, 0x40) + gfx(0x06, 0x01) +
            outb(0x3c0, 0x20))


def mmio_on():
    return seq(0x17, 0x04)


def blit(width, height, dst_pitch, src_pitch, dst, src, mode=0, rop=0x0d, start=True):
    regs = [(0x08, width - 1, 2), (0x0a, height - 1, 2), (0x0c, dst_pitch, 2),
            (0x0e, src_pitch, 2), (0x14, src, 3), (0x18, mode, 1), (0x1a, rop, 1),
            (0x10, dst, 3)]
    out = b''
    for off, value, n in regs:
        for i in range(n):
            out += poke(BLT + off + i, (value >> (8 * i)) & 0xff)
    if start:
        out += poke(BLT + 0x40, 0x02)
    return out


SEEDS = {
    'linux-1024x768x8': mode(1024, 768, 0x11) + poke(WINDOW, 0x1234, SIZE2),
    'linux-800x600x24': mode(800, 600, 0x15),
    'linux-640x480x32-cursor': mode(640, 480, 0x19) + seq(0x13, 0x3f) + seq(0x12, 0x05) +
    outw(0x3c4, 0xff10) + outw(0x3c4, 0xff11),
    'banks-dual-16k': mode(640, 480, 0x11) + gfx(0x0b, 0x21) + gfx(0x09, 0xff) +
    gfx(0x0a, 0xff) + poke(WINDOW + 0xfffc, 0xdeadbeef, SIZE4),
    'write-mode-5-by16': mode(640, 480, 0x17) + gfx(0x0b, 0x16) + gfx(0x05, 0x05) +
    gfx(0x09, 0xff) + poke(WINDOW + 0xfff0, 0xffffffff, SIZE4),
    'blit-forward': mode(640, 480, 0x11) + mmio_on() + blit(640, 100, 640, 640, 64000, 0),
    'blit-pattern-32': mode(640, 480, 0x19) + mmio_on() + blit(256, 64, 2560, 0, 0, 0x1000, 0x70),
    'blit-system-expand': mode(640, 480, 0x11) + mmio_on() +
    blit(64, 4, 640, 0, 0, 0, 0x8c) + b''.join(poke(WINDOW, 0xa5a5a5a5, SIZE4) for _ in range(8)),
    # CVE-2014-8106 / CVE-2017-18030: backward blits whose extent runs below video memory.
    'cve-2014-8106-backward-below': mode(640, 480, 0x11) + mmio_on() +
    blit(640, 480, 640, 640, 0x100, 0x80000, 0x01),
    # CVE-2016-9921/9922: zero pitches and a width wider than the pitch.
    'cve-2016-9921-zero-pitch': mode(640, 480, 0x11) + mmio_on() + blit(8192, 2048, 0, 0, 0, 0),
    # CVE-2017-2615: a backward copy whose source runs below video memory.
    'cve-2017-2615-backward-source': mode(640, 480, 0x11) + mmio_on() +
    blit(1024, 64, 1024, 1024, 0x100000, 0x10, 0x01),
    # CVE-2017-2620: system-to-video colour expansion with its destination past the end, then data.
    'cve-2017-2620-system-past-end': mode(640, 480, 0x11) + mmio_on() +
    blit(8192, 4, 8192, 0, VRAM - 8, 0, 0x84) + b''.join(poke(WINDOW, 0xffffffff, SIZE4)
                                                          for _ in range(16)),
    # CVE-2017-7980: source and destination addresses and pitches past the end.
    'cve-2017-7980-past-end': mode(640, 480, 0x19) + mmio_on() +
    blit(8192, 2048, 8191, 8191, 0x3fff00, 0x3fff00) + blit(64, 8, 64, 64, 0, 0x3ffff0, 0x40),
    # CVE-2017-18030: a backward blit at the very end with the largest pitch.
    'cve-2017-18030-negative-pitch': mode(640, 480, 0x11) + mmio_on() +
    blit(8192, 2048, 8191, 8191, VRAM - 1, VRAM - 1, 0x01),
    'autostart': mode(640, 480, 0x11) + mmio_on() + poke(BLT + 0x40, 0x80) +
    blit(64, 64, 640, 640, 0x1000, 0, start=False),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-cirrus')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
