// Black-box: what QEMU-style test programs ask QMP before and while they run a machine —
// introspection (query-machines, qom-list-types, device-list-properties,
// query-command-line-options), HMP through human-monitor-command, qom-list/get/set,
// blockdev-add/del — and the monitor's survival of malformed input, over the real socket.
// Reply shapes compared with Debian's qemu-system-x86_64 side by side.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

std::set<std::string> names_of(const Json& list) {
  std::set<std::string> out;
  for (const Json& e : list) out.insert(e["name"].get<std::string>());
  return out;
}

// Fault: "{\xff", "{\x01", an unterminated string and a lone "%p" got no reply and nothing after
// them was answered.
TEST(QmpMalformed, EveryBadMessageIsAnsweredAndTheNextCommandToo) {
  QtestClient qt;
  const std::vector<std::string> bad = {"{\xff",
                                        "{\x01",
                                        "{\"execute\":\"query-status\",\"id\":\"open\n",
                                        "%p",
                                        std::string(2000, '[') + std::string(2000, ']'),
                                        "{\"execute\":\"query-status\",\"id\":1e999}",
                                        "\"\xc3\x28\"",
                                        "{\"id\":\"\xed\xa0\x80\"}"};
  for (const std::string& b : bad) {
    Json first = qt.qmp_raw(b + "\n");
    EXPECT_EQ(first["error"]["class"], "GenericError") << b;
    // Whatever else the bad bytes caused comes before the answer to the next command.
    Json reply = qt.qmp_raw("{\"execute\":\"query-status\",\"id\":\"after\"}\n");
    for (int i = 0; i < 4 && reply.value("id", Json()) != "after"; ++i) {
      EXPECT_EQ(reply["error"]["class"], "GenericError") << b;
      reply = qt.read_qmp_message();
    }
    ASSERT_EQ(reply["id"], "after") << b;
    EXPECT_EQ(reply["return"]["status"], "running") << b;
  }
}

TEST(QmpIntrospection, QueryMachines) {
  QtestClient qt;
  Json list = qt.qmp("query-machines")["return"];
  std::map<std::string, Json> by_name;
  for (const Json& m : list) by_name[m["name"]] = m;
  ASSERT_EQ(by_name.size(), 3u);
  Json pc = by_name.at("pc");
  EXPECT_EQ(pc["is-default"], true);
  EXPECT_EQ(pc["cpu-max"], 128);
  EXPECT_EQ(pc["hotpluggable-cpus"], false);
  EXPECT_EQ(pc["deprecated"], false);
  EXPECT_EQ(pc["default-ram-id"], "pc.ram");
  EXPECT_EQ(pc["acpi"], true);
  EXPECT_EQ(by_name.at("xenfv")["cpu-max"], 128);
  EXPECT_FALSE(by_name.at("xenfv").contains("is-default"));
  EXPECT_EQ(by_name.at("none")["cpu-max"], 1);
  EXPECT_EQ(by_name.at("none")["acpi"], false);
}

