// Token masking in log lines: no signature survives wherever the token stands and however it is
// percent-encoded, header and payload stay readable, line endings are untouched, text without a
// token is copied byte for byte, and masking twice changes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/base64url.hpp"
#include "core/log_mask.hpp"
#include "core/query.hpp"
#include "testdata.hpp"

namespace asset_gate::testing {
namespace {

std::string mask(std::string in) {
    std::string out(in.size(), '\0');
    out.resize(mask_token_signatures(in, out.data()));
    return out;
}

std::string mask_in_place(std::string in) {
    in.resize(mask_token_signatures(in, in.data()));
    return in;
}

struct Jwt {
    std::string header, payload, signature;
    std::string text() const { return header + "." + payload + "." + signature; }
};

Jwt split(const std::string &token) {
    const std::size_t d1 = token.find('.');
    const std::size_t d2 = token.find('.', d1 + 1);
    return {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1)};
}

Jwt token(int id = 101, std::string_view header = asset_gate::testing::kPyJwtHeaderJson) {
    return split(mint(
        header,
        R"({"id":)" + std::to_string(id) + R"(,"exp":1790000000,"aud":"posthog:exported_asset"})",
        "unit-test-key-0123456789abcdef0123456789"));
}

std::string hex2(unsigned char c, bool upper) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    return {'%', digits[c >> 4], digits[c & 15]};
}

// Every character percent-encoded.
std::string encode_all(std::string_view s, bool upper = true) {
    std::string out;
    for (unsigned char c : s) out += hex2(c, upper);
    return out;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (std::size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) {
        s.replace(i, from.size(), to);
    }
    return s;
}

// What the gate makes of a percent-encoded text: "%XY" is a byte, anything else stays.
std::string unescape(std::string_view s) {
    std::string out(s.size(), '\0');
    out.resize(asset_gate::percent_decode(s, out.data()));
    return out;
}

// No form of the signature can be read back from `text`, decoded up to twice.
void expect_no_signature(const std::string &text, const Jwt &t) {
    const std::string once = unescape(text);
    const std::string twice = unescape(once);
    EXPECT_EQ(text.find(t.signature), std::string::npos) << text;
    EXPECT_EQ(once.find(t.signature), std::string::npos) << text;
    EXPECT_EQ(twice.find(t.signature), std::string::npos) << text;
    EXPECT_EQ(text.find(encode_all(t.signature)), std::string::npos) << text;
}

std::size_t newlines(std::string_view s) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

const char *const kPrefix = "2026/05/27 10:10:10 [info] 4242#4242: *17 ";

// -- the request line, as before ----------------------------------------------------------

TEST(LogMask, SignatureOfATokenInTheRequestLineIsDropped) {
    EXPECT_EQ(mask("GET /exporter/a.png?token=hdr.pay.SIGNATURE123 HTTP/1.1"),
              "GET /exporter/a.png?token=hdr.pay.... HTTP/1.1");
    const Jwt t = token();
    EXPECT_EQ(mask("GET /exporter/a.png?token=" + t.text() + " HTTP/1.1"),
              "GET /exporter/a.png?token=" + t.header + "." + t.payload + ".... HTTP/1.1");
}

TEST(LogMask, TokenAfterOtherArgumentsAndBeforeMoreIsMasked) {
    EXPECT_EQ(mask("GET /e?a=1&token=h.p.sigsig&download=true HTTP/1.1"),
              "GET /e?a=1&token=h.p....&download=true HTTP/1.1");
}

TEST(LogMask, EveryRepeatedTokenIsMasked) {
    EXPECT_EQ(mask("/e?token=h.p.sig1&token=h.p.sig2"), "/e?token=h.p....&token=h.p....");
}

TEST(LogMask, TokenValueWithoutTwoDotsIsReplacedWhole) {
    EXPECT_EQ(mask("/e?token=secretvalue HTTP/1.1"), "/e?token=... HTTP/1.1");
    EXPECT_EQ(mask("/e?token=only.onedot\""), "/e?token=...\"");
}

TEST(LogMask, ShortValuesShrinkRatherThanGrow) {
    EXPECT_EQ(mask("/e?token=ab HTTP/1.1"), "/e?token=.. HTTP/1.1");
    EXPECT_EQ(mask("/e?token=a HTTP/1.1"), "/e?token=. HTTP/1.1");
    EXPECT_EQ(mask("/e?token="), "/e?token=");
}

TEST(LogMask, ArgumentsThatOnlyEndInTokenAreLeftAlone) {
    EXPECT_EQ(mask("/e?mytoken=a.b.c&xtoken=1"), "/e?mytoken=a.b.c&xtoken=1");
    EXPECT_EQ(mask("/token=a.b.c"), "/token=a.b.c");
}

