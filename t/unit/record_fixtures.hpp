// Shared fixtures for the record and decision tests: Redis hashes as HGETALL returns them.
#pragma once

#include <initializer_list>
#include <vector>

#include "core/record.hpp"

namespace asset_gate::testing {

// Field/value pairs in reply order; the views must outlive the hash (literals, or strings the
// test keeps alive).
struct Hash {
    std::vector<Field> fields;

    Hash(std::initializer_list<Field> f) : fields(f) {}

    AssetRecord asset() const { return parse_asset(fields.data(), fields.size()); }
    OrgRecord org() const { return parse_org(fields.data(), fields.size()); }
};

// A PNG asset as PostHog's exporter leaves it, and the two org states of its test matrix.
inline Hash png_asset() {
    return {{"org", "org-1"},
            {"format", "image/png"},
            {"location", "exports/png/team-1/task-101/blob"},
            {"filename", "export-weekly-2026-05-27.png"}};
}
inline Hash org_sharing_on() {
    return {{"security_settings", "1"}, {"allow_public", "1"}};
}
inline Hash org_sharing_off() {
    return {{"security_settings", "1"}, {"allow_public", "0"}};
}

}  // namespace asset_gate::testing
