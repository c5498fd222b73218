// AWS Signature Version 4 for S3 GET: canonical request, string to sign, signing key, and the
// two outputs (signed headers for a proxied GET, a presigned URL for a redirect).
#include "sigv4.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace asset_gate {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kService = "s3";
constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr std::int64_t kMinExpires = 1;
constexpr std::int64_t kMaxExpires = 604800;  // seven days: S3 refuses anything longer
// 9999-12-31T23:59:59Z: the last second an X-Amz-Date's four-digit year can spell.
constexpr std::int64_t kMaxTime = 253402300799;

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

std::string hex_lower(const unsigned char *data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(digits[data[i] >> 4]);
        out.push_back(digits[data[i] & 0xf]);
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    Digest digest{};
    SHA256(reinterpret_cast<const unsigned char *>(data.data()), data.size(), digest.data());
    return hex_lower(digest.data(), digest.size());
}

Digest hmac_sha256(const unsigned char *key, std::size_t key_size, std::string_view message) {
    Digest digest{};
    unsigned int size = 0;
    HMAC(EVP_sha256(), key, static_cast<int>(key_size),
         reinterpret_cast<const unsigned char *>(message.data()), message.size(), digest.data(),
         &size);
    return digest;
}

constexpr bool is_unreserved(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// SigV4's UriEncode: unreserved bytes as they are, every other byte as %XX with upper-case hex.
// '/' is kept in object paths and encoded in query names and values.
void uri_encode(std::string &out, std::string_view in, bool keep_slash) {
    static constexpr char digits[] = "0123456789ABCDEF";
    for (char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0xf]);
        }
    }
}

std::string query_encode(std::string_view in) {
    std::string out;
    uri_encode(out, in, false);
    return out;
}

// X-Amz-Date, "YYYYMMDDTHHMMSSZ", in UTC without the locale.
std::string amz_date(std::int64_t now) {
    const auto t = static_cast<std::time_t>(std::clamp<std::int64_t>(now, 0, kMaxTime));
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::array<char, 32> buf{};
    const int n =
        std::snprintf(buf.data(), buf.size(), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
}

std::string credential_scope(std::string_view yyyymmdd, std::string_view region) {
    std::string scope;
    scope.append(yyyymmdd).append("/").append(region).append("/");
    scope.append(kService).append("/").append(kTerminator);
    return scope;
}

// Trimall: no white space at either end, and each inner run of it as one space.
std::string trim_all(std::string_view value) {
    std::string out;
    bool pending_space = false;
    for (char c : value) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(c);
    }
    return out;
}

void to_lower_ascii(std::string &s) {
    for (char &c : s) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
}

struct Header {
    std::string name;  // lower case
    std::string value;
};

// The canonical request of a GET or HEAD without a body; `headers` must have lower-case names.
std::string canonical_get(std::string_view method, std::string_view path,
                          std::string_view canonical_query, std::vector<Header> &headers,
                          std::string_view payload_hash, std::string &signed_headers) {
    std::sort(headers.begin(), headers.end(),
              [](const Header &a, const Header &b) { return a.name < b.name; });
    std::string request(method);
    request.push_back('\n');
    request.append(path).append("\n").append(canonical_query).append("\n");
    signed_headers.clear();
    for (const Header &h : headers) {
        request.append(h.name).append(":").append(trim_all(h.value)).append("\n");
        if (!signed_headers.empty()) signed_headers.push_back(';');
        signed_headers.append(h.name);
    }
    request.append("\n").append(signed_headers).append("\n").append(payload_hash);
    return request;
}

std::string string_to_sign(std::string_view date, std::string_view scope,
                           std::string_view canonical_request) {
    std::string sts(kAlgorithm);
    sts.append("\n").append(date).append("\n").append(scope).append("\n");
    sts.append(sha256_hex(canonical_request));
    return sts;
}

// A browser leaves the scheme's default port out of the Host it sends, so the presigned URL
// must neither carry nor sign it.
std::string_view without_default_port(std::string_view host, std::string_view scheme) {
    const std::string_view port = scheme == "https" ? ":443" : scheme == "http" ? ":80" : "";
    if (!port.empty() && host.size() > port.size() &&
        host.substr(host.size() - port.size()) == port) {
        host.remove_suffix(port.size());
    }
    return host;
}

}  // namespace

std::string s3_host(const S3Target &target) {
    std::string host;
    if (target.addressing == S3Addressing::virtual_host) host.append(target.bucket).append(".");
    host.append(target.endpoint_host);
    to_lower_ascii(host);
    return host;
}

