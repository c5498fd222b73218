// The module's version: debian/changelog's upstream version (t/integration/test_status.py
// holds the two equal).
#pragma once

namespace asset_gate {

inline constexpr const char *kModuleVersion = "0.1.0";

}  // namespace asset_gate