// -- wherever nginx writes the token ------------------------------------------------------

TEST(LogMask, NginxDebugArgsLineIsMasked) {
    const Jwt t = token();
    const std::string line =
        "2026/05/27 10:10:10 [debug] 4242#4242: *17 http args: \"token=" + t.text() + "&m=1\"\n";
    const std::string out = mask(line);
    EXPECT_EQ(out, "2026/05/27 10:10:10 [debug] 4242#4242: *17 http args: \"token=" + t.header +
                       "." + t.payload + "....&m=1\"\n");
    expect_no_signature(out, t);
}

TEST(LogMask, NginxDebugLinesWithTheUriAndArgsAreMasked) {
    const Jwt t = token();
    for (std::string body :
         {"http finalize request: 404, \"/exporter/a.png?token=@\" a:1, c:1",
          "http request line: \"GET /exporter/a.png?token=@ HTTP/1.1\"",
          "http output filter \"/exporter/a.png?token=@\"",
          "http header: \"Referer: https://app.example/exporter?token=@\"",
          "http header: \"X-Link: @\"", "http2 header: \":path: /exporter?token=@\""}) {
        const std::string line = kPrefix + replace_all(body, "@", t.text()) + "\n";
        const std::string out = mask(line);
        expect_no_signature(out, t);
        EXPECT_EQ(out, replace_all(line, t.signature, "..."));
    }
}

TEST(LogMask, RewriteLogNoticeIsMasked) {
    const Jwt t = token();
    const std::string line =
        std::string("2026/05/27 10:10:10 [notice] 4242#4242: *17 ") +
        "rewritten data: \"/exporter/a.png\", args: \"token=" + t.text() +
        "\", client: 127.0.0.1, server: , request: \"GET /old/a.png?token=" + t.text() +
        " HTTP/1.1\", host: \"x\"\n";
    const std::string out = mask(line);
    EXPECT_EQ(out, replace_all(line, t.signature, "..."));
    expect_no_signature(out, t);
}

TEST(LogMask, PercentEncodedArgumentNameIsMasked) {
    const Jwt t = token();
    EXPECT_EQ(mask("GET /e?%74oken=" + t.text() + " HTTP/1.1"),
              "GET /e?%74oken=" + t.header + "." + t.payload + ".... HTTP/1.1");
    // Not JWT-shaped: only the name tells it is a token.
    EXPECT_EQ(mask("GET /e?%74oken=opaque-secret HTTP/1.1"), "GET /e?%74oken=... HTTP/1.1");
    EXPECT_EQ(mask("GET /e?a=1&%74%6F%6B%65%6E=opaque HTTP/1.1"),
              "GET /e?a=1&%74%6F%6B%65%6E=... HTTP/1.1");
    EXPECT_EQ(mask("args: \"%74oken=opaque\""), "args: \"%74oken=...\"");
}

TEST(LogMask, PercentEncodedTokenIsMasked) {
    const Jwt t = token();
    const std::string hp = t.header + "." + t.payload + ".";
    struct Form {
        std::string sent;
        std::string kept;  // header and payload as they stand in the masked text
    };
    const std::vector<Form> forms = {
        {replace_all(t.text(), ".", "%2E"), replace_all(hp, ".", "%2E")},
        {replace_all(t.text(), ".", "%2e"), replace_all(hp, ".", "%2e")},
        {"%65" + t.text().substr(1), "%65" + hp.substr(1)},
        {"%65" + replace_all(t.text().substr(1), ".", "%2E"),
         "%65" + replace_all(hp.substr(1), ".", "%2E")},
        {encode_all(t.text()), encode_all(hp)},
        {encode_all(t.text(), false), encode_all(hp, false)},
        {hp + encode_all(t.signature), hp},
        {hp + t.signature.substr(0, 10) + hex2(t.signature[10], true) + t.signature.substr(11), hp},
        // Encoded twice, as a link pasted through two encoders.
        {replace_all(t.text(), ".", "%252E"), replace_all(hp, ".", "%252E")},
        {replace_all(encode_all(t.text()), "%", "%25"), replace_all(encode_all(hp), "%", "%25")},
    };
    for (const Form &f : forms) {
        for (const std::string &before :
             {std::string("GET /e?token="), std::string("GET /e?%74oken="),
              std::string("http header: \"Referer: ")}) {
            const std::string out = mask(before + f.sent + " HTTP/1.1\"\n");
            EXPECT_EQ(out, before + f.kept + "... HTTP/1.1\"\n") << f.sent;
            expect_no_signature(out, t);
        }
    }
}

