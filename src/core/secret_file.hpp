// Reading the small files that hold secrets (signing keys, S3 credentials), and the key file's
// line format, shared by the module and the token tool.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace asset_gate {

inline constexpr std::size_t kMaxSecretFileSize = 1024 * 1024;
inline constexpr std::size_t kShortKeySize = 32;  // a warning below this

// Why a secret file could not be read: "cannot open" or "cannot read", and the system's
// reason. Never any of the file's contents.
struct FileError {
    const char *verb = "";
    std::string detail;
};

// Reads `path` whole into `text` (at most kMaxSecretFileSize bytes). Whatever was read is
// cleansed on failure; on success the caller cleanses `text` when done (cleanse_secret).
bool read_secret_file(const std::string &path, std::string *text, FileError *error);

void cleanse_secret(std::string *text) noexcept;

// asset_gate_key_file's format: one key per line, its exact bytes without the line ending
// ("\n" or "\r\n"); blank lines are skipped. Calls f(line_number, key) for each key, in order.
template <typename F>
void for_each_key(std::string_view text, F &&f) {
    std::size_t line = 0;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view key = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++line;
        if (!key.empty() && key.back() == '\r') key.remove_suffix(1);
        if (!key.empty()) f(line, key);
    }
}

// A password file's format (asset_gate_redis_password_file): one line, its exact bytes, with
// or without a line ending ("\n" or "\r\n"). Sets `why` and returns false for an empty
// password or a second line.
bool password_line(std::string_view text, std::string_view *password, const char **why) noexcept;

}  // namespace asset_gate
