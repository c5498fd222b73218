// Reading S3 credentials from a file in the AWS shared-credentials style.
#pragma once

#include <string>
#include <string_view>

#include "sigv4.hpp"

namespace asset_gate {

// Accepts `name = value` lines (spaces optional) with the names aws_access_key_id,
// aws_secret_access_key and aws_session_token (the `aws_` prefix may be left out). Blank lines,
// `#`/`;` comments and `[profile]` headers are skipped; only the first profile is read. Returns
// false with a message naming what is wrong (never a secret) when the id or secret is missing
// or a line cannot be read.
bool parse_s3_credentials(std::string_view text, S3Credentials *creds, std::string *error);

}  // namespace asset_gate
