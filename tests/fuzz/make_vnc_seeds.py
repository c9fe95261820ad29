#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-vnc/: inputs for `hvmd-fuzz -target=vnc` (tests/fuzz/fuzz_vnc.cc).

An input is one session byte and then the bytes a VNC client sends. The session byte: bits 0-1
the display (0 blank, 1 64x48, 2 150x70, 3 1x1), bit 2 VNC authentication on (the password is
"fuzz"; the seeds' answers are wrong, which is a path too), bit 3 the picture changes between
chunks. The seeds cover the handshakes of RFB 3.3/3.7/3.8, every pixel format class, each
encoding (raw, Hextile, ZRLE) and switching between them, SetEncodings with 65535 entries,
update requests outside the framebuffer, key and pointer events, QEMU's extended key event,
SetDesktopSize, cut text with huge lengths, and malformed messages.

Run from anywhere."""
import os
import struct

RAW, HEXTILE, ZRLE, TIGHT = 0, 5, 16, 7
DESKTOP_SIZE, EXT_DESKTOP_SIZE, QEMU_EXT_KEY = -223, -308, -258
SMALL, MEDIUM, BLANK, TINY = 1, 2, 0, 3
PASSWORD, CHANGE = 4, 8


def v38():
    return b'RFB 003.008\n' + b'\x01' + b'\x01'  # version, security None, ClientInit (shared)


def v37():
    return b'RFB 003.007\n' + b'\x01' + b'\x01'


def v33():
    return b'RFB 003.003\n' + b'\x01'  # the server chose None; ClientInit


def pixel_format(bpp, depth, big, true, rmax, gmax, bmax, rs, gs, bs):
    return b'\x00\x00\x00\x00' + struct.pack('>BBBBHHHBBB3x', bpp, depth, big, true, rmax, gmax,
                                             bmax, rs, gs, bs)


def encodings(*codes, count=None):
    n = len(codes) if count is None else count
    return struct.pack('>BxH', 2, n) + b''.join(struct.pack('>i', c) for c in codes)


def request(incremental, x, y, w, h):
    return struct.pack('>BBHHHH', 3, incremental, x, y, w, h)


def key(down, keysym):
    return struct.pack('>BBxxI', 4, down, keysym)


def pointer(mask, x, y):
    return struct.pack('>BBHH', 5, mask, x, y)


def cut_text(length, text=b''):
    return struct.pack('>BxxxI', 6, length) + text


def qemu_key(down, keysym, keycode):
    return struct.pack('>BBHII', 255, 0, down, keysym, keycode)


def desktop_size(w, h, screens):
    return struct.pack('>BxHHBx', 251, w, h, screens) + b''.join(
        struct.pack('>IHHHHI', i, 0, 0, w, h, 0) for i in range(screens))


def full(w=64, h=48):
    return request(0, 0, 0, w, h)


def updates(n, w=64, h=48):
    return full(w, h) + b''.join(request(1, 0, 0, w, h) for _ in range(n))


SEEDS = {
    'raw-3.8': bytes([SMALL]) + v38() + updates(3),
    'raw-3.7': bytes([MEDIUM | CHANGE]) + v37() + updates(3, 150, 70),
    'raw-3.3': bytes([TINY]) + v33() + updates(2, 1, 1),
    'zrle': bytes([MEDIUM | CHANGE]) + v38() + encodings(ZRLE, RAW) + updates(4, 150, 70),
    'hextile': bytes([MEDIUM | CHANGE]) + v38() + encodings(HEXTILE, RAW) + updates(4, 150, 70),
    'preference-order': bytes([SMALL | CHANGE]) + v38() +
    encodings(TIGHT, DESKTOP_SIZE, HEXTILE, ZRLE) + updates(2),
    'switching': bytes([SMALL | CHANGE]) + v38() + b''.join(
        encodings(e) + updates(1) for e in (ZRLE, HEXTILE, RAW, ZRLE, HEXTILE)),
    'zrle-16bpp': bytes([MEDIUM | CHANGE]) + v38() +
    pixel_format(16, 16, 0, 1, 31, 63, 31, 11, 5, 0) + encodings(ZRLE) + updates(2, 150, 70),
    'zrle-32bpp-big-endian': bytes([SMALL | CHANGE]) + v38() +
    pixel_format(32, 24, 1, 1, 255, 255, 255, 16, 8, 0) + encodings(ZRLE) + updates(2),
    'zrle-32bpp-high-bytes': bytes([SMALL | CHANGE]) + v38() +
    pixel_format(32, 24, 0, 1, 255, 255, 255, 24, 16, 8) + encodings(ZRLE) + updates(2),
    'hextile-colour-map': bytes([SMALL | CHANGE]) + v38() +
    pixel_format(8, 8, 0, 0, 0, 0, 0, 0, 0, 0) + encodings(HEXTILE) + updates(2),
    'bad-pixel-format': bytes([SMALL]) + v38() + pixel_format(24, 24, 0, 1, 255, 255, 255, 16,
                                                               8, 0) + updates(1),
    'encodings-65535': bytes([SMALL]) + v38() +
    struct.pack('>BxH', 2, 65535) + struct.pack('>i', ZRLE) * 65535 + updates(1),
    'encodings-65535-truncated': bytes([SMALL]) + v38() + encodings(ZRLE, count=65535) +
    updates(1),
    'request-out-of-bounds': bytes([SMALL | CHANGE]) + v38() + encodings(ZRLE) +
    request(0, 65535, 65535, 65535, 65535) + request(0, 60, 40, 65535, 65535) +
    request(1, 63, 47, 2, 2) + request(0, 0, 0, 0, 0),
    'blank-display': bytes([BLANK | CHANGE]) + v38() + encodings(HEXTILE, DESKTOP_SIZE) +
    updates(2, 640, 480),
    'keys-and-pointer': bytes([SMALL]) + v38() + key(1, ord('a')) + key(0, ord('a')) +
    key(1, 0xffe1) + key(1, 0xffffffff) + pointer(1, 10, 10) + pointer(0x18, 65535, 65535) +
    pointer(0, 0, 0),
    'qemu-extended-keys': bytes([SMALL]) + v38() + encodings(QEMU_EXT_KEY, RAW) +
    qemu_key(1, 0, 0x1e) + qemu_key(0, 0, 0x1e) + qemu_key(1, 0, 0xffffffff) +
    struct.pack('>BB', 255, 7),
    'desktop-size': bytes([SMALL]) + v38() + encodings(EXT_DESKTOP_SIZE, DESKTOP_SIZE) +
    desktop_size(800, 600, 1) + desktop_size(1, 1, 255) + updates(1),
    'cut-text-huge': bytes([SMALL]) + v38() + cut_text(0xffffffff, b'x' * 3000) + updates(1),
    'cut-text-small': bytes([SMALL]) + v38() + cut_text(5, b'hello') + key(1, 0x61) + updates(1),
    'password-wrong': bytes([SMALL | PASSWORD]) + b'RFB 003.008\n' + b'\x02' + b'\x00' * 16,
    'password-3.3': bytes([SMALL | PASSWORD]) + b'RFB 003.003\n' + b'\xff' * 16,
    'wrong-security-type': bytes([SMALL]) + b'RFB 003.008\n' + b'\x02',
    'bad-version': bytes([SMALL]) + b'RFB 004.000\n',
    'old-version': bytes([SMALL]) + b'RFB 002.009\n',
    'unknown-message': bytes([SMALL]) + v38() + b'\x09' + b'\x00' * 20,
    'truncated-messages': bytes([SMALL]) + v38() + b'\x00\x00\x00\x00\x20',
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-vnc')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