TEST(QmpIntrospection, QomListTypesListsExactlyTheDeviceTypes) {
  QtestClient qt;
  Json devices =
      qt.qmp("qom-list-types", {{"implements", "device"}, {"abstract", false}})["return"];
  std::set<std::string> names = names_of(devices);
  // Every -device driver hvmd has and nothing abstract.
  for (const char* type : {"e1000", "ide-hd", "ide-cd", "VGA", "cirrus-vga", "isa-serial",
                           "isa-debugcon", "piix3-usb-uhci", "usb-tablet", "i440FX-pcihost"})
    EXPECT_TRUE(names.count(type)) << type;
  for (const char* type : {"device", "pci-device", "virtio-net-pci", "pc-machine"})
    EXPECT_FALSE(names.count(type)) << type;
  for (const Json& d : devices) EXPECT_FALSE(d.contains("abstract")) << d;
  // The same set as -device help's catalogue: each is a driver device_add knows.
  for (const std::string& type : names) {
    Json props = qt.qmp("device-list-properties", {{"typename", type}});
    EXPECT_TRUE(props.contains("return")) << type;
  }
  // Parents: PCI functions under pci-device, drives under ide-device.
  for (const Json& d : devices) {
    static const std::map<std::string, std::string> kParents = {{"e1000", "pci-device"},
                                                                {"ide-hd", "ide-device"},
                                                                {"usb-tablet", "usb-device"},
                                                                {"isa-serial", "isa-device"}};
    auto parent = kParents.find(d["name"].get<std::string>());
    if (parent != kParents.end()) {
      EXPECT_EQ(d["parent"], parent->second) << d;
    }
  }
  Json pci = qt.qmp("qom-list-types", {{"implements", "pci-device"}, {"abstract", true}})["return"];
  std::set<std::string> pci_names = names_of(pci);
  EXPECT_TRUE(pci_names.count("pci-device"));
  EXPECT_TRUE(pci_names.count("e1000"));
  EXPECT_FALSE(pci_names.count("ide-hd"));
  for (const Json& d : pci) {
    if (d["name"] == "pci-device") {
      EXPECT_EQ(d, (Json{{"name", "pci-device"}, {"parent", "device"}, {"abstract", true}}));
    }
  }
  Json machines = qt.qmp("qom-list-types", {{"implements", "machine"}})["return"];
  EXPECT_EQ(names_of(machines),
            (std::set<std::string>{"pc-machine", "xenfv-machine", "none-machine"}));
  EXPECT_EQ(qt.qmp("qom-list-types", {{"implements", "nosuch"}})["return"], Json::array());
}

TEST(QmpIntrospection, DeviceListProperties) {
  QtestClient qt;
  Json ide = qt.qmp("device-list-properties", {{"typename", "ide-hd"}})["return"];
  std::map<std::string, std::string> types;
  for (const Json& p : ide) types[p["name"]] = p["type"];
  EXPECT_EQ(types["drive"], "str");
  EXPECT_EQ(types["unit"], "uint32");
  EXPECT_EQ(types["serial"], "str");
  EXPECT_EQ(types["model"], "str");
  EXPECT_EQ(types["bootindex"], "int32");
  EXPECT_FALSE(types.count("addr"));  // not a PCI device
  types.clear();
  Json e1000 = qt.qmp("device-list-properties", {{"typename", "e1000"}})["return"];
  for (const Json& p : e1000) types[p["name"]] = p["type"];
  EXPECT_EQ(types, (std::map<std::string, std::string>{{"addr", "int32"},
                                                       {"romfile", "str"},
                                                       {"bootindex", "int32"},
                                                       {"mac", "str"},
                                                       {"netdev", "str"}}));
  EXPECT_EQ(
      qt.qmp("device-list-properties", {{"typename", "nosuch"}}),
      (Json{{"error", {{"class", "DeviceNotFound"}, {"desc", "Device 'nosuch' not found"}}}}));
  EXPECT_EQ(qt.qmp("device-list-properties", {{"typename", "pci-device"}})["error"]["desc"],
            "Parameter 'typename' expects a non-abstract device type");
  EXPECT_EQ(qt.qmp("device-list-properties", {{"typename", "pc-machine"}})["error"]["desc"],
            "Parameter 'typename' expects a non-abstract device type");
}

// Every property device-list-properties declares is one the driver really reads: naming it on
// device_add never gives "unknown parameter" (the catalogue cannot drift from the code silently).
TEST(QmpIntrospection, DeclaredPropertiesAreRead) {
  QtestClient qt({"-usb"});
  Json devices = qt.qmp("qom-list-types", {{"implements", "device"}})["return"];
  for (const Json& d : devices) {
    std::string type = d["name"];
    Json properties = qt.qmp("device-list-properties", {{"typename", type}})["return"];
    for (const Json& p : properties) {
      std::string name = p["name"];
      Json reply = qt.qmp("device_add", {{"driver", type}, {"id", "probe"}, {name, "1"}});
      std::string desc = reply.contains("error") ? reply["error"]["desc"].get<std::string>() : "";
      EXPECT_EQ(desc.find("unknown parameter"), std::string::npos)
          << type << "." << name << ": " << desc;
      if (reply.contains("return")) qt.qmp("device_del", {{"id", "probe"}});
      qt.events().clear();
    }
  }
}

