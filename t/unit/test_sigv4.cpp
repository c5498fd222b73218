// S3 SigV4: AWS's published examples, botocore as a reference oracle, and encoding properties.
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "core/sigv4.hpp"
#include "testdata.hpp"

namespace asset_gate::testing {
namespace {

// The AWS documentation's example account, bucket and moment (Fri, 24 May 2013 00:00:00 GMT).
constexpr std::string_view kAwsAccessKey = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view kAwsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::int64_t kAwsExampleTime = 1369353600;
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

constexpr S3Target aws_example_target() {
    S3Target target;
    target.endpoint_host = "s3.amazonaws.com";
    target.bucket = "examplebucket";
    target.region = "us-east-1";
    target.addressing = S3Addressing::virtual_host;
    return target;
}

S3Credentials aws_example_credentials() {
    return {std::string(kAwsAccessKey), std::string(kAwsSecret), ""};
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char *>(data.data()), data.size(), digest.data());
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : digest) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

std::string percent_decode(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
            hex_value(in[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return out;
}

struct SplitUrl {
    std::string base;                          // scheme://host/path
    std::map<std::string, std::string> query;  // percent-decoded names and values
    std::string raw_signature;
};

SplitUrl split_url(std::string_view url) {
    SplitUrl out;
    const std::size_t question = url.find('?');
    out.base = std::string(url.substr(0, question));
    std::string_view rest = question == std::string_view::npos ? "" : url.substr(question + 1);
    while (!rest.empty()) {
        const std::size_t amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        const std::size_t eq = pair.find('=');
        const std::string_view name = pair.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
        if (name == "X-Amz-Signature") out.raw_signature = std::string(value);
        out.query[percent_decode(name)] = percent_decode(value);
        rest = amp == std::string_view::npos ? "" : rest.substr(amp + 1);
    }
    return out;
}

std::string expected_encoding(unsigned char c) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || c == '/') return std::string(1, static_cast<char>(c));
    static constexpr char digits[] = "0123456789ABCDEF";
    return {'%', digits[c >> 4], digits[c & 0xf]};
}

// --- botocore, run once for the whole binary ----------------------------------------------

constexpr const char *kPython = "/usr/bin/python3";
constexpr int kReferenceSeed = 20240611;
constexpr int kReferenceCasesPerKind = 300;

using Case = std::map<std::string, std::string>;

struct Reference {
    std::string skip_reason;  // set when python3 or botocore is not installed
    std::string error;        // set when the generator failed
    std::string botocore_version;
    std::vector<Case> cases;
};

std::string reference_script() {
    const std::string here = __FILE__;
    const std::size_t slash = here.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : here.substr(0, slash);
    for (const std::string &path :
         {dir + "/sigv4_reference.py", std::string("t/unit/sigv4_reference.py")}) {
        if (std::FILE *f = std::fopen(path.c_str(), "rb"); f != nullptr) {
            std::fclose(f);
            return path;
        }
    }
    return {};
}

Reference run_reference() {
    Reference ref;
    const std::string probe = std::string(kPython) + " -c 'import botocore' >/dev/null 2>&1";
    if (std::FILE *f = std::fopen(kPython, "rb"); f == nullptr) {
        ref.skip_reason = std::string(kPython) + " is not installed";
        return ref;
    } else {
        std::fclose(f);
    }
    if (std::system(probe.c_str()) != 0) {
        ref.skip_reason = "botocore is not importable by " + std::string(kPython);
        return ref;
    }
    const std::string script = reference_script();
    if (script.empty()) {
        ref.error = "t/unit/sigv4_reference.py not found (run the tests from the repository root)";
        return ref;
    }
    const std::string command = std::string(kPython) + " " + script + " " +
                                std::to_string(kReferenceSeed) + " " +
                                std::to_string(kReferenceCasesPerKind) + " 2>&1";
    std::unique_ptr<std::FILE, int (*)(std::FILE *)> pipe(popen(command.c_str(), "r"), pclose);
    if (!pipe) {
        ref.error = "cannot run " + command;
        return ref;
    }
    std::string output;
    std::array<char, 65536> buf{};
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe.get()))
        output.append(buf.data(), n);
    if (pclose(pipe.release()) != 0) {
        ref.error = "the botocore generator failed:\n" + output;
        return ref;
    }
    std::string_view rest = output;
    while (!rest.empty()) {
        const std::size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
        Case fields;
        while (!line.empty()) {
            const std::size_t sp = line.find(' ');
            const std::string_view field = line.substr(0, sp);
            const std::size_t eq = field.find('=');
            fields[std::string(field.substr(0, eq))] = hex_decode(field.substr(eq + 1));
            line = sp == std::string_view::npos ? "" : line.substr(sp + 1);
        }
        if (fields.count("botocore") != 0) {
            ref.botocore_version = fields["botocore"];
        } else if (!fields.empty()) {
            ref.cases.push_back(std::move(fields));
        }
    }
    return ref;
}

