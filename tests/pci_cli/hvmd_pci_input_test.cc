// hvmd-pci's hostile inputs: bad command lines are one-line errors naming the value; truncated,
// garbage and cyclic config spaces and garbage resource files are reported, never a crash.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "passthrough/cli/cli.h"
#include "passthrough/cli/inventory.h"
#include "passthrough/cli/pci_config.h"
#include "passthrough/cli/rmrr.h"
#include "tests/pci_cli/dmar_builder.h"
#include "tests/pci_cli/fake_sysfs.h"

namespace hvmd::pcicli::test {
namespace {

struct Run {
  int rc;
  std::string out, err;
};

Run run(const FakeSysfs& fs, std::vector<std::string> args) {
  args.insert(args.begin(), {"--sysfs-root", fs.root(), "--state-dir", fs.state_dir()});
  std::ostringstream out, err;
  int rc = run_cli(args, out, err);
  return {rc, out.str(), err.str()};
}

void expect_usage_error(const FakeSysfs& fs, std::vector<std::string> args,
                        const std::string& names) {
  auto r = run(fs, args);
  EXPECT_EQ(r.rc, 1) << names;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("hvmd-pci: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(names), std::string::npos) << r.err;
}

TEST(HvmdPciInput, BadCommandLinesAreOneLineErrors) {
  FakeSysfs fs;
  fs.add_device(FakeDevice{"0000:00:03.0"});
  expect_usage_error(fs, {"check", "00:3.0"}, "'00:3.0'");
  expect_usage_error(fs, {"check", "zz:00.0"}, "'zz:00.0'");
  expect_usage_error(fs, {"check", "0000:00:20.0"}, "'0000:00:20.0'");  // device > 0x1f
  expect_usage_error(fs, {"check", "0000:00:03.8"}, "'0000:00:03.8'");  // function > 7
  expect_usage_error(fs, {"check", "00000:00:03.0"}, "'00000:00:03.0'");
  expect_usage_error(fs, {"bind", "0000:00:03.0\n--to"}, "'0000:00:03.0?--to'");
  expect_usage_error(fs, {"check", "0000:00:09.0"}, "no PCI device 0000:00:09.0");
  expect_usage_error(fs, {"check"}, "check needs a device address");
  expect_usage_error(fs, {"frobnicate"}, "'frobnicate'");
  expect_usage_error(fs, {"list", "--bogus"}, "'--bogus'");
  expect_usage_error(fs, {"bind", "0000:00:03.0"}, "--to vfio or --to pciback");
  expect_usage_error(fs, {"bind", "0000:00:03.0", "--to", "kvm"}, "'kvm'");
  expect_usage_error(fs, {"check", "0000:00:03.0", "--to", "vfio"}, "--to belongs to bind");
  expect_usage_error(fs, {"list", "extra"}, "'extra'");
  expect_usage_error(fs, {"list", "--state-dir"}, "--state-dir needs a value");
  expect_usage_error(fs, {}, "no command given");
  std::ostringstream out, err;
  EXPECT_EQ(run_cli({"--sysfs-root", "/nonexistent/hvmd", "list"}, out, err), 1);
  EXPECT_EQ(err.str(), "hvmd-pci: --sysfs-root '/nonexistent/hvmd' is not a folder\n");
  std::ostringstream hout, herr;
  EXPECT_EQ(run_cli({"--help"}, hout, herr), 0);
  EXPECT_NE(hout.str().find("bind BDF --to vfio|pciback"), std::string::npos);
}

TEST(HvmdPciInput, BdfForms) {
  EXPECT_EQ(parse_bdf("00:1f.7")->text(), "0000:00:1f.7");
  EXPECT_EQ(parse_bdf("ABCD:EF:1F.3")->text(), "abcd:ef:1f.3");
  EXPECT_FALSE(parse_bdf(""));
  EXPECT_FALSE(parse_bdf("0000:00:1f:7"));
  EXPECT_FALSE(parse_bdf("0000-00:1f.7"));
  EXPECT_FALSE(parse_bdf("0000:0g:1f.7"));
}

TEST(HvmdPciInput, CapabilityChainsAreBoundedAndCycleSafe) {
  // Loops onto itself.
  auto self = ConfigBuilder(0x1234, 0x5678, 0x020000).raw_cap(0x05, 0x40, 0x40).bytes();
  auto info = parse_config(self);
  EXPECT_EQ(info.caps.size(), 1u);
  EXPECT_EQ(info.cap_chain_problem, "capability chain loops back to 0x40");
  // A longer loop 0x40 -> 0x50 -> 0x60 -> 0x50.
  auto ring = ConfigBuilder(0x1234, 0x5678, 0x020000)
                  .raw_cap(0x01, 0x40, 0x50)
                  .raw_cap(0x05, 0x50, 0x60)
                  .raw_cap(0x11, 0x60, 0x50)
                  .bytes();
  info = parse_config(ring);
  EXPECT_EQ(info.caps.size(), 3u);
  EXPECT_EQ(info.cap_chain_problem, "capability chain loops back to 0x50");
  // Into the header.
  auto header = ConfigBuilder(0x1234, 0x5678, 0x020000).raw_cap(0x05, 0x40, 0x10).bytes();
  EXPECT_EQ(parse_config(header).cap_chain_problem,
            "capability pointer 0x10 points into the header");
  // A capability at the last byte: its registers are past the end and not decoded.
  auto edge = ConfigBuilder(0x1234, 0x5678, 0x020000).raw_cap(0x11, 0xfc, 0x00).bytes();
  info = parse_config(edge);
  EXPECT_EQ(info.caps.size(), 1u);
  EXPECT_FALSE(info.msix);
  // Extended capabilities that loop.
  auto ext = ConfigBuilder(0x1234, 0x5678, 0x020000, 4096)
                 .pcie(true)
                 .ext_cap(0x0001, 0x100, 0x140)
                 .ext_cap(0x000d, 0x140, 0x100)
                 .bytes();
  info = parse_config(ext);
  EXPECT_TRUE(info.pcie_flr);
  EXPECT_EQ(info.ext_caps.size(), 2u);
  EXPECT_EQ(info.ext_chain_problem, "extended capability chain loops back to 0x100");
}

TEST(HvmdPciInput, SyntheticCapabilitiesDecode) {
  auto b = ConfigBuilder(0x8086, 0x10d3, 0x020000)
               .int_pin(1)
               .pm(true)
               .msi(true, true, 3)
               .pcie(true)
               .msix(5, 3, 0x0, 3, 0x2000)
               .bytes();
  auto info = parse_config(b);
  ASSERT_TRUE(info.msi);
  EXPECT_EQ(info.msi->vectors, 8u);
  EXPECT_TRUE(info.msi->is_64bit);
  EXPECT_TRUE(info.msi->per_vector_mask);
  ASSERT_TRUE(info.msix);
  EXPECT_EQ(info.msix->table_size, 5u);
  EXPECT_EQ(info.msix->table_bar, 3u);
  EXPECT_EQ(info.msix->pba_offset, 0x2000u);
  EXPECT_FALSE(info.msix->table_shares_page_with_pba());
  // 5 vectors at 0x0 (80 bytes) and the PBA at 0x800 of the same BAR: one page for both.
  auto shared = ConfigBuilder(0x8086, 0x10d3, 0x020000).msix(5, 3, 0x0, 3, 0x800).bytes();
  EXPECT_TRUE(parse_config(shared).msix->table_shares_page_with_pba());
  // 256 vectors fill the table's first page; the PBA at 0x1000 is on the next.
  auto full = ConfigBuilder(0x8086, 0x10d3, 0x020000).msix(256, 0, 0x0, 0, 0x1000).bytes();
  EXPECT_FALSE(parse_config(full).msix->table_shares_page_with_pba());
  auto other_bar = ConfigBuilder(0x8086, 0x10d3, 0x020000).msix(5, 0, 0x0, 2, 0x0).bytes();
  EXPECT_FALSE(parse_config(other_bar).msix->table_shares_page_with_pba());
  EXPECT_TRUE(info.pm);
  EXPECT_TRUE(info.pm_no_soft_reset);
  EXPECT_TRUE(info.pcie_flr);
  EXPECT_EQ(info.caps.size(), 4u);
  EXPECT_EQ(info.int_pin, 1);
  EXPECT_TRUE(info.cap_chain_problem.empty());
}

TEST(HvmdPciInput, TruncatedAndGarbageConfigSpaces) {
  auto full =
      ConfigBuilder(0x8086, 0x10d3, 0x020000).msi(true, false, 0).msix(4, 0, 0, 0, 0x800).bytes();
  for (size_t len = 0; len <= full.size(); ++len) {
    auto info = parse_config(std::span<const uint8_t>(full.data(), len));
    EXPECT_EQ(info.header, len >= 64) << len;
    if (len == 64) {
      EXPECT_EQ(info.cap_chain_problem, "only the 64-byte header is readable (run as root)");
    }
  }
  // The CLI shows the same for a device whose config file is cut short or garbage.
  FakeSysfs fs;
  FakeDevice cut{"0000:00:03.0"};
  cut.config = std::vector<uint8_t>(full.begin(), full.begin() + 64);
  fs.add_device(cut);
  FakeDevice junk{"0000:00:04.0"};
  std::mt19937 rng(7);
  junk.config.resize(256);
  for (auto& byte : junk.config) byte = static_cast<uint8_t>(rng());
  junk.resource = "garbage\n0xzz 0x1 0x2\n0x2000 0x1000 0x200\n\xff\xfe\n";
  fs.add_device(junk);
  FakeDevice empty{"0000:00:05.0"};
  fs.add_device(empty);
  fs.write_file("sys/devices/pci0000:00/0000:00:05.0/config", "");
  fs.write_file("sys/devices/pci0000:00/0000:00:05.0/resource", "");
  auto r = run(fs, {"check", "0000:00:03.0"});
  EXPECT_NE(r.out.find("only the 64-byte header is readable (run as root)"), std::string::npos)
      << r.out;
  r = run(fs, {"check", "0000:00:04.0"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("resource line 0 is not three numbers"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("resource line 2 ends before it starts"), std::string::npos) << r.out;
  EXPECT_EQ(run(fs, {"list"}).rc, 0);
  EXPECT_EQ(run(fs, {"--json", "list"}).rc, 0);
}

TEST(HvmdPciInput, ResourceParser) {
  auto t = parse_resource(
      "0x00000000feb40000 0x00000000feb5ffff 0x0000000000040200\n"
      "0x000000000000c140 0x000000000000c15f 0x0000000000040101\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000004000000000 0x00000040ffffffff 0x000000000014220c\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x00000000feb00000 0x00000000feb3ffff 0x0000000000046200\n"
      "0x00000000f0000000 0x00000000f7ffffff 0x0000000000200200\n");  // a bridge window: skipped
  ASSERT_EQ(t.bars.size(), 3u);
  EXPECT_EQ(t.bars[0].size(), 0x20000u);
  EXPECT_TRUE(t.bars[1].io());
  EXPECT_EQ(t.bars[1].size(), 0x20u);
  EXPECT_EQ(t.bars[2].index, 3u);
  EXPECT_EQ(t.bars[2].size(), 0x100000000u);
  ASSERT_TRUE(t.rom);
  EXPECT_EQ(t.rom->size(), 0x40000u);
  EXPECT_TRUE(t.problems.empty());
  EXPECT_EQ(size_text(0x100000000), "4 GiB");
  EXPECT_EQ(size_text(0x20), "32 B");
  EXPECT_EQ(size_text(0x1800), "6 KiB");
  // Too many digits, an end below the start, a full 64-bit range.
  t = parse_resource(
      "0x00000000000000000 0x1 0x200\n0x10 0x0 0x200\n0x0 0xffffffffffffffff 0x200\n");
  EXPECT_EQ(t.problems.size(), 3u);
  EXPECT_TRUE(t.bars.empty());
  EXPECT_EQ(t.problems[2], "resource line 2 covers the whole address space");
}

TEST(HvmdPciInput, DmarTablesAreBoundsChecked) {
  auto good = DmarBuilder().rmrr(0x1000, 0x1fff, {{0, {{0x14, 0}}}, {2, {{1, 0}, {0, 3}}}}).bytes();
  auto info = parse_dmar(good);
  ASSERT_EQ(info.rmrrs.size(), 1u);
  EXPECT_EQ(info.rmrrs[0].scopes.size(), 2u);
  EXPECT_EQ(info.rmrrs[0].scopes[1].path.size(), 2u);
  EXPECT_TRUE(info.problem.empty());
  // Every truncation: no read past the end, a problem or fewer structures.
  for (size_t len = 0; len < good.size(); ++len) {
    auto cut = parse_dmar(std::span<const uint8_t>(good.data(), len));
    EXPECT_LE(cut.rmrrs.size(), 1u);
  }
  // A structure claiming more than the table holds, and one of length 0.
  auto longer = good;
  longer[48 + 2] = 0xff;
  EXPECT_EQ(parse_dmar(longer).problem, "a remapping structure's length runs past the table");
  auto zero = good;
  zero[48 + 2] = 0;
  zero[48 + 3] = 0;
  EXPECT_FALSE(parse_dmar(zero).problem.empty());
  // A device scope claiming more than its RMRR holds, and one too short to be a scope.
  auto scope = good;
  scope[48 + 24 + 1] = 0xf0;
  EXPECT_EQ(parse_dmar(scope).problem, "a device scope's length runs past its RMRR");
  scope[48 + 24 + 1] = 2;
  EXPECT_FALSE(parse_dmar(scope).problem.empty());
  EXPECT_EQ(parse_dmar(std::vector<uint8_t>(64, 0)).problem, "not a DMAR table");
  std::mt19937 rng(99);
  for (int i = 0; i < 5000; ++i) {
    auto t = good;
    for (int k = 0; k < 4; ++k) t[rng() % t.size()] = static_cast<uint8_t>(rng());
    t.resize(t.size() + rng() % 40, static_cast<uint8_t>(rng()));
    parse_dmar(t);
  }
}

TEST(HvmdPciInput, RandomConfigAndResourceInputsNeverCrash) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 20000; ++i) {
    size_t len = rng() % 4200;
    std::vector<uint8_t> bytes(len);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    if (len > 0x34) bytes[0x34] = static_cast<uint8_t>(0x40 + (rng() % 0xc0));
    if (len > 6) bytes[6] |= 0x10;
    auto info = parse_config(bytes);
    EXPECT_LE(info.caps.size(), 48u);
    EXPECT_LE(info.ext_caps.size(), 960u);
    std::string text;
    for (size_t k = rng() % 400; k > 0; --k) text += "0x1 \n\tfxX"[rng() % 10];
    auto table = parse_resource(text);
    EXPECT_LE(table.bars.size(), 6u);
  }
}

}  // namespace
}  // namespace hvmd::pcicli::test
