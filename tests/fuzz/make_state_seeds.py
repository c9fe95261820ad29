#!/usr/bin/env python3
"""Writes tests/fuzz/corpus-state/: inputs for `hvmd-fuzz -state` (an e1000 and an IDE disk and
CD-ROM) that hold real saved states, taken from a machine the operations of the e1000 and IDE
seed scripts drove into the middle of its work (rings programmed, a DMA waiting for the bus
master, PIO and ATAPI replies half read), plus hostile variants of them: the e1000's ring length
and tail as no guest write could leave them (the 2^28-descriptor transmit pass).

    tests/fuzz/make_state_seeds.py BUILD/tests/fuzz/hvmd-fuzz

The machine must match the target's in tests/fuzz/CMakeLists.txt; the stream format is
dm/state.h's, the e1000's section layout dm/pci/pci_device.cc's and devices/e1000/e1000.cc's."""
import os
import struct
import subprocess
import sys
import tempfile

import make_e1000_seeds as nic
import make_ide_seeds as ide

MACHINE = ['-state', '-device=e1000,netdev=fuzz', '-drive=if=ide,index=0',
           '-drive=if=ide,index=2,media=cdrom']

# Operations that leave each device in the middle of something.
IDE_DMA_WAITING = (ide.setup() + ide.prd(0x1000, [(0x2000, 0x8000 | 1 << 31)]) +
                   ide.lba28(ide.PRIMARY, 0, 64) + ide.outp(ide.PRIMARY + 7, 0xc8))
IDE_PIO_HALF_READ = (ide.setup() + ide.outp(ide.PRIMARY + 6, 0) + ide.outp(ide.PRIMARY + 7, 0xec) +
                     ide.reads(ide.PRIMARY, 100))
ATAPI_REPLY_HALF_READ = ide.setup() + ide.packet(ide.SECONDARY, ide.cdb(0x12, 0, 0, 0, 36)) + \
    ide.reads(ide.SECONDARY, 5)
SERIAL_FIFO = ide.outp(0x3fa, 0xc1) + ide.outp(0x3f9, 0x0f) + ide.outp(0x3fc, 0x1b)

OPERATIONS = {
    'e1000-tx-ring': nic.SEEDS['tx-legacy'],
    'e1000-rx-ring': nic.SEEDS['rx-frames'],
    'e1000-eeprom-phy': nic.SEEDS['eeprom-phy-itr'],
    'ide-dma-waiting': IDE_DMA_WAITING,
    'ide-pio-half-read': IDE_PIO_HALF_READ,
    'atapi-reply-half-read': ATAPI_REPLY_HALF_READ,
    'serial-loopback-fifo': SERIAL_FIFO,
    'everything-busy': nic.setup() + nic.tx_ring() + nic.rx_ring() + IDE_DMA_WAITING +
    ATAPI_REPLY_HALF_READ + SERIAL_FIFO,
}

E1000_TDLEN, E1000_TDH, E1000_TDT = 0x3808, 0x3810, 0x3818
E1000_RDLEN, E1000_RDH, E1000_RDT = 0x2808, 0x2810, 0x2818
PCI_LAYER_BYTES = 4 + 256 + 1  # layout version, config space, INTx level


def saved_state(fuzz, ops):
    with tempfile.TemporaryDirectory() as tmp:
        ops_path, seed_path = os.path.join(tmp, 'ops'), os.path.join(tmp, 'seed')
        with open(ops_path, 'wb') as f:
            f.write(ops)
        subprocess.run([fuzz, *MACHINE, f'-write-seed={seed_path}', ops_path], check=True)
        with open(seed_path, 'rb') as f:
            return bytearray(f.read())


def section_body(seed, device_type):
    """Offset of a device type's section body within a seed (4-byte length, then the stream)."""
    # The seed's length, then magic, format version, the unplug mask (2 bytes) and device count.
    pos = 4 + 14
    count = struct.unpack_from('<I', seed, 4 + 10)[0]
    for _ in range(count):
        strings = []
        for _ in range(2):
            length = struct.unpack_from('<I', seed, pos)[0]
            strings.append(seed[pos + 4:pos + 4 + length].decode())
            pos += 4 + length
        _, body_length = struct.unpack_from('<II', seed, pos)
        pos += 8
        if strings[1] == device_type:
            return pos
        pos += body_length
    raise LookupError(device_type)


def patch_e1000(seed, registers):
    regs = section_body(seed, 'e1000') + PCI_LAYER_BYTES
    for offset, value in registers.items():
        struct.pack_into('<I', seed, regs + offset, value)
    return seed


def main():
    fuzz = sys.argv[1]
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-state')
    os.makedirs(out_dir, exist_ok=True)
    seeds = {name: saved_state(fuzz, ops) for name, ops in OPERATIONS.items()}
    # A ring length no TDLEN/RDLEN write leaves (2^28 descriptors before the mask) with the tail
    # far from the head: one transmit pass must stay bounded by what a guest can program.
    seeds['e1000-tdlen-2-28'] = patch_e1000(bytearray(seeds['e1000-tx-ring']), {
        E1000_TDLEN: 0xffffff80, E1000_TDH: 0, E1000_TDT: 0xfffffff0})
    seeds['e1000-rdlen-2-28'] = patch_e1000(bytearray(seeds['e1000-rx-ring']), {
        E1000_RDLEN: 0xffffff80, E1000_RDH: 0xfffffff0, E1000_RDT: 0x10})
    for name, data in seeds.items():
        with open(os.path.join(out_dir, name), 'wb') as f:
            f.write(data)
    print(f'{len(seeds)} seeds in {out_dir}')


if __name__ == '__main__':
    main()
