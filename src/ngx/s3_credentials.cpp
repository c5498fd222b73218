// S3 credentials files: read at configuration, re-checked by each worker about once a second.
#include "ngx/s3_credentials.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

#include <openssl/crypto.h>

#include "core/s3_credentials.hpp"
#include "core/secret_file.hpp"

namespace asset_gate {

namespace {

void wipe(S3Credentials *creds) noexcept {
    OPENSSL_cleanse(creds->secret_access_key.data(), creds->secret_access_key.size());
    OPENSSL_cleanse(creds->session_token.data(), creds->session_token.size());
}

void destroy_file(void *data) noexcept {
    auto *file = static_cast<S3CredentialsFile *>(data);
    wipe(&file->creds);
    file->~S3CredentialsFile();
}

bool stat_version(const std::string &path, FileVersion *v, int *err) noexcept {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        *err = errno;
        return false;
    }
    v->dev = st.st_dev;
    v->ino = st.st_ino;
    v->size = st.st_size;
    v->mtime = st.st_mtim.tv_sec;
    v->mtime_nsec = st.st_mtim.tv_nsec;
    return true;
}

// Reads and parses `path`. On failure `verb` is "cannot open" or "cannot read" for the file
// and "invalid" for its contents, and `why` says more, never with a value from the file.
bool load(const std::string &path, S3Credentials *creds, std::int64_t *expires, const char **verb,
          std::string *why) noexcept {
    std::string text;
    bool ok = false;
    try {
        FileError file_error;
        if (!read_secret_file(path, &text, &file_error)) {
            *verb = file_error.verb;
            *why = file_error.detail;
        } else {
            *verb = "invalid";
            ok = parse_s3_credentials(text, creds, expires, why);
        }
    } catch (...) {
        ok = false;
        *verb = "cannot read";
        why->assign("out of memory");
    }
    cleanse_secret(&text);
    if (!ok) wipe(creds);
    return ok;
}

// "2026-12-01T23:00:00Z"
const char *utc_text(std::int64_t t, char (&buf)[32]) noexcept {
    auto tt = static_cast<std::time_t>(t);
    struct tm tm {};
    if (gmtime_r(&tt, &tm) == nullptr ||
        std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(t));
    }
    return buf;
}

// True the first time `v` cannot be used (then logged by the caller), false while the same
// version stays unusable.
bool newly_refused(S3CredentialsFile *file, const FileVersion &v) noexcept {
    if (file->refused == v) return false;
    file->refused = v;
    return true;
}

// The file changed: its new contents replace the set, or are logged once and ignored.
void reload(S3CredentialsFile *file, const FileVersion &now_version, ngx_log_t *log) noexcept {
    S3Credentials fresh;
    std::int64_t expires = 0;
    std::string why;
    const char *verb = "";
    if (!load(file->path, &fresh, &expires, &verb, &why)) {
        if (newly_refused(file, now_version)) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "asset_gate: %s S3 credentials file \"%s\": %s; still signing with "
                          "the credentials read before it changed",
                          verb, file->path.c_str(), why.c_str());
        }
        return;
    }
    wipe(&file->creds);
    file->creds = std::move(fresh);
    file->expires = expires;
    file->expiry_logged = false;
    file->version = now_version;
    file->refused.reset();
    char buf[32];
    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "asset_gate: S3 credentials re-read from \"%s\" (access key %s, %s%s)",
                  file->path.c_str(), file->creds.access_key_id.c_str(),
                  expires == 0 ? "no expiry" : "expiring ",
                  expires == 0 ? "" : utc_text(expires, buf));
}

constexpr ngx_msec_t kCheckInterval = 1000;

// A stat; a changed file is re-read. Neither is done again for a version that failed.
void check(S3CredentialsFile *file, ngx_log_t *log) noexcept {
    FileVersion v;
    int err = 0;
    if (!stat_version(file->path, &v, &err)) {
        // All zeros: "no file", logged once until it is back.
        if (newly_refused(file, FileVersion{})) {
            ngx_log_error(NGX_LOG_ERR, log, err,
                          "asset_gate: cannot stat the S3 credentials file \"%s\": still "
                          "signing with the credentials read before",
                          file->path.c_str());
        }
    } else if (v != file->version && file->refused != v) {
        reload(file, v, log);
    }
}

void on_tick(ngx_event_t *ev) noexcept {
    if (ngx_exiting || ngx_terminate || ngx_quit) return;
    auto *file = static_cast<S3CredentialsFile *>(ev->data);
    check(file, ev->log);
    ngx_add_timer(ev, kCheckInterval);
}

}  // namespace

S3CredentialsFile *s3_credentials_file(ngx_conf_t *cf, ngx_array_t *files,
                                       const ngx_str_t &path) noexcept {
    auto *known = static_cast<S3CredentialsFile **>(files->elts);
    for (ngx_uint_t i = 0; i < files->nelts; i++) {
        if (known[i]->path == view(path)) return known[i];
    }
    auto *file = conf_object<S3CredentialsFile>(cf, destroy_file);
    if (file == nullptr) return nullptr;
    std::string why;
    int err = 0;
    try {
        file->path.assign(view(path));
    } catch (...) {
        return nullptr;
    }
    // The version before the contents: a change in between is seen again by the worker.
    if (!stat_version(file->path, &file->version, &err)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cannot open S3 credentials file \"%V\": %s",
                           &path, std::strerror(err));
        return nullptr;
    }
    const char *verb = "";
    if (!load(file->path, &file->creds, &file->expires, &verb, &why)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s S3 credentials file \"%V\": %s", verb, &path,
                           why.c_str());
        return nullptr;
    }
    if (file->expires != 0 && file->expires <= ngx_time()) {
        char buf[32];
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "the credentials in S3 credentials file \"%V\" expired at %s: nothing "
                           "is signed with them, S3 content answers 503 until the file is "
                           "rewritten",
                           &path, utc_text(file->expires, buf));
    }
    auto **slot = static_cast<S3CredentialsFile **>(ngx_array_push(files));
    if (slot == nullptr) return nullptr;
    *slot = file;
    return file;
}

const S3Credentials *s3_credentials_now(const S3CredentialsFile *file, ngx_log_t *log,
                                        time_t now) noexcept {
    if (file->expires != 0 && now >= file->expires) {
        // Once per set and worker: each refused request is counted, not logged again.
        if (!file->expiry_logged) {
            file->expiry_logged = true;
            char buf[32];
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "asset_gate: the S3 credentials in \"%s\" expired at %s and the file "
                          "has not been rewritten since: not signing (is asset-gate-credentials "
                          "running?)",
                          file->path.c_str(), utc_text(file->expires, buf));
        }
        return nullptr;
    }
    return &file->creds;
}

void s3_credentials_watch(ngx_array_t *files, ngx_log_t *log) noexcept {
    auto *each = static_cast<S3CredentialsFile **>(files->elts);
    for (ngx_uint_t i = 0; i < files->nelts; i++) {
        init_timer(&each[i]->tick, on_tick, each[i], log, true);
        check(each[i], log);  // it may have changed since the master read it
        ngx_add_timer(&each[i]->tick, kCheckInterval);
    }
}

void s3_credentials_unwatch(ngx_array_t *files) noexcept {
    auto *each = static_cast<S3CredentialsFile **>(files->elts);
    for (ngx_uint_t i = 0; i < files->nelts; i++) {
        if (each[i]->tick.timer_set) ngx_del_timer(&each[i]->tick);
    }
}

}  // namespace asset_gate
