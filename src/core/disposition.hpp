// The Content-Disposition value of a download (RFC 6266): attachment with a safe filename.
#pragma once

#include <cstddef>
#include <string_view>

namespace asset_gate {

// Room needed by content_disposition for `name`.
std::size_t content_disposition_size(std::string_view name) noexcept;

// Writes `attachment; filename="NAME"` into `out`, with quotes, backslashes, control bytes
// and non-ASCII bytes replaced by '_'; when the name has non-ASCII bytes, also
// `; filename*=UTF-8''` and the percent-encoded name. Returns the length written.
std::size_t content_disposition(std::string_view name, char *out) noexcept;

}  // namespace asset_gate
