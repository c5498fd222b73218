// The replies of the module's Redis connections, built by the module instead of by hiredis's
// default functions: each reply in a few blocks of memory, not two allocations an element (an
// HGETALL of a four-field record made eighteen, and freed them one by one: a sixth of the
// instructions of a request that needs Redis). Part of hiredis_compat.hpp, apart because it
// needs no nginx: t/unit/test_hiredis_replies.cpp compares it with hiredis's own builders,
// on 0.14 here and 1.x in the Debian 13 and forky legs.
#pragma once

extern "C" {
#include <hiredis/hiredis.h>
}

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace asset_gate {

// Says whether the reply a task begins is to be refused.
using ReplyRefusal = bool (*)(const redisReadTask *task) noexcept;

namespace hiredis_detail {

inline ReplyRefusal g_refuse = nullptr;

#if HIREDIS_MAJOR >= 1
using ArrayCount = size_t;
#else
using ArrayCount = int;
#endif

// The first block of a reply starts with its root, so freeing the root (hiredis frees nothing
// else) finds every block. Elements are plain redisReply structs, linked as hiredis links
// them: the module and hiredis read them as their own.
struct ReplyBlock {
    ReplyBlock *older;   // the block before this one in the reply's chain; null in the first
    ReplyBlock *newest;  // in the first block: the one new elements are carved from
    size_t used;         // of this block's space
    size_t cap;
};
inline constexpr size_t kBlockHeader = (sizeof(ReplyBlock) + 15) / 16 * 16;
inline constexpr size_t kFirstBlock = 1024;  // an HGETALL of a record, in the tcache's sizes
inline constexpr size_t kMoreBlock = 4096;

inline size_t round8(size_t n) noexcept {
    return (n + 7) & ~static_cast<size_t>(7);
}

inline ReplyBlock *first_block(void *root) noexcept {
    return reinterpret_cast<ReplyBlock *>(static_cast<char *>(root) - kBlockHeader);
}

// The first block of the reply `task` builds (`r`: the element it made; for a root, its own).
inline ReplyBlock *blocks_of(const redisReadTask *task, redisReply *r) noexcept {
    if (task->parent == nullptr) return first_block(r);
    const redisReadTask *root = task->parent;
    while (root->parent != nullptr) root = root->parent;
    return first_block(root->obj);
}

// An empty block of `size` bytes, header included, after `older` in its chain; its space is
// zeroed only when `zeroed` (calloc: the pages of a huge one stay untouched until written).
inline ReplyBlock *new_block(size_t size, bool zeroed, ReplyBlock *older) noexcept {
    auto *b = static_cast<ReplyBlock *>(zeroed ? calloc(1, size) : malloc(size));
    if (b == nullptr) return nullptr;
    b->older = older;
    b->newest = b;
    b->used = 0;
    b->cap = size - kBlockHeader;
    return b;
}

// `n` zeroed bytes for the reply whose first block is `first`, or null. A request larger than
// a block gets a block of its own (an array a peer claims has a billion elements).
inline void *carve(ReplyBlock *first, size_t n) noexcept {
    if (n > SIZE_MAX - kBlockHeader - 8) return nullptr;
    n = round8(n);
    ReplyBlock *b = first->newest;
    bool zeroed = false;
    if (b->cap - b->used < n) {
        zeroed = n + kBlockHeader > kMoreBlock;
        b = new_block(zeroed ? n + kBlockHeader : kMoreBlock, zeroed, first->newest);
        if (b == nullptr) return nullptr;
        first->newest = b;
    }
    char *p = reinterpret_cast<char *>(b) + kBlockHeader + b->used;
    b->used += n;
    if (!zeroed) memset(p, 0, n);
    return p;
}

// A new element of `type` where the reader's `task` puts it: a root in a block of its own,
// else in its root's blocks and in its parent's element array. Null: refused, or no memory.
inline redisReply *make_reply(const redisReadTask *task, int type) noexcept {
    if (g_refuse(task)) return nullptr;
    redisReply *r;
    if (task->parent == nullptr) {
        ReplyBlock *first = new_block(kFirstBlock, false, nullptr);
        if (first == nullptr) return nullptr;
        r = static_cast<redisReply *>(carve(first, sizeof(redisReply)));  // at first_block(r)
    } else {
        r = static_cast<redisReply *>(carve(blocks_of(task, nullptr), sizeof(redisReply)));
        if (r == nullptr) return nullptr;
        static_cast<redisReply *>(task->parent->obj)->element[task->idx] = r;
    }
    r->type = type;
    return r;
}

// A NUL-terminated copy of `str` in the reply's blocks.
inline char *copy_text(const redisReadTask *task, redisReply *r, const char *str,
                       size_t len) noexcept {
    if (len == SIZE_MAX) return nullptr;
    auto *copy = static_cast<char *>(carve(blocks_of(task, r), len + 1));
    if (copy == nullptr) return nullptr;
    if (len != 0) memcpy(copy, str, len);
    return copy;  // carve zeroed the terminator
}

inline void free_object(void *reply) noexcept {
    if (reply == nullptr) return;
    for (ReplyBlock *b = first_block(reply)->newest; b != nullptr;) {
        ReplyBlock *older = b->older;
        free(b);
        b = older;
    }
}

// A root whose text did not fit is freed whole; a nested element's stays in its root's
// blocks until the reader frees the root (after this failure, at once).
inline void *fail(const redisReadTask *task, redisReply *r) noexcept {
    if (task->parent == nullptr) free_object(r);
    return nullptr;
}

inline void *create_string(const redisReadTask *task, char *str, size_t len) noexcept {
    redisReply *r = make_reply(task, task->type);
    if (r == nullptr) return nullptr;
#if HIREDIS_MAJOR >= 1
    if (task->type == REDIS_REPLY_VERB) {  // "txt:" and the text (the reader checked the four)
        memcpy(r->vtype, str, 3);
        str += 4;
        len -= 4;
    }
#endif
    if ((r->str = copy_text(task, r, str, len)) == nullptr) return fail(task, r);
    r->len = len;
    return r;
}
inline void *create_array(const redisReadTask *task, ArrayCount elements) noexcept {
    redisReply *r = make_reply(task, task->type);
    if (r == nullptr) return nullptr;
    const auto n = static_cast<size_t>(elements);
    if (n > 0) {
        if (n > SIZE_MAX / sizeof(redisReply *)) return fail(task, r);
        r->element =
            static_cast<redisReply **>(carve(blocks_of(task, r), n * sizeof(redisReply *)));
        if (r->element == nullptr) return fail(task, r);
    }
    r->elements = n;
    return r;
}
inline void *create_integer(const redisReadTask *task, long long value) noexcept {
    redisReply *r = make_reply(task, REDIS_REPLY_INTEGER);
    if (r != nullptr) r->integer = value;
    return r;
}
inline void *create_nil(const redisReadTask *task) noexcept {
    return make_reply(task, REDIS_REPLY_NIL);
}
#if HIREDIS_MAJOR >= 1
inline void *create_double(const redisReadTask *task, double value, char *str,
                           size_t len) noexcept {
    redisReply *r = make_reply(task, REDIS_REPLY_DOUBLE);
    if (r == nullptr) return nullptr;
    if ((r->str = copy_text(task, r, str, len)) == nullptr) return fail(task, r);
    r->len = len;
    r->dval = value;
    return r;
}
inline void *create_bool(const redisReadTask *task, int value) noexcept {
    redisReply *r = make_reply(task, REDIS_REPLY_BOOL);
    if (r != nullptr) r->integer = value != 0;
    return r;
}
#endif

// Filled by name, not by position: the two versions order their fields differently.
constexpr redisReplyObjectFunctions make_guarded() noexcept {
    redisReplyObjectFunctions fn{};
    fn.createString = create_string;
    fn.createArray = create_array;
    fn.createInteger = create_integer;
    fn.createNil = create_nil;
#if HIREDIS_MAJOR >= 1
    fn.createDouble = create_double;
    fn.createBool = create_bool;
#endif
    fn.freeObject = free_object;
    return fn;
}

inline redisReplyObjectFunctions g_guarded = make_guarded();

}  // namespace hiredis_detail

// Makes `reader` build its replies in blocks (above), each element passing `refuse` first: a
// refused one is never built, and hiredis sees a reader error (and drops the connection, as
// for any protocol error). Every create function hiredis has, whatever its version, is
// replaced. One refusal for the whole process. Such replies are freed only through the
// reader's table (as hiredis's async code does), never with freeReplyObject.
inline void guard_replies(redisReader *reader, ReplyRefusal refuse) noexcept {
    hiredis_detail::g_refuse = refuse;
    reader->fn = &hiredis_detail::g_guarded;
}

}  // namespace asset_gate