TEST(LogMask, TokenIsFoundByItsShapeWhateverPrecedesIt) {
    const Jwt t = token();
    for (std::string before : {"", " ", "/", "\"", "(", "x=", "Bearer ", "?q=", "\\x22", "%22",
                               "%20", ",", "/exporter/"}) {
        const std::string out = mask(before + t.text() + " tail");
        EXPECT_EQ(out, before + t.header + "." + t.payload + ".... tail") << before;
    }
}

TEST(LogMask, HeaderWithJsonWhitespaceIsRecognised) {
    for (std::string_view header :
         {R"({ "alg":"HS256"})", "{\n\"alg\":\"HS256\"}", R"( {"alg":"HS256"})",
          "\r\n\t{\"alg\":\"HS256\"}", R"({"typ":"JWT","alg":"HS256"})"}) {
        const Jwt t = token(7, header);
        const std::string out = mask("seen " + t.text() + "\n");
        EXPECT_EQ(out, "seen " + t.header + "." + t.payload + "....\n") << header;
    }
}

TEST(LogMask, HeaderAloneMarksATokenWhosePayloadIsNotJson) {
    const std::string t =
        base64url_encode(R"({"alg":"HS256"})") + "." + base64url_encode("plain") + ".c2lnbmF0dXJl";
    EXPECT_EQ(mask("x " + t + " y"), "x " + t.substr(0, t.rfind('.') + 1) + "... y");
}

TEST(LogMask, TokenGluedToOtherTextIsMasked) {
    const Jwt t = token();
    for (std::string before : {"abc", "%4", "%", "%2", "%25", "%2%", "Iy"}) {
        const std::string out = mask("[" + before + t.text() + "]");
        expect_no_signature(out, t);
        EXPECT_NE(out.find(t.payload), std::string::npos) << out;
    }
    // Glued after a dot, the header may pass for a payload: the payload is masked too.
    for (std::string before : {"x.", "a.b.", "%2E", "eyJ."}) {
        expect_no_signature(mask("[" + before + t.text() + "]"), t);
    }
    for (std::string after : {"abc", "%41", ".", ".x.y", "_-"}) {
        const std::string out = mask("[" + t.text() + after + "]");
        expect_no_signature(out, t);
        EXPECT_EQ(out.find(t.header + "." + t.payload + "...."), 1u) << out;
    }
}

TEST(LogMask, ManyTokensInOneLineAreAllMasked) {
    std::vector<Jwt> tokens;
    std::string line = kPrefix;
    for (int i = 0; i < 40; i++) {
        tokens.push_back(token(1000 + i));
        const char *sep[] = {"?token=", "&token=", " ", "\"", "%74oken=", "/"};
        line += sep[i % 6] +
                (i % 3 == 0 ? replace_all(tokens.back().text(), ".", "%2E") : tokens.back().text());
    }
    line += "\n";
    const std::string out = mask(line);
    for (const Jwt &t : tokens) {
        expect_no_signature(out, t);
        EXPECT_NE(out.find(t.payload), std::string::npos);
    }
    EXPECT_EQ(newlines(out), 1u);
}

// -- line endings ---------------------------------------------------------------------------

TEST(LogMask, TokenCutAtTheEndOfALineKeepsTheNewline) {
    const Jwt t = token();
    // nginx cuts a record at NGX_MAX_ERROR_STR and still ends it with '\n'.
    const std::string cut = std::string(kPrefix) +
                            "asset_gate: refused, request: \"GET /e?token=" + t.header + "." +
                            t.payload + "." + t.signature.substr(0, 20) + "\n";
    EXPECT_EQ(mask(cut), std::string(kPrefix) + "asset_gate: refused, request: \"GET /e?token=" +
                             t.header + "." + t.payload + "....\n");
    // Several records in one buffer stay several records.
    const std::string two = cut + kPrefix + "next record\n" + cut;
    const std::string out = mask(two);
    EXPECT_EQ(newlines(out), 3u);
    EXPECT_EQ(out.back(), '\n');
    EXPECT_NE(out.find("...\n2026/05/27 10:10:10 [info] 4242#4242: *17 next record\n"),
              std::string::npos)
        << out;
}

