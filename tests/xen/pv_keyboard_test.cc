// The vkbd backend against an in-memory xenstore and the simulated hypervisor: the xenbus
// handshake as libxl and Linux's xen-kbdfront drive it, events in the shared page's in-ring as
// the frontend reads them (xen/io/kbdif.h), the input router's hand-over, and hostile frontends.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <map>
#include <set>

#include <xen/io/kbdif.h>

#include "dm/input.h"
#include "ioreq/xen/pv_keyboard.h"
#include "tests/xen/sim_xen.h"

namespace hvmd::test {
namespace {

using xen::PvKeyboard;

constexpr uint32_t kDomid = 7;
constexpr uint64_t kRam = 4 << 20;
constexpr uint64_t kRingGfn = 0x123;
constexpr uint32_t kPort = SimXen::kFirstFrontendPort + 3;
const std::string kBackend = "/local/domain/0/backend/vkbd/7/0";
const std::string kFrontend = "/local/domain/7/device/vkbd/0";

// xenstore in memory: a watch fires when set and on every write at or below its path.
class FakeStore final : public xen::XenbusStore {
 public:
  FakeStore() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~FakeStore() override { close(fd_); }
  std::optional<std::string> read(const std::string& path) override {
    auto it = values_.find(path);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  Result<void> write(const std::string& path, const std::string& value) override {
    values_[path] = value;
    fire(path);
    return ok();
  }
  Result<void> watch(const std::string& path) override {
    watches_.insert(path);
    pending_.push_back(path);
    return ok();
  }
  void unwatch(const std::string& path) override { watches_.erase(path); }
  int watch_fd() override { return fd_; }
  std::optional<std::string> next_watch() override {
    if (pending_.empty()) return std::nullopt;
    std::string path = pending_.front();
    pending_.pop_front();
    return path;
  }
  void remove_tree(const std::string& prefix) {
    std::erase_if(values_, [&](const auto& entry) { return entry.first.starts_with(prefix); });
    fire(prefix);
  }
  std::string value(const std::string& path) { return read(path).value_or("<none>"); }

 private:
  void fire(const std::string& path) {
    for (const std::string& w : watches_)
      if (path == w || path.starts_with(w + "/") || w.starts_with(path + "/"))
        pending_.push_back(w);
  }
  int fd_;
  std::map<std::string, std::string> values_;
  std::set<std::string> watches_;
  std::deque<std::string> pending_;
};

class CountingMemory final : public GuestMemory {
 public:
  std::span<uint8_t> map(uint64_t, uint64_t) override { return {}; }
  void mark_dirty(uint64_t gpa, uint64_t length) override { dirty.push_back({gpa, length}); }
  std::vector<std::pair<uint64_t, uint64_t>> dirty;
};

class RecordingKeyboard final : public KeyboardInput {
 public:
  void key_event(uint16_t qnum, bool pressed) override { keys.push_back({qnum, pressed}); }
  std::vector<std::pair<uint16_t, bool>> keys;
};

class PvKeyboardTest : public ::testing::Test {
 protected:
  PvKeyboardTest() : xen_(1, kRam), keyboard_(xen_, store_, memory_, input_, kDomid) {
    input_.add_keyboard(&ps2_);  // the i8042, registered when the board was built
  }
  // What libxl writes before the guest starts.
  void create_backend() {
    (void)store_.write(kBackend + "/frontend", kFrontend);
    (void)store_.write(kBackend + "/frontend-id", std::to_string(kDomid));
    (void)store_.write(kBackend + "/online", "1");
    (void)store_.write(kBackend + "/state", "1");
    (void)store_.write(kFrontend + "/backend", kBackend);
    (void)store_.write(kFrontend + "/state", "1");
  }
  // What xen-kbdfront does once the backend is in InitWait.
  void frontend_initialised(const std::string& gfn = std::to_string(kRingGfn),
                            const std::string& port = std::to_string(kPort)) {
    (void)store_.write(kFrontend + "/request-abs-pointer", "1");
    (void)store_.write(kFrontend + "/page-ref", gfn);
    (void)store_.write(kFrontend + "/page-gref", "8");
    (void)store_.write(kFrontend + "/event-channel", port);
    (void)store_.write(kFrontend + "/state", "3");
  }
  void pump() { keyboard_.process_watches(); }
  void connect() {
    create_backend();
    ASSERT_TRUE(keyboard_.start());
    pump();
    frontend_initialised();
    pump();
    ASSERT_TRUE(keyboard_.connected());
  }
  xenkbd_page* page() { return reinterpret_cast<xenkbd_page*>(xen_.ram() + kRingGfn * 4096); }
  const xenkbd_in_event& slot(uint32_t index) { return XENKBD_IN_RING_REF(page(), index); }

