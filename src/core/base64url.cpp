// Strict base64url decoding: one accepted encoding per byte string, so a token has one spelling.
#include "base64url.hpp"

#include <array>
#include <cstdint>

namespace asset_gate {

namespace {

constexpr std::uint8_t kInvalid = 0x80;

constexpr std::array<std::uint8_t, 256> make_table() {
    std::array<std::uint8_t, 256> t{};
    for (auto &v : t) v = kInvalid;
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
    return t;
}

constexpr std::array<std::uint8_t, 256> kTable = make_table();

inline std::uint8_t sextet(char c) noexcept {
    return kTable[static_cast<unsigned char>(c)];
}

}  // namespace

std::size_t base64url_decoded_size(std::size_t n) noexcept {
    switch (n % 4) {
        case 0:
            return n / 4 * 3;
        case 2:
            return n / 4 * 3 + 1;
        case 3:
            return n / 4 * 3 + 2;
        default:
            return SIZE_MAX;
    }
}

bool base64url_decode(std::string_view in, std::uint8_t *out) noexcept {
    const std::size_t n = in.size();
    if (n % 4 == 1) return false;

    // Invalid characters set bit 7 in `bad`; checked once at the end, the loop stays branch-free.
    std::uint8_t bad = 0;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const std::uint8_t a = sextet(in[i]), b = sextet(in[i + 1]), c = sextet(in[i + 2]),
                           d = sextet(in[i + 3]);
        bad |= a | b | c | d;
        *out++ = static_cast<std::uint8_t>(a << 2 | b >> 4);
        *out++ = static_cast<std::uint8_t>(b << 4 | c >> 2);
        *out++ = static_cast<std::uint8_t>(c << 6 | d);
    }

    switch (n - i) {
        case 2: {
            const std::uint8_t a = sextet(in[i]), b = sextet(in[i + 1]);
            bad |= a | b;
            // The low four bits of the last character carry no data and must be zero.
            if ((b & 0x0f) != 0) return false;
            *out = static_cast<std::uint8_t>(a << 2 | b >> 4);
            break;
        }
        case 3: {
            const std::uint8_t a = sextet(in[i]), b = sextet(in[i + 1]), c = sextet(in[i + 2]);
            bad |= a | b | c;
            if ((c & 0x03) != 0) return false;
            *out++ = static_cast<std::uint8_t>(a << 2 | b >> 4);
            *out = static_cast<std::uint8_t>(b << 4 | c >> 2);
            break;
        }
        default:
            break;
    }
    return (bad & kInvalid) == 0;
}

}  // namespace asset_gate
