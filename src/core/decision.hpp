// The decision table of DESIGN.md sections 1 and 3: purpose x surface, asset checks, org gate.
#pragma once

#include <cstdint>
#include <string_view>

#include "reason.hpp"
#include "record.hpp"

namespace asset_gate {

// Step 5: whether a purpose may use a surface at all.
Reason decide_purpose(Purpose purpose, Surface surface) noexcept;

// Step 7: the asset exists, has not expired at `now`, and, on the content surface, `ext`
// equals its format's extension (and it has a location to serve from).
Reason decide_asset(const AssetRecord &asset, Surface surface, std::string_view ext,
                    std::int64_t now) noexcept;

// Step 8: purpose tokens ignore the org; public tokens need an org record and are blocked
// when the org has the security-settings feature and disallows public sharing.
Reason decide_org(Purpose purpose, const OrgRecord &org) noexcept;

}  // namespace asset_gate
