// RFC 4648 base64, for qtest's b64read/b64write.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hvmd::qtest {

std::string base64_encode(const uint8_t* data, size_t length);
// nullopt on a character outside the alphabet or bad padding.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace hvmd::qtest
