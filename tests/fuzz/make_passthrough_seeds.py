#!/usr/bin/env python3
"""Seeds for hvmd-fuzz -target=passthrough (tests/fuzz/fuzz_passthrough.h).

Input: fixture (byte 0), flags (byte 1: bit 0 permissive, bit 1 the VFIO view with extended
config space, bits 3:2 the number of host patches), then 8-byte operations:
kind (0 read, 1 write, 2 MSI-X write, 3 MSI-X read, 4 extended read, 5 extended write),
reg low, size (0:1 1:2 2:4 bytes), value (4 bytes, little-endian), reg bits 11:8 in the low
nibble / table offset low. A host patch has an operation's layout: the dword at
0x100 + reg % 0xf00 (aligned down) of the host's extended space is set to value.

Seeds: per fixture, what a driver does (size and place the BARs, enable decoding, program and
unmask MSI-X vectors, enable MSI, put PM in D3, poke hidden capabilities and unknown registers);
per fixture with extended space, what an AER driver and lspci do there, writes to headers and
hidden bodies (SR-IOV's VF enable and VF BARs), odd sizes, accesses crossing 0xfff and a sweep;
the same in the Xen view (nothing there); and host patches building broken chains.
"""
import os
import struct
import sys

# The fuzz target's fixture list: the synthetic fixtures (passthrough/fixtures.cc), the recorded
# ones (tests/passthrough/fixtures, sorted), then pcie-sriov with malformed extended chains
# (kExtVariants in fuzz_passthrough.cc).
SYNTHETIC = ["nic-pcie", "gpu-64bit", "pcie-sriov", "sub-page-msix", "cyclic-caps",
             "broken-caps"]
RECORDED = 6
EXT_VARIANTS = ["ext-cycle", "ext-self", "ext-below", "ext-into-body", "ext-ones-mid",
                "ext-all-ones", "ext-every-dword", "ext-last-dword"]
FIXTURES = len(SYNTHETIC) + RECORDED + len(EXT_VARIANTS)
NIC_PCIE = SYNTHETIC.index("nic-pcie")
PCIE_SRIOV = SYNTHETIC.index("pcie-sriov")
RECORDED_4K = len(SYNTHETIC)  # 0000_00_00.0, recorded with its 4 KiB
EXT_FIXTURES = [NIC_PCIE, PCIE_SRIOV, RECORDED_4K] + [
    len(SYNTHETIC) + RECORDED + i for i in range(len(EXT_VARIANTS))]

PERMISSIVE, VFIO = 1, 2

AER, DSN, VENDOR, ACS, SRIOV = 0x0001, 0x0003, 0x000b, 0x000d, 0x0010


def op(kind, reg, size_code, value, extra=0):
    return struct.pack("<BBBIB", kind, reg & 0xff, size_code, value & 0xffffffff,
                       (extra & 0xf0) | (reg >> 8 & 0xf))


def ext_read(reg, size_code=2):
    return op(4, reg, size_code, 0)


def ext_write(reg, value, size_code=2):
    return op(5, reg, size_code, value)


def header(cap_id, version, next_ptr):
    return cap_id | version << 16 | next_ptr << 20


def patch(reg, value):
    return op(0, reg - 0x100, 2, value)


def flags(permissive, extra=0, patches=0):
    return permissive | extra | patches << 2


def driver(fixture, permissive):
    ops = [bytes([fixture, flags(permissive)])]
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


