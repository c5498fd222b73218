// Compact byte encodings of parsed records, for the shared-memory cache.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "record.hpp"

namespace asset_gate {

// Appends the encoding of a found asset record to `out` (miss path: allocation is fine).
void encode_asset(const AssetRecord &asset, std::string &out);

// Decodes an encoding made by encode_asset; the record's views point into `in`. Returns false
// (and a not-found record) for a corrupt encoding.
bool decode_asset(std::string_view in, AssetRecord *asset) noexcept;

void encode_org(const OrgRecord &org, std::string &out);
bool decode_org(std::string_view in, OrgRecord *org) noexcept;

}  // namespace asset_gate
