#include "dm/pci/host_bar.h"

#include <algorithm>
#include <cassert>

#include "dm/log.h"

namespace hvmd::pci {

HostBarMapper::HostBarMapper(bool is_io, uint64_t size, HostBar bar)
    : is_io_(is_io), bar_(std::move(bar)) {
  split(size);
}

HostBarMapper::~HostBarMapper() = default;

// Cuts the BAR into alternating direct and trapped pieces, holes rounded out to the granularity
// of a direct mapping (a port for I/O, a page for memory).
void HostBarMapper::split(uint64_t size) {
  uint64_t granule = is_io_ ? 1 : kPageSize;
  std::vector<HostBarHole> holes;
  if (!is_io_ && size < kPageSize) {
    holes.push_back({0, size});
  } else {
    for (const HostBarHole& h : bar_.holes) {
      if (h.offset >= size || h.length == 0) continue;
      uint64_t end = h.offset + std::min(h.length, size - h.offset);
      uint64_t start = h.offset / granule * granule;
      end = std::min(size, (end + granule - 1) / granule * granule);
      holes.push_back({start, end - start});
    }
    std::sort(holes.begin(), holes.end(),
              [](const HostBarHole& a, const HostBarHole& b) { return a.offset < b.offset; });
  }
  auto add = [&](uint64_t offset, uint64_t length, bool trapped) {
    if (trapped && !pieces_.empty() && pieces_.back()->trapped &&
        pieces_.back()->offset + pieces_.back()->length == offset) {
      pieces_.back()->length += length;  // overlapping or adjacent holes: one trapped piece
      return;
    }
    auto piece = std::make_unique<Piece>();
    piece->offset = offset;
    piece->length = length;
    piece->trapped = trapped;
    piece->trap = bar_.trap;
    pieces_.push_back(std::move(piece));
  };
  uint64_t cursor = 0;
  for (const HostBarHole& h : holes) {
    uint64_t end = h.offset + h.length;
    if (end <= cursor) continue;
    if (h.offset > cursor) add(cursor, h.offset - cursor, false);
    uint64_t start = std::max(h.offset, cursor);
    add(start, end - start, true);
    cursor = end;
  }
  if (cursor < size) add(cursor, size - cursor, false);
  assert(bar_.trap ||
         std::none_of(pieces_.begin(), pieces_.end(), [](const auto& p) { return p->trapped; }));
}

Result<void> HostBarMapper::map_direct(const Piece& piece, uint64_t address, bool add) {
  HostPassthrough* pt = bar_.passthrough;
  if (!pt) return make_error("no host passthrough");
  uint64_t guest = address + piece.offset;
  if (is_io_) {
    auto guest_port = static_cast<uint32_t>(guest);
    auto host_port = static_cast<uint32_t>(bar_.host_port + piece.offset);
    auto count = static_cast<uint32_t>(piece.length);
    return add ? pt->map_ports(guest_port, host_port, count)
               : pt->unmap_ports(guest_port, host_port, count);
  }
  return add ? pt->map_mmio(guest, bar_.region, piece.offset, piece.length)
             : pt->unmap_mmio(guest, bar_.region, piece.offset, piece.length);
}

void HostBarMapper::unmap(Dispatcher& dispatcher) {
  for (auto& piece : pieces_) {
    if (piece->mapped_direct) {
      if (auto r = map_direct(*piece, address_, false); !r)
        HVMD_WARN("host BAR piece at %#llx: %s",
                  static_cast<unsigned long long>(address_ + piece->offset),
                  r.error().message.c_str());
      piece->mapped_direct = false;
    }
    dispatcher.unmap(piece->mapping);
    piece->mapping = Dispatcher::kNoMapping;
  }
}

void HostBarMapper::map(Dispatcher& dispatcher, uint64_t address, const std::string& name) {
  for (auto& piece : pieces_) {
    if (!piece->trapped) {
      auto r = map_direct(*piece, address, true);
      if (r) {
        piece->mapped_direct = true;
        continue;
      }
      // Where the guest put it decides whether the host accepts it (a BAR over RAM, say), so
      // the message is the guest's and rate-limited.
      HVMD_GUEST_LOG("%s at %#llx trapped instead of mapped: %s", name.c_str(),
                     static_cast<unsigned long long>(address + piece->offset),
                     r.error().message.c_str());
      if (!piece->trap) continue;  // nobody to serve it: unclaimed, as an absent device
    }
    uint64_t base = address + piece->offset;
    piece->mapping = is_io_ ? dispatcher.map_ports(base, piece->length, piece.get(), name)
                            : dispatcher.map_mmio(base, piece->length, piece.get(), name);
  }
}

void HostBarMapper::place(Dispatcher& dispatcher, uint64_t address, const std::string& name) {
  if (address == address_) return;
  uint64_t old = address_;
  if (old != kUnmapped) unmap(dispatcher);
  if (address != kUnmapped) map(dispatcher, address, name);
  address_ = address;
  if (bar_.relocated) bar_.relocated(old, address);
}

}  // namespace hvmd::pci