TEST(QmpIntrospection, QueryCommandLineOptions) {
  QtestClient qt;
  Json all = qt.qmp("query-command-line-options")["return"];
  std::set<std::string> options;
  for (const Json& o : all) options.insert(o["option"].get<std::string>());
  for (const char* o : {"machine", "drive", "netdev", "chardev", "boot-opts", "smp-opts", "device"})
    EXPECT_TRUE(options.count(o)) << o;
  Json drive = qt.qmp("query-command-line-options", {{"option", "drive"}})["return"];
  ASSERT_EQ(drive.size(), 1u);
  EXPECT_EQ(drive[0]["option"], "drive");
  std::map<std::string, std::string> params;
  for (const Json& p : drive[0]["parameters"]) params[p["name"]] = p["type"];
  EXPECT_EQ(params["file"], "string");
  EXPECT_EQ(params["readonly"], "boolean");
  EXPECT_EQ(params["index"], "number");
  EXPECT_EQ(qt.qmp("query-command-line-options", {{"option", "nosuch"}})["error"]["desc"],
            "invalid option name: nosuch");
}

std::string hmp(QtestClient& qt, const std::string& line) {
  Json reply = qt.qmp("human-monitor-command", {{"command-line", line}});
  EXPECT_TRUE(reply["return"].is_string()) << line << ": " << reply;
  return reply["return"].is_string() ? reply["return"].get<std::string>() : "";
}

TEST(QmpHuman, InfoStatusPciBlockQtreeMtree) {
  std::string image = "/tmp/hvmd-hmp-" + std::to_string(getpid()) + ".img";
  { std::ofstream(image).write(std::string(1 << 20, '\0').data(), 1 << 20); }
  QtestClient qt({"-S", "-drive", "file=" + image + ",format=raw,if=none,id=d0", "-device",
                  "ide-hd,drive=d0,id=disk0", "-device", "e1000,id=nic0,addr=5"});
  EXPECT_EQ(hmp(qt, "info status"), "VM status: paused (prelaunch)\r\n");
  qt.qmp("cont");
  EXPECT_EQ(hmp(qt, "info status"), "VM status: running\r\n");
  std::string pci = hmp(qt, "info pci");
  EXPECT_NE(
      pci.find("  Bus  0, device   0, function 0:\r\n    Host bridge: PCI device 8086:1237\r\n"),
      std::string::npos)
      << pci;
  EXPECT_NE(
      pci.find(
          "  Bus  0, device   5, function 0:\r\n    Ethernet controller: PCI device 8086:100e\r\n"),
      std::string::npos)
      << pci;
  EXPECT_NE(pci.find("      id \"nic0\"\r\n"), std::string::npos);
  std::string block = hmp(qt, "info block");
  EXPECT_NE(block.find("d0: " + image + " (raw)\r\n    Attached to:      disk0\r\n"),
            std::string::npos)
      << block;
  EXPECT_NE(block.find("    Cache mode:       writeback\r\n"), std::string::npos);
  std::string qtree = hmp(qt, "info qtree");
  EXPECT_TRUE(qtree.starts_with("bus: main-system-bus\r\n  type System\r\n")) << qtree;
  EXPECT_NE(qtree.find("      dev: e1000, id \"nic0\"\r\n        addr = 05.0\r\n"),
            std::string::npos);
  std::string mtree = hmp(qt, "info mtree");
  EXPECT_TRUE(mtree.starts_with("address-space: memory\r\n")) << mtree;
  EXPECT_NE(mtree.find("address-space: I/O\r\n"), std::string::npos);
  EXPECT_NE(mtree.find("0000000000000cf8-"), std::string::npos) << mtree;  // PCI config address
  EXPECT_EQ(hmp(qt, "foo bar"), "unknown command: 'foo bar'\r\n");
  EXPECT_EQ(hmp(qt, "info nosuch"), "unknown command: 'info nosuch'\r\n");
  unlink(image.c_str());
}

