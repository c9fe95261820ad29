#!/usr/bin/env python3
"""Side-by-side conformance check: Debian's QEMU and hvmd, same arguments, same questions.

For each command line below it starts qemu-system-x86_64 and hvmd (both under qtest, both with
-S, so no firmware runs and what is read is what the device model set up), then reads through the
qtest line protocol and QMP:
  - CMOS bytes 0x0e-0x7f (the clock registers 0x00-0x0d change by themselves and are skipped,
    except the date when -rtc base= pins it) and whether each side's checksum is consistent;
  - fw_cfg: signature, a few numbered items, the file directory (names present on one side only
    are information) and the bytes of chosen files;
  - PCI configuration space of every function on bus 0 (IDs, command/status, class, header type,
    subsystem, capability pointer, interrupt pin; BARs and the interrupt line are firmware's);
  - a few fixed registers (i8042 status, PIC masks, port 0x92), IDE IDENTIFY words of each
    attached drive, and the VGA identification registers of -vga std/cirrus;
  - QMP: query-status, query-machines (is `pc` present and the default), query-pci (IDs per
    slot), qom-list-types implements=device abstract=false (difference reported as information).

Usage: compare.py [HVMD] [-v]   (HVMD defaults to build/hvmd). Prints one line per mismatch,
`MISMATCH <cmdline> <what>: qemu=<..> hvmd=<..>`, allowlisted ones as `ALLOWED ... (reason)`,
then a summary. Exit 1 on any mismatch not on the allowlist, 77 when QEMU is not installed.
"""

import concurrent.futures
import fnmatch
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"
# Debian's QEMU 7.2 refuses `-accel qtest` on the command line, but -qtest alone selects the qtest
# accelerator; hvmd wants it spelled out. Both get -S (status "prelaunch"); no CPU runs either way.
QEMU_BASE = ["-machine", "pc", "-nodefaults", "-display", "none", "-S"]
HVMD_BASE = ["-machine", "pc", "-nodefaults", "-display", "none", "-accel", "qtest", "-S"]

START_TIMEOUT = 15.0  # seconds for a process to connect its qtest socket
REPLY_TIMEOUT = 10.0  # seconds for any one qtest or QMP answer

# Geometry for the -device ide-hd,cyls= case; the image covers it.
GEOM = (32, 16, 63)
DISK_BYTES = 16 * 1024 * 1024
ISO_BYTES = 64 * 2048


def command_lines(disk="{disk}", iso="{iso}"):
    """(label, args) pairs. The label is what MISMATCH lines print."""
    return [
        ("default", []),
        ("-boot c", ["-boot", "c"]),
        ("-boot order=dc,once=n -no-fd-bootchk", ["-boot", "order=dc,once=n", "-no-fd-bootchk"]),
        ("-boot menu=on,splash-time=1234,reboot-timeout=500",
         ["-boot", "menu=on,splash-time=1234,reboot-timeout=500"]),
        ("-nographic", ["-nographic"]),
        ("-m 512 -smp 2", ["-m", "512", "-smp", "2"]),
        ("-drive if=ide -global ide-hd.serial=testdisk",
         ["-drive", f"file={disk},if=ide,format=raw", "-global", "ide-hd.serial=testdisk"]),
        ("-device ide-hd,cyls=%d,heads=%d,secs=%d" % GEOM,
         ["-drive", f"file={disk},if=none,id=d0,format=raw",
          "-device", "ide-hd,drive=d0,bus=ide.0,unit=0,cyls=%d,heads=%d,secs=%d" % GEOM]),
        ("-rtc base=2020-01-02T03:04:05", ["-rtc", "base=2020-01-02T03:04:05"]),
        ("-cdrom", ["-cdrom", iso]),
        ("-vga std", ["-vga", "std"]),
        ("-vga cirrus", ["-vga", "cirrus"]),
        ("-device e1000 -netdev user", ["-device", "e1000,netdev=n0", "-netdev", "user,id=n0"]),
    ]


# Deliberate differences, and known hvmd bugs kept visible: (cmdline glob, what glob, reason).
# `what` is the key printed in the MISMATCH line (e.g. "ide0.0 identify w82"). A "KNOWN BUG" entry
# (none at present) is a difference where hvmd should follow QEMU; remove it when hvmd is fixed
# (the ALLOWED line, printed with -v, then turns into a failure if it regresses).
def _words(prefix, words, reason, cmdline="*"):
    return [(cmdline, f"{prefix} identify w{w}", reason) for w in words]


