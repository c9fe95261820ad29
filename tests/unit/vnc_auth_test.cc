// VNC authentication: hvmd's DES response equals libvncclient's for the same challenge and
// password, DES itself meets a published test vector, and the server lets in only a client that
// knows the current, unexpired password.
#include "dm/vnc/vnc_auth.h"

#include <gtest/gtest.h>

#include <ctime>

#include "tests/unit/vnc_test_support.h"

// libvncclient's own VNC-authentication DES (exported, not declared in its headers).
extern "C" void rfbClientEncryptBytes(unsigned char* bytes, char* passwd);

namespace hvmd::test {
namespace {

using H = VncHarness;

vnc::Challenge sample_challenge() {
  vnc::Challenge c;
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<uint8_t>(i * 37 + 11);
  return c;
}

TEST(VncAuthTest, ResponseMatchesLibvncclient) {
  // (Printable, non-empty passwords: libvncclient sign-extends bytes above 0x7f, and an empty
  // password never authenticates with hvmd.)
  for (std::string password : {"secret", "a", "12345678", "longer than eight", "~!@#$%^&"}) {
    vnc::Challenge challenge = sample_challenge();
    vnc::Challenge theirs = challenge;
    std::string copy = password;
    rfbClientEncryptBytes(theirs.data(), copy.data());
    EXPECT_TRUE(vnc::vnc_auth_response(challenge, password) == theirs) << "password " << password;
  }
}

TEST(VncAuthTest, DesMeetsTheClassicTestVector) {
  // Key 133457799BBCDFF1, plaintext 0123456789ABCDEF -> 85E813540F0AB405; VNC reverses each
  // key byte's bits, so the password is the key with its bytes reversed back.
  const uint8_t key[8] = {0x13, 0x34, 0x57, 0x79, 0x9b, 0xbc, 0xdf, 0xf1};
  std::string password;
  for (uint8_t b : key) {
    uint8_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<uint8_t>(((b >> i) & 1) << (7 - i));
    password.push_back(static_cast<char>(r));
  }
  vnc::Challenge challenge = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                              0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  vnc::Challenge response = vnc::vnc_auth_response(challenge, password);
  const uint8_t expected[8] = {0x85, 0xe8, 0x13, 0x54, 0x0f, 0x0a, 0xb4, 0x05};
  EXPECT_TRUE(std::equal(expected, expected + 8, response.begin()));
  EXPECT_TRUE(std::equal(expected, expected + 8, response.begin() + 8));
}

// Runs VNC authentication for password; returns the SecurityResult (0 ok, 1 failed).
uint32_t authenticate(VncHarness& h, const std::string& password, std::string* reason = nullptr) {
  int fd = h.connect();
  h.receive(fd, 12);
  h.send(fd, "RFB 003.008\n");
  std::string types = h.receive(fd, 2);
  EXPECT_EQ(types, std::string("\x01\x02", 2)) << "VNC authentication offered";
  h.send(fd, "\x02");
  std::string challenge = h.receive(fd, 16);
  std::string copy = password;
  rfbClientEncryptBytes(reinterpret_cast<unsigned char*>(challenge.data()), copy.data());
  h.send(fd, challenge);
  std::string result = h.receive(fd, 4);
  if (result.size() != 4) return 99;
  uint32_t status = H::be32(result, 0);
  if (status && reason) *reason = h.receive(fd, H::be32(h.receive(fd, 4), 0));
  return status;
}

TEST(VncAuthTest, ServerAcceptsOnlyTheCurrentPassword) {
  VncHarness h;
  h.server.set_password_auth(true);
  EXPECT_EQ(authenticate(h, ""), 1u) << "no password set: nobody gets in";
  h.server.set_password("s3cret!x");
  std::string reason;
  EXPECT_EQ(authenticate(h, "wrong", &reason), 1u);
  EXPECT_EQ(reason, "Authentication failed");
  EXPECT_EQ(authenticate(h, "s3cret!x"), 0u);
  // Only the first 8 characters count, as with every VNC server.
  EXPECT_EQ(authenticate(h, "s3cret!xyz"), 0u);
  h.server.set_password_expiry(time(nullptr) - 1);
  EXPECT_EQ(authenticate(h, "s3cret!x"), 1u) << "expired";
  h.server.set_password_expiry(std::nullopt);
  EXPECT_EQ(authenticate(h, "s3cret!x"), 0u);
}

}  // namespace
}  // namespace hvmd::test
