// Token masking for log lines: tokens found by their shape and by their argument name, on the
// text as the gate percent-decodes it; in place, never growing the text, never touching a line end.
#include "log_mask.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace asset_gate {

namespace {

constexpr std::size_t kMaskDots = 3;

constexpr std::uint8_t kArgStart = 1;  // may stand before an argument name
constexpr std::uint8_t kValueEnd = 2;  // ends an argument value
constexpr std::uint8_t kDotOrPercent = 4;

struct Tables {
    std::int8_t b64[256] = {};  // base64url value, -1 for other bytes
    std::int8_t hex[256] = {};  // hex digit value, -1 for other bytes
    std::uint8_t flags[256] = {};
};

constexpr Tables make_tables() {
    Tables t;
    for (int c = 0; c < 256; c++) {
        t.b64[c] = -1;
        t.hex[c] = -1;
        if (c <= ' ' || c == 0x7f) t.flags[c] = kArgStart | kValueEnd;
    }
    for (int c = 'A'; c <= 'Z'; c++) t.b64[c] = static_cast<std::int8_t>(c - 'A');
    for (int c = 'a'; c <= 'z'; c++) t.b64[c] = static_cast<std::int8_t>(c - 'a' + 26);
    for (int c = '0'; c <= '9'; c++) t.b64[c] = static_cast<std::int8_t>(c - '0' + 52);
    t.b64[static_cast<int>('-')] = 62;
    t.b64[static_cast<int>('_')] = 63;
    for (int c = '0'; c <= '9'; c++) t.hex[c] = static_cast<std::int8_t>(c - '0');
    for (int c = 0; c < 6; c++) {
        t.hex['a' + c] = static_cast<std::int8_t>(10 + c);
        t.hex['A' + c] = static_cast<std::int8_t>(10 + c);
    }
    for (char c : {'?', '&', '"', '\'', ';'}) t.flags[static_cast<unsigned char>(c)] |= kArgStart;
    for (char c : {'&', '"', '\''}) t.flags[static_cast<unsigned char>(c)] |= kValueEnd;
    for (char c : {'.', '%'}) t.flags[static_cast<unsigned char>(c)] |= kDotOrPercent;
    return t;
}

constexpr Tables kTables = make_tables();

std::int8_t b64_value(unsigned char c) noexcept {
    return kTables.b64[c];
}

std::int8_t hex_value(char c) noexcept {
    return kTables.hex[static_cast<unsigned char>(c)];
}

bool has_flag(unsigned char c, std::uint8_t flag) noexcept {
    return (kTables.flags[c] & flag) != 0;
}

// One character as the gate reads it: a percent escape is its byte, and an escape that decodes
// to '%' followed by two more hex digits decodes again (a link encoded twice: %252E is '.').
// A '%' that starts no escape stands for itself. Escapes are made of '%' and hex digits only,
// so none ever holds a line ending, a quote or a space.
struct Char {
    unsigned char c;
    std::size_t len;  // bytes of the input
};

Char decode_escape(std::string_view in, std::size_t i) noexcept {
    unsigned char c = '%';
    std::size_t len = 1;
    while (c == '%' && i + len + 1 < in.size()) {
        const std::int8_t hi = hex_value(in[i + len]);
        const std::int8_t lo = hex_value(in[i + len + 1]);
        if (hi < 0 || lo < 0) break;
        c = static_cast<unsigned char>(hi << 4 | lo);
        len += 2;
    }
    return {c, len};
}

inline Char char_at(std::string_view in, std::size_t i) noexcept {
    const auto c = static_cast<unsigned char>(in[i]);
    return c == '%' ? decode_escape(in, i) : Char{c, 1};
}

bool json_space(unsigned b) noexcept {
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

// The first sextet of '{' is 'e'; of a space, tab, LF or CR: 'I', 'C', 'D'. A cheap test
// before a decode.
bool may_start_object(char first) noexcept {
    return first == 'e' || first == 'I' || first == 'C' || first == 'D' || first == '%';
}

// True when the base64url text `part` decodes to the start of a JSON object with a member, as
// every JWS header and every claims set does: '{' then '"', JSON whitespace allowed around.
bool object_start(std::string_view part) noexcept {
    unsigned bits = 0;
    int nbits = 0;
    bool brace = false;
    for (std::size_t i = 0; i < part.size();) {
        const Char ch = char_at(part, i);
        i += ch.len;
        bits = ((bits << 6) | static_cast<unsigned>(b64_value(ch.c))) & 0x3fffu;
        nbits += 6;
        if (nbits < 8) continue;
        nbits -= 8;
        const unsigned byte = (bits >> nbits) & 0xffu;
        if (json_space(byte)) continue;
        if (brace) return byte == '"';
        if (byte != '{') return false;
        brace = true;
    }
    return false;
}

bool is_token_name(std::string_view part) noexcept {
    constexpr std::string_view kName = "token";
    std::size_t k = 0;
    for (std::size_t i = 0; i < part.size(); k++) {
        const Char ch = char_at(part, i);
        i += ch.len;
        if (k == kName.size() || ch.c != static_cast<unsigned char>(kName[k])) return false;
    }
    return k == kName.size();
}

// Masks a `token=` value starting at `v` but its first two dot-separated parts; returns where
// the value ends.
template <typename Sink>
std::size_t mask_value(std::string_view in, std::size_t v, Sink &sink) noexcept {
    // Escapes hold only '%' and hex digits, never a byte that ends a value, so the value is read
    // in one pass: up to its second dot, then to its end.
    const std::size_t n = in.size();
    std::size_t i = v;
    std::size_t keep = v;
    for (int dots = 0; dots < 2;) {
        while (i < n && !has_flag(static_cast<unsigned char>(in[i]), kValueEnd | kDotOrPercent))
            i++;
        if (i == n || has_flag(static_cast<unsigned char>(in[i]), kValueEnd)) break;
        const Char ch = char_at(in, i);
        i += ch.len;
        if (ch.c == '.' && ++dots == 2) keep = i;
    }
    while (i < n && !has_flag(static_cast<unsigned char>(in[i]), kValueEnd)) i++;
    sink.mask(keep, i);
    return i;
}

// The end of the part that starts at `i`: its base64url characters, escaped or not.
inline std::size_t part_end(std::string_view in, std::size_t i) noexcept {
    while (i < in.size()) {
        const auto c = static_cast<unsigned char>(in[i]);
        if (b64_value(c) >= 0) {
            i++;
            continue;
        }
        if (c != '%') break;
        const Char ch = char_at(in, i);
        if (b64_value(ch.c) < 0) break;
        i += ch.len;
    }
    return i;
}

// Walks `in` once from `from`, front to back, telling `sink` which byte ranges to mask, in
// order. It reads no byte before the end of a range it has handed over, so the sink may write
// over them. `from` is 0 or follows a byte that is none of base64url, '.', '%' (so it starts a
// part, outside any escape), with no argument value open before it.
template <typename Sink>
void scan(std::string_view in, std::size_t from, Sink &sink) noexcept {
    const std::size_t n = in.size();
    std::size_t i = from;
    // The current part: a run of base64url characters. Dots join parts into a chain.
    std::size_t index = 0;  // its place in the chain
    bool object1 = false;   // the part before it starts a JSON object
    bool object2 = false;   // the part before that one does
    bool arg_start = from == 0 || has_flag(static_cast<unsigned char>(in[from - 1]), kArgStart);
    for (;;) {
        const std::size_t start = i;
        i = part_end(in, i);
        const std::string_view part = in.substr(start, i - start);
        const Char next = i < n ? char_at(in, i) : Char{0, 0};
        const bool dot = next.len != 0 && next.c == '.';
        // Decided before the part is handed to the sink, which may overwrite it.
        const bool object = dot && !part.empty() && may_start_object(part[0]) && object_start(part);
        const bool name = !dot && next.c == '=' && index == 0 && arg_start && is_token_name(part);
        if (index >= 2 && (object1 || object2)) sink.mask(start, i);
        if (next.len == 0) return;
        i += next.len;
        if (dot) {
            object2 = object1;
            object1 = object;
            index++;
            continue;
        }
        if (name) i = mask_value(in, i, sink);
        index = 0;
        object1 = object2 = false;
        arg_start = next.len == 1 && has_flag(next.c, kArgStart);
    }
}

// True when at `i` stands a byte that a rule starts from: a '%', the '=' of `token=`, or the
// dot after a part that starts a JSON object.
bool is_event(std::string_view in, std::size_t i) noexcept {
    const char c = in[i];
    if (c == '.') {
        std::size_t start = i;
        while (start > 0 && b64_value(static_cast<unsigned char>(in[start - 1])) >= 0) start--;
        return start < i && may_start_object(in[start]) &&
               object_start(in.substr(start, i - start));
    }
    if (c == '=') {
        return i >= 5 && in.compare(i - 5, 5, "token") == 0 &&
               (i == 5 || b64_value(static_cast<unsigned char>(in[i - 6])) < 0);
    }
    return c == '%';
}

// The bytes of `w` equal to `c`, as their high bits (exact: no borrow crosses bytes).
std::uint64_t bytes_equal(std::uint64_t w, unsigned char c) noexcept {
    constexpr std::uint64_t kOnes = 0x0101010101010101u;
    constexpr std::uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fu;
    const std::uint64_t x = w ^ (kOnes * c);
    return ~(((x & kLow7) + kLow7) | x | kLow7);
}

// Where the scan must start, or npos when no rule can apply (most lines hold no token). Both
// rules need a '%', a `token=`, or a part ended by a dot that starts a JSON object; these are
// found 8 bytes at a time, so a line costs about its dots rather than its bytes. The scan starts
// at the run of base64url bytes and dots that holds the first of them: no '%' stands before it,
// and no `token=` value is open.
std::size_t scan_start(std::string_view in) noexcept {
    std::size_t i = 0;
    std::size_t event = std::string_view::npos;
    for (; i + 8 <= in.size() && event == std::string_view::npos; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, in.data() + i, 8);
        std::uint64_t events = bytes_equal(w, '.') | bytes_equal(w, '%') | bytes_equal(w, '=');
        for (; events != 0; events &= events - 1) {
            // Byte k of the word is in[i + k] on a little-endian machine, in[i + 7 - k] else.
            int k = __builtin_ctzll(events) / 8;
            if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) k = 7 - k;
            if (is_event(in, i + static_cast<std::size_t>(k))) {
                event = i + static_cast<std::size_t>(k);
                break;
            }
        }
    }
    for (; i < in.size() && event == std::string_view::npos; i++) {
        if (is_event(in, i)) event = i;
    }
    if (event == std::string_view::npos) return event;
    std::size_t from = event;
    while (from > 0 &&
           (b64_value(static_cast<unsigned char>(in[from - 1])) >= 0 || in[from - 1] == '.')) {
        from--;
    }
    return from;
}

