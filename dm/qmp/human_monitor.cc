// HMP through QMP. Each command's text follows QEMU's layout ("VM status: running", info pci's
// "Bus  0, device   1, function 1:" blocks) so scripts that read it keep working; a command hvmd
// does not have answers "unknown command: '...'" as QEMU does, inside a successful reply.
#include "dm/qmp/human_monitor.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "dm/pci/pci_device.h"
#include "dm/qmp/machine_commands.h"
#include "dm/removable_media.h"

namespace hvmd::qmp {
namespace {

// Largest transfer one qemu-io read or write may ask for: a test's sector or cluster, never an
// allocation a hostile client can size.
constexpr uint64_t kMaxQemuIoBytes = 16 << 20;

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buffer[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(buffer, sizeof(buffer), fmt, args);
  va_end(args);
  return buffer;
}

// Splits an HMP line into words; "double quotes" group words, as HMP's qemu-io argument needs.
std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false, in_word = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      in_word = true;
    } else if (!quoted && (c == ' ' || c == '\t')) {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

std::string info_status(Machine& machine) {
  switch (machine.run_state()) {
    case RunState::kRunning:
      return "VM status: running\r\n";
    case RunState::kPaused:
      return "VM status: paused\r\n";
    case RunState::kPrelaunch:
      return "VM status: paused (prelaunch)\r\n";
    case RunState::kShutdown:
      return "VM status: paused (shutdown)\r\n";
  }
  return {};
}

// From query-pci's description, so the two always agree.
std::string info_pci(Machine& machine) {
  std::string out;
  const Json buses = describe_pci_bus(machine);  // kept: the loop reads into it
  for (const Json& f : buses[0]["devices"]) {
    out += format("  Bus %2d, device %3d, function %d:\r\n", f["bus"].get<int>(),
                  f["slot"].get<int>(), f["function"].get<int>());
    const Json& cls = f["class_info"];
    std::string desc = cls.contains("desc") ? cls["desc"].get<std::string>()
                                            : format("Class %04x", cls["class"].get<unsigned>());
    out += format("    %s: PCI device %04x:%04x\r\n", desc.c_str(),
                  f["id"]["vendor"].get<unsigned>(), f["id"]["device"].get<unsigned>());
    out += format("      PCI subsystem %04x:%04x\r\n", f["id"]["subsystem-vendor"].get<unsigned>(),
                  f["id"]["subsystem"].get<unsigned>());
    if (f.contains("irq_pin"))
      out += format("      IRQ %u, pin %c\r\n", f["irq"].get<unsigned>(),
                    static_cast<char>('A' + f["irq_pin"].get<unsigned>() - 1));
    for (const Json& r : f["regions"]) {
      uint64_t base = r["address"], size = r["size"];
      std::string name = r["bar"] == 6 ? std::string("ROM") : format("BAR%d", r["bar"].get<int>());
      if (r["type"] == "io")
        out += format("      %s: I/O at 0x%04" PRIx64 " [0x%04" PRIx64 "].\r\n", name.c_str(), base,
                      base + size - 1);
      else
        out += format("      %s: %d bit%s memory at 0x%08" PRIx64 " [0x%08" PRIx64 "].\r\n",
                      name.c_str(), r["mem_type_64"].get<bool>() ? 64 : 32,
                      r["prefetch"].get<bool>() ? " prefetchable" : "", base, base + size - 1);
    }
    out += "      id \"" + f["qdev_id"].get<std::string>() + "\"\r\n";
  }
  return out;
}

const char* cache_name(CacheMode mode) {
  switch (mode) {
    case CacheMode::kWriteback:
      return "writeback";
    case CacheMode::kWritethrough:
      return "writethrough";
    case CacheMode::kNone:
      return "writeback, direct";
    case CacheMode::kDirectsync:
      return "writethrough, direct";
    case CacheMode::kUnsafe:
      return "writeback, ignore flushes";
  }
  return "";
}

std::string info_block(Machine& machine) {
  std::string out;
  for (Device* d : machine.devices()) {
    auto* media = dynamic_cast<RemovableMedia*>(d);
    if (!media) continue;
    const BlockBackend* medium = media->medium();
    std::string attached = d->id().empty() ? std::string(d->type()) : d->id();
    if (medium)
      out += media->drive_id() + ": " + medium->path() + " (raw" +
             (medium->read_only() ? ", read-only" : "") + ")\r\n";
    else
      out += media->drive_id() + ": [not inserted]\r\n";
    out += "    Attached to:      " + attached + "\r\n";
    if (media->removable())
      out += std::string("    Removable device: ") + (media->locked() ? "" : "not ") +
             "locked, tray " + (media->tray_open() ? "open" : "closed") + "\r\n";
    if (medium) out += std::string("    Cache mode:       ") + cache_name(medium->cache()) + "\r\n";
    out += "\r\n";
  }
  if (out.size() >= 2) out.resize(out.size() - 2);  // QEMU separates drives, no blank line last
  return out;
}

// The device tree as hvmd's machine has it: board and ISA devices on the system bus, PCI
// functions on pci.0 with their addresses.
std::string info_qtree(Machine& machine) {
  std::string out = "bus: main-system-bus\r\n  type System\r\n";
  std::vector<const Device*> pci;
  for (unsigned devfn = 0; devfn < 256; ++devfn)
    if (const auto* f = machine.pci_bus().at(static_cast<uint8_t>(devfn))) pci.push_back(f);
  for (Device* d : machine.devices()) {
    if (std::find(pci.begin(), pci.end(), d) != pci.end()) continue;
    out += "  dev: " + std::string(d->type()) + ", id \"" + d->id() + "\"\r\n";
  }
  if (!pci.empty()) {
    out += "  dev: i440FX-pcihost, id \"\"\r\n    bus: pci.0\r\n      type PCI\r\n";
    for (unsigned devfn = 0; devfn < 256; ++devfn) {
      const auto* f = machine.pci_bus().at(static_cast<uint8_t>(devfn));
      if (!f) continue;
      out += "      dev: " + std::string(f->type()) + ", id \"" + f->id() + "\"\r\n";
      out += format("        addr = %02x.%x\r\n", devfn >> 3, devfn & 7);
    }
  }
  return out;
}

std::string info_mtree(Machine& machine) {
  struct Range {
    uint64_t base, length;
    std::string name;
    bool ram;
  };
  std::vector<Range> ports, mmio;
  for (const auto& m : machine.dispatcher().mappings()) {
    if (!m.sequence || !m.length) continue;
    Range r{m.base, m.length, m.name.empty() ? "unnamed" : m.name, m.memory != nullptr};
    (m.kind == IoKind::kPort ? ports : mmio).push_back(r);
  }
  auto by_base = [](const Range& a, const Range& b) { return a.base < b.base; };
  std::sort(ports.begin(), ports.end(), by_base);
  std::sort(mmio.begin(), mmio.end(), by_base);
  auto list = [](const std::vector<Range>& ranges) {
    std::string out;
    for (const Range& r : ranges)
      out += format("    %016" PRIx64 "-%016" PRIx64 " (prio 0, %s): %s\r\n", r.base,
                    r.base + r.length - 1, r.ram ? "ram" : "i/o", r.name.c_str());
    return out;
  };
  return "address-space: memory\r\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\r\n" +
         list(mmio) +
         "\r\naddress-space: I/O\r\n  0000000000000000-000000000000ffff (prio 0, i/o): io\r\n" +
         list(ports);
}

// A qemu-io number: decimal or 0x hex, with an optional k/M/G suffix (powers of 1024).
std::optional<uint64_t> io_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long value = strtoull(text.c_str(), &end, 0);
  if (errno || end == text.c_str() || text[0] == '-') return std::nullopt;
  uint64_t shift = 0;
  if (*end) {
    switch (*end) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        return std::nullopt;
    }
    if (end[1]) return std::nullopt;
  }
  if (shift && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

// qemu-io's read, write, discard and flush on a drive's medium, through its BlockBackend
// (synchronously: the request is submitted, then the executor drained). read -P checks a pattern,
// write -P / -z writes one.
std::string qemu_io(Machine& machine, const std::string& drive, const std::string& command) {
  RemovableMedia* media = nullptr;
  for (Device* d : machine.devices())
    if (auto* m = dynamic_cast<RemovableMedia*>(d); m && m->drive_id() == drive) media = m;
  if (!media) return "Error: Cannot find device='' nor node-name='" + drive + "'\r\n";
  BlockBackend* medium = media->io_medium();
  if (!medium) return "Error: Device '" + drive + "' has no medium\r\n";
  auto words = split_words(command);
  if (words.empty()) return "qemu-io: no command\r\n";
  const std::string op = words[0];
  if (op == "flush") {
    int result = -1;
    medium->flush([&result](int error) { result = error; });
    medium->drain();
    return result ? format("flush failed: %s\r\n", strerror(result)) : "";
  }
  if (op != "read" && op != "write" && op != "discard")
    return "qemu-io: unknown command '" + op + "'\r\n";
  std::optional<uint8_t> pattern;
  bool zero = false;
  size_t i = 1;
  for (; i < words.size() && words[i].starts_with("-"); ++i) {
    if (words[i] == "-P" && op != "discard" && i + 1 < words.size()) {
      auto p = io_number(words[++i]);
      if (!p || *p > 0xff) return "qemu-io: invalid pattern '" + words[i] + "'\r\n";
      pattern = static_cast<uint8_t>(*p);
    } else if (words[i] == "-z" && op == "write") {
      zero = true;
    } else {
      return "qemu-io: " + op + ": unknown option '" + words[i] + "'\r\n";
    }
  }
  if (words.size() - i != 2) return "qemu-io: " + op + " needs OFFSET LENGTH\r\n";
  auto offset = io_number(words[i]);
  auto length = io_number(words[i + 1]);
  if (!offset || !length) return "qemu-io: invalid offset or length\r\n";
  if (op != "discard" && *length > kMaxQemuIoBytes)
    return format("qemu-io: length %" PRIu64 " is over the %" PRIu64 " limit\r\n", *length,
                  kMaxQemuIoBytes);
  if (op != "read" && medium->read_only()) return op + " failed: Permission denied\r\n";
  std::vector<uint8_t> buffer;
  int result = -1;
  auto done = [&result](int error) { result = error; };
  if (op == "discard") {
    medium->discard(*offset, *length, done);  // as the drive's discard= says: holes, or nothing
  } else {
    buffer.assign(*length, zero ? 0 : pattern.value_or(0xcd));
    if (op == "read")
      medium->read(*offset, buffer, done);
    else
      medium->write(*offset, buffer, done);
  }
  medium->drain();
  if (result) return format("%s failed: %s\r\n", op.c_str(), strerror(result < 0 ? EIO : result));
  std::string out;
  if (op == "read" && pattern) {
    auto bad = std::find_if(buffer.begin(), buffer.end(), [&](uint8_t b) { return b != *pattern; });
    if (bad != buffer.end())
      out += format("Pattern verification failed at offset %" PRIu64 ", %" PRIu64 " bytes\r\n",
                    *offset + static_cast<uint64_t>(bad - buffer.begin()), *length);
  }
  const char* did = op == "read" ? "read" : op == "write" ? "wrote" : "discard";
  out += format("%s %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\r\n", did, *length, *length,
                *offset);
  return out;
}

}  // namespace

std::string run_human_command(Machine& machine, const std::string& command_line) {
  auto words = split_words(command_line);
  if (words.empty()) return "";
  if (words[0] == "info" && words.size() == 2) {
    if (words[1] == "status") return info_status(machine);
    if (words[1] == "pci") return info_pci(machine);
    if (words[1] == "block") return info_block(machine);
    if (words[1] == "qtree") return info_qtree(machine);
    if (words[1] == "mtree") return info_mtree(machine);
  }
  if (words[0] == "qemu-io" && words.size() == 3) return qemu_io(machine, words[1], words[2]);
  return "unknown command: '" + command_line + "'\r\n";
}

void register_human_monitor(Server& server, Machine& machine) {
  server.add_command("human-monitor-command",
                     Schema::object({required("command-line", Schema::string()),
                                     optional("cpu-index", Schema::integer())}),
                     [&machine](const Json& args) {
                       return Reply::success(run_human_command(machine, args["command-line"]));
                     });
}

}  // namespace hvmd::qmp
