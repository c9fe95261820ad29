#include "dm/vnc/vnc_auth.h"

#include <nettle/des.h>

namespace hvmd::vnc {
namespace {

constexpr size_t kKeyLength = 8;

uint8_t reverse_bits(uint8_t b) {
  uint8_t r = 0;
  for (int i = 0; i < 8; ++i) r |= static_cast<uint8_t>(((b >> i) & 1) << (7 - i));
  return r;
}

}  // namespace

Challenge vnc_auth_response(const Challenge& challenge, std::string_view password) {
  uint8_t key[kKeyLength] = {};
  for (size_t i = 0; i < kKeyLength && i < password.size(); ++i)
    key[i] = reverse_bits(static_cast<uint8_t>(password[i]));
  des_ctx ctx;
  // A weak key (an empty password is one) still encrypts; clients use it as is.
  (void)des_set_key(&ctx, key);
  Challenge response;
  des_encrypt(&ctx, response.size(), response.data(), challenge.data());
  return response;
}

bool vnc_auth_matches(const Challenge& expected, const uint8_t* answer) {
  uint8_t difference = 0;
  for (size_t i = 0; i < expected.size(); ++i) difference |= expected[i] ^ answer[i];
  return difference == 0;
}

}  // namespace hvmd::vnc
