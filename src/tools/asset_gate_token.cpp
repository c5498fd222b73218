// asset-gate-token: the operator's tool. `mint` signs a token the gate accepts; `inspect` decodes
// one and says what the gate would decide on each surface, in the gate's own reason names.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/base64url.hpp"
#include "core/decision.hpp"
#include "core/hmac.hpp"
#include "core/json.hpp"
#include "core/reason.hpp"
#include "core/secret_file.hpp"
#include "core/token.hpp"

namespace {

using asset_gate::cleanse_secret;
using asset_gate::FileError;
using asset_gate::for_each_key;
using asset_gate::JsonRef;
using asset_gate::KeySet;
using asset_gate::kShortKeySize;
using asset_gate::Purpose;
using asset_gate::read_secret_file;
using asset_gate::Reason;
using asset_gate::Surface;

constexpr int kExitAllowed = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kDefaultAudience = "posthog:exported_asset";
constexpr std::int64_t kDefaultLifetime = 3600;
constexpr std::size_t kMaxInputSize = 1024 * 1024;

// PyJWT's header for HS256, which it writes with sorted keys.
constexpr std::string_view kPyJwtHeader = R"({"alg":"HS256","typ":"JWT"})";

// The checks that follow the token check in the gate (DESIGN.md section 1, steps 6-8).
constexpr Reason kRecordReasons[] = {Reason::asset_unknown, Reason::asset_expired,
                                     Reason::extension_mismatch, Reason::org_unknown,
                                     Reason::org_blocked};

constexpr const char *kUsage =
    "usage: asset-gate-token mint --key-file PATH --id N [--purpose render|subscription_delivery]\n"
    "                             [--lifetime 1h] [--audience STR] [--kid X] [--now UNIX]\n"
    "       asset-gate-token inspect --key-file PATH [--audience STR] [--leeway 30s]\n"
    "                                [--now UNIX] [--json] TOKEN|-\n"
    "\n"
    "mint     prints a compact HS256 JWT signed with the first (current) key of the key file:\n"
    "         {\"id\":N,\"exp\":now+lifetime,\"aud\":AUDIENCE[,\"purpose\":P]}. Without --purpose\n"
    "         (or with --purpose public) the token is a public one. --lifetime defaults to 1h;\n"
    "         durations are N[s|m|h|d|w], combinable (1h30m); a bare number is seconds.\n"
    "inspect  decodes TOKEN (or reads it from stdin with -), checks it against every key of the\n"
    "         key file and prints what the gate would decide on the render and content\n"
    "         surfaces, with the names $asset_gate_reason uses. Exit 0 when allowed on at least\n"
    "         one surface, 1 when refused on both.\n"
    "\n"
    "The key file has the module's format: one key per line (exact bytes without the line\n"
    "ending), blank lines skipped, the current key first. Exit 2 on usage errors.\n";

// Prints "asset-gate-token: MESSAGE" on stderr and gives the usage exit code.
int fail(const std::string &message) {
    std::cerr << "asset-gate-token: " << message << "\n";
    return kExitUsage;
}

// Control bytes and non-ASCII replaced, so that nothing from a hostile token reaches a terminal.
std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    return out;
}

// --- command line ----------------------------------------------------------------------------

struct Args {
    std::map<std::string, std::string, std::less<>> options;
    std::vector<std::string> positional;

    const std::string *get(std::string_view name) const {
        const auto it = options.find(name);
        return it == options.end() ? nullptr : &it->second;
    }
    bool has(std::string_view name) const { return options.count(name) != 0; }
};

struct OptionSpec {
    std::string_view name;
    bool takes_value;
};

