// Strict base64url: one accepted encoding per byte string, so a token has one spelling, and the
// encoder that writes it.
#include "base64url.hpp"

#include <array>
#include <cstdint>

namespace asset_gate {

namespace {

constexpr std::uint8_t kInvalid = 0x80;
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::uint8_t, 256> make_table() {
    std::array<std::uint8_t, 256> t{};
    for (auto &v : t) v = kInvalid;
    for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
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

std::string base64url_encode(const std::uint8_t *data, std::size_t size) {
    std::string out;
    out.reserve(size / 3 * 4 + (size % 3 == 0 ? 0 : size % 3 + 1));
    std::size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        const std::uint32_t group = std::uint32_t{data[i]} << 16 | data[i + 1] << 8 | data[i + 2];
        out += kAlphabet[group >> 18];
        out += kAlphabet[group >> 12 & 0x3f];
        out += kAlphabet[group >> 6 & 0x3f];
        out += kAlphabet[group & 0x3f];
    }
    // One byte left makes two characters, two bytes three; the unused low bits stay zero.
    if (size - i == 1) {
        out += kAlphabet[data[i] >> 2];
        out += kAlphabet[(data[i] & 0x03) << 4];
    } else if (size - i == 2) {
        out += kAlphabet[data[i] >> 2];
        out += kAlphabet[(data[i] & 0x03) << 4 | data[i + 1] >> 4];
        out += kAlphabet[(data[i + 1] & 0x0f) << 2];
    }
    return out;
}

std::string base64url_encode(std::string_view bytes) {
    return base64url_encode(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size());
}

}  // namespace asset_gate
