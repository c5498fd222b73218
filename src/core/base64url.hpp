// Strict base64url (RFC 4648 section 5) without padding, as JWS compact serialization uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace asset_gate {

// Decoded size of `n` characters, or SIZE_MAX when no canonical encoding has that length.
std::size_t base64url_decoded_size(std::size_t n) noexcept;

// Decodes `in` into `out` (room for base64url_decoded_size(in.size()) bytes). Refuses padding,
// characters outside [A-Za-z0-9_-], impossible lengths and non-zero trailing bits (so each byte
// string has exactly one accepted encoding). Returns false on refusal.
bool base64url_decode(std::string_view in, std::uint8_t *out) noexcept;

// The one spelling base64url_decode accepts for these bytes: no padding, trailing bits zero.
// For minting tokens (the token tool, the tests); the gate itself only decodes.
std::string base64url_encode(const std::uint8_t *data, std::size_t size);
std::string base64url_encode(std::string_view bytes);

}  // namespace asset_gate