// --name VALUE, --name=VALUE and flags; "--" ends the options; "-" is a positional (stdin).
bool parse_args(int argc, char **argv, int first, const std::vector<OptionSpec> &specs, Args *args,
                std::string *error) {
    bool options_done = false;
    for (int i = first; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (options_done || arg == "-" || arg.substr(0, 1) != "-") {
            args->positional.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        std::string_view name = arg;
        std::optional<std::string_view> inline_value;
        if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            inline_value = arg.substr(eq + 1);
        }
        const OptionSpec *spec = nullptr;
        for (const OptionSpec &s : specs) {
            if (s.name == name) spec = &s;
        }
        if (spec == nullptr) {
            *error = "unknown option \"" + printable(name) + "\" (see --help)";
            return false;
        }
        if (args->has(name)) {
            *error = "option " + std::string(name) + " given twice";
            return false;
        }
        std::string value;
        if (spec->takes_value) {
            if (inline_value) {
                value = *inline_value;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                *error = "option " + std::string(name) + " needs a value";
                return false;
            }
        } else if (inline_value) {
            *error = "option " + std::string(name) + " takes no value";
            return false;
        }
        args->options.emplace(std::string(name), std::move(value));
    }
    return true;
}

// Decimal digits only, no sign, within [min, INT64_MAX].
bool parse_integer(std::string_view text, std::int64_t min, std::int64_t *out) {
    if (text.empty() || text.size() > 19) return false;
    std::int64_t v = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v)) {
            return false;
        }
    }
    if (v < min) return false;
    *out = v;
    return true;
}

// "900", "900s", "15m", "1h30m", "365d", "2w": seconds. Units as nginx spells them.
bool parse_duration(std::string_view text, std::int64_t *out) {
    if (text.empty()) return false;
    std::int64_t plain = 0;
    if (parse_integer(text, 0, &plain)) {
        *out = plain;
        return true;
    }
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
        if (i == start || i == text.size()) return false;
        std::int64_t n = 0;
        if (!parse_integer(text.substr(start, i - start), 0, &n)) return false;
        std::int64_t unit = 0;
        switch (text[i++]) {
            case 's':
                unit = 1;
                break;
            case 'm':
                unit = 60;
                break;
            case 'h':
                unit = 3600;
                break;
            case 'd':
                unit = 86400;
                break;
            case 'w':
                unit = 7 * 86400;
                break;
            default:
                return false;
        }
        if (__builtin_mul_overflow(n, unit, &n) || __builtin_add_overflow(total, n, &total)) {
            return false;
        }
    }
    *out = total;
    return true;
}

// --- keys ------------------------------------------------------------------------------------

struct Keys {
    KeySet all;               // what the gate tries, in order
    std::vector<KeySet> one;  // each key alone, to tell which one matched
    std::size_t first_size = 0;
    std::size_t first_line = 0;
};

// The module's reading of asset_gate_key_file (core/secret_file.hpp): the same limits and the
// same line format, so a key file means the same keys to both.
bool load_keys(const std::string &path, Keys *keys, std::string *error) {
    std::string text;
    FileError file_error;
    if (!read_secret_file(path, &text, &file_error)) {
        *error = std::string(file_error.verb) + " key file \"" + printable(path) +
                 "\": " + file_error.detail;
        return false;
    }
    for_each_key(text, [&](std::size_t line, std::string_view key) {
        if (keys->all.empty()) {
            keys->first_size = key.size();
            keys->first_line = line;
        }
        keys->all.add(key);
        keys->one.emplace_back();
        keys->one.back().add(key);
    });
    cleanse_secret(&text);
    if (keys->all.empty()) {
        *error = "key file \"" + printable(path) + "\" has no keys";
        return false;
    }
    return true;
}

// --- JSON and encodings ----------------------------------------------------------------------

