// AWS Signature Version 4 for S3 GET requests: signed headers for a proxied request, and
// presigned URLs for redirects. Plain C++; no nginx, no network.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace asset_gate {

struct S3Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  // optional (temporary credentials): sent as X-Amz-Security-Token
};

enum class S3Addressing : std::uint8_t { path, virtual_host };

struct S3Target {
    std::string_view endpoint_host;  // "s3.eu-west-1.amazonaws.com" or "127.0.0.1:9000" (port kept)
    std::string_view bucket;
    std::string_view region = "us-east-1";
    S3Addressing addressing = S3Addressing::virtual_host;
};

// The Host header value: "bucket.endpoint" for virtual-host addressing, the endpoint for path;
// ASCII lower-cased, as botocore signs it.
std::string s3_host(const S3Target &target);

// The URI-encoded request path of an object: "/bucket/key" (path) or "/key" (virtual host).
// Every byte of the key except unreserved characters (A-Z a-z 0-9 - . _ ~) and '/' is
// percent-encoded with upper-case hex, as S3 expects (a space is %20, '+' is %2B).
std::string s3_object_path(const S3Target &target, std::string_view key);

struct SignedGet {
    std::string host;
    std::string path;            // as s3_object_path
    std::string amz_date;        // X-Amz-Date, "YYYYMMDDTHHMMSSZ"
    std::string content_sha256;  // X-Amz-Content-Sha256: the SHA-256 of the empty body, hex
    std::string authorization;   // Authorization header value
};

// Signs `GET path` with SignedHeaders host;x-amz-content-sha256;x-amz-date (plus
// x-amz-security-token when the credentials carry one: the caller sends it too) at unix time `now`.
// `method` is GET or HEAD: the one the proxied request will carry.
SignedGet s3_sign_get(const S3Target &target, const S3Credentials &creds, std::string_view key,
                      std::int64_t now, std::string_view method = "GET");

struct PresignOptions {
    std::int64_t expires = 3600;  // seconds; clamped into 1..604800 (S3's limit), never refused
    std::string_view response_content_type;         // response-content-type, when not empty
    std::string_view response_content_disposition;  // response-content-disposition, when not empty
};

// A complete presigned GET URL: scheme "https" or "http", then host, path and the sorted,
// encoded query with X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders=host (and X-Amz-Security-Token when present), then X-Amz-Signature last.
// The scheme's default port (":443", ":80") is dropped from the host, as browsers drop it.
std::string s3_presign_get(const S3Target &target, const S3Credentials &creds, std::string_view key,
                           std::int64_t now, const PresignOptions &opts,
                           std::string_view scheme = "https");

// Lower-level pieces, exposed for tests: the signing key for a day, and one signature.
std::string sigv4_hex_signature(std::string_view secret, std::string_view yyyymmdd,
                                std::string_view region, std::string_view service,
                                std::string_view string_to_sign);

}  // namespace asset_gate