  SimXen xen_;
  FakeStore store_;
  CountingMemory memory_;
  InputRouter input_;
  RecordingKeyboard ps2_;
  PvKeyboard keyboard_;
};

TEST_F(PvKeyboardTest, BackendWaitsForTheFrontendWithItsFeatures) {
  create_backend();
  ASSERT_TRUE(keyboard_.start());
  pump();
  EXPECT_EQ(store_.value(kBackend + "/state"), "2");  // InitWait
  EXPECT_EQ(store_.value(kBackend + "/feature-abs-pointer"), "1");
  EXPECT_EQ(store_.value(kBackend + "/width"), "32767");
  EXPECT_EQ(store_.value(kBackend + "/height"), "32767");
  EXPECT_FALSE(keyboard_.connected());
  // Until it connects, keys still go to the PS/2 keyboard.
  EXPECT_TRUE(input_.key_event(0x1e, true));
  EXPECT_EQ(ps2_.keys.size(), 1u);
}

TEST_F(PvKeyboardTest, BackendCreatedAfterTheDeviceModelStarts) {
  ASSERT_TRUE(keyboard_.start());
  pump();
  EXPECT_EQ(store_.value(kBackend + "/state"), "<none>");  // nothing to serve yet
  create_backend();
  pump();
  EXPECT_EQ(store_.value(kBackend + "/state"), "2");
}

TEST_F(PvKeyboardTest, ConnectsAndDeliversKeysIntoTheRing) {
  connect();
  EXPECT_EQ(store_.value(kBackend + "/state"), "4");
  EXPECT_TRUE(xen_.frontend_bound(kPort));
  EXPECT_EQ(xen_.live_guest_mappings(), 1u);
  // QMP's "a" (qnum 0x1e) arrives as Linux's KEY_A, pressed then released; not at the i8042.
  ASSERT_TRUE(input_.key_event(0x1e, true));
  ASSERT_TRUE(input_.key_event(0x1e, false));
  EXPECT_TRUE(ps2_.keys.empty());
  EXPECT_EQ(page()->in_prod, 2u);
  EXPECT_EQ(slot(0).type, XENKBD_TYPE_KEY);
  EXPECT_EQ(slot(0).key.pressed, 1);
  EXPECT_EQ(slot(0).key.keycode, 30u);
  EXPECT_EQ(slot(1).key.pressed, 0);
  EXPECT_EQ(slot(1).key.keycode, 30u);
  EXPECT_EQ(xen_.take_frontend_kicks(kPort), 2u);
  // The page was written: reported for live migration.
  ASSERT_FALSE(memory_.dirty.empty());
  EXPECT_EQ(memory_.dirty.back(), (std::pair<uint64_t, uint64_t>{kRingGfn * 4096, 4096}));
  // Extended keys map to their Linux codes: cursor up, right control.
  ASSERT_TRUE(input_.key_event(0xc8, true));
  ASSERT_TRUE(input_.key_event(0x9d, true));
  EXPECT_EQ(slot(2).key.keycode, 103u);
  EXPECT_EQ(slot(3).key.keycode, 97u);
}

TEST_F(PvKeyboardTest, AbsolutePositionsAndButtons) {
  connect();
  ASSERT_TRUE(input_.absolute());
  ASSERT_TRUE(input_.absolute_event(0x4000, 0x7fff, 0, kButtonLeft));
  EXPECT_EQ(page()->in_prod, 2u);
  EXPECT_EQ(slot(0).type, XENKBD_TYPE_POS);
  EXPECT_EQ(slot(0).pos.abs_x, 0x4000);
  EXPECT_EQ(slot(0).pos.abs_y, 0x7fff);
  EXPECT_EQ(slot(1).type, XENKBD_TYPE_KEY);
  EXPECT_EQ(slot(1).key.keycode, 0x110u);  // BTN_LEFT
  EXPECT_EQ(slot(1).key.pressed, 1);
  // Only changed buttons are sent; the wheel rides on the position.
  ASSERT_TRUE(input_.absolute_event(0x4000, 0x7fff, 1, kButtonLeft | kButtonRight));
  EXPECT_EQ(page()->in_prod, 4u);
  EXPECT_EQ(slot(2).pos.rel_z, 1);
  EXPECT_EQ(slot(3).key.keycode, 0x111u);  // BTN_RIGHT
}

TEST_F(PvKeyboardTest, AFullRingDropsEventsAndKeepsTheOnesUnread) {
  connect();
  for (uint32_t i = 0; i < XENKBD_IN_RING_LEN + 5; ++i) input_.key_event(0x1e, (i & 1) == 0);
  EXPECT_EQ(page()->in_prod, static_cast<uint32_t>(XENKBD_IN_RING_LEN));
  // The frontend reads some: there is room again, at the next slot (wrapping the ring).
  page()->in_cons = 10;
  input_.key_event(0x30, true);  // b
  EXPECT_EQ(page()->in_prod, XENKBD_IN_RING_LEN + 1u);
  EXPECT_EQ(slot(XENKBD_IN_RING_LEN).key.keycode, 48u);
  EXPECT_EQ(&slot(XENKBD_IN_RING_LEN), &slot(0));
}

TEST_F(PvKeyboardTest, HostileConsumerIndexNeverOverwritesOrEscapesTheRing) {
  connect();
  page()->in_cons = 0x80000000u;  // "ahead" of the producer
  input_.key_event(0x1e, true);
  EXPECT_EQ(page()->in_prod, 0u);
  page()->in_cons = 0;
  // A producer index the guest rewrote is not read back: ours goes on.
  page()->in_prod = 0xfffffff0u;
  input_.key_event(0x1e, true);
  EXPECT_EQ(page()->in_prod, 1u);
  EXPECT_EQ(slot(0).key.keycode, 30u);
}

TEST_F(PvKeyboardTest, BadFrontendValuesLeaveItUnconnected) {
  create_backend();
  ASSERT_TRUE(keyboard_.start());
  pump();
  for (auto [gfn, port] : std::vector<std::pair<std::string, std::string>>{
           {"abc", std::to_string(kPort)},
           {"-1", std::to_string(kPort)},
           {"0x123", std::to_string(kPort)},
           {"99999999999999999999999", std::to_string(kPort)},
           {std::to_string(kRam / 4096 + 5), std::to_string(kPort)},  // not RAM
           {std::to_string(kRingGfn), "99"},                          // not a frontend's port
           {std::to_string(kRingGfn), "4294967296"},
           {std::to_string(kRingGfn), ""}}) {
    frontend_initialised(gfn, port);
    pump();
    EXPECT_FALSE(keyboard_.connected()) << gfn << " " << port;
    EXPECT_EQ(store_.value(kBackend + "/state"), "2");
    EXPECT_EQ(xen_.live_guest_mappings(), 0u);
  }
  (void)store_.write(kFrontend + "/state", "banana");
  pump();
  EXPECT_EQ(store_.value(kBackend + "/state"), "2");
  // A good one afterwards connects.
  frontend_initialised();
  pump();
  EXPECT_TRUE(keyboard_.connected());
}

TEST_F(PvKeyboardTest, FrontendClosingReleasesEverythingAndItCanReconnect) {
  connect();
  (void)store_.write(kFrontend + "/state", "5");  // Closing
  pump();
  EXPECT_FALSE(keyboard_.connected());
  EXPECT_EQ(store_.value(kBackend + "/state"), "5");
  EXPECT_EQ(xen_.live_guest_mappings(), 0u);
  EXPECT_FALSE(xen_.frontend_bound(kPort));
  // Keys are the i8042's again.
  EXPECT_TRUE(input_.key_event(0x1e, true));
  EXPECT_EQ(ps2_.keys.size(), 1u);
  EXPECT_FALSE(input_.absolute());
  (void)store_.write(kFrontend + "/state", "6");  // Closed
  pump();
  EXPECT_EQ(store_.value(kBackend + "/state"), "6");
  // The driver comes back (module reload, kexec): InitWait, then connected again.
  (void)store_.write(kFrontend + "/state", "1");
  pump();
  EXPECT_EQ(store_.value(kBackend + "/state"), "2");
  frontend_initialised();
  pump();
  EXPECT_TRUE(keyboard_.connected());
  EXPECT_EQ(xen_.live_guest_mappings(), 1u);
}

TEST_F(PvKeyboardTest, FrontendResumingWithANewChannelIsReconnected) {
  connect();
  // After a restore the frontend publishes its page again with a fresh event channel.
  frontend_initialised(std::to_string(kRingGfn + 1), std::to_string(kPort + 1));
  pump();
  ASSERT_TRUE(keyboard_.connected());
  EXPECT_FALSE(xen_.frontend_bound(kPort));
  EXPECT_TRUE(xen_.frontend_bound(kPort + 1));
  EXPECT_EQ(xen_.live_guest_mappings(), 1u);
  input_.key_event(0x1e, true);
  auto* moved = reinterpret_cast<xenkbd_page*>(xen_.ram() + (kRingGfn + 1) * 4096);
  EXPECT_EQ(moved->in_prod, 1u);
  EXPECT_EQ(xen_.take_frontend_kicks(kPort + 1), 1u);
}

TEST_F(PvKeyboardTest, BackendRemovedByTheToolstackDisconnects) {
  connect();
  store_.remove_tree(kBackend);
  pump();
  EXPECT_FALSE(keyboard_.connected());
  EXPECT_EQ(xen_.live_guest_mappings(), 0u);
}

TEST(PvKeyboardExit, DestructionUnmapsAndUnbinds) {
  SimXen xen(1, kRam);
  FakeStore store;
  CountingMemory memory;
  InputRouter input;
  {
    PvKeyboard keyboard(xen, store, memory, input, kDomid);
    (void)store.write(kBackend + "/frontend", kFrontend);
    (void)store.write(kBackend + "/state", "1");
    ASSERT_TRUE(keyboard.start());
    keyboard.process_watches();
    (void)store.write(kFrontend + "/page-ref", std::to_string(kRingGfn));
    (void)store.write(kFrontend + "/event-channel", std::to_string(kPort));
    (void)store.write(kFrontend + "/state", "4");
    keyboard.process_watches();
    ASSERT_TRUE(keyboard.connected());
    EXPECT_TRUE(input.has_keyboard());
  }
  EXPECT_EQ(xen.live_guest_mappings(), 0u);
  EXPECT_FALSE(xen.frontend_bound(kPort));
  EXPECT_FALSE(input.has_keyboard());
}

TEST(PvKeyboardKeycodes, SetOneCodesToLinuxKeyCodes) {
  EXPECT_EQ(xen::linux_keycode(0x01), 1u);    // Esc
  EXPECT_EQ(xen::linux_keycode(0x1e), 30u);   // A
  EXPECT_EQ(xen::linux_keycode(0x58), 88u);   // F12
  EXPECT_EQ(xen::linux_keycode(0x9c), 96u);   // keypad Enter
  EXPECT_EQ(xen::linux_keycode(0xd3), 111u);  // Delete
  EXPECT_EQ(xen::linux_keycode(0xdb), 125u);  // left Meta
  EXPECT_EQ(xen::linux_keycode(0x00), 0u);
  EXPECT_EQ(xen::linux_keycode(0xff), 0u);
}

}  // namespace
}  // namespace hvmd::test
