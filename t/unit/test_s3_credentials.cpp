// The S3 credentials file: its names, its optional expiry, and what it refuses.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/s3_credentials.hpp"

namespace asset_gate::testing {
namespace {

struct Parsed {
    bool ok;
    S3Credentials creds;
    std::int64_t expires;
    std::string error;
};

Parsed parse(std::string_view text) {
    Parsed p{};
    p.ok = parse_s3_credentials(text, &p.creds, &p.expires, &p.error);
    return p;
}

TEST(S3CredentialsFile, TheFirstProfileGivesIdSecretAndToken) {
    Parsed p = parse(
        "# written by hand\n[default]\naws_access_key_id = AKID\r\n"
        "aws_secret_access_key=se/cr+et\naws_session_token = tok==\n[other]\n"
        "aws_access_key_id = OTHER\n");
    ASSERT_TRUE(p.ok) << p.error;
    EXPECT_EQ(p.creds.access_key_id, "AKID");
    EXPECT_EQ(p.creds.secret_access_key, "se/cr+et");
    EXPECT_EQ(p.creds.session_token, "tok==");
    EXPECT_EQ(p.expires, 0);  // long-term credentials: no expiry
}

TEST(S3CredentialsFile, TheExpiryIsReadInAnyCaseWithOrWithoutThePrefix) {
    for (const char *line :
         {"aws_expiration = 2026-12-01T23:00:00Z", "Expiration = 2026-12-01T23:00:00Z",
          "AWS_EXPIRATION=2026-12-01t23:00:00z", "expiration = 2026-12-01T23:00:00.123456Z",
          "aws_expiration = 2026-12-02T00:00:00+01:00",
          "aws_expiration = 2026-12-01T22:30:00-00:30"}) {
        Parsed p = parse(std::string("aws_access_key_id = A\naws_secret_access_key = S\n") + line);
        ASSERT_TRUE(p.ok) << line << ": " << p.error;
        EXPECT_EQ(p.expires, 1796166000) << line;  // date -u -d 2026-12-01T23:00:00Z +%s
    }
}

TEST(S3CredentialsFile, AnExpiryThatIsNotAnIsoUtcTimeIsRefusedWithItsLine) {
    for (const char *value : {"2026-12-01 23:00:00Z", "2026-12-01T23:00:00", "2026-13-01T00:00:00Z",
                              "2026-02-29T00:00:00Z", "2026-12-01T24:00:00Z", "tomorrow",
                              "2026-12-01T23:00:00Zjunk", "2026-12-01T23:00:00.Z", ""}) {
        Parsed p = parse(std::string("aws_access_key_id = A\naws_secret_access_key = S\n"
                                     "aws_expiration = ") +
                         value + "\n");
        EXPECT_FALSE(p.ok) << value;
        EXPECT_NE(p.error.find("line 3: invalid expiration"), std::string::npos) << p.error;
    }
}

TEST(S3CredentialsFile, ALeapDayIsAValidExpiry) {
    std::int64_t t = 0;
    ASSERT_TRUE(parse_iso8601_utc("2028-02-29T00:00:00Z", &t));
    EXPECT_EQ(t, 1835395200);
    ASSERT_TRUE(parse_iso8601_utc("1970-01-01T00:00:00Z", &t));
    EXPECT_EQ(t, 0);
}

TEST(S3CredentialsFile, MissingIdOrSecretIsRefusedWithoutEchoingAValue) {
    Parsed p = parse("aws_secret_access_key = hunter2-secret\n");
    EXPECT_FALSE(p.ok);
    EXPECT_EQ(p.error, "no aws_access_key_id");
    p = parse("aws_access_key_id = AKID\n");
    EXPECT_FALSE(p.ok);
    EXPECT_EQ(p.error, "no aws_secret_access_key");
    p = parse("aws_access_key_id = AKID\nhunter2-secret\n");
    EXPECT_FALSE(p.ok);
    EXPECT_EQ(p.error, "line 2 is not \"name = value\"");
}

}  // namespace
}  // namespace asset_gate::testing
