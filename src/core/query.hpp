// The query string as the application reads it (DESIGN.md section 1, step 3): arguments split
// on '&', names and values compared after percent-decoding, so `%74oken` is `token`.
#pragma once

#include <cstddef>
#include <string_view>

namespace asset_gate {

struct QueryArgs {
    int tokens = 0;               // arguments whose decoded name is "token"
    std::string_view token;       // the raw (still encoded) value of the last of them
    bool download = false;        // the last `download` argument decodes to exactly "true"
};

QueryArgs scan_query(std::string_view args) noexcept;

// Percent-decodes `in` into `out` (at least in.size() bytes): %HH becomes the byte, a '%' not
// followed by two hex digits stays as it is, '+' stays '+'. Returns the decoded length.
std::size_t percent_decode(std::string_view in, char *out) noexcept;

// Whether `raw` percent-decodes to exactly `want`, without a buffer.
bool decodes_to(std::string_view raw, std::string_view want) noexcept;

}  // namespace asset_gate