TEST(LogMask, CutInsideAnEncodedTokenKeepsTheNewline) {
    const Jwt t = token();
    const std::string enc = encode_all(t.text());
    for (std::size_t n = 0; n <= enc.size(); n++) {
        for (const char *before : {"?token=", " ", "?%74oken="}) {
            const std::string line =
                std::string(kPrefix) + before + enc.substr(0, n) + "\n" + kPrefix + "next\r\n";
            const std::string out = mask(line);
            EXPECT_EQ(newlines(out), 2u) << line;
            EXPECT_NE(out.find("\n" + std::string(kPrefix) + "next\r\n"), std::string::npos) << out;
        }
    }
}

TEST(LogMask, MaskingNeverRemovesOrAddsALineEnding) {
    const Jwt t = token();
    for (const std::string &line : std::vector<std::string>{
             "?token=\n", "?token=abc\nx", "?token=a.b.\n", "?token=a.b.c\n\n", "?%74oken=%\n",
             "?token=%2\n", "x " + t.header + "." + t.payload + ".\n" + t.signature,
             "?token=" + t.text() + "\r\n", "\n\n\n"}) {
        const std::string out = mask(line);
        std::string in_lines, out_lines;
        for (char c : line)
            if (c == '\n' || c == '\r') in_lines += c;
        for (char c : out)
            if (c == '\n' || c == '\r') out_lines += c;
        EXPECT_EQ(out_lines, in_lines) << line;
    }
}

// -- what must not change -------------------------------------------------------------------

TEST(LogMask, TextWithoutATokenIsCopiedByteForByte) {
    for (std::string line : {
             "client: 127.0.0.1, server: , request: \"GET /whoami HTTP/1.1\"",
             "2026/05/27 10:10:10 [info] 4242#4242: *17 client 10.0.0.12 closed keepalive "
             "connection\n",
             "2026/05/27 10:10:10 [error] 4242#4242: *17 open() \"/var/www/app.min.3f5a9c0e1b2d4"
             "f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0.js\" failed (2: No such "
             "file or directory), client: 192.168.1.20, server: node1.example.com, request: "
             "\"GET /static/app.min.js?v=1.2.3 HTTP/1.1\", host: \"www.example.co.uk\"\n",
             "upstream timed out (110: Connection timed out) while reading response header from "
             "upstream, upstream: \"http://[::1]:8080/exporter?x=eyJ&y=eyJ.abc\"",
             "asset_gate: redis 127.0.0.1:6379: connection refused; retry in 0.4s",
             "{\"alg\":\"HS256\"} base64 eyJhbGciOiJIUzI1NiJ9 alone, keyLength.example.com",
             "mytoken=a.b.c sessiontoken=x token_id=5 %7E%41 100% done. v1.22.1",
             "dGhpcyBpcyBub3QgYSB0b2tlbg.dGhpcyBpcyBub3QgYSB0b2tlbg.dGhpcyBpcyBub3QgYSB0b2tlbg",
         }) {
        EXPECT_EQ(mask(line), line);
        EXPECT_EQ(mask_in_place(line), line);
        EXPECT_FALSE(has_unmasked_token(line)) << line;
    }
}

TEST(LogMask, MaskingInPlaceGivesTheSameResult) {
    const Jwt t = token();
    for (const std::string &line : std::vector<std::string>{
             "request: \"GET /exporter/x.png?a=b&token=eyJh.eyJp.c2lnbmF0dXJl HTTP/1.1\"",
             "a " + t.text() + " b " + replace_all(t.text(), ".", "%2E") +
                 " ?token=x&%74oken=" + t.text() + "\n"}) {
        EXPECT_EQ(mask_in_place(line), mask(line));
    }
}

TEST(LogMask, MaskingTwiceChangesNothing) {
    const Jwt t = token();
    for (const std::string &line : std::vector<std::string>{
             "/e?token=h.p.sig HTTP/1.1", "/e?token=whole HTTP/1.1", "/e?token=ab&token=h.p.s",
             "x " + t.text() + " y", "x " + encode_all(t.text()) + "\n", "/e?%74oken=" + t.text(),
             "[a." + t.text() + ".b.c]", "/e?token=a.b......."}) {
        std::string once = mask(line);
        EXPECT_EQ(mask(once), once) << line;
        EXPECT_FALSE(has_unmasked_token(once)) << once;
        EXPECT_TRUE(has_unmasked_token(line)) << line;
    }
}

TEST(LogMask, OutputIsNeverLongerThanInput) {
    for (std::string line : {"?token=", "?token=a", "?token=ab", "?token=abc", "?token=a.b",
                             "?token=a.b.", "?token=a.b.c", "&token=....", "eyJhIn0.eyJhIn0.a"}) {
        EXPECT_LE(mask(line).size(), line.size()) << line;
    }
}

}  // namespace
}  // namespace asset_gate::testing
