// Secret files: read whole, bounded, and wiped after use.
#include "secret_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/crypto.h>

namespace asset_gate {

void cleanse_secret(std::string *text) noexcept {
    if (!text->empty()) OPENSSL_cleanse(text->data(), text->size());
    text->clear();
}

bool read_secret_file(const std::string &path, std::string *text, FileError *error) {
    text->clear();
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        error->verb = "cannot open";
        error->detail = std::strerror(errno);
        return false;
    }
    char buf[4096];
    std::size_t n;
    bool too_large = false;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        text->append(buf, n);
        if (text->size() > kMaxSecretFileSize) {
            too_large = true;
            break;
        }
    }
    const int read_errno = std::ferror(f) ? errno : 0;
    std::fclose(f);
    OPENSSL_cleanse(buf, sizeof buf);
    if (read_errno != 0 || too_large) {
        cleanse_secret(text);
        error->verb = "cannot read";
        error->detail = too_large ? std::string("larger than 1 MiB") : std::strerror(read_errno);
        return false;
    }
    return true;
}

}  // namespace asset_gate
