#!/usr/bin/env python3
"""Writes hvmd-pci-fuzz seeds (tests/fuzz/corpus-pci) from the recorded PCI fixtures
(tests/pci_cli/fixtures) and a few broken shapes: a looping capability chain, a cut config,
garbage resource lines. Input format: flags byte, config length (16-bit LE), config, resource."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, '..', 'pci_cli', 'fixtures')
out = os.path.join(here, 'corpus-pci')
os.makedirs(out, exist_ok=True)


def seed(name, flags, config, resource):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(bytes([flags]) + struct.pack('<H', len(config)) + config + resource)


for fn in sorted(os.listdir(fixtures)):
    if not fn.endswith('.config'):
        continue
    base = fn[:-len('.config')]
    config = open(os.path.join(fixtures, fn), 'rb').read()
    resource = open(os.path.join(fixtures, base + '.resource'), 'rb').read()
    seed('fixture-' + base, 0x15, config, resource)

# Capability chain 0x40 -> 0x50 -> 0x40, MSI-X at 0x50.
cfg = bytearray(256)
cfg[0:4] = b'\x86\x80\xd3\x10'
cfg[6] = 0x10
cfg[0x34] = 0x40
cfg[0x40:0x42] = b'\x05\x50'
cfg[0x50:0x52] = b'\x11\x40'
seed('loop', 0x1d, bytes(cfg), b'0x1000 0x1fff 0x200\n')
seed('cut-64', 0x01, bytes(cfg[:64]), b'garbage\n0xzz 0x1 0x2\n')
ext = bytearray(4096)
ext[:256] = cfg
ext[0x100:0x104] = struct.pack('<I', 0x0001 | 1 << 16 | 0x100 << 20)  # loops onto itself
seed('ext-loop', 0x03, bytes(ext), b'0x0 0xffffffffffffffff 0x200\n')

# A DMAR table with one RMRR naming 00:14.0 and a device behind 00:1c.0 (flag 0x40: DMAR mode).
scope1 = bytes([1, 8, 0, 0, 0, 0, 0x14, 0])
scope2 = bytes([1, 10, 0, 0, 0, 0, 0x1c, 0, 0, 0])
rmrr = struct.pack('<HHHHQQ', 1, 24 + len(scope1) + len(scope2), 0, 0, 0x7c000000, 0x7c7fffff)
body = rmrr + scope1 + scope2
dmar = bytearray(b'DMAR' + struct.pack('<I', 48 + len(body)) + bytes(40)) + body
with open(os.path.join(out, 'dmar-rmrr'), 'wb') as f:
    f.write(bytes([0x40]) + bytes(dmar))