def extended_ops():
    ops = [op(1, 0x10, 2, 0xe0000000), op(1, 0x04, 1, 0x0406)]
    # lspci -vvv: every header where the fixtures put one, and where the broken chains point.
    for reg in (0x100, 0x124, 0x140, 0x188, 0x1a0, 0x200, 0xffc, 0x0c0):
        ops.append(ext_read(reg))
    # Linux's AER driver: clear the status registers (RW1C), unmask, set severities, enable ECRC.
    ops += [ext_write(0x144, 0xffffffff), ext_write(0x148, 0), ext_write(0x14c, 0x00462030),
            ext_write(0x150, 0xffffffff), ext_write(0x154, 0x00002000),
            ext_write(0x158, 0x000001e0), ext_read(0x144), ext_read(0x158)]
    # Headers, SR-IOV's VF enable, NumVFs and VF BARs, ACS control, the serial number.
    ops += [ext_write(0x100, 0), ext_write(0x140, 0xffffffff), ext_write(0x1a0, 0),
            ext_write(0x108, 0x19, 1), ext_write(0x110, 8, 1), ext_write(0x124, 0xffffffff),
            ext_write(0x128, 0xffffffff), ext_read(0x124), ext_write(0x18e, 0x1f, 1),
            ext_write(0x1a4, 0x11111111), ext_read(0x1a4)]
    # Odd sizes and places: a byte of a header, unaligned words, crossing 0xfff, below 0x100.
    ops += [ext_write(0x141, 0xff, 0), ext_write(0x1a2, 0xffff, 1), ext_write(0x1a6, 0xdeadbeef),
            ext_write(0xffe, 0xffffffff), ext_read(0xffe), ext_write(0xfff, 0xffff, 1),
            ext_read(0xfff, 0), ext_write(0xffc, 0xffffffff), ext_read(0xffc),
            ext_read(0x0fc), ext_read(0x000), ext_write(0x0fe, 0xffffffff)]
    for reg in range(0x100, 0x1000, 0x40):  # a sweep: all-ones written, read back
        ops.append(ext_write(reg, 0xffffffff))
        ops.append(ext_read(reg))
    for reg in range(0x100, 0x1000, 0x10):
        ops.append(ext_read(reg))
    return ops


def extended(fixture, permissive, view=VFIO, patches=()):
    head = bytes([fixture, flags(permissive, view, len(patches))])
    return head + b"".join(patches) + b"".join(extended_ops())


# Host patches building chains no fixture has.
PATCHES = {
    # AER at 0x100 -> vendor at 0x800 -> SR-IOV in the last dword -> back to 0x100.
    "patch-cycle-sriov": (PCIE_SRIOV, VFIO, [patch(0x100, header(AER, 1, 0x800)),
                                             patch(0x800, header(VENDOR, 1, 0xffc)),
                                             patch(0xffc, header(SRIOV, 1, 0x100))]),
    # The first capability points below 0x100 (permissive).
    "patch-below": (NIC_PCIE, VFIO | PERMISSIVE, [patch(0x100, header(AER, 1, 0x0fc))]),
    # An all-ones header at 0x100.
    "patch-ones": (NIC_PCIE, VFIO, [patch(0x100, 0xffffffff)]),
    # A serial number that links to itself, then a reserved pointer bit (permissive).
    "patch-self": (RECORDED_4K, VFIO | PERMISSIVE, [patch(0x100, header(DSN, 1, 0x100)),
                                                    patch(0x140, header(AER, 1, 0x1a3))]),
    # AER's next pointer with its reserved bits set, DSN pointing at a zero dword.
    "patch-reserved": (PCIE_SRIOV, VFIO, [patch(0x140, header(AER, 2, 0x1a3)),
                                          patch(0x1a0, header(DSN, 1, 0xf00))]),
    # Patches on a 256-byte function: ignored, their bytes consumed.
    "patch-small": (SYNTHETIC.index("gpu-64bit"), VFIO, [patch(0x100, header(AER, 1, 0))]),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                             "corpus-passthrough")
    os.makedirs(out, exist_ok=True)

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    for fixture in range(len(SYNTHETIC) + RECORDED):
        for permissive in (0, 1):
            write("driver-%02d-%d" % (fixture, permissive), driver(fixture, permissive))
    for fixture in EXT_FIXTURES:
        for permissive in (0, 1):
            write("ext-%02d-%d" % (fixture, permissive), extended(fixture, permissive))
    for fixture in (NIC_PCIE, PCIE_SRIOV):  # the Xen view: 256 bytes, extended accesses ignored
        for permissive in (0, 1):
            write("xen-ext-%02d-%d" % (fixture, permissive), extended(fixture, permissive, 0))
    for name, (fixture, view, patches) in PATCHES.items():
        write(name, extended(fixture, view & PERMISSIVE, view & VFIO, patches))


if __name__ == "__main__":
    main()
