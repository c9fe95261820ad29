// Receive: address filtering (exact receive addresses, the multicast hash table, broadcast,
// promiscuous modes, the VLAN filter table), VLAN stripping, frames written into the guest's
// buffers from RDH towards RDT (long frames across several), descriptor write-back with
// checksum status, and the RXT0 (delayed by RDTR/RADV), RXDMT0 and RXO interrupts. The ring is
// never overrun: a frame that does not fit in the free descriptors is dropped and counted.
#include <algorithm>
#include <cstring>

#include "devices/e1000/e1000.h"
#include "devices/e1000/e1000_checksum.h"
#include "dm/log.h"

namespace hvmd::devices::e1000 {

namespace {

constexpr size_t kMinFrame = 60;            // without FCS; shorter frames are padded
constexpr size_t kMaxStandardFrame = 1522;  // 1518 + a VLAN tag, without LPE
constexpr size_t kMaxLongFrame = 16384;
constexpr size_t kFcsSize = 4;
constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint8_t kProtocolTcp = 6, kProtocolUdp = 17;

}  // namespace

unsigned E1000::rx_buffer_size() const {
  uint32_t rctl = r(reg::kRctl);
  unsigned code = (rctl >> kRctlBsizeShift) & 3;
  static constexpr unsigned kSizes[4] = {2048, 1024, 512, 256};
  // BSEX multiplies by 16 (code 0 is reserved then; taken as 2048).
  if ((rctl & kRctlBsex) && code != 0) return kSizes[code] * 16;
  return kSizes[code];
}

unsigned E1000::rx_free_descriptors() const {
  uint32_t ring = r(reg::kRdlen) / kDescriptorSize;
  uint32_t head = r(reg::kRdh), tail = r(reg::kRdt);
  if (ring == 0 || head >= ring || tail >= ring) return 0;
  return (tail + ring - head) % ring;
}

bool E1000::can_receive() const {
  return (r(reg::kRctl) & kRctlEn) && link_up_ && rx_free_descriptors() > 0;
}

bool E1000::accept_frame(std::span<const uint8_t> frame) const {
  uint32_t rctl = r(reg::kRctl);
  const uint8_t* destination = frame.data();
  if (frame.size() >= 16 && load16be(frame.data() + 12) == r(reg::kVet) && (rctl & kRctlVfe)) {
    uint16_t vid = load16be(frame.data() + 14) & 0x0fff;
    if (!(r(reg::kVfta + (vid >> 5) * 4) >> (vid & 31) & 1)) return false;
  }
  bool broadcast = std::all_of(destination, destination + 6, [](uint8_t b) { return b == 0xff; });
  if (broadcast) return rctl & kRctlBam;
  if (destination[0] & 1) {
    if (rctl & kRctlMpe) return true;
    // The multicast table: 12 bits of the address, which ones chosen by RCTL.MO.
    unsigned shift = 4 - ((rctl >> kRctlMoShift) & 3);
    unsigned hash = ((destination[4] >> shift) | (destination[5] << (8 - shift))) & 0xfff;
    return r(reg::kMta + (hash >> 5) * 4) >> (hash & 31) & 1;
  }
  if (rctl & kRctlUpe) return true;
  for (unsigned i = 0; i < 16; ++i) {
    uint32_t high = r(reg::kRa + i * 8 + 4);
    if (!(high & kRahAv)) continue;
    uint32_t low = r(reg::kRa + i * 8);
    uint8_t address[6] = {static_cast<uint8_t>(low),       static_cast<uint8_t>(low >> 8),
                          static_cast<uint8_t>(low >> 16), static_cast<uint8_t>(low >> 24),
                          static_cast<uint8_t>(high),      static_cast<uint8_t>(high >> 8)};
    if (std::memcmp(address, destination, 6) == 0) return true;
  }
  return false;
}

// With receive checksum offload on, IPv4 header and TCP/UDP checksums are checked and reported;
// otherwise (and for anything else) the status says "ignore checksum indication".
void E1000::rx_checksum_status(std::span<const uint8_t> frame, uint8_t* status,
                               uint8_t* errors) const {
  uint32_t rxcsum = r(reg::kRxcsum);
  if (!(rxcsum & (kRxcsumIpofl | kRxcsumTuofl)) || frame.size() < 34 ||
      load16be(frame.data() + 12) != kEthertypeIpv4) {
    *status |= rx::kStaIxsm;
    return;
  }
  const uint8_t* ip = frame.data() + 14;
  size_t ip_header = size_t{ip[0] & 0x0fu} * 4;
  size_t ip_length = load16be(ip + 2);
  if ((ip[0] >> 4) != 4 || ip_header < 20 || ip_length < ip_header ||
      14 + ip_length > frame.size()) {
    *status |= rx::kStaIxsm;
    return;
  }
  if (rxcsum & kRxcsumIpofl) {
    *status |= rx::kStaIpcs;
    if (checksum::fold(checksum::add(0, {ip, ip_header})) != 0xffff) *errors |= rx::kErrIpe;
  }
  uint8_t protocol = ip[9];
  bool fragment = load16be(ip + 6) & 0x3fff;
  if (!(rxcsum & kRxcsumTuofl) || fragment ||
      (protocol != kProtocolTcp && protocol != kProtocolUdp))
    return;
  const uint8_t* l4 = ip + ip_header;
  size_t l4_length = ip_length - ip_header;
  if (protocol == kProtocolUdp && (l4_length < 8 || load16be(l4 + 6) == 0)) return;
  uint32_t sum = checksum::add(0, {ip + 12, 8});  // source and destination
  sum += protocol + static_cast<uint32_t>(l4_length);
  sum = checksum::add(sum, {l4, l4_length});
  *status |= rx::kStaTcpcs;
  if (checksum::fold(sum) != 0xffff) *errors |= rx::kErrTcpe;
}

bool E1000::receive(std::span<const uint8_t> incoming) {
  if (!(r(reg::kRctl) & kRctlEn) || !link_up_ || incoming.size() < 14) return false;
  uint32_t rctl = r(reg::kRctl);
  size_t limit = (rctl & kRctlLpe) ? kMaxLongFrame : kMaxStandardFrame;
  if (incoming.size() > limit) {
    r(stat::kRoc) += 1;
    return false;
  }
  if (!accept_frame(incoming)) return false;
  // The frame as the guest sees it: VLAN tag stripped into the descriptor, padded to the
  // minimum length, with room for the FCS unless the guest asked for it to be stripped.
  std::vector<uint8_t>& frame = rx_frame_;
  frame.assign(incoming.begin(), incoming.end());
  uint8_t status = 0, errors = 0;
  uint16_t special = 0;
  if ((r(reg::kCtrl) & kCtrlVme) && frame.size() >= 18 && load16be(&frame[12]) == r(reg::kVet)) {
    special = load16be(&frame[14]);
    frame.erase(frame.begin() + 12, frame.begin() + 16);
    status |= rx::kStaVp;
  }
  rx_checksum_status(frame, &status, &errors);
  if (frame.size() < kMinFrame) frame.resize(kMinFrame, 0);
  if (!(rctl & kRctlSecrc)) frame.resize(frame.size() + kFcsSize, 0);

  unsigned buffer = rx_buffer_size();
  unsigned needed = static_cast<unsigned>((frame.size() + buffer - 1) / buffer);
  if (needed > rx_free_descriptors()) {
    // No room: the frame is missed, as on the wire; the guest hears of it.
    r(stat::kMpc) += 1;
    r(stat::kRnbc) += 1;
    raise_cause(kIcrRxo);
    return false;
  }
  uint32_t ring = r(reg::kRdlen) / kDescriptorSize;
  uint64_t base = uint64_t{r(reg::kRdbah)} << 32 | (r(reg::kRdbal) & ~0xfu);
  for (size_t done = 0; done < frame.size();) {
    uint64_t address = base + uint64_t{r(reg::kRdh)} * kDescriptorSize;
    uint8_t descriptor[kDescriptorSize];
    if (!memory_.read(address, descriptor, sizeof(descriptor))) {
      HVMD_GUEST_LOG("e1000: receive descriptor at %#llx is not in guest RAM",
                     static_cast<unsigned long long>(address));
      return false;
    }
    size_t chunk = std::min<size_t>(buffer, frame.size() - done);
    uint64_t buffer_address;
    std::memcpy(&buffer_address, descriptor, 8);
    if (buffer_address && !memory_.write(buffer_address, frame.data() + done, chunk))
      HVMD_GUEST_LOG("e1000: receive buffer %#llx is not in guest RAM",
                     static_cast<unsigned long long>(buffer_address));
    done += chunk;
    bool last = done == frame.size();
    // Write-back: length, checksum (not computed: 0), status, errors, special.
    descriptor[8] = static_cast<uint8_t>(chunk);
    descriptor[9] = static_cast<uint8_t>(chunk >> 8);
    descriptor[10] = descriptor[11] = 0;
    descriptor[12] = static_cast<uint8_t>(rx::kStaDd | (last ? rx::kStaEop | status : 0));
    descriptor[13] = last ? errors : 0;
    descriptor[14] = static_cast<uint8_t>(special);
    descriptor[15] = static_cast<uint8_t>(special >> 8);
    memory_.write(address + 8, descriptor + 8, 8);
    r(reg::kRdh) = (r(reg::kRdh) + 1) % ring;
  }
  r(stat::kGprc) += 1;
  r(stat::kTpr) += 1;
  r(stat::kGorcl) += static_cast<uint32_t>(frame.size());
  r(stat::kTorl) += static_cast<uint32_t>(frame.size());
  if (incoming[0] == 0xff && incoming[1] == 0xff) {
    r(stat::kBprc) += 1;
  } else if (incoming[0] & 1) {
    r(stat::kMprc) += 1;
  }
  rx_interrupts();
  return true;
}

// RXDMT0 when free descriptors fall to the threshold (RCTL.RDMTS: 1/2, 1/4, 1/8 of the ring);
// RXT0 at once, or RDTR after the last frame and at most RADV after the first.
void E1000::rx_interrupts() {
  uint32_t ring = r(reg::kRdlen) / kDescriptorSize;
  unsigned threshold = ring >> (((r(reg::kRctl) >> kRctlRdmtsShift) & 3) + 1);
  uint32_t causes = rx_free_descriptors() <= threshold ? kIcrRxdmt0 : 0;
  int64_t now = clock_.now_ns();
  int64_t rdtr = int64_t{r(reg::kRdtr) & 0xffff} * kDelayUnitNs;
  if (rdtr == 0) {
    rx_delay_timer_.cancel();
    rx_delay_start_ns_ = -1;
    causes |= kIcrRxt0;
  } else {
    if (rx_delay_start_ns_ < 0) rx_delay_start_ns_ = now;
    int64_t deadline = now + rdtr;
    if (r(reg::kRadv))
      deadline = std::min(deadline, rx_delay_start_ns_ + int64_t{r(reg::kRadv)} * kDelayUnitNs);
    rx_delay_timer_.arm_at(deadline);
  }
  if (causes) raise_cause(causes);
}

}  // namespace hvmd::devices::e1000
