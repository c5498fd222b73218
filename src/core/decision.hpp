// The decision table of DESIGN.md sections 1, 3 and 4: purpose x surface, asset checks, org
// gate, sync freshness.
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

// What a worker last read of `PREFIX sync:heartbeat`: unknown while it was missing, not unix
// seconds, or could not be read (an error, a broken connection, no reply in time).
struct SyncHeartbeat {
    bool known = false;
    std::int64_t at = 0;  // the value, unix seconds (the writer's clock)
};

// Step 8b, last: with `max_age` seconds (0: off), a public token that steps 5-8 allowed is
// refused (sync_stale) while the heartbeat is unknown or lies more than `max_age` from `now` on
// either side: a value that far in the future is a broken clock or writer, and trusting it would
// hold the records "fresh" for as long. Purpose tokens are never refused here. A public token
// that an earlier step refuses keeps that step's reason: a refusal needs no fresh records.
Reason decide_sync(Purpose purpose, const SyncHeartbeat &heartbeat, std::int64_t max_age,
                   std::int64_t now) noexcept;

}  // namespace asset_gate
