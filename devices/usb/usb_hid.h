// USB HID devices (HID 1.11): usb-tablet (an absolute pointer, 0..0x7fff on both axes, with a
// wheel: what VNC and QMP's abs events feed, and what Linux's hid-generic and Windows' HID mouse
// class driver read without a driver of their own), usb-mouse (relative, boot protocol capable)
// and usb-kbd (the boot keyboard with LEDs). Each is a consumer of the machine's InputRouter and
// reports through interrupt IN endpoint 1; between reports the endpoint NAKs, or repeats the
// current state when SET_IDLE asked for a rate.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "devices/usb/usb_device.h"
#include "dm/clock.h"
#include "dm/input.h"

namespace hvmd::devices::usb {

struct UsbHidState {
  static constexpr unsigned kMaxReport = 8;    // the keyboard's, the largest
  static constexpr unsigned kQueueDepth = 16;  // reports kept while the guest is not polling
  static constexpr unsigned kMaxKeys = 16;     // keys held at once that are tracked
  uint8_t protocol_ = 1;                       // 0 boot, 1 report
  uint8_t idle_ = 0;                           // SET_IDLE duration in 4 ms units, 0: only on change
  uint8_t leds_ = 0;                           // keyboard output report
  uint8_t buttons_ = 0;
  uint16_t x_ = 0, y_ = 0;      // tablet position
  std::vector<uint8_t> queue_;  // whole reports of report_size() bytes, oldest first
  std::vector<uint8_t> keys_;   // keyboard: usages held, in press order (modifiers excluded)
  uint8_t modifiers_ = 0;
  template <class V>
  void describe(V& v);
};

class UsbHid final : public UsbDevice,
                     public KeyboardInput,
                     public RelativePointerInput,
                     public AbsolutePointerInput,
                     private UsbHidState {
 public:
  enum class Kind : uint8_t { kTablet, kMouse, kKeyboard };
  UsbHid(Kind kind, Clock& clock, InputRouter& input);
  ~UsbHid() override;
  std::string_view type() const override;
  std::string product() const override;
  void unrealize() override;
  Kind kind() const { return kind_; }
  uint8_t leds() const { return leds_; }

  void key_event(uint16_t qnum, bool pressed) override;
  void relative_event(int dx, int dy, int dz, uint8_t buttons) override;
  void absolute_event(uint32_t x, uint32_t y, int dz, uint8_t buttons) override;

  // The HID usage of a PC set-1 key code (0x80 | code behind 0xE0), or 0 if it has none.
  static uint8_t usage_from_qnum(uint16_t qnum);

 protected:
  std::span<const uint8_t> device_descriptor() const override;
  std::span<const uint8_t> configuration_descriptor() const override;
  bool class_request(const SetupPacket& setup, std::span<const uint8_t> data,
                     std::vector<uint8_t>& reply) override;
  void endpoint_in(unsigned endpoint, Packet& packet) override;
  void usb_reset() override;
  void save_usb(StateWriter& out) const override;
  Result<std::unique_ptr<StagedState>> parse_usb(StateReader& in, uint32_t version) override;

 private:
  unsigned report_size() const;
  // The report the current state makes (motion: the given deltas).
  std::vector<uint8_t> make_report(int dx, int dy, int dz) const;
  void queue_report(std::vector<uint8_t> report);
  std::span<const uint8_t> report_descriptor() const;
  void unregister();

  Kind kind_;
  Clock& clock_;
  InputRouter* input_;
  int64_t last_report_ns_ = 0;
  std::vector<uint8_t> config_;
};

}  // namespace hvmd::devices::usb
