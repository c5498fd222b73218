// Keeps token signatures out of log lines: nginx writes the request line to its error log and
// to $request, and the token is in the query string.
#pragma once

#include <cstddef>
#include <string_view>

namespace asset_gate {

// Copies `in` to `out`, rewriting the value of every `token=` query argument (one that follows
// '?' or '&') so that it keeps at most its first two dot-separated parts (header and payload,
// which authorise nothing without the signature) followed by "...". A value with fewer than two
// dots is replaced whole. A value ends at '&', ' ', '"', or the end of `in`. The output is never
// longer than the input, so `out` may equal `in.data()`. Returns the output length.
std::size_t mask_token_signatures(std::string_view in, char *out) noexcept;

// True when `in` holds a `token=` argument whose value mask_token_signatures would change.
bool has_unmasked_token(std::string_view in) noexcept;

}  // namespace asset_gate