std::string s3_object_path(const S3Target &target, std::string_view key) {
    std::string path = "/";
    if (target.addressing == S3Addressing::path) {
        uri_encode(path, target.bucket, false);
        path.push_back('/');
    }
    uri_encode(path, key, true);
    return path;
}

std::string sigv4_hex_signature(std::string_view secret, std::string_view yyyymmdd,
                                std::string_view region, std::string_view service,
                                std::string_view string_to_sign) {
    std::string first_key = "AWS4";
    first_key.append(secret);
    Digest key = hmac_sha256(reinterpret_cast<const unsigned char *>(first_key.data()),
                             first_key.size(), yyyymmdd);
    OPENSSL_cleanse(first_key.data(), first_key.size());
    for (std::string_view part : {region, service, kTerminator}) {
        key = hmac_sha256(key.data(), key.size(), part);
    }
    const Digest signature = hmac_sha256(key.data(), key.size(), string_to_sign);
    OPENSSL_cleanse(key.data(), key.size());
    return hex_lower(signature.data(), signature.size());
}

SignedGet s3_sign_get(const S3Target &target, const S3Credentials &creds, std::string_view key,
                      std::int64_t now, std::string_view method) {
    SignedGet out;
    out.host = s3_host(target);
    out.path = s3_object_path(target, key);
    out.amz_date = amz_date(now);
    out.content_sha256 = kEmptySha256;

    std::vector<Header> headers = {{"host", out.host},
                                   {"x-amz-content-sha256", out.content_sha256},
                                   {"x-amz-date", out.amz_date}};
    if (!creds.session_token.empty()) {
        headers.push_back({"x-amz-security-token", creds.session_token});
    }
    std::string signed_headers;
    const std::string request =
        canonical_get(method, out.path, "", headers, out.content_sha256, signed_headers);

    const std::string_view day = std::string_view(out.amz_date).substr(0, 8);
    const std::string scope = credential_scope(day, target.region);
    const std::string signature =
        sigv4_hex_signature(creds.secret_access_key, day, target.region, kService,
                            string_to_sign(out.amz_date, scope, request));

    out.authorization.append(kAlgorithm).append(" Credential=").append(creds.access_key_id);
    out.authorization.append("/").append(scope);
    out.authorization.append(", SignedHeaders=").append(signed_headers);
    out.authorization.append(", Signature=").append(signature);
    return out;
}

std::string s3_presign_get(const S3Target &target, const S3Credentials &creds, std::string_view key,
                           std::int64_t now, const PresignOptions &opts, std::string_view scheme) {
    const std::string host(without_default_port(s3_host(target), scheme));
    const std::string path = s3_object_path(target, key);
    const std::string date = amz_date(now);
    const std::string_view day = std::string_view(date).substr(0, 8);
    const std::string scope = credential_scope(day, target.region);
    const std::int64_t expires = std::clamp(opts.expires, kMinExpires, kMaxExpires);

    // Encoded (name, value) pairs, sorted by name then value as the canonical query demands.
    std::vector<std::pair<std::string, std::string>> query = {
        {"X-Amz-Algorithm", std::string(kAlgorithm)},
        {"X-Amz-Credential", query_encode(creds.access_key_id + "/" + scope)},
        {"X-Amz-Date", date},
        {"X-Amz-Expires", std::to_string(expires)},
        {"X-Amz-SignedHeaders", "host"},
    };
    if (!creds.session_token.empty()) {
        query.emplace_back("X-Amz-Security-Token", query_encode(creds.session_token));
    }
    if (!opts.response_content_type.empty()) {
        query.emplace_back("response-content-type", query_encode(opts.response_content_type));
    }
    if (!opts.response_content_disposition.empty()) {
        query.emplace_back("response-content-disposition",
                           query_encode(opts.response_content_disposition));
    }
    std::sort(query.begin(), query.end());
    std::string canonical_query;
    for (const auto &[name, value] : query) {
        if (!canonical_query.empty()) canonical_query.push_back('&');
        canonical_query.append(name).append("=").append(value);
    }

    std::vector<Header> headers = {{"host", host}};
    std::string signed_headers;
    const std::string request =
        canonical_get("GET", path, canonical_query, headers, kUnsignedPayload, signed_headers);
    const std::string signature =
        sigv4_hex_signature(creds.secret_access_key, day, target.region, kService,
                            string_to_sign(date, scope, request));

    std::string url(scheme);
    url.append("://").append(host).append(path).append("?").append(canonical_query);
    url.append("&X-Amz-Signature=").append(signature);
    return url;
}

}  // namespace asset_gate
