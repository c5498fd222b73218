// The module's reply builders (ngx/hiredis_replies.hpp) against hiredis's own: the same reader
// fed the same bytes, in pieces of several sizes, must give the same replies (or the same
// error), with whichever hiredis this is built with (0.14 on Debian 12, 1.x on 13 and forky).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ngx/hiredis_replies.hpp"

namespace asset_gate::testing {
namespace {

bool refuse_none(const redisReadTask *) noexcept {
    return false;
}

bool refuse_nested(const redisReadTask *task) noexcept {
    return task->parent != nullptr;
}

// A reply written out: its type, value, and for text whether it ends in a NUL.
std::string dump(const redisReply *r) {
    if (r == nullptr) return "null";
    std::string s = std::to_string(r->type) + ":";
    switch (r->type) {
        case REDIS_REPLY_INTEGER:
        case REDIS_REPLY_NIL:
            return s + std::to_string(r->integer);
        case REDIS_REPLY_ARRAY:
#if HIREDIS_MAJOR >= 1
        case REDIS_REPLY_MAP:
        case REDIS_REPLY_SET:
        case REDIS_REPLY_PUSH:
        case REDIS_REPLY_ATTR:
#endif
            s += "[" + std::to_string(r->elements);
            for (size_t i = 0; i < r->elements; i++) s += "," + dump(r->element[i]);
            return s + "]";
#if HIREDIS_MAJOR >= 1
        case REDIS_REPLY_BOOL:
            return s + std::to_string(r->integer);
        case REDIS_REPLY_DOUBLE:
            s += std::to_string(r->dval) + "/";
            break;
        case REDIS_REPLY_VERB:
            s += std::string(r->vtype) + "/";
            break;
#endif
        default:
            break;
    }
    return s + std::string(r->str, r->len) + (r->str[r->len] == '\0' ? "" : " (no NUL)");
}

// Every reply (or the reader's error) of `bytes` fed `piece` bytes at a time.
std::vector<std::string> read_all(const std::string &bytes, size_t piece, ReplyRefusal refuse) {
    redisReader *reader = redisReaderCreate();
    if (refuse != nullptr) guard_replies(reader, refuse);
    std::vector<std::string> out;
    for (size_t at = 0; at < bytes.size(); at += piece) {
        redisReaderFeed(reader, bytes.data() + at, std::min(piece, bytes.size() - at));
        for (void *reply = nullptr;; reply = nullptr) {
            if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
                out.push_back(std::string("error: ") + reader->errstr);
                redisReaderFree(reader);
                return out;
            }
            if (reply == nullptr) break;
            out.push_back(dump(static_cast<redisReply *>(reply)));
            reader->fn->freeObject(reply);
        }
    }
    redisReaderFree(reader);  // a reply left half read is freed through the reader's table
    return out;
}

std::vector<std::string> cases() {
    std::string wide = "*301\r\n";  // past the first block, several times over
    for (int i = 0; i < 301; i++) {
        char field[64];
        std::snprintf(field, sizeof field, "$20\r\n%020d\r\n", i);
        wide += field;
    }
    std::string deep;
    for (int i = 0; i < 6; i++) deep += "*2\r\n:1\r\n";
    deep += "$0\r\n\r\n";
    return {
        ":1\r\n", "$-1\r\n", "*-1\r\n", "+OK\r\n", "-ERR nope\r\n", "*0\r\n", "$0\r\n\r\n",
        "*4\r\n$3\r\norg\r\n$5\r\norg-1\r\n$6\r\nformat\r\n$9\r\nimage/png\r\n",
        "*3\r\n*2\r\n*1\r\n+a\r\n$-1\r\n:7\r\n-ERR x\r\n", wide, deep,
        "$100000\r\n" + std::string(100000, 'x') + "\r\n",  // one text larger than a block
        "*3\r\n$7\r\nmessage\r\n$3\r\nchn\r\n$5\r\nhello\r\n+OK\r\n:5\r\n",  // two in one read
        // RESP3 (1.x builds them; 0.14 calls them a protocol error)
        "%2\r\n+org\r\n+o\r\n,1.5\r\n#t\r\n",
        "*3\r\n=7\r\ntxt:abc\r\n(12345678901234567890\r\n_\r\n", ">2\r\n+a\r\n:1\r\n",
        "~1\r\n:3\r\n",
        "*1000000\r\n:1\r\n",  // claims a million elements (a block of its own): half read
        "*2\r\n$3\r\nab",      // cut short
        "*1\r\n$1\r\nxy\r\n",  // a bulk string longer than it said
    };
}

TEST(HiredisReplies, SameRepliesAsHiredisOwnBuilders) {
    for (const std::string &bytes : cases()) {
        for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, size_t{1} << 20}) {
            // (hiredis rescans what it holds at every feed: long ones in larger pieces)
            if (bytes.size() / piece > 2000) continue;
            EXPECT_EQ(read_all(bytes, piece, refuse_none), read_all(bytes, piece, nullptr))
                << "piece " << piece << ", bytes " << bytes.substr(0, 60);
        }
    }
}

TEST(HiredisReplies, ARecordReplyIsOneAllocation) {
    redisReader *reader = redisReaderCreate();
    guard_replies(reader, refuse_none);
    const std::string hgetall =
        "*8\r\n$3\r\norg\r\n$5\r\norg-1\r\n$6\r\nformat\r\n$9\r\nimage/png\r\n"
        "$8\r\nlocation\r\n$32\r\nexports/png/team-1/task-101/blob\r\n"
        "$8\r\nfilename\r\n$24\r\nexport-weekly-report.png\r\n";
    redisReaderFeed(reader, hgetall.data(), hgetall.size());
    void *reply = nullptr;
    ASSERT_EQ(redisReaderGetReply(reader, &reply), REDIS_OK);
    ASSERT_NE(reply, nullptr);
    EXPECT_EQ(static_cast<redisReply *>(reply)->elements, 8u);
    const hiredis_detail::ReplyBlock *first = hiredis_detail::first_block(reply);
    EXPECT_EQ(first->newest, first) << "the reply needed a second block";
    reader->fn->freeObject(reply);
    redisReaderFree(reader);
}

TEST(HiredisReplies, ARefusalIsAReaderError) {
    EXPECT_EQ(read_all("+OK\r\n", 64, refuse_nested), std::vector<std::string>{"5:OK"});
    const std::vector<std::string> out = read_all("*1\r\n+OK\r\n", 64, refuse_nested);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].rfind("error: ", 0), 0u) << out[0];
}

}  // namespace
}  // namespace asset_gate::testing
