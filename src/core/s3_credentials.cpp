// S3 credentials files: a small, strict reader that never echoes a value.
#include "s3_credentials.hpp"

namespace asset_gate {

namespace {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
        if (x != b[i]) return false;
    }
    return true;
}

// `n` decimal digits at the front of `s`, consumed; false when they are not there.
bool digits(std::string_view *s, int n, int *out) noexcept {
    if (s->size() < static_cast<std::size_t>(n)) return false;
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[static_cast<std::size_t>(i)];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    s->remove_prefix(static_cast<std::size_t>(n));
    *out = v;
    return true;
}

bool expect(std::string_view *s, char c) noexcept {
    if (s->empty() || s->front() != c) return false;
    s->remove_prefix(1);
    return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, int m, int d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int days_in_month(int y, int m) noexcept {
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : kDays[m - 1];
}

// YYYY-MM-DD, a valid day of the month.
bool date_part(std::string_view *s, int *year, int *month, int *day) noexcept {
    if (!digits(s, 4, year) || !expect(s, '-') || !digits(s, 2, month) || !expect(s, '-') ||
        !digits(s, 2, day)) {
        return false;
    }
    return *month >= 1 && *month <= 12 && *day >= 1 && *day <= days_in_month(*year, *month);
}

// THH:MM:SS, then an optional fraction (the whole second counts), as seconds of the day.
bool time_part(std::string_view *s, std::int64_t *seconds) noexcept {
    int hour = 0, minute = 0, second = 0;
    if (s->empty() || (s->front() != 'T' && s->front() != 't')) return false;
    s->remove_prefix(1);
    if (!digits(s, 2, &hour) || !expect(s, ':') || !digits(s, 2, &minute) || !expect(s, ':') ||
        !digits(s, 2, &second) || hour > 23 || minute > 59 || second > 59) {
        return false;
    }
    *seconds = hour * 3600 + minute * 60 + second;
    if (s->empty() || s->front() != '.') return true;
    s->remove_prefix(1);
    std::size_t n = 0;
    while (n < s->size() && (*s)[n] >= '0' && (*s)[n] <= '9') n++;
    s->remove_prefix(n);
    return n != 0;
}

// Z, +HH:MM or -HH:MM, and nothing after it; a time without a zone means nothing here.
bool zone_part(std::string_view s, int *offset) noexcept {
    if (s.size() == 1 && (s.front() == 'Z' || s.front() == 'z')) {
        *offset = 0;
        return true;
    }
    if (s.empty() || (s.front() != '+' && s.front() != '-')) return false;
    const int sign = s.front() == '+' ? 1 : -1;
    s.remove_prefix(1);
    int oh = 0, om = 0;
    if (!digits(&s, 2, &oh) || !expect(&s, ':') || !digits(&s, 2, &om) || oh > 23 || om > 59) {
        return false;
    }
    *offset = sign * (oh * 3600 + om * 60);
    return s.empty();
}

// One `name = value` line into the set; false with the message for a bad expiry.
bool take_field(std::string_view name, std::string_view value, int line_no, S3Credentials *creds,
                std::int64_t *expires, std::string *error) {
    if (name.size() > 4 && iequals(name.substr(0, 4), "aws_")) name.remove_prefix(4);
    if (name == "access_key_id") {
        creds->access_key_id = value;
    } else if (name == "secret_access_key") {
        creds->secret_access_key = value;
    } else if (name == "session_token") {
        creds->session_token = value;
    } else if (iequals(name, "expiration") &&
               (!parse_iso8601_utc(value, expires) || *expires <= 0)) {
        // Not a secret: the value may be quoted back.
        *error = "line " + std::to_string(line_no) + ": invalid expiration \"" +
                 std::string(value.substr(0, 40)) + "\", expected YYYY-MM-DDTHH:MM:SSZ";
        return false;
    }
    return true;
}

}  // namespace

bool parse_iso8601_utc(std::string_view s, std::int64_t *unix_seconds) noexcept {
    int year = 0, month = 0, day = 0, offset = 0;
    std::int64_t seconds = 0;
    if (!date_part(&s, &year, &month, &day) || !time_part(&s, &seconds) || !zone_part(s, &offset)) {
        return false;
    }
    *unix_seconds = days_from_civil(year, month, day) * 86400 + seconds - offset;
    return true;
}

bool parse_s3_credentials(std::string_view text, S3Credentials *creds, std::int64_t *expires,
                          std::string *error) {
    *creds = S3Credentials{};
    *expires = 0;
    int profiles = 0;
    int line_no = 0;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        line_no++;
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.front() == '[') {
            if (++profiles > 1) break;
            continue;
        }
        std::size_t eq = line.find('=');
        if (eq == std::string_view::npos) {
            *error = "line " + std::to_string(line_no) + " is not \"name = value\"";
            return false;
        }
        if (!take_field(trim(line.substr(0, eq)), trim(line.substr(eq + 1)), line_no, creds,
                        expires, error)) {
            return false;
        }
    }
    if (creds->access_key_id.empty()) {
        *error = "no aws_access_key_id";
        return false;
    }
    if (creds->secret_access_key.empty()) {
        *error = "no aws_secret_access_key";
        return false;
    }
    return true;
}

}  // namespace asset_gate
