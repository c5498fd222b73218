// S3 credentials files: a small, strict reader that never echoes a value.
#include "s3_credentials.hpp"

namespace asset_gate {

namespace {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

bool parse_s3_credentials(std::string_view text, S3Credentials *creds, std::string *error) {
    *creds = S3Credentials{};
    int profiles = 0;
    int line_no = 0;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        line_no++;
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.front() == '[') {
            if (++profiles > 1) break;
            continue;
        }
        std::size_t eq = line.find('=');
        if (eq == std::string_view::npos) {
            *error = "line " + std::to_string(line_no) + " is not \"name = value\"";
            return false;
        }
        std::string_view name = trim(line.substr(0, eq));
        std::string_view value = trim(line.substr(eq + 1));
        if (name.substr(0, 4) == "aws_") name.remove_prefix(4);
        if (name == "access_key_id") {
            creds->access_key_id = value;
        } else if (name == "secret_access_key") {
            creds->secret_access_key = value;
        } else if (name == "session_token") {
            creds->session_token = value;
        }
    }
    if (creds->access_key_id.empty()) {
        *error = "no aws_access_key_id";
        return false;
    }
    if (creds->secret_access_key.empty()) {
        *error = "no aws_secret_access_key";
        return false;
    }
    return true;
}

}  // namespace asset_gate