const Reference &reference() {
    static const Reference ref = run_reference();
    return ref;
}

S3Target target_of(const Case &c) {
    S3Target target;
    target.endpoint_host = c.at("endpoint");
    target.bucket = c.at("bucket");
    target.region = c.at("region");
    target.addressing =
        c.at("addressing") == "path" ? S3Addressing::path : S3Addressing::virtual_host;
    return target;
}

S3Credentials credentials_of(const Case &c) {
    return {c.at("akid"), c.at("secret"), c.at("token")};
}

std::string describe(const Case &c) {
    std::string out;
    for (const char *name : {"endpoint", "scheme", "bucket", "region", "addressing", "key", "now",
                             "token", "expires", "content_type", "disposition"}) {
        if (auto it = c.find(name); it != c.end())
            out += std::string(name) + "=" + it->second + "\n";
    }
    return out;
}

// Runs `check` on each reference case of `kind`; stops reporting after a few failing cases.
template <typename Check>
void for_each_reference_case(std::string_view kind, Check check) {
    const Reference &ref = reference();
    if (!ref.skip_reason.empty()) GTEST_SKIP() << ref.skip_reason;
    ASSERT_TRUE(ref.error.empty()) << ref.error;
    ::testing::Test::RecordProperty("botocore", ref.botocore_version);
    int seen = 0;
    int failed_cases = 0;
    for (const Case &c : ref.cases) {
        if (c.at("kind") != kind) continue;
        ++seen;
        SCOPED_TRACE(describe(c));
        const int before =
            ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
        check(c);
        if (::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count() !=
                before &&
            ++failed_cases >= 3) {
            FAIL() << "stopping after 3 failing cases";
        }
    }
    EXPECT_EQ(seen, kReferenceCasesPerKind) << "botocore " << ref.botocore_version;
}

// --- AWS's published examples -------------------------------------------------------------

