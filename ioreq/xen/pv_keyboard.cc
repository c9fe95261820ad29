#include "ioreq/xen/pv_keyboard.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <xen/io/kbdif.h>

#include "dm/log.h"

namespace hvmd::xen {
namespace {

constexpr uint64_t kPageSize = 4096;
// Linux input codes the pointer's buttons arrive as (linux/input-event-codes.h).
constexpr uint32_t kBtnLeft = 0x110;
constexpr uint32_t kBtnRight = 0x111;
constexpr uint32_t kBtnMiddle = 0x112;
// Event-channel ports are below 2^17 with FIFO event channels; a page frame below 2^40 is well
// past any HVM guest's memory.
constexpr uint64_t kMaxPort = (1u << 17) - 1;
constexpr uint64_t kMaxGfn = (uint64_t{1} << 40) - 1;

struct KeyMap {
  uint16_t qnum;
  uint16_t keycode;
};
// Keys whose Linux code is not their set-1 code (codes 0x01-0x58 without prefix are, but 0x54).
constexpr KeyMap kKeyMap[] = {
    {0x54, 99},  {0x70, 93},  {0x73, 89},  {0x79, 92},  {0x7b, 94},  {0x7d, 124}, {0x9c, 96},
    {0x9d, 97},  {0xa0, 113}, {0xae, 114}, {0xb0, 115}, {0xb5, 98},  {0xb7, 99},  {0xb8, 100},
    {0xc6, 119}, {0xc7, 102}, {0xc8, 103}, {0xc9, 104}, {0xcb, 105}, {0xcd, 106}, {0xcf, 107},
    {0xd0, 108}, {0xd1, 109}, {0xd2, 110}, {0xd3, 111}, {0xdb, 125}, {0xdc, 126}, {0xdd, 127},
    {0xde, 116}, {0xdf, 142}, {0xe3, 143},
};

}  // namespace

uint32_t linux_keycode(uint16_t qnum) {
  for (const KeyMap& k : kKeyMap)
    if (k.qnum == qnum) return k.keycode;
  if (qnum >= 0x01 && qnum <= 0x58 && qnum != 0x55) return qnum;
  return 0;
}

PvKeyboard::PvKeyboard(XenPlatform& platform, XenbusStore& store, GuestMemory& memory,
                       InputRouter& input, uint32_t domid, uint32_t backend_domid)
    : platform_(platform),
      store_(store),
      memory_(memory),
      input_(input),
      backend_("/local/domain/" + std::to_string(backend_domid) + "/backend/vkbd/" +
               std::to_string(domid) + "/0") {}

PvKeyboard::~PvKeyboard() {
  disconnect();
}

Result<void> PvKeyboard::start() {
  return store_.watch(backend_);
}

void PvKeyboard::process_watches() {
  bool changed = false;
  // Bounded: a burst of changes is followed in one pass, whatever its length.
  for (int i = 0; i < 1024; ++i) {
    if (!store_.next_watch()) break;
    changed = true;
  }
  if (changed) update();
}

void PvKeyboard::update() {
  // The backend directory is the toolstack's: without it (not created yet, or removed when the
  // domain goes) there is nothing to serve.
  auto backend_state = parse_xenstore_number(store_.read(backend_ + "/state"), kClosed);
  auto frontend = store_.read(backend_ + "/frontend");
  if (!backend_state || !frontend || frontend->empty()) {
    disconnect();
    state_ = kUnknown;
    return;
  }
  if (*frontend != watched_frontend_) {
    if (!watched_frontend_.empty()) store_.unwatch(watched_frontend_ + "/state");
    frontend_ = *frontend;
    watched_frontend_ = frontend_;
    // Fires at once, and again each time the guest changes its state.
    if (auto w = store_.watch(frontend_ + "/state"); !w)
      HVMD_WARN("vkbd: %s", w.error().message.c_str());
  }
  if (state_ == kUnknown) {
    // Absolute positions in the router's range; keyboard and pointer both offered.
    (void)store_.write(backend_ + "/" XENKBD_FIELD_FEAT_ABS_POINTER, "1");
    (void)store_.write(backend_ + "/" XENKBD_FIELD_WIDTH, std::to_string(kPointerSize));
    (void)store_.write(backend_ + "/" XENKBD_FIELD_HEIGHT, std::to_string(kPointerSize));
    set_state(kInitWait);
  }
  // The guest's value: anything but a known state counts as "not there yet".
  auto frontend_state = parse_xenstore_number(store_.read(frontend_ + "/state"), kClosed);
  switch (frontend_state.value_or(kUnknown)) {
    case kInitialised:
    case kConnected:
      // A frontend that published a new page or channel (its resume after a restore does)
      // gets a fresh connection.
      if (connected() && (read_gfn() != page_gfn_ || read_port() != remote_port_)) disconnect();
      if (!connected()) connect();
      break;
    case kClosing:
      disconnect();
      if (state_ != kClosing && state_ != kClosed) set_state(kClosing);
      break;
    case kClosed:
      disconnect();
      set_state(kClosed);
      break;
    default:
      // A frontend starting (again, after a guest's kexec or its driver's reload): wait for it.
      disconnect();
      if (state_ != kInitWait) set_state(kInitWait);
      break;
  }
}

std::optional<uint64_t> PvKeyboard::read_gfn() {
  return parse_xenstore_number(store_.read(frontend_ + "/" XENKBD_FIELD_RING_REF), kMaxGfn);
}

std::optional<uint64_t> PvKeyboard::read_port() {
  return parse_xenstore_number(store_.read(frontend_ + "/" XENKBD_FIELD_EVT_CHANNEL), kMaxPort);
}

void PvKeyboard::connect() {
  // page-ref is the frame of the shared page in the guest's memory map (Linux writes page-gref,
  // its grant, too; the frame needs no grant-table device).
  auto gfn = read_gfn();
  auto port = read_port();

  if (!gfn || !port) {
    HVMD_GUEST_LOG("vkbd: frontend %s is Initialised without a valid page-ref and event-channel",
                   frontend_.c_str());
    return;
  }
  void* page = platform_.map_guest(*gfn, 1);
  if (!page) {
    HVMD_GUEST_LOG("vkbd: page-ref 0x%llx is not the guest's RAM",
                   static_cast<unsigned long long>(*gfn));
    return;
  }
  auto local = platform_.bind(static_cast<uint32_t>(*port));
  if (!local) {
    HVMD_GUEST_LOG("vkbd: cannot bind the frontend's event channel %u: %s",
                   static_cast<unsigned>(*port), local.error().message.c_str());
    platform_.unmap_guest(page, 1);
    return;
  }
  page_ = page;
  page_gfn_ = *gfn;
  local_port_ = *local;
  remote_port_ = static_cast<uint32_t>(*port);
  // The frontend zeroes the indexes before it publishes the page; ours starts from its value
  // and is never read back (the guest may scribble on the page).
  prod_ = __atomic_load_n(&static_cast<xenkbd_page*>(page_)->in_prod, __ATOMIC_ACQUIRE);
  buttons_ = 0;
  set_state(kConnected);
  input_.add_keyboard(this);
  input_.add_absolute(this);
  HVMD_INFO("vkbd: connected to %s (frame 0x%llx, event channel %u)", frontend_.c_str(),
            static_cast<unsigned long long>(page_gfn_), static_cast<unsigned>(*port));
}

void PvKeyboard::disconnect() {
  if (!page_) return;
  input_.remove_keyboard(this);
  input_.remove_absolute(this);
  platform_.unbind(local_port_);
  platform_.unmap_guest(page_, 1);
  page_ = nullptr;
  HVMD_INFO("vkbd: disconnected from %s", frontend_.c_str());
}

void PvKeyboard::set_state(State state) {
  state_ = state;
  if (auto w = store_.write(backend_ + "/state", std::to_string(state)); !w)
    HVMD_WARN("vkbd: %s", w.error().message.c_str());
}

void PvKeyboard::push(const void* event, size_t size) {
  if (!page_) return;
  auto* shared = static_cast<xenkbd_page*>(page_);
  // The consumer index is the guest's: a value ahead of ours, or one that leaves no room, drops
  // the event rather than overwrite what the frontend has not read.
  uint32_t cons = __atomic_load_n(&shared->in_cons, __ATOMIC_ACQUIRE);
  if (prod_ - cons >= XENKBD_IN_RING_LEN) {
    HVMD_GUEST_LOG("vkbd: in-ring full (prod %u, cons %u), event dropped", prod_, cons);
    return;
  }
  auto* slot = &XENKBD_IN_RING_REF(page_, prod_);
  memset(slot, 0, sizeof(*slot));
  memcpy(slot, event, size);
  ++prod_;
  // The event is in the ring before the frontend can see the new producer index.
  __atomic_store_n(&shared->in_prod, prod_, __ATOMIC_RELEASE);
  memory_.mark_dirty(page_gfn_ * kPageSize, kPageSize);
  platform_.notify(local_port_);
}

void PvKeyboard::push_key(uint32_t keycode, bool pressed) {
  xenkbd_key key{};
  key.type = XENKBD_TYPE_KEY;
  key.pressed = pressed ? 1 : 0;
  key.keycode = keycode;
  push(&key, sizeof(key));
}

void PvKeyboard::key_event(uint16_t qnum, bool pressed) {
  uint32_t keycode = linux_keycode(qnum);
  if (keycode) push_key(keycode, pressed);
}

void PvKeyboard::absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons) {
  xenkbd_position position{};
  position.type = XENKBD_TYPE_POS;
  position.abs_x = static_cast<int32_t>(std::min(x, kPointerSize));
  position.abs_y = static_cast<int32_t>(std::min(y, kPointerSize));
  position.rel_z = dz;
  push(&position, sizeof(position));
  constexpr std::pair<uint8_t, uint32_t> kButtons[] = {
      {kButtonLeft, kBtnLeft}, {kButtonRight, kBtnRight}, {kButtonMiddle, kBtnMiddle}};
  for (auto [bit, code] : kButtons)
    if ((buttons ^ buttons_) & bit) push_key(code, (buttons & bit) != 0);
  buttons_ = buttons;
}

}  // namespace hvmd::xen
