// PvKeyboard: the backend of Xen's PV keyboard and pointer (vkbd; the protocol is Xen's public
// xen/io/kbdif.h). libxl creates a vkbd device for every HVM guest with the device model as its
// backend; Linux's xen-kbdfront waits 30 s at boot for it to connect. The backend follows the
// xenbus handshake through watches: it publishes its features and goes InitWait; when the
// frontend is Initialised it maps the frontend's shared page (page-ref, a frame of the guest),
// binds its event channel and goes Connected. Events are written into the page's in-ring
// (keys as Linux key codes, absolute positions, buttons as BTN_* keys), the frontend notified.
// While connected it is the machine's keyboard and absolute pointer (as QEMU's backend is, once
// its frontend connects), so QMP input-send-event and a display's input reach it; before and
// after, the i8042 gets them. Everything the frontend writes (page frame, port, ring consumer
// index, its state) is checked: a bad value leaves the device unconnected or an event dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dm/guest_memory.h"
#include "dm/input.h"
#include "ioreq/xen/xen_platform.h"
#include "ioreq/xen/xenbus_store.h"

namespace hvmd::xen {

// Linux's KEY_* code for a QEMU qnum (PC set-1 code, 0x80 | code after an 0xE0 prefix); 0 for
// keys Linux's table does not map.
uint32_t linux_keycode(uint16_t qnum);

class PvKeyboard final : public KeyboardInput, public AbsolutePointerInput {
 public:
  // xenbus states (xen/io/xenbus.h).
  enum State : unsigned {
    kUnknown = 0,
    kInitialising = 1,
    kInitWait = 2,
    kInitialised = 3,
    kConnected = 4,
    kClosing = 5,
    kClosed = 6,
  };
  // Published as width and height: Linux's xen-kbdfront reports positions in [0, size], so
  // the router's absolute range passes through unscaled.
  static constexpr uint32_t kPointerSize = InputRouter::kAbsoluteMax;

  // backend_domid: the domain this device model runs in (0: dom0).
  PvKeyboard(XenPlatform& platform, XenbusStore& store, GuestMemory& memory, InputRouter& input,
             uint32_t domid, uint32_t backend_domid = 0);
  ~PvKeyboard() override;
  PvKeyboard(const PvKeyboard&) = delete;
  PvKeyboard& operator=(const PvKeyboard&) = delete;

  // Watches the backend's xenstore directory (libxl may create it before or after us).
  Result<void> start();
  // Takes every pending watch event and follows the handshake (the loop calls this).
  void process_watches();

  bool connected() const { return page_ != nullptr; }
  State state() const { return state_; }
  const std::string& backend_path() const { return backend_; }

  // KeyboardInput, AbsolutePointerInput (only while connected).
  void key_event(uint16_t qnum, bool pressed) override;
  void absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons) override;

 private:
  void update();
  void connect();
  std::optional<uint64_t> read_gfn();
  std::optional<uint64_t> read_port();
  void disconnect();
  void set_state(State state);
  void push(const void* event, size_t size);
  void push_key(uint32_t keycode, bool pressed);

  XenPlatform& platform_;
  XenbusStore& store_;
  GuestMemory& memory_;
  InputRouter& input_;
  std::string backend_;   // /local/domain/<backend>/backend/vkbd/<domid>/0
  std::string frontend_;  // read from the backend's "frontend" key (libxl wrote it)
  std::string watched_frontend_;
  State state_ = kUnknown;  // what we last wrote as the backend's state
  void* page_ = nullptr;    // the frontend's shared page, mapped
  uint64_t page_gfn_ = 0;
  uint32_t local_port_ = 0;
  uint32_t remote_port_ = 0;
  uint32_t prod_ = 0;  // our in-ring producer index; the page's copy is only written
  uint8_t buttons_ = 0;
};

}  // namespace hvmd::xen
