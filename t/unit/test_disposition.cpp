// Content-Disposition of downloads (DESIGN.md section 7): any name the gate serves, up to the
// 1024 bytes of a content name and past them for a record's filename, comes out whole.
#include <gtest/gtest.h>

#include <string>

#include "core/disposition.hpp"

namespace asset_gate::testing {
namespace {

std::string disposition_of(std::string_view name) {
    std::string out(content_disposition_size(name), '\0');
    out.resize(content_disposition(name, out.data()));
    return out;
}

TEST(Disposition, PlainNameIsQuotedAsIs) {
    EXPECT_EQ(disposition_of("export-weekly-2026-05-27.png"),
              "attachment; filename=\"export-weekly-2026-05-27.png\"");
}

TEST(Disposition, QuotesBackslashesAndControlBytesBecomeUnderscores) {
    EXPECT_EQ(disposition_of("a\"b\\c\x01\x7f.png"), "attachment; filename=\"a_b_c__.png\"");
}

TEST(Disposition, NonAsciiNameAlsoGetsTheEncodedForm) {
    EXPECT_EQ(disposition_of("r\xc3\xa9sum\xc3\xa9 1.pdf"),
              "attachment; filename=\"r__sum__ 1.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf");
}

// No file system's 255-byte limit applies: every length a link or a record can hold is kept.
TEST(Disposition, NamesOf255To1025BytesAreKeptWhole) {
    for (std::size_t size : {255u, 256u, 1024u, 1025u}) {
        const std::string name = std::string(size - 5, 'x') + ".jpeg";
        ASSERT_EQ(name.size(), size);
        EXPECT_EQ(disposition_of(name), "attachment; filename=\"" + name + "\"") << size;
    }
}

TEST(Disposition, LongNonAsciiNameFitsTheSizeItAskedFor) {
    std::string name;
    while (name.size() < 1024) name += "\xc3\xa9";
    const std::size_t room = content_disposition_size(name);
    const std::string out = disposition_of(name);
    EXPECT_LE(out.size(), room);
    EXPECT_NE(out.find("filename*=UTF-8''%C3%A9"), std::string::npos);
    EXPECT_EQ(out.size(), std::string("attachment; filename=\"").size() + 1024 +
                              std::string("\"; filename*=UTF-8''").size() + 3 * 1024);
}

}  // namespace
}  // namespace asset_gate::testing
