// Transmit: the ring between TDH and TDT, legacy and extended (context + data) descriptors,
// frames assembled across descriptors, IP/TCP/UDP checksum insertion, TCP segmentation, VLAN tag
// insertion, status write-back and the TXDW/TXQE interrupts (delayed by TIDV/TADV when a
// descriptor asks for it).
//
// Bounds: one kick walks the ring at most once (a ring the guest keeps refilling is picked up on
// its next TDT write); a TDH outside the ring stops the engine (the CVE-2016-1981 class); a frame
// holds at most NetBackend::kMaxFrame bytes, whatever mix of descriptors builds it (the
// CVE-2021-20257 class); segmentation needs an MSS and a header inside the frame (CVE-2015-6815).
#include <algorithm>
#include <cstring>

#include "devices/e1000/e1000.h"
#include "devices/e1000/e1000_checksum.h"
#include "dm/log.h"

namespace hvmd::devices::e1000 {

namespace {

constexpr size_t kEthernetHeader = 14;
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08;
constexpr size_t kVlanTagSize = 4;

// A checksum over frame[start, end] (end inclusive; 0 = to the end of the frame) stored at
// offset: the 16-bit field already holds the pseudo-header sum the driver put there.
void insert_checksum(std::vector<uint8_t>& frame, size_t offset, size_t start, size_t end) {
  if (end == 0 || end >= frame.size()) end = frame.size() - 1;
  if (start > end || offset + 2 > frame.size()) return;  // a context that does not fit: as is
  uint16_t sum = checksum::fold(checksum::add(0, {frame.data() + start, end - start + 1}));
  store16be(&frame[offset], static_cast<uint16_t>(~sum));
}

bool is_multicast(const std::vector<uint8_t>& frame) {
  return frame.size() >= 6 && (frame[0] & 1);
}
bool is_broadcast(const std::vector<uint8_t>& frame) {
  return frame.size() >= 6 &&
         std::all_of(frame.begin(), frame.begin() + 6, [](uint8_t b) { return b == 0xff; });
}

}  // namespace

void E1000::transmit() {
  if (!(r(reg::kTctl) & kTctlEn) || in_transmit_) return;
  uint32_t ring = r(reg::kTdlen) / kDescriptorSize;
  if (ring == 0) return;
  if (r(reg::kTdh) >= ring) {
    HVMD_GUEST_LOG("e1000: TDH %u outside the ring of %u descriptors; transmit stopped",
                   r(reg::kTdh), ring);
    return;
  }
  in_transmit_ = true;
  uint64_t base = uint64_t{r(reg::kTdbah)} << 32 | (r(reg::kTdbal) & ~0xfu);
  bool delayed = true;
  bool any = false;
  bool processed = false;
  for (uint32_t budget = ring; budget > 0 && r(reg::kTdh) != r(reg::kTdt); --budget) {
    uint64_t address = base + uint64_t{r(reg::kTdh)} * kDescriptorSize;
    uint8_t descriptor[kDescriptorSize];
    if (!memory_.read(address, descriptor, sizeof(descriptor))) {
      HVMD_GUEST_LOG("e1000: transmit descriptor at %#llx is not in guest RAM",
                     static_cast<unsigned long long>(address));
      break;
    }
    process_tx_descriptor(descriptor);
    uint8_t command = descriptor[11];
    if (command & tx::kCmdRs) {
      // Report status: descriptor done. Both formats keep STA in byte 12.
      descriptor[12] |= tx::kStaDd;
      memory_.write(address + 12, &descriptor[12], 1);
      any = true;
      if (!(command & tx::kCmdIde)) delayed = false;
    }
    r(reg::kTdh) = (r(reg::kTdh) + 1) % ring;
    processed = true;
  }
  in_transmit_ = false;
  if (any) tx_done(delayed);
  // The queue ran empty: said once, when this pass emptied it.
  if (processed && r(reg::kTdh) == r(reg::kTdt)) raise_cause(kIcrTxqe);
}

void E1000::process_tx_descriptor(const uint8_t* d) {
  uint64_t address;
  std::memcpy(&address, d, 8);
  uint32_t dword2;
  std::memcpy(&dword2, d + 8, 4);
  uint8_t command = d[11];
  bool extended = command & tx::kCmdDext;
  uint8_t dtyp = (dword2 >> 20) & 0xf;
  if (extended && dtyp == tx::kDtypContext) {
    context_.ipcss = d[0];
    context_.ipcso = d[1];
    context_.ipcse = static_cast<uint16_t>(d[2] | d[3] << 8);
    context_.tucss = d[4];
    context_.tucso = d[5];
    context_.tucse = static_cast<uint16_t>(d[6] | d[7] << 8);
    context_.paylen = dword2 & 0xfffff;
    context_.tucmd = command;
    context_.hdrlen = d[13];
    context_.mss = static_cast<uint16_t>(d[14] | d[15] << 8);
    return;
  }
  uint32_t length = extended ? (dword2 & 0xfffff) : (dword2 & 0xffff);
  if (extended && dtyp != tx::kDtypData) {
    HVMD_GUEST_LOG("e1000: transmit descriptor of unknown type %u skipped", dtyp);
    return;
  }
  if (extended && !frame_popts_set_) {
    frame_popts_ = d[13];  // the packet's options come with its first data descriptor
    frame_popts_set_ = true;
    frame_tse_ = (command & tx::kCmdTse) && (context_.tucmd & tx::kTucmdTse);
  }
  if (!append_tx_data(address, length)) frame_overflow_ = true;
  if (!(command & tx::kCmdEop)) return;
  if (!extended) {
    // Legacy checksum insertion: CSS to the end, stored at CSO.
    uint8_t cso = d[10], css = d[13];
    if ((command & tx::kCmdIc) && !frame_overflow_ && cso + 2u <= frame_.size())
      insert_checksum(frame_, cso, css, 0);
    frame_popts_ = 0;
    frame_tse_ = false;
  }
  bool vlan = (command & tx::kCmdVle) && (r(reg::kCtrl) & kCtrlVme);
  vlan_tag_ = static_cast<uint16_t>(d[14] | d[15] << 8);
  insert_vlan_ = vlan;
  finish_tx_frame();
}

bool E1000::append_tx_data(uint64_t address, uint32_t length) {
  if (frame_overflow_ || length > NetBackend::kMaxFrame - frame_.size()) return false;
  size_t at = frame_.size();
  frame_.resize(at + length);
  if (!memory_.read(address, frame_.data() + at, length)) {
    HVMD_GUEST_LOG("e1000: transmit buffer %#llx+%u is not in guest RAM",
                   static_cast<unsigned long long>(address), length);
    frame_.resize(at);
    return false;
  }
  return true;
}

void E1000::finish_tx_frame() {
  if (frame_overflow_) {
    HVMD_GUEST_LOG("e1000: transmit frame larger than %zu bytes or unreadable, dropped",
                   NetBackend::kMaxFrame);
  } else if (frame_tse_) {
    segment_and_send();
  } else if (!frame_.empty()) {
    if (frame_popts_ & tx::kPoptsIxsm)
      insert_checksum(frame_, context_.ipcso, context_.ipcss, context_.ipcse);
    if (frame_popts_ & tx::kPoptsTxsm)
      insert_checksum(frame_, context_.tucso, context_.tucss, context_.tucse);
    send_frame(frame_);
  }
  frame_.clear();
  frame_overflow_ = frame_tse_ = frame_popts_set_ = false;
  frame_popts_ = 0;
}

// TCP segmentation: the first HDRLEN bytes are the headers, the rest is cut into MSS-sized
// segments, each sent with the headers adjusted (IP length and ID, TCP sequence number and
// flags, or UDP length) and its checksums computed.
void E1000::segment_and_send() {
  const TxContext& c = context_;
  size_t header = c.hdrlen;
  bool ipv4 = c.tucmd & tx::kTucmdIp;
  bool tcp = c.tucmd & tx::kTucmdTcp;
  if (c.mss == 0 || header == 0 || header >= frame_.size() || c.tucss + 20u > header ||
      c.ipcss + (ipv4 ? 20u : 40u) > header || c.tucso + 2u > header || c.ipcso + 2u > header) {
    HVMD_GUEST_LOG("e1000: TSO context unusable (MSS %u, header %zu, frame %zu); dropped", c.mss,
                   header, frame_.size());
    return;
  }
  r(stat::kTsctc) += 1;
  size_t payload = frame_.size() - header;
  if (tcp && backend_ && link_up_ && backend_->can_segment() && !insert_vlan_ &&
      frame_.size() - c.ipcss <= 0xffff && c.tucso > c.tucss) {
    send_for_host_segmentation();
    return;
  }
  uint16_t ip_id = ipv4 ? load16be(&frame_[c.ipcss + 4]) : 0;
  uint32_t sequence =
      tcp ? uint32_t{load16be(&frame_[c.tucss + 4])} << 16 | load16be(&frame_[c.tucss + 6]) : 0;
  uint16_t pseudo = load16be(&frame_[c.tucso]);  // the driver's sum, without the length
  std::vector<uint8_t> segment;
  unsigned index = 0;
  for (size_t offset = 0; offset < payload; offset += c.mss, ++index) {
    size_t length = std::min<size_t>(c.mss, payload - offset);
    bool last = offset + length >= payload;
    segment.assign(frame_.begin(), frame_.begin() + static_cast<ptrdiff_t>(header));
    segment.insert(segment.end(), frame_.begin() + static_cast<ptrdiff_t>(header + offset),
                   frame_.begin() + static_cast<ptrdiff_t>(header + offset + length));
    if (ipv4) {
      store16be(&segment[c.ipcss + 2], segment.size() - c.ipcss);
      store16be(&segment[c.ipcss + 4], static_cast<uint16_t>(ip_id + index));
    } else {
      store16be(&segment[c.ipcss + 4], segment.size() - c.ipcss - 40);
    }
    size_t l4_length = segment.size() - c.tucss;
    if (tcp) {
      uint32_t seq = sequence + static_cast<uint32_t>(offset);
      store16be(&segment[c.tucss + 4], seq >> 16);
      store16be(&segment[c.tucss + 6], seq);
      if (!last) segment[c.tucss + 13] &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    } else {
      store16be(&segment[c.tucss + 4], l4_length);
    }
    if (frame_popts_ & tx::kPoptsIxsm) {
      store16be(&segment[c.ipcso], 0);
      insert_checksum(segment, c.ipcso, c.ipcss, c.ipcse);
    }
    if (frame_popts_ & tx::kPoptsTxsm) {
      // The pseudo-header sum gains this segment's length.
      store16be(&segment[c.tucso], checksum::fold(uint32_t{pseudo} + l4_length));
      insert_checksum(segment, c.tucso, c.tucss, 0);
    }
    send_frame(segment);
  }
}

// The host segments (a tap with virtio-net headers): the frame goes as one, its IP length set for
// the whole and its TCP checksum field holding the pseudo-header sum with the whole length, as
// the host's segmentation expects; the host fixes IDs, sequence numbers, flags and checksums.
void E1000::send_for_host_segmentation() {
  const TxContext& c = context_;
  bool ipv4 = c.tucmd & tx::kTucmdIp;
  std::vector<uint8_t>& frame = frame_;
  if (ipv4) {
    store16be(&frame[c.ipcss + 2], frame.size() - c.ipcss);
    store16be(&frame[c.ipcso], 0);
    insert_checksum(frame, c.ipcso, c.ipcss, c.ipcse);
  } else {
    store16be(&frame[c.ipcss + 4], frame.size() - c.ipcss - 40);
  }
  uint16_t pseudo = load16be(&frame[c.tucso]);  // the driver's sum, without the length
  store16be(&frame[c.tucso], checksum::fold(uint32_t{pseudo} + (frame.size() - c.tucss)));
  size_t payload = frame.size() - c.hdrlen;
  auto segments = static_cast<uint32_t>((payload + c.mss - 1) / c.mss);
  r(stat::kTpt) += segments;
  r(stat::kTotl) += static_cast<uint32_t>(frame.size() + (segments - 1) * c.hdrlen);
  bool sent =
      backend_->send_segmented(frame, {.ipv6 = !ipv4,
                                       .header_length = c.hdrlen,
                                       .mss = c.mss,
                                       .csum_start = c.tucss,
                                       .csum_offset = static_cast<uint16_t>(c.tucso - c.tucss)});
  if (sent) {
    r(stat::kGptc) += segments;
    r(stat::kGotcl) += static_cast<uint32_t>(frame.size() + (segments - 1) * c.hdrlen);
  }
}

void E1000::send_frame(std::vector<uint8_t>& frame) {
  if (frame.size() < kEthernetHeader) return;
  if (insert_vlan_) {
    uint8_t tag[kVlanTagSize];
    store16be(tag, r(reg::kVet));
    store16be(tag + 2, vlan_tag_);
    frame.insert(frame.begin() + 12, tag, tag + kVlanTagSize);
  }
  r(stat::kTpt) += 1;
  r(stat::kTotl) += static_cast<uint32_t>(frame.size());
  if (is_broadcast(frame)) {
    r(stat::kBptc) += 1;
  } else if (is_multicast(frame)) {
    r(stat::kMptc) += 1;
  }
  if (backend_ && link_up_ && backend_->send(frame)) {
    r(stat::kGptc) += 1;
    r(stat::kGotcl) += static_cast<uint32_t>(frame.size());
  }
  if (insert_vlan_) frame.erase(frame.begin() + 12, frame.begin() + 12 + kVlanTagSize);
}

// TXDW at once, or after TIDV (restarted by each descriptor) and at most TADV from the first.
void E1000::tx_done(bool delay) {
  int64_t now = clock_.now_ns();
  int64_t tidv = int64_t{r(reg::kTidv)} * kDelayUnitNs;
  if (!delay || tidv == 0) {
    tx_delay_timer_.cancel();
    tx_delay_start_ns_ = -1;
    raise_cause(kIcrTxdw);
    return;
  }
  if (tx_delay_start_ns_ < 0) tx_delay_start_ns_ = now;
  int64_t deadline = now + tidv;
  if (r(reg::kTadv))
    deadline = std::min(deadline, tx_delay_start_ns_ + int64_t{r(reg::kTadv)} * kDelayUnitNs);
  tx_delay_timer_.arm_at(deadline);
}

}  // namespace hvmd::devices::e1000
