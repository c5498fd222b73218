// Shared test fixtures: the external test-vector folder, JSON and hex helpers, token minting.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <jansson.h>

#include "core/base64url.hpp"
#include "core/hmac.hpp"

namespace asset_gate::testing {

struct JsonDeleter {
    void operator()(json_t *v) const { json_decref(v); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

// The Wycheproof folder: $ASSET_GATE_TESTDATA (the testdata folder or the wycheproof folder
// itself), else ../shared/testdata from the current directory (tests run from the repo root).
inline std::string wycheproof_file(const std::string &name) {
    std::vector<std::string> candidates;
    if (const char *env = std::getenv("ASSET_GATE_TESTDATA"); env != nullptr && *env != '\0') {
        candidates.push_back(std::string(env) + "/wycheproof/" + name);
        candidates.push_back(std::string(env) + "/" + name);
    } else {
        candidates.push_back("../shared/testdata/wycheproof/" + name);
    }
    for (const std::string &path : candidates) {
        if (std::FILE *f = std::fopen(path.c_str(), "rb"); f != nullptr) {
            std::fclose(f);
            return path;
        }
    }
    return {};
}

// Loads a Wycheproof vector file, or an empty pointer when it is absent or unreadable.
inline JsonPtr load_wycheproof(const std::string &name) {
    const std::string path = wycheproof_file(name);
    if (path.empty()) return nullptr;
    json_error_t error;
    return JsonPtr(json_load_file(path.c_str(), 0, &error));
}

// Binds `var` to the vector file's root, or skips the calling test when the file is absent.
#define ASSET_GATE_LOAD_VECTORS_OR_SKIP(var, name)                                     \
    ::asset_gate::testing::JsonPtr var = ::asset_gate::testing::load_wycheproof(name); \
    if (!var)                                                                          \
    GTEST_SKIP() << name << " not found (set ASSET_GATE_TESTDATA or provide "          \
                 << "../shared/testdata/wycheproof)"

inline std::string_view json_str(const json_t *object, const char *key) {
    const json_t *v = json_object_get(object, key);
    return json_is_string(v) ? std::string_view(json_string_value(v), json_string_length(v))
                             : std::string_view{};
}

// A hex digit's value, -1 for any other byte.
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The bytes a test vector spells in hex; a failure (and no bytes) when it is not hex.
inline std::string hex_decode(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = hex_value(hex[i]);
        const int lo = i + 1 < hex.size() ? hex_value(hex[i + 1]) : -1;
        if (hi < 0 || lo < 0) {
            ADD_FAILURE() << "not hex: \"" << hex << "\"";
            return {};
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

// RFC 4648 section 5, the url alphabet in the order of the values 0 to 63.
inline constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline constexpr std::string_view kPyJwtHeaderJson = R"({"alg":"HS256","typ":"JWT"})";

// A compact JWS over the given header and payload texts, signed with `secret`.
inline std::string mint(std::string_view header_json, std::string_view payload_json,
                        std::string_view secret) {
    std::string signing_input =
        base64url_encode(header_json) + "." + base64url_encode(payload_json);
    const Mac mac = HmacSha256Key(secret).sign(signing_input);
    return signing_input + "." + base64url_encode(mac.data(), mac.size());
}

inline std::string mint(std::string_view payload_json, std::string_view secret) {
    return mint(kPyJwtHeaderJson, payload_json, secret);
}

}  // namespace asset_gate::testing
