// IoreqServer: hvmd as a Xen ioreq server. Brings the server up (create, map the shared and
// buffered pages, enable, bind each vCPU's event channel and the buffered ring's), runs the
// per-vCPU request state machine (READY -> INPROCESS -> IORESP_READY) with the barriers the ABI
// requires, drains the buffered ring (including 8-byte writes spanning two slots) before every
// synchronous request, serves every pending request per wake-up with the fewest calls the
// event-channel interface allows, and keeps Xen's view of which ports, MMIO ranges and PCI
// functions are ours in step with the dispatcher (BAR moves included). All of it runs on the event
// loop.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "dm/dispatcher.h"
#include "dm/event_loop.h"
#include "ioreq/xen/map_cache.h"
#include "ioreq/xen/xen_device_memory.h"
#include "ioreq/xen/xen_platform.h"

namespace hvmd::xen {

// Union of a set of half-open ranges, as sorted, merged, inclusive [first, last] intervals.
struct Interval {
  uint64_t first;
  uint64_t last;
  bool operator==(const Interval&) const = default;
};
std::vector<Interval> merge_ranges(std::vector<Interval> ranges);

class IoreqServer final : public MappingListener {
 public:
  // Xen's buffered ring is drained at most this many slots per pass (it has 511).
  static constexpr unsigned kMaxBufferedPerPass = IOREQ_BUFFER_SLOT_NUM;
  // Pending ports taken from the event-channel device in one read, and reads per wake-up before
  // the loop gets its turn again (more than that many ports pending at once is a flood).
  static constexpr size_t kPortsPerRead = 64;
  static constexpr unsigned kReadsPerWake = 4;

  IoreqServer(XenPlatform& platform, Dispatcher& dispatcher, MapCache& memory, EventLoop& loop);
  ~IoreqServer() override;
  IoreqServer(const IoreqServer&) = delete;
  IoreqServer& operator=(const IoreqServer&) = delete;

  // Brings the server up and registers everything the dispatcher already maps. From here on
  // the dispatcher's changes are forwarded to Xen.
  Result<void> start();
  void stop();
  // Xen delivers requests only while enabled (QMP stop disables, cont re-enables).
  Result<void> set_enabled(bool enabled);
  // The guest's RTC offset from host time in seconds, the sum of the changes Xen reports
  // (IOREQ_TYPE_TIMEOFFSET) each time the guest sets its clock; fn gets the new total.
  void on_time_offset(std::function<void(int64_t seconds)> fn) { time_offset_ = std::move(fn); }

  // Handles everything pending on the event channels (the loop calls this): one read takes the
  // pending ports, one write unmasks them all, then the buffered ring and every vCPU's slot are
  // served whichever ports were kicked, each completed request notified once.
  void process_events();

  // MappingListener: keeps Xen's rangesets equal to the union of the dispatcher's mappings.
  void ports_changed(uint64_t base, uint64_t length, bool mapped) override;
  void mmio_changed(uint64_t base, uint64_t length, bool mapped) override;
  void pci_changed(PciAddress address, bool mapped) override;
  void memory_changed(DeviceMemory& memory, uint64_t offset, uint64_t length, uint64_t base,
                      bool mapped) override;
  // Device memory backed by the domain's pages is placed in its memory map rather than claimed
  // as MMIO (see xen_device_memory.h).
  void set_device_memory(XenDeviceMemory* device_memory) { device_memory_ = device_memory; }

  unsigned vcpus() const { return static_cast<unsigned>(vcpu_ports_.size()); }
  int64_t time_offset() const { return rtc_offset_; }

 private:
  void serve_all();
  void handle_vcpu(unsigned vcpu);
  void drain_buffered();
  void execute(IoRequest& request, uint8_t type);
  void sync_ranges(IoKind kind);

  XenPlatform& platform_;
  Dispatcher& dispatcher_;
  MapCache& memory_;
  EventLoop& loop_;
  IoreqPages pages_;
  std::vector<uint32_t> vcpu_ports_;  // local port per vCPU
  uint32_t buffered_port_ = 0;
  bool started_ = false;
  std::vector<Interval> claimed_ports_;
  std::vector<Interval> claimed_mmio_;
  XenDeviceMemory* device_memory_ = nullptr;
  int64_t rtc_offset_ = 0;
  std::function<void(int64_t)> time_offset_;
};

}  // namespace hvmd::xen