ALLOWLIST = [
    # ---- deliberate ----
    ("*", "ide* identify w23-26 (firmware revision)",
     "firmware revision: QEMU reports its version (\"2.5+\"), hvmd its own"),
    ("*", "ide* identify w27-46 (model)",
     "model: \"QEMU HARDDISK\"/\"QEMU DVD-ROM\" vs \"HVMD HARDDISK\"/\"HVMD DVD-ROM\" by design"),
    ("*", "ide* identify w10-19 (serial)",
     "default serial: QEMU \"QM0000N\", hvmd its own numbering (with -global serial= they must"
     " match: allowed() does not apply this entry there)"),
    ("*", "ide* identify w255",
     "hvmd fills the ATA integrity word (signature 0xa5 + checksum); QEMU leaves it 0"),
    *_words("ide*", (4, 5, 20, 21, 22, 48, 51, 52),
            "retired/obsolete IDENTIFY words (ATA/ATAPI-6 on): QEMU fills them, hvmd leaves 0"),
    ("*", "cmos checksum 0x2e/0x2f consistent",
     "hvmd keeps the standard CMOS checksum over 0x10-0x2d; QEMU leaves 0x2e/0x2f zero"),
    ("*", "cmos[0x2e]", "CMOS checksum high byte (see above)"),
    ("*", "cmos[0x2f]", "CMOS checksum low byte (see above)"),
    ("*", "fw_cfg file etc/e820", "QEMU adds a reserved entry 0xfd00000000+0x300000000 (AMD"
     " HyperTransport hole) because its default CPU model qemu64 is AMD; hvmd has no CPU model."
     " The RAM entries are compared on their own (etc/e820 RAM entries)"),
    ("*", "fw_cfg file etc/e820 size", "the AMD HyperTransport reserved entry (see above)"),
    # ---- not modelled ----
    ("*", "reg PIC master mask 0x21", "not modelled: hvmd has no 8259 under qtest (Xen and KVM"
     " emulate it; qtest sees interrupt lines directly): the port floats, 0xff; QEMU 0x00"),
    ("*", "reg PIC slave mask 0xa1", "not modelled: no 8259 under qtest (see 0x21)"),
    ("-vga std", "reg VBE index [123]", "deliberate: hvmd's dispi XRES/YRES/BPP start at"
     " 640/480/8, the mode its VGA BIOS sets first; QEMU's read 0 until written"),
    # ---- deliberate IDENTIFY differences: QEMU claims what hvmd lacks, or contradicts the spec
    ("*", "ide* identify w50", "deliberate: IDENTIFY w50 bit 14 shall be one (ATA/ATAPI-7);"
     " QEMU 0x0000, hvmd 0x4000"),
    ("*", "ide* identify w8[25]", "deliberate: IDENTIFY w82/w85 (features supported/enabled):"
     " disk QEMU 0x4021, hvmd 0x4028: hvmd has no SMART (bit 0; SMART commands abort), and"
     " sets bit 3, the power management feature set ATA-6 makes mandatory for non-packet devices"
     " (CHECK POWER MODE, IDLE, STANDBY, SLEEP work). CD QEMU 0, hvmd 0x4010: NOP and PACKET"
     " (bit 4), which a packet device shall report"),
    ("*", "ide* identify w106", "deliberate: IDENTIFY w106 (sector sizes): QEMU 0x6000 sets bit"
     " 13, 'more than one logical sector per physical sector', with an exponent of 0; hvmd 0x4000"
     " (valid, 512-byte sectors, one per physical sector); Linux reads both as 512/512"),
    ("-cdrom", "ide* identify w49", "deliberate: IDENTIFY PACKET w49: QEMU 0x0300, hvmd 0x0b00:"
     " IORDY (bit 11) is required for the PIO modes 3-4 word 64 advertises (QEMU advertises them"
     " too, without IORDY)"),
    *_words("ide*", (65, 66, 67, 68),
            "deliberate: IDENTIFY PACKET cycle times: QEMU 0xb4/0xb4/0x12c/0xb4 ns, hvmd 120 ns each,"
            " the cycle of the multiword DMA 2 and PIO 4 modes both advertise in words 63-64",
            cmdline="-cdrom"),
    *_words("ide*", (83, 84, 87),
            "deliberate: IDENTIFY PACKET w83/84/87: QEMU 0, hvmd 0x4000: bit 14 shall be one"
            " (bit 15 zero) in these words, which is how hosts tell them valid", cmdline="-cdrom"),
    ("-cdrom", "ide* identify w93", "deliberate: IDENTIFY PACKET w93 (hardware reset result):"
     " QEMU 0 (not reported) for a CD, 0x6001 for a disk; hvmd 0x6001 for both"),
]