TEST(QmpHuman, QemuIoReadsAndWritesTheDrive) {
  std::string image = "/tmp/hvmd-qemuio-" + std::to_string(getpid()) + ".img";
  { std::ofstream(image).write(std::string(1 << 20, '\0').data(), 1 << 20); }
  QtestClient qt({"-drive", "file=" + image + ",format=raw,if=none,id=d0,discard=unmap", "-device",
                  "ide-hd,drive=d0,id=disk0"});
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"write -P 0xab 4096 512\""),
            "wrote 512/512 bytes at offset 4096\r\n");
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"read -P 0xab 4096 512\""),
            "read 512/512 bytes at offset 4096\r\n");
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"read -P 0xab 4000 512\""),
            "Pattern verification failed at offset 4000, 512 bytes\r\n"
            "read 512/512 bytes at offset 4000\r\n");
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"flush\""), "");
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"read 0 2M\""), "read failed: Input/output error\r\n");
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"read 0 1G\""),
            "qemu-io: length 1073741824 is over the 16777216 limit\r\n");
  // discard=unmap: the range becomes a hole that reads back as zeroes.
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"write -P 0x5a 65536 8192\""),
            "wrote 8192/8192 bytes at offset 65536\r\n");
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"discard 65536 8192\""),
            "discard 8192/8192 bytes at offset 65536\r\n");
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"read -P 0 65536 8192\""),
            "read 8192/8192 bytes at offset 65536\r\n");
  EXPECT_EQ(hmp(qt, "qemu-io d0 \"discard 0 2M\""), "discard failed: Input/output error\r\n");
  EXPECT_EQ(hmp(qt, "qemu-io nosuch \"read 0 512\""),
            "Error: Cannot find device='' nor node-name='nosuch'\r\n");
  // The bytes are on the image.
  std::ifstream in(image, std::ios::binary);
  in.seekg(4096);
  std::string bytes(512, '\0');
  in.read(bytes.data(), 512);
  EXPECT_EQ(bytes, std::string(512, '\xab'));
  unlink(image.c_str());
}

