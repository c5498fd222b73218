// libFuzzer target: the S3 credentials file and its ISO 8601 expiry, on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/s3_credentials.hpp"

namespace asset_gate::testing {
namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace
}  // namespace asset_gate::testing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    using namespace asset_gate;
    using asset_gate::testing::check;
    std::string_view text(reinterpret_cast<const char *>(data), size);

    S3Credentials creds;
    std::int64_t expires = -1;
    std::string error;
    if (parse_s3_credentials(text, &creds, &expires, &error)) {
        check(!creds.access_key_id.empty() && !creds.secret_access_key.empty());
        check(expires >= 0);
    } else {
        check(!error.empty());
    }

    // Four-digit years, whole days: every accepted time lies between 0000 and 9999 (with an
    // offset of under a day either side).
    std::int64_t t = 0;
    if (parse_iso8601_utc(text, &t)) {
        check(t >= -62167219200 - 86400 && t <= 253402300799 + 86400);
    }
    return 0;
}