// Writes the masked text; `out` may be the input itself, as the sink only ever writes behind
// what the scan has read.
class Writer {
  public:
    Writer(std::string_view in, char *out) noexcept : in_(in), out_(out) {}

    void mask(std::size_t from, std::size_t to) noexcept {
        if (from == to) return;
        copy_to(from);
        const std::size_t dots = std::min(to - from, kMaskDots);
        std::memset(out_ + o_, '.', dots);
        o_ += dots;
        copied_ = to;
    }

    std::size_t finish() noexcept {
        copy_to(in_.size());
        return o_;
    }

  private:
    void copy_to(std::size_t at) noexcept {
        if (out_ + o_ != in_.data() + copied_) {
            std::memmove(out_ + o_, in_.data() + copied_, at - copied_);
        }
        o_ += at - copied_;
        copied_ = at;
    }

    std::string_view in_;
    char *out_;
    std::size_t o_ = 0;
    std::size_t copied_ = 0;
};

// Only notes whether masking would change anything: a range already masked is all dots, and
// no longer than a mask.
struct Probe {
    std::string_view in;
    bool changed = false;

    void mask(std::size_t from, std::size_t to) noexcept {
        if (to - from > kMaskDots ||
            in.substr(from, to - from).find_first_not_of('.') != std::string_view::npos) {
            changed = true;
        }
    }
};

}  // namespace

std::size_t mask_token_signatures(std::string_view in, char *out) noexcept {
    const std::size_t from = scan_start(in);
    if (from == std::string_view::npos) {
        if (out != in.data() && !in.empty()) std::memcpy(out, in.data(), in.size());
        return in.size();
    }
    Writer writer(in, out);
    scan(in, from, writer);
    return writer.finish();
}

bool has_unmasked_token(std::string_view in) noexcept {
    const std::size_t from = scan_start(in);
    if (from == std::string_view::npos) return false;
    Probe probe{in};
    scan(in, from, probe);
    return probe.changed;
}

}  // namespace asset_gate