std::string dump(const json_t *v, std::size_t flags) {
    char *text = json_dumps(v, flags | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
    if (text == nullptr) return "null";
    std::string out(text);
    std::free(text);
    return out;
}

std::string base64url_encode(std::string_view in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : in) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kAlphabet[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
    return out;
}

// One token part decoded for display: a JSON object, or why not.
struct Part {
    json_t *json = nullptr;  // owned
    std::string error;
    Part() = default;
    Part(const Part &) = delete;
    Part &operator=(const Part &) = delete;
    ~Part() { json_decref(json); }
};

void decode_part(std::string_view part64, Part *out) {
    const std::size_t size = asset_gate::base64url_decoded_size(part64.size());
    if (part64.empty()) {
        out->error = "empty";
        return;
    }
    if (size == SIZE_MAX || size > kMaxInputSize) {
        out->error = "not base64url (impossible length)";
        return;
    }
    std::vector<std::uint8_t> bytes(size);
    if (!asset_gate::base64url_decode(part64, bytes.data())) {
        out->error = "not base64url (strict, unpadded)";
        return;
    }
    json_error_t error;
    json_t *root = json_loadb(reinterpret_cast<const char *>(bytes.data()), bytes.size(),
                              JSON_REJECT_DUPLICATES, &error);
    if (root == nullptr) {
        out->error = "not JSON (" + printable(error.text) + ")";
        return;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        out->error = "not a JSON object";
        return;
    }
    out->json = root;
}

// --- mint ------------------------------------------------------------------------------------

int mint(int argc, char **argv) {
    Args args;
    std::string error;
    if (!parse_args(argc, argv, 2,
                    {{"--key-file", true},
                     {"--id", true},
                     {"--purpose", true},
                     {"--lifetime", true},
                     {"--audience", true},
                     {"--kid", true},
                     {"--now", true},
                     {"--help", false},
                     {"-h", false}},
                    &args, &error)) {
        return fail(error);
    }
    if (args.has("--help") || args.has("-h")) {
        std::cout << kUsage;
        return kExitAllowed;
    }
    if (!args.positional.empty()) {
        return fail("mint takes no arguments besides options (got \"" +
                    printable(args.positional.front()) + "\")");
    }

    const std::string *key_file = args.get("--key-file");
    if (key_file == nullptr) return fail("mint needs --key-file PATH");
    const std::string *id_text = args.get("--id");
    if (id_text == nullptr) return fail("mint needs --id N (the asset id)");
    std::int64_t id = 0;
    if (!parse_integer(*id_text, 1, &id)) {
        return fail("invalid --id \"" + printable(*id_text) +
                    "\": the asset id is a positive integer");
    }

    std::string_view purpose;
    if (const std::string *p = args.get("--purpose"); p != nullptr) {
        if (*p == "render" || *p == "subscription_delivery") {
            purpose = *p;
        } else if (*p != "public") {
            return fail("invalid --purpose \"" + printable(*p) +
                        "\": use render or subscription_delivery (omit it for a public token)");
        }
    }

    std::int64_t lifetime = kDefaultLifetime;
    if (const std::string *l = args.get("--lifetime"); l != nullptr) {
        if (!parse_duration(*l, &lifetime) || lifetime <= 0) {
            return fail("invalid --lifetime \"" + printable(*l) +
                        "\": use a positive duration such as 900s, 15m, 1h or 365d");
        }
    }

    std::int64_t now = std::time(nullptr);
    if (const std::string *t = args.get("--now"); t != nullptr && !parse_integer(*t, 0, &now)) {
        return fail("invalid --now \"" + printable(*t) + "\": use unix seconds");
    }
    std::int64_t exp = 0;
    if (__builtin_add_overflow(now, lifetime, &exp)) {
        return fail("invalid --lifetime: now + lifetime overflows");
    }

    const std::string *audience = args.get("--audience");
    json_t *aud = json_string(audience ? audience->c_str() : kDefaultAudience.data());
    if (aud == nullptr) return fail("invalid --audience: not UTF-8");
    const std::string *kid = args.get("--kid");
    json_t *kid_json = nullptr;
    if (kid != nullptr && (kid_json = json_string(kid->c_str())) == nullptr) {
        json_decref(aud);
        return fail("invalid --kid: not UTF-8");
    }

    // PyJWT's layout: the header with sorted keys, the claims in the order they were added.
    std::string header(kPyJwtHeader);
    if (kid_json != nullptr) {
        header = R"({"alg":"HS256","kid":)" + dump(kid_json, JSON_COMPACT) + R"(,"typ":"JWT"})";
        json_decref(kid_json);
    }
    JsonRef claims(json_object());
    json_object_set_new(claims.p, "id", json_integer(id));
    json_object_set_new(claims.p, "exp", json_integer(exp));
    json_object_set_new(claims.p, "aud", aud);
    if (!purpose.empty()) {
        json_object_set_new(claims.p, "purpose", json_stringn(purpose.data(), purpose.size()));
    }
    const std::string payload = dump(claims.p, JSON_COMPACT | JSON_PRESERVE_ORDER);

    Keys keys;
    if (!load_keys(*key_file, &keys, &error)) return fail(error);
    if (keys.first_size < kShortKeySize) {
        std::cerr << "asset-gate-token: warning: the current key (line " << keys.first_line
                  << " of \"" << printable(*key_file) << "\") is shorter than " << kShortKeySize
                  << " bytes\n";
    }

    const std::string signing_input = base64url_encode(header) + "." + base64url_encode(payload);
    const asset_gate::Mac mac = keys.all.keys().front().sign(signing_input);
    const std::string signature =
        base64url_encode({reinterpret_cast<const char *>(mac.data()), mac.size()});
    const std::string token = signing_input + "." + signature;
    if (token.size() > asset_gate::kMaxTokenSize) {
        return fail("the token would be " + std::to_string(token.size()) +
                    " bytes, over the gate's limit of 4096");
    }
    std::cout << token << "\n";
    return kExitAllowed;
}

// --- inspect ---------------------------------------------------------------------------------

std::string iso_time(std::int64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    char buf[64];
    if (gmtime_r(&tt, &tm) == nullptr || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0 ||
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        return "(out of calendar range)";
    }
    return buf;
}

// The two largest units of a span of seconds: "3d 4h", "59m 58s", "0s".
std::string span(std::uint64_t s) {
    static constexpr struct {
        std::uint64_t seconds;
        const char *unit;
    } kUnits[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
    std::string out;
    int shown = 0;
    for (const auto &u : kUnits) {
        if (shown == 2) break;
        const std::uint64_t n = s / u.seconds;
        if (n == 0 && shown == 0) continue;
        if (n != 0) out += (out.empty() ? "" : " ") + std::to_string(n) + u.unit;
        s %= u.seconds;
        ++shown;
    }
    return out.empty() ? "0s" : out;
}

std::uint64_t distance(std::int64_t a, std::int64_t b) {
    return a > b ? static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b)
                 : static_cast<std::uint64_t>(b) - static_cast<std::uint64_t>(a);
}

// "exp: 2026-05-27T10:10:10Z (expires in 59m 58s)" and its kin for nbf and iat.
std::string time_line(const char *name, const json_t *v, std::int64_t now, std::int64_t leeway) {
    std::string line = std::string(name) + ": ";
    if (v == nullptr) return line + "absent";
    if (!json_is_integer(v)) {
        return line + dump(v, JSON_COMPACT) + (json_is_number(v) ? "" : " (not a number)");
    }
    const std::int64_t t = json_integer_value(v);
    const std::string d = span(distance(t, now));
    const bool is_exp = std::strcmp(name, "exp") == 0;
    line += iso_time(t) + " (";
    if (is_exp) {
        line += t > now ? "expires in " + d : "expired " + d + " ago";
        if (t <= now && leeway > 0 && distance(t, now) < static_cast<std::uint64_t>(leeway)) {
            line += ", within the leeway";
        }
    } else {
        line += t > now ? "in " + d + ", in the future" : d + " ago";
    }
    return line + ")";
}

struct Verdict {
    Reason reason = Reason::bad_token;
    bool allowed() const { return reason == Reason::allowed; }
};

bool read_token(const std::string &arg, std::string *token, std::string *error) {
    if (arg == "-") {
        std::string text;
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
            text.append(buf, n);
            if (text.size() > kMaxInputSize) {
                *error = "cannot read the token from stdin: more than 1 MiB";
                return false;
            }
        }
        if (std::ferror(stdin)) {
            *error = std::string("cannot read the token from stdin: ") + std::strerror(errno);
            return false;
        }
        *token = std::move(text);
    } else {
        *token = arg;
    }
    // A token pasted from a terminal or piped by echo carries whitespace the URL would not.
    const char *space = " \t\r\n";
    const std::size_t begin = token->find_first_not_of(space);
    if (begin == std::string::npos) {
        *error = arg == "-" ? "no token on stdin" : "the token is empty";
        return false;
    }
    *token = token->substr(begin, token->find_last_not_of(space) + 1 - begin);
    return true;
}

