// Surface classification (DESIGN.md section 2): render, content, and everything else malformed.
#include <gtest/gtest.h>

#include <string>

#include "core/path.hpp"

namespace asset_gate::testing {
namespace {

constexpr std::string_view kBase = "/exporter";

Surface surface_of(std::string_view uri) {
    return classify_path(uri, kBase).surface;
}

TEST(Path, RenderSurfaceIsExactlyTheBase) {
    const PathInfo info = classify_path("/exporter", kBase);
    EXPECT_EQ(info.surface, Surface::render);
    EXPECT_TRUE(info.name.empty());
    EXPECT_TRUE(info.ext.empty());
}

TEST(Path, ContentSurfaceIsBaseSlashNameWithExtension) {
    const std::string uri = "/exporter/export-q3-2026-05-27-101010.png";
    const PathInfo info = classify_path(uri, kBase);
    EXPECT_EQ(info.surface, Surface::content);
    EXPECT_EQ(info.name, "export-q3-2026-05-27-101010.png");
    EXPECT_EQ(info.ext, "png");
}

TEST(Path, NameAndExtensionAreViewsIntoTheUri) {
    const std::string uri = "/exporter/report.pdf";
    const PathInfo info = classify_path(uri, kBase);
    ASSERT_EQ(info.surface, Surface::content);
    EXPECT_EQ(info.name.data(), uri.data() + 10);
    EXPECT_EQ(info.ext.data(), uri.data() + 17);
}

TEST(Path, ExtensionIsWhatFollowsTheLastDot) {
    const PathInfo info = classify_path("/exporter/a.b.png", kBase);
    EXPECT_EQ(info.surface, Surface::content);
    EXPECT_EQ(info.name, "a.b.png");
    EXPECT_EQ(info.ext, "png");
    EXPECT_EQ(classify_path("/exporter/a..png", kBase).ext, "png");
}

TEST(Path, SmallestContentNameIsOneByteDotOneByte) {
    const PathInfo info = classify_path("/exporter/a.b", kBase);
    EXPECT_EQ(info.surface, Surface::content);
    EXPECT_EQ(info.ext, "b");
}

TEST(Path, ExtensionMayUseTheWholeNameAlphabet) {
    const PathInfo info = classify_path("/exporter/a.x_Y-9", kBase);
    EXPECT_EQ(info.surface, Surface::content);
    EXPECT_EQ(info.ext, "x_Y-9");
}

TEST(Path, DesignSection2MalformedExamplesAreMalformed) {
    for (std::string_view uri :
         {"/exporter/", "/exporter/a/b.png", "/exporter/a.png/", "/exporterX", "/exporter/noext",
          "/exporter/.png", "/exporter/a%2Fb.png"}) {
        EXPECT_EQ(surface_of(uri), Surface::malformed) << uri;
    }
}

TEST(Path, DecodedEscapesAreMalformed) {
    // What nginx's $uri holds for %2F, %20 and %00 once decoded.
    EXPECT_EQ(surface_of("/exporter/a/b.png"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/a b.png"), Surface::malformed);
    EXPECT_EQ(surface_of(std::string_view("/exporter/a\0.png", 16)), Surface::malformed);
}

TEST(Path, NulByteAnywhereIsMalformed) {
    EXPECT_EQ(surface_of(std::string_view("/exporter/a.png\0", 16)), Surface::malformed);
    EXPECT_EQ(surface_of(std::string_view("/exporter\0", 10)), Surface::malformed);
    EXPECT_EQ(surface_of(std::string_view("/exporter/\0a.png", 16)), Surface::malformed);
}

TEST(Path, NameWithTrailingDotIsMalformed) {
    EXPECT_EQ(surface_of("/exporter/a."), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/a.png."), Surface::malformed);
}

TEST(Path, NameStartingWithDotIsMalformed) {
    EXPECT_EQ(surface_of("/exporter/.hidden.png"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/."), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/.."), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/..png"), Surface::malformed);
}

TEST(Path, NameWithoutDotIsMalformed) {
    EXPECT_EQ(surface_of("/exporter/noext"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/a"), Surface::malformed);
}

TEST(Path, NameOf1024BytesIsContentAnd1025IsMalformed) {
    const std::string name1024 = std::string(1020, 'a') + ".png";
    const std::string name1025 = std::string(1021, 'a') + ".png";
    ASSERT_EQ(name1024.size(), kMaxNameSize);
    const std::string ok = "/exporter/" + name1024;
    EXPECT_EQ(surface_of(ok), Surface::content);
    EXPECT_EQ(classify_path(ok, kBase).name.size(), 1024u);
    EXPECT_EQ(surface_of("/exporter/" + name1025), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/" + std::string(300, 'a') + ".png"), Surface::content);
    EXPECT_EQ(surface_of("/exporter/" + std::string(5000, 'a') + ".png"), Surface::malformed);
}

// A file system's 255-byte name limit is not the contract's: names of 256 to 1024 bytes are
// content too, and their extension is found at any length.
TEST(Path, NamesOf255And256BytesAreBothContent) {
    for (std::size_t size : {255u, 256u, 1023u, 1024u}) {
        const std::string name = std::string(size - 5, 'n') + ".jpeg";
        ASSERT_EQ(name.size(), size);
        const std::string uri = "/exporter/" + name;  // the views point into it
        const PathInfo info = classify_path(uri, kBase);
        EXPECT_EQ(info.surface, Surface::content) << size;
        EXPECT_EQ(info.name.size(), size);
        EXPECT_EQ(info.ext, "jpeg") << size;
    }
    EXPECT_EQ(surface_of("/exporter/" + std::string(1020, 'n') + ".jpeg"), Surface::malformed);
}

TEST(Path, EveryByteOutsideTheNameAlphabetIsMalformed) {
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const bool in_alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        std::string uri = "/exporter/a";
        uri += c;
        uri += "b.png";
        EXPECT_EQ(surface_of(uri), in_alphabet ? Surface::content : Surface::malformed)
            << "byte " << b;
    }
}

// The check reads the name four bytes at a time and then the rest one by one: a bad byte
// is seen at every position, in names of every length modulo four.
TEST(Path, AByteOutsideTheAlphabetIsSeenAtEveryPosition) {
    for (std::size_t len = 3; len <= 13; ++len) {
        for (std::size_t at = 0; at < len; ++at) {
            std::string name(len, 'a');
            name[len - 2] = '.';
            if (at == len - 2) continue;
            for (char bad : {'/', '\0', '%', ' ', '\x80'}) {
                std::string bent = name;
                bent[at] = bad;
                EXPECT_EQ(surface_of("/exporter/" + bent), Surface::malformed)
                    << "length " << len << ", byte " << at;
            }
            EXPECT_EQ(surface_of("/exporter/" + name), Surface::content) << name;
        }
    }
}

TEST(Path, EmptyUriIsMalformed) {
    EXPECT_EQ(surface_of(""), Surface::malformed);
    EXPECT_EQ(classify_path("", "").surface, Surface::malformed);
}

TEST(Path, BaseWithTrailingSlashIsMalformed) {
    EXPECT_EQ(surface_of("/exporter/"), Surface::malformed);
}

TEST(Path, UriShorterThanOrOutsideTheBaseIsMalformed) {
    EXPECT_EQ(surface_of("/"), Surface::malformed);
    EXPECT_EQ(surface_of("/export"), Surface::malformed);
    EXPECT_EQ(surface_of("/other/a.png"), Surface::malformed);
    EXPECT_EQ(surface_of("/shared/a.png"), Surface::malformed);
}

TEST(Path, BaseMatchIsCaseSensitive) {
    EXPECT_EQ(surface_of("/Exporter"), Surface::malformed);
    EXPECT_EQ(surface_of("/EXPORTER/a.png"), Surface::malformed);
}

TEST(Path, BaseFollowedByAnythingButSlashIsMalformed) {
    EXPECT_EQ(surface_of("/exporterX"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter.png"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporterX/a.png"), Surface::malformed);
}

TEST(Path, MoreThanOneSegmentIsMalformed) {
    EXPECT_EQ(surface_of("/exporter//a.png"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/export.png/x"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/a.png/"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/../secret.png"), Surface::malformed);
}

TEST(Path, QueryOrFragmentBytesInTheUriAreMalformed) {
    EXPECT_EQ(surface_of("/exporter/a.png?token=x"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter/a.png#x"), Surface::malformed);
    EXPECT_EQ(surface_of("/exporter?token=x"), Surface::malformed);
}

TEST(Path, NonAsciiNameIsMalformed) {
    EXPECT_EQ(surface_of("/exporter/caf\xc3\xa9.png"), Surface::malformed);
}

TEST(Path, OtherBasesClassifyTheSameWay) {
    constexpr std::string_view base = "/assets/export";
    EXPECT_EQ(classify_path("/assets/export", base).surface, Surface::render);
    EXPECT_EQ(classify_path("/assets/export/a.csv", base).ext, "csv");
    EXPECT_EQ(classify_path("/assets/exporter", base).surface, Surface::malformed);
    EXPECT_EQ(classify_path("/exporter", base).surface, Surface::malformed);
}

TEST(Path, EmptyBaseMakesContentAtTheRoot) {
    EXPECT_EQ(classify_path("/a.png", "").surface, Surface::content);
    EXPECT_EQ(classify_path("/", "").surface, Surface::malformed);
}

}  // namespace
}  // namespace asset_gate::testing
