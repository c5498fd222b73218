// Keeps token signatures out of log lines: nginx writes the request line, the query and the
// request headers to its logs (at info, notice and debug level, in many formats), and the token
// is in the query string.
#pragma once

#include <cstddef>
#include <string_view>

namespace asset_gate {

// Copies `in` to `out` with the signature of every token replaced by "...", whatever text stands
// before it. Two rules, read on the text as the gate reads a token, percent-decoded (also twice
// encoded, `%252E`):
//
//  - Shape. Within a run of base64url characters and dots, a part that follows a part decoding
//    to the start of a JSON object (`{"`, JSON whitespace allowed: `eyJ...`, `eyAi...`) or that
//    follows such a part and one more, is masked: H.P.S keeps H and P (operators read them) and
//    loses S. A usable token's header and payload are both JSON objects, so text glued to the
//    header does not hide the signature.
//  - Name. The value of an argument whose name decodes to `token` (after '?', '&', ';', a quote,
//    a space or the start) keeps at most its first two dot-separated parts; the rest of it, up
//    to '&', a quote, a space or a control byte, is masked.
//
// A masked part becomes as many dots as it had bytes, at most three, so the output is never
// longer than the input and `out` may equal `in.data()`. Only base64url characters, percent
// escapes and dots are ever masked: every line ending stays where it was, and text without a
// token is copied byte for byte. Masking twice changes nothing. Returns the output length.
std::size_t mask_token_signatures(std::string_view in, char *out) noexcept;

// True when mask_token_signatures would change `in`.
bool has_unmasked_token(std::string_view in) noexcept;

}  // namespace asset_gate
