// Reading S3 credentials from a file in the AWS shared-credentials style.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sigv4.hpp"

namespace asset_gate {

// Accepts `name = value` lines (spaces optional) with the names aws_access_key_id,
// aws_secret_access_key, aws_session_token and aws_expiration (the `aws_` prefix may be left
// out; `expiration` in any case, as botocore and credential_process spell it `Expiration`).
// Blank lines, `#`/`;` comments and `[profile]` headers are skipped; only the first profile is
// read. The expiry of temporary credentials is an ISO 8601 UTC time,
// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, put in `*expires` as unix seconds (0: none
// given). Returns false with a message naming what is wrong (never a secret) when the id or
// secret is missing or a line cannot be read.
bool parse_s3_credentials(std::string_view text, S3Credentials *creds, std::int64_t *expires,
                          std::string *error);

// An ISO 8601 UTC time as above in unix seconds; false when `text` is not one.
bool parse_iso8601_utc(std::string_view text, std::int64_t *unix_seconds) noexcept;

}  // namespace asset_gate
