#include "record_cache.hpp"

#include <cstring>

namespace asset_gate {

LocalRecordCache::LocalRecordCache(std::size_t bytes) noexcept
    : sets_(make_table(bytes, kWays, &memory_, &tags_, &slots_)) {}  // empty: no slot is used

LocalRecordCache::Slot *LocalRecordCache::lookup(std::string_view key, std::uint64_t h,
                                                 std::size_t *set) const noexcept {
    *set = set_of(h, sets_);
    const Tags &tags = tags_[*set];
    for (std::size_t way = 0; way < kWays; way++) {
        if (tags.tag[way] != Tags::tag_of(h)) continue;
        Slot &s = slots_[*set * kWays + way];
        __builtin_prefetch(reinterpret_cast<const char *>(&s) + 64);  // the value's first line
        if (s.used && s.hash == h && s.key_len == key.size() &&
            std::memcmp(s.data, key.data(), key.size()) == 0) {
            return &s;
        }
    }
    return nullptr;
}

bool LocalRecordCache::find(std::string_view key, std::uint64_t generation, std::uint64_t now,
                            Entry *out) const noexcept {
    if (sets_ == 0) return false;
    std::size_t set;
    const Slot *s = lookup(key, table_hash(key), &set);
    if (s == nullptr || s->generation != generation ||
        static_cast<std::int64_t>(s->expires - now) <= 0) {
        return false;
    }
    out->kind = s->kind;
    out->value = std::string_view(s->data + s->key_len, s->value_len);
    return true;
}

void LocalRecordCache::insert(std::string_view key, std::uint8_t kind, std::string_view value,
                              std::uint64_t expires, std::uint64_t generation) noexcept {
    if (sets_ == 0) return;
    const std::uint64_t h = table_hash(key);
    std::size_t set;
    Slot *s = lookup(key, h, &set);
    if (key.size() + value.size() > kMaxEntry) {
        // Not copied; nor may an older copy of the key stand in for it.
        if (s != nullptr) s->used = 0;
        return;
    }
    if (s == nullptr) s = &slots_[set * kWays + tags_[set].take(h)];  // a new key
    s->used = 1;
    s->hash = h;
    s->expires = expires;
    s->generation = generation;
    s->kind = kind;
    s->key_len = static_cast<std::uint16_t>(key.size());
    s->value_len = static_cast<std::uint16_t>(value.size());
    std::memcpy(s->data, key.data(), key.size());
    if (!value.empty()) std::memcpy(s->data + key.size(), value.data(), value.size());
}

}  // namespace asset_gate
