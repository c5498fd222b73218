// Record encodings for the cache: length-prefixed strings, then fixed-width integers.
#include "record_codec.hpp"

#include <cstring>

namespace asset_gate {

namespace {

void put_u32(std::string &out, std::uint32_t v) {
    for (int i = 0; i < 4; i++) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_str(std::string &out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s.data(), s.size());
}

struct Reader {
    std::string_view in;
    bool ok = true;

    std::uint64_t uint(int bytes) noexcept {
        if (in.size() < static_cast<std::size_t>(bytes)) {
            ok = false;
            return 0;
        }
        std::uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        std::memcpy(&v, in.data(), bytes);  // one load where the loop took a byte a step
#else
        for (int i = 0; i < bytes; i++) {
            v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
        }
#endif
        in.remove_prefix(bytes);
        return v;
    }

    std::string_view str() noexcept {
        std::uint64_t n = uint(4);
        if (!ok || in.size() < n) {
            ok = false;
            return {};
        }
        std::string_view s = in.substr(0, n);
        in.remove_prefix(n);
        return s;
    }
};

}  // namespace

void encode_asset(const AssetRecord &asset, std::string &out) {
    for (auto text : kAssetTexts) put_str(out, asset.*text);
    for (auto integer : kAssetIntegers) {
        auto v = static_cast<std::uint64_t>(asset.*integer);
        for (int i = 0; i < 8; i++) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

bool decode_asset(std::string_view in, AssetRecord *asset) noexcept {
    Reader r{in};
    AssetRecord a;
    for (auto text : kAssetTexts) a.*text = r.str();
    for (auto integer : kAssetIntegers) a.*integer = static_cast<std::int64_t>(r.uint(8));
    if (!r.ok || !r.in.empty()) {
        *asset = AssetRecord{};
        return false;
    }
    a.found = true;
    *asset = a;
    return true;
}

void encode_org(const OrgRecord &org, std::string &out) {
    out.push_back(org.security_settings ? '1' : '0');
    out.push_back(org.allow_public ? '1' : '0');
}

bool decode_org(std::string_view in, OrgRecord *org) noexcept {
    if (in.size() != 2) {
        *org = OrgRecord{};
        return false;
    }
    org->found = true;
    org->security_settings = in[0] == '1';
    org->allow_public = in[1] == '1';
    return true;
}

}  // namespace asset_gate
