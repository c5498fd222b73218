// libFuzzer target: S3 SigV4 paths, signed GETs and presigned URLs on arbitrary keys and options.
//
// Input layout: byte 0 picks the addressing and scheme, bytes 1..8 are `now`, bytes 9..16 are
// `expires`; the rest splits at '\n' into key, session token, content type and disposition.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/sigv4.hpp"

namespace asset_gate::testing {
namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool is_hex_upper(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

bool is_unreserved(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
    return c <= '9' ? c - '0' : c - 'A' + 10;
}

// An encoded path holds only unreserved bytes, '/' and %XX, and decodes back to its key.
void check_path(std::string_view path, std::string_view prefix, std::string_view key) {
    check(path.substr(0, prefix.size()) == prefix);
    std::string decoded;
    for (std::size_t i = prefix.size(); i < path.size(); ++i) {
        if (path[i] == '%') {
            check(i + 2 < path.size() && is_hex_upper(path[i + 1]) && is_hex_upper(path[i + 2]));
            decoded.push_back(
                static_cast<char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2])));
            i += 2;
        } else {
            check(is_unreserved(path[i]) || path[i] == '/');
            decoded.push_back(path[i]);
        }
    }
    check(decoded == key);
}

bool is_lower_hex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

std::string_view next_field(std::string_view &rest) {
    const std::size_t nl = rest.find('\n');
    const std::string_view field = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return field;
}

// One input: every property checked, a trap on the first that fails.
int fuzz_one(const std::uint8_t *data, std::size_t size) {
    if (size < 17) return 0;
    std::int64_t now = 0;
    std::int64_t expires = 0;
    std::memcpy(&now, data + 1, sizeof now);
    std::memcpy(&expires, data + 9, sizeof expires);
    std::string_view rest(reinterpret_cast<const char *>(data + 17), size - 17);
    const std::string_view key = next_field(rest);

    S3Target target;
    target.endpoint_host = (data[0] & 2) != 0 ? "127.0.0.1:9000" : "s3.eu-west-1.amazonaws.com";
    target.bucket = "fuzz-bucket";
    target.region = "eu-west-1";
    target.addressing = (data[0] & 1) != 0 ? S3Addressing::path : S3Addressing::virtual_host;
    const std::string_view scheme = (data[0] & 4) != 0 ? "http" : "https";
    const S3Credentials creds{"AKIAFUZZ", "fuzz/secret+key", std::string(next_field(rest))};
    PresignOptions opts;
    opts.expires = expires;
    opts.response_content_type = next_field(rest);
    opts.response_content_disposition = next_field(rest);

    const std::string_view prefix =
        target.addressing == S3Addressing::path ? std::string_view("/fuzz-bucket/") : "/";
    check_path(s3_object_path(target, key), prefix, key);

    const SignedGet get = s3_sign_get(target, creds, key, now);
    check(get.amz_date.size() == 16 && get.amz_date[8] == 'T' && get.amz_date.back() == 'Z');
    const std::size_t sig = get.authorization.rfind(", Signature=");
    check(sig != std::string::npos);
    const std::string_view signature = std::string_view(get.authorization).substr(sig + 12);
    check(signature.size() == 64 && is_lower_hex(signature));

    const std::string url = s3_presign_get(target, creds, key, now, opts, scheme);
    check(url.compare(0, scheme.size() + 3, std::string(scheme) + "://") == 0);
    for (char c : url) check(c > ' ' && c < 0x7f);  // every byte the URL carries is encoded
    check(url.find('#') == std::string::npos && url.find('?') == url.rfind('?'));
    const std::size_t at = url.rfind("&X-Amz-Signature=");
    check(at != std::string::npos && url.size() - at == 17 + 64);
    return 0;
}

}  // namespace
}  // namespace asset_gate::testing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    return asset_gate::testing::fuzz_one(data, size);
}
