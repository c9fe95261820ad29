#!/usr/bin/env python3
"""Writes the management-side seed corpora: corpus-qmp (whole monitor sessions), corpus-qtest
(qtest protocol lines) and corpus-cmdline (NUL-separated command lines, from libxl's recorded
argv). Each seed replays a fault class of issue 12 or a command's normal use."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
NEGOTIATE = '{"execute":"qmp_capabilities"}\n'


def write(corpus, name, data):
    os.makedirs(os.path.join(HERE, corpus), exist_ok=True)
    with open(os.path.join(HERE, corpus, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def session(*commands):
    return NEGOTIATE + "".join(json.dumps(c) + "\n" for c in commands)


def qmp_seeds():
    write("corpus-qmp", "deep-nesting-id",
          '{"execute":"qmp_capabilities","id":' + "[" * 1100 + "]" * 1100 + "}")
    write("corpus-qmp", "queries", session(*[{"execute": q} for q in (
        "query-status", "query-pci", "query-block", "query-commands", "query-version",
        "query-name", "query-cpus-fast", "query-fdsets")]))
    write("corpus-qmp", "input-events", session(
        {"execute": "input-send-event", "arguments": {"events": [
            {"type": "btn", "data": {"button": 1, "down": True}},
            {"type": "key", "data": {"key": {"type": "qcode", "data": "a"}, "down": True}},
            {"type": "rel", "data": {"axis": "x", "value": -5}}]}}))
    write("corpus-qmp", "hotplug", session(
        {"execute": "device_add", "arguments": {"driver": "e1000", "id": "n1", "netdev": "fuzz"}},
        {"execute": "device_add", "arguments": {"driver": "pci-testdev", "id": "t"}},
        {"execute": "device_del", "arguments": {"id": "t"}},
        {"execute": "set_link", "arguments": {"name": "n1", "up": False}}))
    write("corpus-qmp", "run-control-and-state", session(
        {"execute": "stop"}, {"execute": "xen-save-devices-state",
                              "arguments": {"filename": "state"}},
        {"execute": "xen-load-devices-state", "arguments": {"filename": "state"}},
        {"execute": "system_reset"}, {"execute": "cont"}, {"execute": "quit"}))
    write("corpus-qmp", "fdsets-and-media", session(
        {"execute": "add-fd", "arguments": {"fdset-id": 1}},
        {"execute": "remove-fd", "arguments": {"fdset-id": 1, "fd": 3}},
        {"execute": "eject", "arguments": {"device": "ide1-cd0", "force": True}},
        {"execute": "blockdev-change-medium",
         "arguments": {"device": "ide1-cd0", "filename": "/dev/fdset/1"}},
        {"execute": "change", "arguments": {"device": "ide1-cd0", "target": "cd.iso"}}))
    write("corpus-qmp", "malformed",
          NEGOTIATE + '{"execute":5} garbage [1,2] {"execute":"stop","frob":1} '
          '{"execute":"device_del","arguments":{"id":7}} "\\ud800" }}}] {"execute":"cont"')
    # Issue 17: bytes that once wedged the monitor (each followed by a command it must answer).
    after = '\n{"execute":"query-status","id":"after"}\n'
    for name, bad in (("stray-ff", b'{\xff'), ("stray-control", b'{\x01'),
                      ("newline-in-string", b'{"execute":"query-status","id":"open\n'),
                      ("lone-percent", b'%p'), ("percent-in-object", b'{"id":%p}'),
                      ("huge-numbers", b'{"execute":"query-status","id":1e999}'
                                       b'{"execute":"query-status","id":123456789012345678901234567890}'),
                      ("invalid-utf8", b'"\xc3\x28" {"id":"\xed\xa0\x80"} {"id":"\\ud800"}'),
                      ("deep-then-stray", b'{' * 1100 + b'\x02')):
        write("corpus-qmp", "malformed-" + name, NEGOTIATE.encode() + bad + after.encode())
    write("corpus-qmp", "oob", '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}\n'
          '{"exec-oob":"query-status","id":1}\n{"exec-oob":"x","execute":"y"}\n'
          '{"execute":"query-status","id":2}\n')
    write("corpus-qmp", "introspection-and-hmp", session(
        {"execute": "query-machines"},
        {"execute": "qom-list-types", "arguments": {"implements": "device", "abstract": False}},
        {"execute": "device-list-properties", "arguments": {"typename": "ide-hd"}},
        {"execute": "query-command-line-options", "arguments": {"option": "drive"}},
        {"execute": "human-monitor-command", "arguments": {"command-line": "info pci"}},
        {"execute": "human-monitor-command", "arguments": {"command-line": "info block"}},
        {"execute": "human-monitor-command", "arguments": {"command-line": "info qtree"}},
        {"execute": "human-monitor-command", "arguments": {"command-line": "info mtree"}},
        {"execute": "human-monitor-command",
         "arguments": {"command-line": 'qemu-io ide0-hd0 "write -P 0xab 0 512"'}},
        {"execute": "qom-list", "arguments": {"path": "/machine/peripheral-anon"}},
        {"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]",
                                              "property": "type"}},
        {"execute": "blockdev-add", "arguments": {"driver": "raw", "node-name": "n1",
                                                   "file": {"driver": "file", "filename": "x"}}},
        {"execute": "blockdev-del", "arguments": {"node-name": "n1"}}))


def qtest_seeds():
    write("corpus-qtest", "ports-and-pci",
          "outl 0xcf8 0x80000000\ninl 0xcfc\noutb 0x70 0x0a\ninb 0x71\noutw 0x1f2 1\ninw 0x1f0\n")
    write("corpus-qtest", "memory",
          "writel 0x1000 0xdeadbeef\nreadl 0x1000\nwrite 0x2000 4 0x01020304\nread 0x2000 4\n"
          "b64write 0x3000 3 AQID\nb64read 0x3000 3\nmemset 0x4000 16 0xff\nreadq 0xfee00000\n"
          "read 0xffff0000 0x20000\n")
    write("corpus-qtest", "clock-and-irqs",
          "irq_intercept_in ioapic\nclock_step\nclock_step 1000000000\n"
          "clock_set 4611686018427387904\nset_irq_in ioapic irq 4 1\nendianness\nbogus 1 2\n")


def cmdline_seeds():
    with open(os.path.join(HERE, "..", "xen", "libxl-4.17-hvm-ide-cirrus.argv")) as f:
        argv = [line.rstrip("\n") for line in f if line.strip()]
    write("corpus-cmdline", "libxl-4.17-hvm-ide-cirrus", "\0".join(argv))
    write("corpus-cmdline", "libxl-dm-restrict",
          "\0".join(argv + ["-runas", "131072:131072", "-xen-domid-restrict", "-chroot",
                            "/var/run/qemu-root-1"]))
    write("corpus-cmdline", "qtest", "\0".join([
        "-qtest", "unix:/tmp/q.sock", "-chardev", "socket,id=c,fd=3,server=on", "-mon",
        "chardev=c,mode=control", "-drive", "file=/x,if=ide,index=2,media=cdrom", "-device",
        "e1000,netdev=n,mac=52:54:00:12:34:56", "-netdev", "socket,id=n,udp=1:2", "-m", "64",
        "-accel", "qtest"]))


if __name__ == "__main__":
    qmp_seeds()
    qtest_seeds()
    cmdline_seeds()
