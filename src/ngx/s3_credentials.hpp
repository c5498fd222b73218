// S3 credentials files as each worker sees them: read at configuration (a bad file fails
// nginx -t), then re-read by each worker when the file changes, so that temporary credentials
// rotate without a reload, and never used to sign past their expiry.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "ngx/ngx.hpp"

#include "core/sigv4.hpp"

namespace asset_gate {

// Which version of a file: a rename over it, a rewrite in place or a touch each make another.
struct FileVersion {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    time_t mtime = 0;
    long mtime_nsec = 0;

    bool operator==(const FileVersion &o) const noexcept {
        return dev == o.dev && ino == o.ino && size == o.size && mtime == o.mtime &&
               mtime_nsec == o.mtime_nsec;
    }
    bool operator!=(const FileVersion &o) const noexcept { return !(*this == o); }
};

// One credentials file, shared by every location that names it. Config-lifetime and destroyed
// by a pool cleanup; after fork each worker's copy is its own (the configuration is private,
// copy-on-write memory), so a worker's timer updates it without a lock or shared memory.
struct S3CredentialsFile {
    std::string path;
    S3Credentials creds;       // the last good set
    std::int64_t expires = 0;  // of `creds`, unix seconds; 0: they do not expire
    FileVersion version;       // of the file `creds` came from
    std::optional<FileVersion> refused;  // the last version that could not be used, logged once
    mutable bool expiry_logged = false;  // the expiry of `creds` was logged (once per set)
    ngx_event_t tick;  // the worker's check, once a second
};

// asset_gate_s3_credentials_file PATH: the file of that path already read for another
// location, or read now; null after an emerg that names the file (nginx adds the line).
S3CredentialsFile *s3_credentials_file(ngx_conf_t *cf, ngx_array_t *files,
                                       const ngx_str_t &path) noexcept;

// A worker's watch of every file (init_process): a stat now and then once a second, off the
// request path; a changed file is re-read, and one that cannot be read or parsed is logged
// once (per version) and the last good set kept. The timers are cancelable: they never hold a
// graceful exit.
void s3_credentials_watch(ngx_array_t *files, ngx_log_t *log) noexcept;
void s3_credentials_unwatch(ngx_array_t *files) noexcept;

// The set to sign with at `now`: a time comparison. Null when the set has expired (the first
// time for a set with an error-log line).
const S3Credentials *s3_credentials_now(const S3CredentialsFile *file, ngx_log_t *log,
                                        time_t now) noexcept;

}  // namespace asset_gate
