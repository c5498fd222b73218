// Token masking in log lines: no signature survives, nothing else changes, and masking twice
// changes nothing.
#include <gtest/gtest.h>

#include <string>

#include "core/log_mask.hpp"

using asset_gate::has_unmasked_token;
using asset_gate::mask_token_signatures;

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

}  // namespace

TEST(LogMask, SignatureOfATokenInTheRequestLineIsDropped) {
    EXPECT_EQ(mask("GET /exporter/a.png?token=hdr.pay.SIGNATURE123 HTTP/1.1"),
              "GET /exporter/a.png?token=hdr.pay.... HTTP/1.1");
}

TEST(LogMask, TokenAfterOtherArgumentsAndBeforeMoreIsMasked) {
    EXPECT_EQ(mask("GET /e?a=1&token=h.p.sigsig&download=true HTTP/1.1"),
              "GET /e?a=1&token=h.p....&download=true HTTP/1.1");
}

TEST(LogMask, EveryRepeatedTokenIsMasked) {
    EXPECT_EQ(mask("/e?token=h.p.sig1&token=h.p.sig2"), "/e?token=h.p....&token=h.p....");
}

TEST(LogMask, ValueWithoutTwoDotsIsReplacedWhole) {
    EXPECT_EQ(mask("/e?token=secretvalue HTTP/1.1"), "/e?token=... HTTP/1.1");
    EXPECT_EQ(mask("/e?token=only.onedot\""), "/e?token=...\"");
}

TEST(LogMask, ShortValuesShrinkRatherThanGrow) {
    EXPECT_EQ(mask("/e?token=ab HTTP/1.1"), "/e?token= HTTP/1.1");
    EXPECT_EQ(mask("/e?token="), "/e?token=");
}

TEST(LogMask, ArgumentsThatOnlyEndInTokenAreLeftAlone) {
    EXPECT_EQ(mask("/e?mytoken=a.b.c&xtoken=1"), "/e?mytoken=a.b.c&xtoken=1");
    EXPECT_EQ(mask("/token=a.b.c"), "/token=a.b.c");
}

TEST(LogMask, TextWithoutTokensIsCopiedUnchanged) {
    std::string line = "client: 127.0.0.1, server: , request: \"GET /whoami HTTP/1.1\"";
    EXPECT_EQ(mask(line), line);
    EXPECT_FALSE(has_unmasked_token(line));
}

TEST(LogMask, MaskingInPlaceGivesTheSameResult) {
    std::string line = "request: \"GET /exporter/x.png?a=b&token=eyJh.eyJp.c2lnbmF0dXJl HTTP/1.1\"";
    EXPECT_EQ(mask_in_place(line), mask(line));
}

TEST(LogMask, MaskingTwiceChangesNothing) {
    for (std::string line :
         {"/e?token=h.p.sig HTTP/1.1", "/e?token=whole HTTP/1.1", "/e?token=ab&token=h.p.s"}) {
        std::string once = mask(line);
        EXPECT_EQ(mask(once), once) << line;
        EXPECT_FALSE(has_unmasked_token(once)) << once;
        EXPECT_TRUE(has_unmasked_token(line)) << line;
    }
}

TEST(LogMask, OutputIsNeverLongerThanInput) {
    for (std::string line : {"?token=", "?token=a", "?token=ab", "?token=abc", "?token=a.b",
                             "?token=a.b.", "?token=a.b.c", "&token=...."}) {
        EXPECT_LE(mask(line).size(), line.size()) << line;
    }
}