TEST(QmpQom, ListGetSet) {
  QtestClient qt(
      {"-device", "e1000,id=nic0,addr=5,mac=52:54:00:00:00:07", "-device", "pci-testdev"});
  Json root = qt.qmp("qom-list", {{"path", "/machine/peripheral"}})["return"];
  EXPECT_EQ(root, (Json::array({{{"name", "type"}, {"type", "string"}},
                                {{"name", "nic0"}, {"type", "child<e1000>"}}})));
  Json anon = qt.qmp("qom-list", {{"path", "/machine/peripheral-anon"}})["return"];
  EXPECT_EQ(anon[1], (Json{{"name", "device[0]"}, {"type", "child<pci-testdev>"}}));
  std::set<std::string> members =
      names_of(qt.qmp("qom-list", {{"path", "/machine/peripheral/nic0"}})["return"]);
  for (const char* m : {"type", "realized", "hotpluggable", "addr", "mac", "netdev", "romfile"})
    EXPECT_TRUE(members.count(m)) << m;
  EXPECT_EQ(
      qt.qmp("qom-get", {{"path", "/machine/peripheral/nic0"}, {"property", "type"}})["return"],
      "e1000");
  EXPECT_EQ(qt.qmp("qom-get", {{"path", "nic0"}, {"property", "realized"}})["return"], true);
  EXPECT_EQ(qt.qmp("qom-get", {{"path", "nic0"}, {"property", "addr"}})["return"], 0x28);
  EXPECT_EQ(qt.qmp("qom-get", {{"path", "nic0"}, {"property", "mac"}})["return"],
            "52:54:00:00:00:07");
  EXPECT_EQ(qt.qmp("qom-get", {{"path", "/machine/peripheral-anon/device[0]"},
                               {"property", "type"}})["return"],
            "pci-testdev");
  EXPECT_EQ(qt.qmp("qom-get", {{"path", "nic0"}, {"property", "nosuch"}})["error"]["desc"],
            "Property 'e1000.nosuch' not found");
  EXPECT_EQ(
      qt.qmp("qom-get", {{"path", "/nosuch"}, {"property", "type"}}),
      (Json{{"error", {{"class", "DeviceNotFound"}, {"desc", "Device '/nosuch' not found"}}}}));
  EXPECT_EQ(qt.qmp("qom-get", {{"path", "/machine"}, {"property", "type"}})["return"],
            "pc-machine");
  EXPECT_EQ(qt.qmp("qom-set", {{"path", "nic0"},
                               {"property", "mac"},
                               {"value", "52:54:00:00:00:01"}})["error"]["desc"],
            "Attempt to set property 'mac' on device 'nic0' (type 'e1000') after it was realized");
  EXPECT_EQ(
      qt.qmp("qom-set", {{"path", "nic0"}, {"property", "nosuch"}, {"value", 1}})["error"]["desc"],
      "Property 'e1000.nosuch' not found");
}

TEST(QmpBlockdev, AddThenAttachThenDelete) {
  std::string image = "/tmp/hvmd-blockdev-" + std::to_string(getpid()) + ".img";
  { std::ofstream(image).write(std::string(1 << 20, '\x5a').data(), 1 << 20); }
  QtestClient qt({"-S"});
  EXPECT_EQ(qt.qmp("blockdev-add", {{"driver", "raw"},
                                    {"node-name", "disk1"},
                                    {"file", {{"driver", "file"}, {"filename", image}}}}),
            (Json{{"return", Json::object()}}));
  EXPECT_EQ(qt.qmp("blockdev-add",
                   {{"driver", "raw"},
                    {"node-name", "disk1"},
                    {"file", {{"driver", "file"}, {"filename", image}}}})["error"]["desc"],
            "Duplicate nodes with node-name='disk1'");
  EXPECT_EQ(qt.qmp("blockdev-add", {{"driver", "qcow2"}, {"node-name", "x"}})["error"]["desc"],
            "Parameter 'driver' does not accept value 'qcow2'");
  // A node nobody uses goes; one a device uses stays.
  EXPECT_EQ(
      qt.qmp("blockdev-add", {{"driver", "file"}, {"node-name", "spare"}, {"filename", image}}),
      (Json{{"return", Json::object()}}));
  EXPECT_EQ(qt.qmp("blockdev-del", {{"node-name", "spare"}}), (Json{{"return", Json::object()}}));
  EXPECT_EQ(qt.qmp("blockdev-del", {{"node-name", "spare"}})["error"]["desc"],
            "Failed to find node with node-name='spare'");
  // The node is a drive id for the devices: usb-storage claims it at device_add.
  Json added = qt.qmp("device_add", {{"driver", "piix3-usb-uhci"}, {"id", "uhci"}});
  ASSERT_TRUE(added.contains("return")) << added;
  added = qt.qmp("device_add", {{"driver", "usb-storage"}, {"drive", "disk1"}, {"id", "stick"}});
  if (added.contains("error")) {
    // usb-storage is not hot-pluggable: its image is opened at creation. The node is unclaimed.
    EXPECT_EQ(added["error"]["desc"], "device 'usb-storage' does not support hotplugging");
    EXPECT_EQ(qt.qmp("blockdev-del", {{"node-name", "disk1"}}), (Json{{"return", Json::object()}}));
  }
  unlink(image.c_str());
}

}  // namespace
}  // namespace hvmd::test
