// Token masking for log lines; in place, never growing the text.
#include "log_mask.hpp"

#include <cstring>

namespace asset_gate {

namespace {

constexpr std::string_view kArg = "token=";
constexpr std::string_view kMask = "...";

bool value_end(char c) noexcept {
    return c == '&' || c == ' ' || c == '"';
}

// Where the value starting at `v` ends, and how much of it survives masking.
struct Value {
    std::size_t len;   // bytes of the value in the input
    std::size_t keep;  // bytes kept before the mask
};

Value scan(std::string_view in, std::size_t v) noexcept {
    std::size_t end = v;
    int dots = 0;
    std::size_t keep = 0;
    while (end < in.size() && !value_end(in[end])) {
        if (in[end] == '.' && ++dots == 2) keep = end + 1 - v;
        end++;
    }
    // A value masked whole already: leave it, so masking twice changes nothing.
    if (in.substr(v, end - v) == kMask) keep = end - v;
    return {end - v, keep};
}

bool at_arg(std::string_view in, std::size_t i) noexcept {
    return i > 0 && (in[i - 1] == '?' || in[i - 1] == '&') && in.compare(i, kArg.size(), kArg) == 0;
}

}  // namespace

std::size_t mask_token_signatures(std::string_view in, char *out) noexcept {
    std::size_t o = 0;
    std::size_t i = 0;
    while (i < in.size()) {
        if (!at_arg(in, i)) {
            out[o++] = in[i++];
            continue;
        }
        std::memmove(out + o, in.data() + i, kArg.size());
        o += kArg.size();
        i += kArg.size();
        Value val = scan(in, i);
        std::memmove(out + o, in.data() + i, val.keep);
        o += val.keep;
        // The mask is written only where the dropped part had room for it.
        std::size_t dropped = val.len - val.keep;
        std::size_t mask = dropped >= kMask.size() ? kMask.size() : 0;
        std::memcpy(out + o, kMask.data(), mask);
        o += mask;
        i += val.len;
    }
    return o;
}

bool has_unmasked_token(std::string_view in) noexcept {
    for (std::size_t i = in.find(kArg); i != std::string_view::npos; i = in.find(kArg, i + 1)) {
        if (!at_arg(in, i)) continue;
        std::size_t v = i + kArg.size();
        Value val = scan(in, v);
        std::string_view rest = in.substr(v + val.keep, val.len - val.keep);
        if (!rest.empty() && rest != kMask) return true;  // also true for a short rest: dropped
    }
    return false;
}

}  // namespace asset_gate