def allowed(label, what):
    for cl, pat, reason in ALLOWLIST:
        # An exact key matches as written ("cmos[0x14]" has brackets); otherwise a glob.
        if fnmatch.fnmatchcase(label, cl) and (what == pat or fnmatch.fnmatchcase(what, pat)):
            # The serial must match when set with -global.
            if "serial" in pat and "serial=" in label:
                continue
            return reason
    return None


class StartError(Exception):
    pass


class Vm:
    """One process under qtest: a qtest connection (we listen, it connects, as libqtest does)
    and a QMP connection (it listens, server=on,wait=off)."""

    def __init__(self, argv, workdir, name):
        self.name = name
        self.qtest_path = os.path.join(workdir, name + ".qtest")
        self.qmp_path = os.path.join(workdir, name + ".qmp")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.qtest_path)
        self.listener.listen(1)
        self.listener.settimeout(START_TIMEOUT)
        self.stderr = open(os.path.join(workdir, name + ".stderr"), "w+")
        full = argv + ["-qtest", "unix:" + self.qtest_path,
                       "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        self.proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)
        self.qt = None
        self.qmp = None
        try:
            self._connect()
        except Exception:
            self.close()
            raise

    def _failure(self, why):
        self.stderr.flush()
        self.stderr.seek(0)
        text = " ".join(self.stderr.read().split())[:300]
        return StartError(f"{why}; exit={self.proc.poll()} stderr: {text}")

    def _connect(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.listener.settimeout(0.1)
                conn, _ = self.listener.accept()
                break
            except socket.timeout:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise self._failure("no qtest connection")
        conn.settimeout(REPLY_TIMEOUT)
        self.qt = conn.makefile("rwb", buffering=0)
        self.qt_buf = b""
        self.qt_sock = conn
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.qmp_path)
                break
            except OSError:
                s.close()
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise self._failure("no QMP socket")
                time.sleep(0.02)
        s.settimeout(REPLY_TIMEOUT)
        self.qmp_sock = s
        self.qmp = s.makefile("rwb", buffering=0)
        greeting = self._qmp_read()
        if "QMP" not in greeting:
            raise self._failure(f"bad QMP greeting {greeting}")
        self.qmp_cmd("qmp_capabilities")

    def _qt_line(self):
        while b"\n" not in self.qt_buf:
            chunk = self.qt_sock.recv(65536)
            if not chunk:
                raise self._failure("qtest connection closed")
            self.qt_buf += chunk
        line, self.qt_buf = self.qt_buf.split(b"\n", 1)
        return line.decode("latin-1").strip()

    def qtest(self, cmd):
        """Send one qtest command; return the words after OK (or ['FAIL', ...])."""
        self.qt_sock.sendall(cmd.encode() + b"\n")
        while True:
            line = self._qt_line()
            words = line.split()
            if not words or words[0] == "IRQ":
                continue  # asynchronous interrupt notices
            if words[0] == "OK":
                return words[1:]
            return ["FAIL"] + words[1:]

    def qtest_many(self, cmds):
        """Pipeline a batch of commands (one write, then the answers in order)."""
        self.qt_sock.sendall("".join(c + "\n" for c in cmds).encode())
        out = []
        while len(out) < len(cmds):
            words = self._qt_line().split()
            if not words or words[0] == "IRQ":
                continue
            out.append(words[1:] if words[0] == "OK" else ["FAIL"] + words[1:])
        return out

    def _qmp_read(self):
        buf = b""
        while True:
            line = self.qmp.readline()
            if not line:
                raise self._failure("QMP connection closed")
            buf += line
            try:
                msg = json.loads(buf)
            except ValueError:
                continue
            buf = b""
            if "event" in msg:
                continue
            return msg

    def qmp_cmd(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.qmp.write(json.dumps(msg).encode() + b"\n")
        return self._qmp_read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.qt, self.qmp):
            if f is not None:
                f.close()
        self.listener.close()
        self.stderr.close()


def num(words):
    """The value of an `OK 0x..` answer, or the raw words for FAIL."""
    if words and words[0] != "FAIL":
        return int(words[0], 0)
    return " ".join(words) or "FAIL"


# ---- what is read from each side: a dict of key -> comparable value --------------------------


def read_cmos(vm, out):
    cmds = []
    for i in range(0x0E, 0x80):
        cmds += [f"outb 0x70 {i:#x}", "inb 0x71"]
    ans = vm.qtest_many(cmds)
    vals = {}
    for n, i in enumerate(range(0x0E, 0x80)):
        v = num(ans[2 * n + 1])
        vals[i] = v
        out[f"cmos[{i:#04x}]"] = v
    if all(isinstance(vals[i], int) for i in range(0x10, 0x30)):
        total = sum(vals[i] for i in range(0x10, 0x2E)) & 0xFFFF
        stored = (vals[0x2E] << 8) | vals[0x2F]
        out["cmos checksum 0x2e/0x2f consistent"] = total == stored


def read_rtc_date(vm, out):
    # The date and hour registers: pinned by -rtc base=, they do not move within a few seconds.
    for i, name in ((0x04, "hour"), (0x07, "day"), (0x08, "month"), (0x09, "year")):
        ans = vm.qtest_many([f"outb 0x70 {i:#x}", "inb 0x71"])
        out[f"cmos[{i:#04x}] ({name})"] = num(ans[1])


FW_CFG_CTL, FW_CFG_DATA = 0x510, 0x511


def fw_cfg_read(vm, key, length):
    ans = vm.qtest_many([f"outw {FW_CFG_CTL:#x} {key:#x}"] + ["inb 0x511"] * length)
    data = bytearray()
    for w in ans[1:]:
        v = num(w)
        if not isinstance(v, int):
            return None
        data.append(v & 0xFF)
    return bytes(data)


FW_CFG_ITEMS = {  # numbered items compared byte for byte: (key, length)
    "signature": (0x00, 4),
    "RAM_SIZE": (0x03, 8),
    "NOGRAPHIC": (0x04, 2),
    "NB_CPUS": (0x05, 2),
    "BOOT_MENU": (0x0E, 2),
    "MAX_CPUS": (0x0F, 2),
}
FW_CFG_FILES = ["bootorder", "etc/boot-fail-wait", "etc/boot-menu-wait", "etc/e820",
                "etc/smbios/smbios-anchor", "genroms/kvmvapic.bin", "etc/msr_feature_control"]
FW_CFG_FILES_COMPARE_BYTES = {"bootorder", "etc/boot-fail-wait", "etc/boot-menu-wait", "etc/e820"}
# Files whose absence on hvmd is a mismatch (the firmware depends on them); other files missing on
# one side are reported as information. etc/boot-menu-wait only exists with menu=on.
FW_CFG_REQUIRED = {"etc/boot-fail-wait", "etc/e820"}


def read_fw_cfg(vm, out, files_out):
    for name, (key, length) in FW_CFG_ITEMS.items():
        data = fw_cfg_read(vm, key, length)
        out[f"fw_cfg {name} ({key:#04x})"] = data.hex() if data is not None else "FAIL"
    head = fw_cfg_read(vm, 0x19, 4)
    if head is None:
        out["fw_cfg file directory"] = "FAIL"
        return
    count = min(struct.unpack(">I", head)[0], 256)  # bounded: it is the other side's answer
    raw = fw_cfg_read(vm, 0x19, 4 + 64 * count)
    files = {}
    for i in range(count):
        size, sel, _ = struct.unpack(">IHH", raw[4 + 64 * i: 12 + 64 * i])
        name = raw[12 + 64 * i: 68 + 64 * i].split(b"\0", 1)[0].decode("latin-1")
        files[name] = (size, sel)
    files_out.update(files)
    for name in FW_CFG_FILES:
        if name not in files:
            continue
        size, sel = files[name]
        out[f"fw_cfg file {name} size"] = size
        if name in FW_CFG_FILES_COMPARE_BYTES:
            data = fw_cfg_read(vm, sel, min(size, 4096))
            if data is None:
                out[f"fw_cfg file {name}"] = "FAIL"
            elif name == "bootorder":
                out[f"fw_cfg file {name}"] = data.decode("latin-1")
            elif name == "etc/e820":
                out[f"fw_cfg file {name}"] = data.hex()
                # The RAM entries (type 1) on their own: reserved ranges are CPU-model dependent.
                ram = [data[i:i + 20].hex() for i in range(0, len(data) - 19, 20)
                       if struct.unpack("<I", data[i + 16:i + 20])[0] == 1]
                out[f"fw_cfg file {name} RAM entries"] = " ".join(ram)
            else:
                out[f"fw_cfg file {name}"] = data.hex()


def pci_addr(dev, fn, off):
    return 0x80000000 | (dev << 11) | (fn << 8) | off


def read_pci(vm, out):
    present = []
    for dev in range(32):
        fns = [0]
        f = 0
        while f < len(fns):
            fn = fns[f]
            f += 1
            ans = vm.qtest_many([f"outl 0xcf8 {pci_addr(dev, fn, 0):#x}", "inl 0xcfc"])
            idv = num(ans[1])
            if not isinstance(idv, int) or idv & 0xFFFF == 0xFFFF:
                continue
            regs = {}
            cmds = []
            offs = (0x00, 0x04, 0x08, 0x0C, 0x2C, 0x34, 0x3C)
            for off in offs:
                cmds += [f"outl 0xcf8 {pci_addr(dev, fn, off):#x}", "inl 0xcfc"]
            ans = vm.qtest_many(cmds)
            for n, off in enumerate(offs):
                regs[off] = num(ans[2 * n + 1])
            loc = f"pci 00:{dev:02x}.{fn}"
            present.append(f"00:{dev:02x}.{fn}")
            r = regs

            def field(off, shift, mask):
                v = r[off]
                return f"{(v >> shift) & mask:#x}" if isinstance(v, int) else v

            out[f"{loc} vendor:device"] = field(0x00, 0, 0xFFFFFFFF)
            out[f"{loc} command"] = field(0x04, 0, 0xFFFF)
            out[f"{loc} status"] = field(0x04, 16, 0xFFFF)
            out[f"{loc} class:revision"] = field(0x08, 0, 0xFFFFFFFF)
            out[f"{loc} header type"] = field(0x0C, 16, 0xFF)
            out[f"{loc} subsystem"] = field(0x2C, 0, 0xFFFFFFFF)
            out[f"{loc} capability pointer"] = field(0x34, 0, 0xFF)
            out[f"{loc} interrupt pin"] = field(0x3C, 8, 0xFF)
            if fn == 0 and isinstance(r[0x0C], int) and (r[0x0C] >> 16) & 0x80:
                fns = list(range(8))
    out["pci functions on bus 0"] = " ".join(present)


def read_fixed_registers(vm, out, args):
    regs = [("i8042 status 0x64", "inb 0x64"), ("PIC master mask 0x21", "inb 0x21"),
            ("PIC slave mask 0xa1", "inb 0xa1"), ("port 0x92", "inb 0x92")]
    if "std" in args:
        # Bochs VBE: index 0 is the interface ID; 1-3 resolution/bpp are 0 until programmed.
        for idx in range(0, 4):
            regs.append((f"VBE index {idx}", None, idx))
    ans = {}
    for item in regs:
        if item[1] is None:
            a = vm.qtest_many([f"outw 0x1ce {item[2]:#x}", "inw 0x1cf"])
            ans[item[0]] = num(a[1])
        else:
            ans[item[0]] = num(vm.qtest(item[1]))
    if "cirrus" in args:
        # The sequencer's chip ID register (index 0x27) is how drivers tell the Cirrus models apart.
        a = vm.qtest_many(["outb 0x3c4 0x27", "inb 0x3c5"])
        ans["cirrus SR27 chip id"] = num(a[1])
    for k, v in ans.items():
        out[f"reg {k}"] = f"{v:#x}" if isinstance(v, int) else v


IDE_WORD_GROUPS = [((10, 19), "serial"), ((23, 26), "firmware revision"), ((27, 46), "model")]


def read_identify(vm, out, base, drive, label):
    """IDENTIFY (0xec), or IDENTIFY PACKET DEVICE (0xa1) for ATAPI, by PIO on the legacy ports."""
    vm.qtest_many([f"outb {base + 6:#x} {0xA0 | (drive << 4):#x}"])
    sig = vm.qtest_many([f"inb {base + 4:#x}", f"inb {base + 5:#x}"])
    atapi = num(sig[0]) == 0x14 and num(sig[1]) == 0xEB
    cmd = 0xA1 if atapi else 0xEC
    vm.qtest(f"outb {base + 7:#x} {cmd:#x}")
    status = num(vm.qtest(f"inb {base + 7:#x}"))
    out[f"{label} identify status"] = f"{status:#x}" if isinstance(status, int) else status
    if not isinstance(status, int) or status & 0x88 != 0x08:
        return  # no data phase (absent drive, or an error)
    words = [num(w) for w in vm.qtest_many([f"inw {base:#x}"] * 256)]
    grouped = set()
    for (lo, hi), name in IDE_WORD_GROUPS:
        grouped.update(range(lo, hi + 1))

        def text(ws):
            return "".join(chr(w >> 8) + chr(w & 0xFF) for w in ws if isinstance(w, int))

        out[f"{label} identify w{lo}-{hi} ({name})"] = text(words[lo:hi + 1]).rstrip()
    for i, w in enumerate(words):
        if i not in grouped:
            out[f"{label} identify w{i}"] = f"{w:#06x}" if isinstance(w, int) else w


def read_qmp(vm, out, types_out):
    st = vm.qmp_cmd("query-status").get("return", {})
    out["qmp query-status status"] = st.get("status")
    out["qmp query-status running"] = st.get("running")
    machines = vm.qmp_cmd("query-machines").get("return", [])
    pc = [m for m in machines if m.get("name") == "pc" or m.get("alias") == "pc"]
    out["qmp query-machines has pc"] = bool(pc)
    out["qmp query-machines pc is default"] = bool(pc and pc[0].get("is-default"))
    pci = vm.qmp_cmd("query-pci").get("return", [])
    devs = []
    for bus in pci[:4]:
        for d in bus.get("devices", [])[:256]:
            devs.append("%02x.%d=%04x:%04x/%04x" % (
                d.get("slot", 0), d.get("function", 0), d.get("id", {}).get("vendor", 0),
                d.get("id", {}).get("device", 0), d.get("class_info", {}).get("class", 0)))
    out["qmp query-pci"] = " ".join(sorted(devs))
    types = vm.qmp_cmd("qom-list-types", implements="device", abstract=False).get("return", [])
    types_out.update(t.get("name") for t in types)


def collect(argv, workdir, name, args):
    """Everything one side says, as {key: value}, plus fw_cfg files and device types."""
    out, files, types = {}, {}, set()
    vm = Vm(argv, workdir, name)
    try:
        read_qmp(vm, out, types)
        read_cmos(vm, out)
        if any(a.startswith("base=") for a in args):
            read_rtc_date(vm, out)
        read_fw_cfg(vm, out, files)
        read_pci(vm, out)
        read_fixed_registers(vm, out, args)
        joined = " ".join(args)
        if "file=" in joined or "-cdrom" in args:
            for base, ch in ((0x1F0, 0), (0x170, 1)):
                for drive in (0, 1):
                    read_identify(vm, out, base, drive, f"ide{ch}.{drive}")
    finally:
        vm.close()
    return out, files, types


def fw_cfg_file_of(key):
    if not key.startswith("fw_cfg file ") or key == "fw_cfg file directory":
        return None
    name = key[len("fw_cfg file "):]
    for suffix in (" size", " RAM entries"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def run_case(label, args, hvmd, workdir):
    """Compare one command line. Returns a list of (kind, text) result lines."""
    sub = tempfile.mkdtemp(dir=workdir)
    # Each process gets its own images: QEMU takes a write lock on an image it opens.
    side_args = {}
    for side in ("qemu", "hvmd"):
        disk, iso = make_images(sub, side)
        side_args[side] = [a.replace("{disk}", disk).replace("{iso}", iso) for a in args]
    lines = []
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futs = {
            "qemu": pool.submit(collect, [QEMU] + QEMU_BASE + side_args["qemu"], sub, "qemu",
                                side_args["qemu"]),
            "hvmd": pool.submit(collect, [hvmd] + HVMD_BASE + side_args["hvmd"], sub, "hvmd",
                                side_args["hvmd"]),
        }
        for side, fut in futs.items():
            try:
                results[side] = fut.result()
            except Exception as e:  # a side that does not start or answer is a mismatch
                results[side] = e
    q, h = results["qemu"], results["hvmd"]
    if isinstance(q, Exception):
        # Our own harness or the test's arguments are wrong: that is a failure of the test.
        return [("MISMATCH", f"MISMATCH {label} qemu did not run: {q}")]
    if isinstance(h, Exception):
        what = "start-up"
        reason = allowed(label, what)
        kind = "ALLOWED" if reason else "MISMATCH"
        text = f"{kind} {label} {what}: qemu=runs hvmd=fails ({h})"
        return [(kind, text + (f" ({reason})" if reason else ""))]
    qv, qfiles, qtypes = q
    hv, hfiles, htypes = h
    for key in sorted(set(qv) | set(hv)):
        a, b = qv.get(key, "<absent>"), hv.get(key, "<absent>")
        if a == b:
            continue
        fname = fw_cfg_file_of(key)
        if fname and (fname not in qfiles or fname not in hfiles) and fname not in FW_CFG_REQUIRED:
            continue  # a file only one side has: listed in the INFO line below
        reason = allowed(label, key)
        kind = "ALLOWED" if reason else "MISMATCH"
        text = f"{kind} {label} {key}: qemu={a!r} hvmd={b!r}"
        lines.append((kind, text + (f" ({reason})" if reason else "")))
    only_q = sorted(set(qfiles) - set(hfiles))
    only_h = sorted(set(hfiles) - set(qfiles))
    if only_q or only_h:
        lines.append(("INFO", f"INFO {label} fw_cfg files only in qemu: {only_q}; only in hvmd: "
                      f"{only_h}"))
    lines.append(("TYPES", (qtypes, htypes)))
    return lines


def make_images(workdir, side):
    disk = os.path.join(workdir, side + "-disk.img")
    with open(disk, "wb") as f:
        f.truncate(DISK_BYTES)
    iso = os.path.join(workdir, side + "-cd.iso")
    with open(iso, "wb") as f:
        f.truncate(ISO_BYTES)
    return disk, iso


def main():
    argv = [a for a in sys.argv[1:] if a != "-v"]
    verbose = "-v" in sys.argv[1:]
    hvmd = argv[0] if argv else os.path.join(os.path.dirname(__file__), "../../build/hvmd")
    if shutil.which(QEMU) is None:
        print(f"SKIP: {QEMU} is not installed")
        return 77
    if not os.access(hvmd, os.X_OK):
        print(f"hvmd binary not found or not executable: {hvmd}")
        return 1
    start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="hvmd-qemu-compare-")
    try:
        cases = command_lines()
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            futs = [pool.submit(run_case, label, args, hvmd, workdir) for label, args in cases]
            results = [f.result() for f in futs]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failures = allowed_n = 0
    qtypes, htypes = set(), set()
    for (label, _), lines in zip(cases, results):
        for kind, text in lines:
            if kind == "TYPES":
                qtypes |= text[0]
                htypes |= text[1]
                continue
            if kind == "MISMATCH":
                failures += 1
            elif kind == "ALLOWED":
                allowed_n += 1
                if not verbose:
                    continue
            elif kind == "INFO" and not verbose:
                continue
            print(text)
    only_h = sorted(htypes - qtypes)
    print(f"INFO qom-list-types device types: qemu {len(qtypes)}, hvmd {len(htypes)}, "
          f"in both {len(qtypes & htypes)}; hvmd-only (unknown to QEMU): {only_h}")
    elapsed = time.monotonic() - start
    print(f"SUMMARY {len(cases)} command lines, {failures} mismatches, {allowed_n} allowlisted, "
          f"{elapsed:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