int inspect(int argc, char **argv) {
    Args args;
    std::string error;
    if (!parse_args(argc, argv, 2,
                    {{"--key-file", true},
                     {"--audience", true},
                     {"--leeway", true},
                     {"--now", true},
                     {"--json", false},
                     {"--help", false},
                     {"-h", false}},
                    &args, &error)) {
        return fail(error);
    }
    if (args.has("--help") || args.has("-h")) {
        std::cout << kUsage;
        return kExitAllowed;
    }
    const std::string *key_file = args.get("--key-file");
    if (key_file == nullptr) return fail("inspect needs --key-file PATH");
    if (args.positional.empty()) return fail("inspect needs a token (or - to read it from stdin)");
    if (args.positional.size() > 1) return fail("inspect takes one token, not several");

    asset_gate::VerifyOptions opts;
    const std::string *audience = args.get("--audience");
    if (audience != nullptr) opts.audience = *audience;
    if (const std::string *l = args.get("--leeway");
        l != nullptr && !parse_duration(*l, &opts.leeway)) {
        return fail("invalid --leeway \"" + printable(*l) + "\": use a duration such as 30s");
    }
    opts.now = std::time(nullptr);
    if (const std::string *t = args.get("--now");
        t != nullptr && !parse_integer(*t, 0, &opts.now)) {
        return fail("invalid --now \"" + printable(*t) + "\": use unix seconds");
    }

    Keys keys;
    if (!load_keys(*key_file, &keys, &error)) return fail(error);
    std::string token;
    if (!read_token(args.positional.front(), &token, &error)) return fail(error);

    // What a human wants to read, decoded whether or not the gate would trust it.
    Part header, claims;
    std::string shape_error;
    const std::size_t dot1 = token.find('.');
    const std::size_t dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos) {
        shape_error = "not three dot-separated parts";
        header.error = claims.error = shape_error;
    } else {
        decode_part(std::string_view(token).substr(0, dot1), &header);
        decode_part(std::string_view(token).substr(dot1 + 1, dot2 - dot1 - 1), &claims);
    }

    // The gate's own verdict: verify_token, then the purpose x surface table.
    const asset_gate::Verified verified = asset_gate::verify_token(token, keys.all, opts);
    Verdict render, content;
    if (verified.reason != Reason::allowed) {
        render.reason = content.reason = verified.reason;
    } else {
        render.reason = asset_gate::decide_purpose(verified.claims.purpose, Surface::render);
        content.reason = asset_gate::decide_purpose(verified.claims.purpose, Surface::content);
    }

    std::optional<std::size_t> key_index;
    Reason jws = Reason::bad_token;
    {
        std::vector<std::uint8_t> payload(asset_gate::kMaxTokenSize);
        std::size_t payload_size = 0;
        jws = asset_gate::verify_jws(token, keys.all, payload.data(), &payload_size);
        for (std::size_t i = 0; jws == Reason::allowed && i < keys.one.size(); ++i) {
            if (asset_gate::verify_jws(token, keys.one[i], payload.data(), &payload_size) ==
                Reason::allowed) {
                key_index = i;
                break;
            }
        }
    }

    const bool any_allowed = render.allowed() || content.allowed();
    const int code = any_allowed ? kExitAllowed : kExitRefused;
    const json_t *exp = claims.json ? json_object_get(claims.json, "exp") : nullptr;

    if (args.has("--json")) {
        JsonRef out(json_object());
        json_object_set(out.p, "header", header.json ? header.json : json_null());
        if (!header.json)
            json_object_set_new(out.p, "header_error", json_string(header.error.c_str()));
        json_object_set(out.p, "claims", claims.json ? claims.json : json_null());
        if (!claims.json)
            json_object_set_new(out.p, "claims_error", json_string(claims.error.c_str()));
        json_object_set_new(
            out.p, "key_index",
            key_index ? json_integer(static_cast<json_int_t>(*key_index)) : json_null());
        json_object_set_new(out.p, "keys", json_integer(static_cast<json_int_t>(keys.one.size())));
        json_object_set_new(out.p, "exp", json_is_number(exp) ? json_deep_copy(exp) : json_null());
        json_object_set_new(out.p, "now", json_integer(opts.now));
        json_object_set_new(out.p, "leeway", json_integer(opts.leeway));
        json_object_set_new(out.p, "audience",
                            json_stringn(opts.audience.data(), opts.audience.size()));
        json_object_set_new(out.p, "token",
                            json_string(asset_gate::reason_name(verified.reason).data()));
        JsonRef surfaces(json_object());
        for (const auto &[name, v] : {std::pair<const char *, Verdict>{"render", render},
                                      std::pair<const char *, Verdict>{"content", content}}) {
            json_t *s = json_object();
            json_object_set_new(s, "allowed", json_boolean(v.allowed()));
            json_object_set_new(s, "reason", json_string(asset_gate::reason_name(v.reason).data()));
            json_object_set_new(surfaces.p, name, s);
        }
        json_object_set(out.p, "surfaces", surfaces.p);
        JsonRef unchecked(json_array());
        if (any_allowed) {
            for (const Reason r : kRecordReasons) {
                const std::string_view name = asset_gate::reason_name(r);
                json_array_append_new(unchecked.p, json_stringn(name.data(), name.size()));
            }
        }
        json_object_set(out.p, "unchecked", unchecked.p);
        std::cout << dump(out.p, JSON_INDENT(2) | JSON_PRESERVE_ORDER) << "\n";
        return code;
    }

    std::cout << "header: "
              << (header.json ? dump(header.json, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                              : "undecodable: " + header.error)
              << "\n";
    std::cout << "claims: "
              << (claims.json ? dump(claims.json, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                              : "undecodable: " + claims.error)
              << "\n";
    if (key_index) {
        std::cout << "signature: verified by "
                  << (*key_index == 0 ? std::string("the current key")
                                      : "fallback key " + std::to_string(*key_index))
                  << " (key " << *key_index + 1 << " of " << keys.one.size() << ")\n";
    } else if (jws == Reason::bad_signature) {
        std::cout << "signature: none of the " << keys.one.size()
                  << " key(s) in the key file verifies it\n";
    } else {
        std::cout << "signature: not checked (the token is malformed)\n";
    }
    if (claims.json) {
        std::cout << time_line("exp", exp, opts.now, opts.leeway) << "\n";
        for (const char *name : {"nbf", "iat"}) {
            if (const json_t *v = json_object_get(claims.json, name); v != nullptr) {
                std::cout << time_line(name, v, opts.now, opts.leeway) << "\n";
            }
        }
    }
    for (const auto &[name, v] : {std::pair<const char *, Verdict>{"render", render},
                                  std::pair<const char *, Verdict>{"content", content}}) {
        std::cout << name << ": "
                  << (v.allowed()
                          ? std::string("allowed")
                          : "refused (" + std::string(asset_gate::reason_name(v.reason)) + ")")
                  << "\n";
    }
    if (any_allowed) {
        std::cout << "note: the gate then checks the Redis records, which inspect cannot see, and "
                     "may still refuse (";
        for (const Reason r : kRecordReasons) {
            std::cout << (r == kRecordReasons[0] ? "" : ", ") << asset_gate::reason_name(r);
        }
        std::cout << ")\n";
    }
    return code;
}

}  // namespace

int main(int argc, char **argv) {
    const std::string_view command = argc > 1 ? argv[1] : "";
    if (command == "mint") return mint(argc, argv);
    if (command == "inspect") return inspect(argc, argv);
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << kUsage;
        return kExitAllowed;
    }
    std::cerr << (command.empty()
                      ? std::string("asset-gate-token: a command is needed\n")
                      : "asset-gate-token: unknown command \"" + printable(command) + "\"\n")
              << kUsage;
    return kExitUsage;
}