// "Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk",
// GET Object: the example also signs a Range header, which s3_sign_get never sends, so the
// documented canonical request is rebuilt here and only the signing step is ours.
TEST(Sigv4, AwsGetObjectExampleStringToSignSignsToDocumentedSignature) {
    const std::string canonical_request =
        "GET\n"
        "/test.txt\n"
        "\n"
        "host:examplebucket.s3.amazonaws.com\n"
        "range:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n"
        "\n"
        "host;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    ASSERT_EQ(sha256_hex(canonical_request),
              "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    const std::string string_to_sign =
        "AWS4-HMAC-SHA256\n"
        "20130524T000000Z\n"
        "20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972";
    EXPECT_EQ(sigv4_hex_signature(kAwsSecret, "20130524", "us-east-1", "s3", string_to_sign),
              "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(Sigv4, AwsGetObjectExampleHostAndPath) {
    EXPECT_EQ(s3_host(aws_example_target()), "examplebucket.s3.amazonaws.com");
    EXPECT_EQ(s3_object_path(aws_example_target(), "test.txt"), "/test.txt");
}

// "Authenticating Requests: Using Query Parameters", the presigned GET of examplebucket/test.txt.
TEST(Sigv4, AwsPresignedUrlExampleReproducedByteForByte) {
    PresignOptions opts;
    opts.expires = 86400;
    EXPECT_EQ(s3_presign_get(aws_example_target(), aws_example_credentials(), "test.txt",
                             kAwsExampleTime, opts),
              "https://examplebucket.s3.amazonaws.com/test.txt"
              "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
              "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

// --- the canonical request, pinned without botocore ---------------------------------------

TEST(Sigv4, SignGetSignsHostContentSha256AndDateOverTheEmptyPayload) {
    const SignedGet got =
        s3_sign_get(aws_example_target(), aws_example_credentials(), "test.txt", kAwsExampleTime);
    EXPECT_EQ(got.host, "examplebucket.s3.amazonaws.com");
    EXPECT_EQ(got.path, "/test.txt");
    EXPECT_EQ(got.amz_date, "20130524T000000Z");
    EXPECT_EQ(got.content_sha256, kEmptySha256);
    EXPECT_EQ(got.content_sha256, sha256_hex(""));
    const std::string canonical_request =
        std::string("GET\n/test.txt\n\n") + "host:examplebucket.s3.amazonaws.com\n" +
        "x-amz-content-sha256:" + std::string(kEmptySha256) + "\nx-amz-date:20130524T000000Z\n\n" +
        "host;x-amz-content-sha256;x-amz-date\n" + std::string(kEmptySha256);
    const std::string signature = sigv4_hex_signature(
        kAwsSecret, "20130524", "us-east-1", "s3",
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" +
            sha256_hex(canonical_request));
    EXPECT_EQ(got.authorization,
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
              "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" +
                  signature);
}

TEST(Sigv4, SignGetSignsTheSessionTokenHeaderWhenCredentialsCarryOne) {
    S3Credentials creds = aws_example_credentials();
    creds.session_token = "FQoDYXdzEXAMPLE/token+with=padding";
    const SignedGet with = s3_sign_get(aws_example_target(), creds, "test.txt", kAwsExampleTime);
    const SignedGet without =
        s3_sign_get(aws_example_target(), aws_example_credentials(), "test.txt", kAwsExampleTime);
    EXPECT_NE(with.authorization.find(
                  "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "),
              std::string::npos)
        << with.authorization;
    EXPECT_NE(with.authorization, without.authorization);
}

TEST(Sigv4, PresignSignsOnlyHostOverUnsignedPayload) {
    PresignOptions opts;
    opts.expires = 86400;
    const SplitUrl url = split_url(s3_presign_get(aws_example_target(), aws_example_credentials(),
                                                  "test.txt", kAwsExampleTime, opts));
    const std::string canonical_request =
        "GET\n/test.txt\n"
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
        "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD";
    EXPECT_EQ(url.raw_signature, sigv4_hex_signature(kAwsSecret, "20130524", "us-east-1", "s3",
                                                     "AWS4-HMAC-SHA256\n20130524T000000Z\n"
                                                     "20130524/us-east-1/s3/aws4_request\n" +
                                                         sha256_hex(canonical_request)));
}

TEST(Sigv4, PresignQueryIsSortedByEncodedNameWithSlashEncodedInValues) {
    S3Credentials creds = aws_example_credentials();
    creds.session_token = "tok/en+=";
    PresignOptions opts;
    opts.response_content_type = "text/plain; charset=utf-8";
    opts.response_content_disposition = "attachment; filename=\"r\xc3\xa9sum\xc3\xa9 1.pdf\"";
    const std::string url =
        s3_presign_get(aws_example_target(), creds, "a b", kAwsExampleTime, opts, "http");
    EXPECT_EQ(
        url,
        "http://examplebucket.s3.amazonaws.com/a%20b"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=3600"
        "&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-SignedHeaders=host"
        "&response-content-disposition=attachment%3B%20filename%3D%22r%C3%A9sum%C3%A9%201.pdf%22"
        "&response-content-type=text%2Fplain%3B%20charset%3Dutf-8"
        "&X-Amz-Signature=" +
            split_url(url).raw_signature);
}

TEST(Sigv4, AmzDateIsUtcFromUnixSeconds) {
    const S3Target target = aws_example_target();
    const S3Credentials creds = aws_example_credentials();
    EXPECT_EQ(s3_sign_get(target, creds, "k", 0).amz_date, "19700101T000000Z");
    EXPECT_EQ(s3_sign_get(target, creds, "k", 1709210096).amz_date, "20240229T123456Z");
    EXPECT_EQ(s3_sign_get(target, creds, "k", 4102444799).amz_date, "20991231T235959Z");
    // Times no X-Amz-Date can spell are clamped to the representable range.
    EXPECT_EQ(s3_sign_get(target, creds, "k", -1).amz_date, "19700101T000000Z");
    EXPECT_EQ(s3_sign_get(target, creds, "k", std::numeric_limits<std::int64_t>::max()).amz_date,
              "99991231T235959Z");
}

// --- hosts and paths ----------------------------------------------------------------------

TEST(Sigv4, HostKeepsANonDefaultPortAndIsLowerCased) {
    S3Target target;
    target.endpoint_host = "127.0.0.1:9000";
    target.bucket = "media";
    target.addressing = S3Addressing::path;
    EXPECT_EQ(s3_host(target), "127.0.0.1:9000");
    EXPECT_EQ(s3_sign_get(target, aws_example_credentials(), "k", kAwsExampleTime).host,
              "127.0.0.1:9000");
    target.endpoint_host = "S3.Example.COM:9000";
    target.addressing = S3Addressing::virtual_host;
    EXPECT_EQ(s3_host(target), "media.s3.example.com:9000");
}

TEST(Sigv4, PresignDropsOnlyTheSchemesDefaultPort) {
    S3Target target;
    target.bucket = "media";
    target.addressing = S3Addressing::path;
    const S3Credentials creds = aws_example_credentials();
    const PresignOptions opts;
    target.endpoint_host = "s3.example.com:443";
    EXPECT_EQ(split_url(s3_presign_get(target, creds, "k", kAwsExampleTime, opts, "https")).base,
              "https://s3.example.com/media/k");
    EXPECT_EQ(split_url(s3_presign_get(target, creds, "k", kAwsExampleTime, opts, "http")).base,
              "http://s3.example.com:443/media/k");
    target.endpoint_host = "s3.example.com:80";
    EXPECT_EQ(split_url(s3_presign_get(target, creds, "k", kAwsExampleTime, opts, "http")).base,
              "http://s3.example.com/media/k");
    target.endpoint_host = "127.0.0.1:9000";
    EXPECT_EQ(split_url(s3_presign_get(target, creds, "k", kAwsExampleTime, opts, "http")).base,
              "http://127.0.0.1:9000/media/k");
}

TEST(Sigv4, PathStylePrefixesTheBucketAndVirtualHostDoesNot) {
    S3Target target = aws_example_target();
    target.addressing = S3Addressing::path;
    EXPECT_EQ(s3_object_path(target, "dir/file name.png"), "/examplebucket/dir/file%20name.png");
    target.addressing = S3Addressing::virtual_host;
    EXPECT_EQ(s3_object_path(target, "dir/file name.png"), "/dir/file%20name.png");
}

TEST(Sigv4, KeyWithLeadingSlashKeepsItAsADoubleSlash) {
    S3Target target = aws_example_target();
    EXPECT_EQ(s3_object_path(target, "/a/b"), "//a/b");
    target.addressing = S3Addressing::path;
    EXPECT_EQ(s3_object_path(target, "/a/b"), "/examplebucket//a/b");
}

TEST(Sigv4, PathEncodesEveryByteButUnreservedAndSlashWithUpperCaseHex) {
    const S3Target target = aws_example_target();
    std::string all_bytes;
    std::string all_expected = "/";
    for (int b = 0; b < 256; ++b) {
        const auto c = static_cast<unsigned char>(b);
        const std::string key(1, static_cast<char>(c));
        EXPECT_EQ(s3_object_path(target, key), "/" + expected_encoding(c)) << "byte " << b;
        all_bytes += key;
        all_expected += expected_encoding(c);
    }
    EXPECT_EQ(s3_object_path(target, all_bytes), all_expected);
}

TEST(Sigv4, PathEncodesUtf8BytesPlusPercentAndReservedCharacters) {
    const S3Target target = aws_example_target();
    EXPECT_EQ(s3_object_path(target, "caf\xc3\xa9 \xf0\x9f\x98\x80"), "/caf%C3%A9%20%F0%9F%98%80");
    EXPECT_EQ(s3_object_path(target, "a+b~c%20d=e&f?g#h"), "/a%2Bb~c%2520d%3De%26f%3Fg%23h");
}

TEST(Sigv4, PathOfAnAlreadySafeKeyIsTheKeyItself) {
    const S3Target target = aws_example_target();
    const std::string safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/";
    std::string key;
    for (std::size_t i = 0; i < 2000; ++i) key.push_back(safe[(i * 7919) % safe.size()]);
    for (std::size_t len : {std::size_t{0}, std::size_t{1}, safe.size(), key.size()}) {
        const std::string k = key.substr(0, len);
        const std::string path = s3_object_path(target, k);
        EXPECT_EQ(path, "/" + k);
        EXPECT_EQ(s3_object_path(target, path.substr(1)), path) << "encoding is not idempotent";
    }
}

TEST(Sigv4, LongKeysAreEncodedWhole) {
    const std::string key(5000, ' ');
    const std::string path = s3_object_path(aws_example_target(), key);
    EXPECT_EQ(path.size(), 1 + 3 * key.size());
    EXPECT_EQ(path.substr(path.size() - 6), "%20%20");
}

// --- expiry bounds ------------------------------------------------------------------------

TEST(Sigv4, PresignExpiresIsClampedIntoOneSecondToSevenDays) {
    const S3Target target = aws_example_target();
    const S3Credentials creds = aws_example_credentials();
    auto expires_of = [&](std::int64_t expires) {
        PresignOptions opts;
        opts.expires = expires;
        return split_url(s3_presign_get(target, creds, "k", kAwsExampleTime, opts));
    };
    EXPECT_EQ(expires_of(3600).query.at("X-Amz-Expires"), "3600");
    EXPECT_EQ(expires_of(1).query.at("X-Amz-Expires"), "1");
    EXPECT_EQ(expires_of(604800).query.at("X-Amz-Expires"), "604800");
    EXPECT_EQ(expires_of(0).query.at("X-Amz-Expires"), "1");
    EXPECT_EQ(expires_of(-86400).query.at("X-Amz-Expires"), "1");
    EXPECT_EQ(expires_of(604801).query.at("X-Amz-Expires"), "604800");
    EXPECT_EQ(expires_of(std::numeric_limits<std::int64_t>::max()).query.at("X-Amz-Expires"),
              "604800");
    EXPECT_EQ(expires_of(std::numeric_limits<std::int64_t>::min()).query.at("X-Amz-Expires"), "1");
    // The signature covers the clamped value, not the requested one.
    EXPECT_EQ(expires_of(0).raw_signature, expires_of(1).raw_signature);
    EXPECT_EQ(expires_of(604801).raw_signature, expires_of(604800).raw_signature);
}

// --- botocore as the reference ------------------------------------------------------------

TEST(Sigv4, SignedGetMatchesBotocoreS3SigV4AuthOnGeneratedRequests) {
    for_each_reference_case("get", [](const Case &c) {
        const SignedGet got =
            s3_sign_get(target_of(c), credentials_of(c), c.at("key"), std::stoll(c.at("now")));
        EXPECT_EQ(got.path, c.at("want_path"));
        EXPECT_EQ(got.amz_date, c.at("want_amz_date"));
        EXPECT_EQ(got.content_sha256, c.at("want_content_sha256"));
        EXPECT_EQ(got.authorization, c.at("want_authorization"));
    });
}

TEST(Sigv4, PresignedUrlMatchesBotocoreS3SigV4QueryAuthOnGeneratedRequests) {
    for_each_reference_case("presign", [](const Case &c) {
        PresignOptions opts;
        opts.expires = std::stoll(c.at("expires"));
        opts.response_content_type = c.at("content_type");
        opts.response_content_disposition = c.at("disposition");
        const SplitUrl got =
            split_url(s3_presign_get(target_of(c), credentials_of(c), c.at("key"),
                                     std::stoll(c.at("now")), opts, c.at("scheme")));
        const SplitUrl want = split_url(c.at("want_url"));
        EXPECT_EQ(got.raw_signature, want.raw_signature);
        EXPECT_EQ(got.query, want.query);
        // botocore keeps the endpoint's case and a default port in the URL (signing the host
        // lower-cased and without it); we leave both out of the URL too.
        const std::string &scheme = c.at("scheme");
        std::string want_base = want.base;
        const std::size_t path_at = want_base.find('/', scheme.size() + 3);
        const std::string default_port = scheme == "https" ? ":443" : ":80";
        if (path_at >= default_port.size() &&
            want_base.compare(path_at - default_port.size(), default_port.size(), default_port) ==
                0) {
            want_base.erase(path_at - default_port.size(), default_port.size());
        }
        for (std::size_t i = scheme.size() + 3; i < want_base.find('/', scheme.size() + 3); ++i) {
            want_base[i] =
                static_cast<char>(std::tolower(static_cast<unsigned char>(want_base[i])));
        }
        EXPECT_EQ(want_base.substr(want_base.find('/', scheme.size() + 3)), c.at("want_path"));
        EXPECT_EQ(got.base, want_base);
    });
}

}  // namespace
}  // namespace asset_gate::testing
