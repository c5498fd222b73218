// Secret files: read whole, bounded, and wiped after use.
#include "secret_file.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

namespace asset_gate {

void cleanse_secret(std::string *text) noexcept {
    // The whole capacity: a shorter string may still hold an earlier, longer secret.
    if (text->capacity() != 0) {
        text->resize(text->capacity());
        OPENSSL_cleanse(text->data(), text->size());
    }
    text->clear();
}

// Straight into one buffer sized from fstat, with no stdio buffer and no growth: every copy of
// the secret that ever exists is the one the caller cleanses.
bool read_secret_file(const std::string &path, std::string *text, FileError *error) {
    cleanse_secret(text);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error->verb = "cannot open";
        error->detail = std::strerror(errno);
        return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        error->verb = "cannot read";
        error->detail = std::strerror(e);
        return false;
    }
    if (st.st_size > static_cast<off_t>(kMaxSecretFileSize)) {
        ::close(fd);
        error->verb = "cannot read";
        error->detail = "larger than 1 MiB";
        return false;
    }
    // One byte more than the size: a file that grew since fstat is noticed, not truncated.
    const auto want = static_cast<std::size_t>(st.st_size) + 1;
    text->reserve(want);
    text->resize(want);
    std::size_t got = 0;
    int read_errno = 0;
    while (got < want) {
        const ssize_t n = ::read(fd, text->data() + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) read_errno = errno;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (read_errno != 0 || got == want) {
        cleanse_secret(text);
        error->verb = "cannot read";
        error->detail = read_errno != 0 ? std::strerror(read_errno) : "the file changed while read";
        return false;
    }
    // Shrinking in place never reallocates: the bytes past `got` are zero already or cleansed.
    OPENSSL_cleanse(text->data() + got, want - got);
    text->resize(got);
    return true;
}

bool password_line(std::string_view text, std::string_view *password, const char **why) noexcept {
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.empty()) {
        *why = "is empty";
        return false;
    }
    if (text.find('\n') != std::string_view::npos) {
        *why = "has more than one line";
        return false;
    }
    *password = text;
    return true;
}

}  // namespace asset_gate
