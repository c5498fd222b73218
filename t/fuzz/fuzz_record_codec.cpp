// libFuzzer target: the cache's record codec. Decoding arbitrary bytes never crashes and a
// refusal leaves a not-found record; a record built from fuzz bytes comes back as it went in;
// what decodes re-encodes to something that decodes to the same record. Only the public
// encode/decode functions and the fields below are used, so fields added later do not break it.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/record_codec.hpp"

namespace asset_gate::testing {
namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool same(const AssetRecord &a, const AssetRecord &b) {
    return a.found == b.found && a.org == b.org && a.format == b.format &&
           a.location == b.location && a.filename == b.filename && a.expires_at == b.expires_at;
}

void check_decode(std::string_view bytes) {
    AssetRecord asset;
    if (decode_asset(bytes, &asset)) {
        check(asset.found);
        std::string again;
        encode_asset(asset, again);
        AssetRecord back;
        check(decode_asset(again, &back) && same(asset, back));
    } else {
        check(!asset.found);
    }
    OrgRecord org;
    if (decode_org(bytes, &org)) {
        check(org.found);
        std::string again;
        encode_org(org, again);
        OrgRecord back;
        check(decode_org(again, &back) && back.found &&
              back.security_settings == org.security_settings &&
              back.allow_public == org.allow_public);
    } else {
        check(!org.found);
    }
}

// One input: every property checked, a trap on the first that fails.
int fuzz_one(const std::uint8_t *data, std::size_t size) {
    check_decode({reinterpret_cast<const char *>(data), size});

    FuzzedDataProvider fdp(data, size);
    const std::string org = fdp.ConsumeRandomLengthString(256);
    const std::string format = fdp.ConsumeRandomLengthString(256);
    const std::string location = fdp.ConsumeRandomLengthString(1024);
    const std::string filename = fdp.ConsumeRandomLengthString(256);
    AssetRecord in;
    in.found = true;
    in.org = org;
    in.format = format;
    in.location = location;
    in.filename = filename;
    in.expires_at = fdp.ConsumeIntegral<std::int64_t>();
    std::string enc;
    encode_asset(in, enc);
    AssetRecord out;
    check(decode_asset(enc, &out) && same(in, out));
    check_decode(enc);

    OrgRecord org_in;
    org_in.found = true;
    org_in.security_settings = fdp.ConsumeBool();
    org_in.allow_public = fdp.ConsumeBool();
    std::string org_enc;
    encode_org(org_in, org_enc);
    OrgRecord org_out;
    check(decode_org(org_enc, &org_out) && org_out.found &&
          org_out.security_settings == org_in.security_settings &&
          org_out.allow_public == org_in.allow_public);
    return 0;
}

}  // namespace
}  // namespace asset_gate::testing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    return asset_gate::testing::fuzz_one(data, size);
}
