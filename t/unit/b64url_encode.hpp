// A reference base64url encoder (no padding) for the unit tests and the fuzzers, written
// independently of the decoder under test. Plain C++: no gtest, so fuzz targets include it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace asset_gate::testing {

inline constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline std::string b64url(const std::uint8_t *p, std::size_t n) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < n; ++i) {
        acc = acc << 8 | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kBase64UrlAlphabet[(acc >> bits) & 0x3f]);
        }
    }
    if (bits > 0) out.push_back(kBase64UrlAlphabet[(acc << (6 - bits)) & 0x3f]);
    return out;
}

inline std::string b64url(std::string_view in) {
    return b64url(reinterpret_cast<const std::uint8_t *>(in.data()), in.size());
}

}  // namespace asset_gate::testing
