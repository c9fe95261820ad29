// Black-box: QMP as libxl and QEMU-style test programs use it.
#include <gtest/gtest.h>

#include <map>

#include "tests/qtest/qtest_client.h"

namespace hvmd::test {
namespace {

TEST(Qmp, GreetingAndNegotiation) {
  QtestClient qt({}, /*handshake=*/false);
  Json greeting = qt.read_qmp_message();
  ASSERT_TRUE(greeting.contains("QMP"));
  // libxl compares the version: it must look like a modern QEMU.
  EXPECT_GE(greeting["QMP"]["version"]["qemu"]["major"].get<int>(), 3);
  EXPECT_TRUE(greeting["QMP"]["capabilities"].is_array());
  // Nothing but qmp_capabilities before negotiation.
  Json early = qt.qmp_command(Json{{"execute", "query-status"}, {"id", 1}});
  EXPECT_EQ(early["error"]["class"], "CommandNotFound");
  EXPECT_EQ(early["id"], 1);
  EXPECT_EQ(qt.qmp_command(Json{{"execute", "qmp_capabilities"}, {"id", "a"}}),
            (Json{{"return", Json::object()}, {"id", "a"}}));
  EXPECT_EQ(qt.qmp("qmp_capabilities")["error"]["class"], "CommandNotFound");
}

TEST(Qmp, QueryCpusFastListsTheOnlineVcpus) {
  QtestClient qt({"-smp", "2,maxcpus=4"});
  Json cpus = qt.qmp("query-cpus-fast")["return"];
  ASSERT_EQ(cpus.size(), 2u);
  EXPECT_EQ(cpus[0]["cpu-index"], 0);
  EXPECT_EQ(cpus[1]["cpu-index"], 1);
  EXPECT_EQ(cpus[1]["target"], "x86_64");
}

TEST(Qmp, Queries) {
  QtestClient qt({"-name", "guest1", "-m", "256"});
  EXPECT_EQ(qt.qmp("query-name")["return"]["name"], "guest1");
  Json version = qt.qmp("query-version")["return"];
  EXPECT_TRUE(version["qemu"].contains("major"));
  Json status = qt.qmp("query-status")["return"];
  EXPECT_EQ(status["status"], "running");
  EXPECT_EQ(status["running"], true);
  Json commands = qt.qmp("query-commands")["return"];
  std::vector<std::string> names;
  for (const auto& c : commands) names.push_back(c["name"]);
  for (const char* needed : {"qmp_capabilities", "query-pci", "cont", "stop", "quit",
                             "system_reset", "device_add", "device_del"})
    EXPECT_NE(std::find(names.begin(), names.end(), needed), names.end()) << needed;
}

TEST(Qmp, QueryChardevListsEveryCharacterDevice) {
  QtestClient qt({"-chardev", "null,id=spare", "-serial", "null"});
  Json list = qt.qmp("query-chardev")["return"];
  std::map<std::string, std::string> filenames;
  for (const auto& c : list) filenames[c["label"]] = c["filename"];
  EXPECT_EQ(filenames["spare"], "null");
  EXPECT_EQ(filenames["serial0"], "null");
  EXPECT_TRUE(filenames["char0"].starts_with("unix:"));
}

TEST(Qmp, StartPausedThenCont) {
  QtestClient qt({"-S"});
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "prelaunch");
  EXPECT_EQ(qt.qmp("cont")["return"], Json::object());
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
  // libxl sends cont to a running guest too.
  EXPECT_EQ(qt.qmp("cont")["return"], Json::object());
  EXPECT_EQ(qt.qmp("stop")["return"], Json::object());
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "paused");
  std::vector<std::string> events;
  for (const auto& e : qt.events()) events.push_back(e["event"]);
  EXPECT_EQ(events, (std::vector<std::string>{"RESUME", "STOP"}));
}

TEST(Qmp, MalformedInputKeepsTheConnection) {
  QtestClient qt;
  EXPECT_EQ(qt.qmp_raw("{\"execute\": }\n")["error"]["class"], "GenericError");
  EXPECT_EQ(qt.qmp_raw("nonsense\n")["error"]["class"], "GenericError");
  EXPECT_EQ(qt.qmp_raw("[1, 2]\n")["error"]["class"], "GenericError");
  EXPECT_EQ(qt.qmp_command(Json{{"execute", "no-such-command"}, {"id", 7}}),
            (Json{{"error",
                   {{"class", "CommandNotFound"},
                    {"desc", "The command no-such-command has not been found"}}},
                  {"id", 7}}));
  EXPECT_EQ(qt.qmp_command(Json{{"execute", "query-status"}, {"bogus", 1}})["error"]["class"],
            "GenericError");
  EXPECT_EQ(qt.qmp("query-status", {{"extra", 1}})["error"]["desc"],
            "Parameter 'extra' is unexpected");
  // Two commands in one write, and one split across writes.
  Json first =
      qt.qmp_raw("{\"execute\":\"query-name\",\"id\":1}{\"execute\":\"query-status\",\"id\":2}");
  EXPECT_EQ(first["id"], 1);
  EXPECT_EQ(qt.read_qmp_message()["id"], 2);
  EXPECT_EQ(qt.qmp("query-status")["return"]["status"], "running");
}

TEST(Qmp, DeviceAddChecksTheDriver) {
  QtestClient qt;
  Json unknown = qt.qmp("device_add", {{"driver", "no-such-device"}, {"id", "x"}});
  EXPECT_EQ(unknown["error"]["desc"], "'no-such-device' is not a valid device model name");
  Json board = qt.qmp("device_add", {{"driver", "i440FX-pcihost"}, {"id", "x"}});
  EXPECT_EQ(board["error"]["desc"], "device 'i440FX-pcihost' does not support hotplugging");
  Json missing = qt.qmp("device_add", {{"id", "x"}});
  EXPECT_EQ(missing["error"]["desc"], "Parameter 'driver' is missing");
  Json del = qt.qmp("device_del", {{"id", "nothing"}});
  EXPECT_EQ(del["error"]["class"], "DeviceNotFound");
}

}  // namespace
}  // namespace hvmd::test
