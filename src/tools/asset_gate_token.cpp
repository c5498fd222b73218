// asset-gate-token: the operator's tool. `mint` signs a token the gate accepts; `inspect` decodes
// one and says what the gate would decide on each surface, in the gate's own reason names.
#include <array>
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
#include <utility>
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

// The purposes a token can name, from the core's table: "render|subscription_delivery" with
// separator "|". Public is the default and is spelled by omitting --purpose.
std::string purpose_choices(std::string_view separator) {
    std::string out;
    for (int i = 0; i < asset_gate::kPurposeCount; ++i) {
        const auto p = static_cast<Purpose>(i);
        if (p == Purpose::public_) continue;
        if (!out.empty()) out += separator;
        out += asset_gate::purpose_name(p);
    }
    return out;
}

// The usage text after its first line, which lists the purposes.
constexpr std::string_view kUsageRest =
    R"(                             [--lifetime 1h] [--audience STR] [--kid X] [--now UNIX]
       asset-gate-token inspect --key-file PATH [--audience STR] [--leeway 30s]
                                [--now UNIX] [--json] TOKEN|-

mint     prints a compact HS256 JWT signed with the first (current) key of the key file:
         {"id":N,"exp":now+lifetime,"aud":AUDIENCE[,"purpose":P]}. Without --purpose
         (or with --purpose public) the token is a public one. --lifetime defaults to 1h;
         durations are N[s|m|h|d|w], combinable (1h30m); a bare number is seconds.
inspect  decodes TOKEN (or reads it from stdin with -), checks it against every key of the
         key file and prints what the gate would decide on the render and content
         surfaces, with the names $asset_gate_reason uses. Exit 0 when allowed on at least
         one surface, 1 when refused on both.

The key file has the module's format: one key per line (exact bytes without the line
ending), blank lines skipped, the current key first. Exit 2 on usage errors.
)";

std::string usage() {
    return "usage: asset-gate-token mint --key-file PATH --id N [--purpose " +
           purpose_choices("|") + "]\n" + std::string(kUsageRest);
}

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

const OptionSpec *find_spec(const std::vector<OptionSpec> &specs, std::string_view name) {
    for (const OptionSpec &s : specs) {
        if (s.name == name) return &s;
    }
    return nullptr;
}

// One option `arg` (argv[*i]) into `args`, taking its value from the next argument when it
// needs one and has none inline.
bool parse_option(int argc, char **argv, int *i, const std::vector<OptionSpec> &specs, Args *args,
                  std::string *error) {
    const std::string_view arg = argv[*i];
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
    }
    const OptionSpec *spec = find_spec(specs, name);
    if (spec == nullptr) {
        *error = "unknown option \"" + printable(name) + "\" (see --help)";
        return false;
    }
    if (args->has(name)) {
        *error = "option " + std::string(name) + " given twice";
        return false;
    }
    std::string value;
    if (!spec->takes_value) {
        if (inline_value) {
            *error = "option " + std::string(name) + " takes no value";
            return false;
        }
    } else if (inline_value) {
        value = *inline_value;
    } else if (*i + 1 < argc) {
        value = argv[++*i];
    } else {
        *error = "option " + std::string(name) + " needs a value";
        return false;
    }
    args->options.emplace(std::string(name), std::move(value));
    return true;
}

// --name VALUE, --name=VALUE and flags; "--" ends the options; "-" is a positional (stdin).
bool parse_args(int argc, char **argv, int first, const std::vector<OptionSpec> &specs, Args *args,
                std::string *error) {
    bool options_done = false;
    for (int i = first; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (options_done || arg == "-" || arg.substr(0, 1) != "-") {
            args->positional.emplace_back(arg);
        } else if (arg == "--") {
            options_done = true;
        } else if (!parse_option(argc, argv, &i, specs, args, error)) {
            return false;
        }
    }
    return true;
}

// Reads a command's options. False when the command is done before it starts: a usage error
// (reported) or --help (usage printed); `*code` is then the exit code.
bool read_command_line(int argc, char **argv, std::vector<OptionSpec> specs, Args *args,
                       int *code) {
    specs.push_back({"--help", false});
    specs.push_back({"-h", false});
    std::string error;
    if (!parse_args(argc, argv, 2, specs, args, &error)) {
        *code = fail(error);
        return false;
    }
    if (args->has("--help") || args->has("-h")) {
        std::cout << usage();
        *code = kExitAllowed;
        return false;
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

// --- JSON -------------------------------------------------------------------------------------

std::string dump(const json_t *v, std::size_t flags) {
    char *text = json_dumps(v, flags | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
    if (text == nullptr) return "null";
    std::string out(text);
    std::free(text);
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

struct MintRequest {
    const std::string *key_file = nullptr;
    std::int64_t id = 0;
    Purpose purpose = Purpose::public_;
    std::int64_t exp = 0;
    const std::string *audience = nullptr;  // null: the default
    const std::string *kid = nullptr;       // null: no kid header
};

// --purpose NAME, as the core spells purposes; absent or "public" is a public token.
bool parse_purpose_option(const Args &args, Purpose *out, std::string *error) {
    const std::string *p = args.get("--purpose");
    if (p == nullptr) return true;
    if (asset_gate::parse_purpose(*p, out)) return true;
    *error = "invalid --purpose \"" + printable(*p) + "\": use " + purpose_choices(" or ") +
             " (omit it for a public token)";
    return false;
}

// exp = --now (default: the clock) + --lifetime (default 1h).
bool parse_expiry(const Args &args, std::int64_t *exp, std::string *error) {
    std::int64_t lifetime = kDefaultLifetime;
    if (const std::string *l = args.get("--lifetime");
        l != nullptr && (!parse_duration(*l, &lifetime) || lifetime <= 0)) {
        *error = "invalid --lifetime \"" + printable(*l) +
                 "\": use a positive duration such as 900s, 15m, 1h or 365d";
        return false;
    }
    std::int64_t now = std::time(nullptr);
    if (const std::string *t = args.get("--now"); t != nullptr && !parse_integer(*t, 0, &now)) {
        *error = "invalid --now \"" + printable(*t) + "\": use unix seconds";
        return false;
    }
    if (__builtin_add_overflow(now, lifetime, exp)) {
        *error = "invalid --lifetime: now + lifetime overflows";
        return false;
    }
    return true;
}

bool parse_mint_request(const Args &args, MintRequest *req, std::string *error) {
    if (!args.positional.empty()) {
        *error = "mint takes no arguments besides options (got \"" +
                 printable(args.positional.front()) + "\")";
        return false;
    }
    req->key_file = args.get("--key-file");
    if (req->key_file == nullptr) {
        *error = "mint needs --key-file PATH";
        return false;
    }
    const std::string *id_text = args.get("--id");
    if (id_text == nullptr) {
        *error = "mint needs --id N (the asset id)";
        return false;
    }
    if (!parse_integer(*id_text, 1, &req->id)) {
        *error = "invalid --id \"" + printable(*id_text) + "\": the asset id is a positive integer";
        return false;
    }
    req->audience = args.get("--audience");
    req->kid = args.get("--kid");
    return parse_purpose_option(args, &req->purpose, error) && parse_expiry(args, &req->exp, error);
}

// The header and claims texts in PyJWT's layout: the header with sorted keys, the claims in
// the order they were added. False when --audience or --kid is not UTF-8.
bool jwt_texts(const MintRequest &req, std::string *header, std::string *payload,
               std::string *error) {
    json_t *aud = json_string(req.audience ? req.audience->c_str() : kDefaultAudience.data());
    if (aud == nullptr) {
        *error = "invalid --audience: not UTF-8";
        return false;
    }
    JsonRef claims(json_object());
    json_object_set_new(claims.p, "id", json_integer(req.id));
    json_object_set_new(claims.p, "exp", json_integer(req.exp));
    json_object_set_new(claims.p, "aud", aud);
    if (req.purpose != Purpose::public_) {
        const std::string_view name = asset_gate::purpose_name(req.purpose);
        json_object_set_new(claims.p, "purpose", json_stringn(name.data(), name.size()));
    }
    *header = kPyJwtHeader;
    if (req.kid != nullptr) {
        const JsonRef kid(json_string(req.kid->c_str()));
        if (kid.p == nullptr) {
            *error = "invalid --kid: not UTF-8";
            return false;
        }
        *header = R"({"alg":"HS256","kid":)" + dump(kid.p, JSON_COMPACT) + R"(,"typ":"JWT"})";
    }
    *payload = dump(claims.p, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return true;
}

// The compact JWS over `header` and `payload`, signed with the current key.
std::string sign(const Keys &keys, std::string_view header, std::string_view payload) {
    const std::string signing_input =
        asset_gate::base64url_encode(header) + "." + asset_gate::base64url_encode(payload);
    const asset_gate::Mac mac = keys.all.keys().front().sign(signing_input);
    return signing_input + "." + asset_gate::base64url_encode(mac.data(), mac.size());
}

int mint(int argc, char **argv) {
    Args args;
    if (int code = 0; !read_command_line(argc, argv,
                                         {{"--key-file", true},
                                          {"--id", true},
                                          {"--purpose", true},
                                          {"--lifetime", true},
                                          {"--audience", true},
                                          {"--kid", true},
                                          {"--now", true}},
                                         &args, &code)) {
        return code;
    }
    MintRequest req;
    std::string header, payload, error;
    if (!parse_mint_request(args, &req, &error) || !jwt_texts(req, &header, &payload, &error)) {
        return fail(error);
    }
    Keys keys;
    if (!load_keys(*req.key_file, &keys, &error)) return fail(error);
    if (keys.first_size < kShortKeySize) {
        std::cerr << "asset-gate-token: warning: the current key (line " << keys.first_line
                  << " of \"" << printable(*req.key_file) << "\") is shorter than " << kShortKeySize
                  << " bytes\n";
    }
    const std::string token = sign(keys, header, payload);
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

struct InspectRequest {
    const std::string *key_file = nullptr;
    const std::string *token = nullptr;  // the argument: a token, or "-" for stdin
    asset_gate::VerifyOptions opts;
    bool json = false;
};

bool parse_inspect_request(const Args &args, InspectRequest *req, std::string *error) {
    req->key_file = args.get("--key-file");
    if (req->key_file == nullptr) {
        *error = "inspect needs --key-file PATH";
        return false;
    }
    if (args.positional.size() != 1) {
        *error = args.positional.empty() ? "inspect needs a token (or - to read it from stdin)"
                                         : "inspect takes one token, not several";
        return false;
    }
    req->token = &args.positional.front();
    req->json = args.has("--json");
    if (const std::string *audience = args.get("--audience"); audience != nullptr) {
        req->opts.audience = *audience;
    }
    if (const std::string *l = args.get("--leeway");
        l != nullptr && !parse_duration(*l, &req->opts.leeway)) {
        *error = "invalid --leeway \"" + printable(*l) + "\": use a duration such as 30s";
        return false;
    }
    req->opts.now = std::time(nullptr);
    if (const std::string *t = args.get("--now");
        t != nullptr && !parse_integer(*t, 0, &req->opts.now)) {
        *error = "invalid --now \"" + printable(*t) + "\": use unix seconds";
        return false;
    }
    return true;
}

// What a human wants to read, decoded whether or not the gate would trust it.
struct Decoded {
    Part header;
    Part claims;
};

void decode_token(std::string_view token, Decoded *out) {
    const std::size_t dot1 = token.find('.');
    const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        out->header.error = out->claims.error = "not three dot-separated parts";
        return;
    }
    decode_part(token.substr(0, dot1), &out->header);
    decode_part(token.substr(dot1 + 1, dot2 - dot1 - 1), &out->claims);
}

// The gate's own verdict (verify_token, then the purpose x surface table), and which key
// signed the token.
struct Judgement {
    Reason token = Reason::bad_token;  // verify_token's answer
    Reason jws = Reason::bad_token;    // the JWS layer's alone
    Verdict render, content;
    std::optional<std::size_t> key_index;

    bool any_allowed() const { return render.allowed() || content.allowed(); }
    std::array<std::pair<const char *, Verdict>, 2> surfaces() const {
        return {{{"render", render}, {"content", content}}};
    }
};

Judgement judge(std::string_view token, const Keys &keys, const asset_gate::VerifyOptions &opts) {
    Judgement j;
    const asset_gate::Verified verified = asset_gate::verify_token(token, keys.all, opts);
    j.token = verified.reason;
    if (verified.reason != Reason::allowed) {
        j.render.reason = j.content.reason = verified.reason;
    } else {
        j.render.reason = asset_gate::decide_purpose(verified.claims.purpose, Surface::render);
        j.content.reason = asset_gate::decide_purpose(verified.claims.purpose, Surface::content);
    }
    std::vector<std::uint8_t> payload(asset_gate::kMaxTokenSize);
    std::size_t payload_size = 0;
    j.jws = asset_gate::verify_jws(token, keys.all, payload.data(), &payload_size);
    for (std::size_t i = 0; j.jws == Reason::allowed && i < keys.one.size(); ++i) {
        if (asset_gate::verify_jws(token, keys.one[i], payload.data(), &payload_size) ==
            Reason::allowed) {
            j.key_index = i;
            break;
        }
    }
    return j;
}

json_t *json_name(std::string_view name) {
    return json_stringn(name.data(), name.size());
}

// "NAME": the part's JSON, or null and "NAME_error": why it could not be decoded.
void set_part(json_t *out, const char *name, const Part &part) {
    json_object_set(out, name, part.json ? part.json : json_null());
    if (part.json == nullptr) {
        json_object_set_new(out, (std::string(name) + "_error").c_str(),
                            json_string(part.error.c_str()));
    }
}

void print_json(const Decoded &d, const Judgement &j, const Keys &keys,
                const asset_gate::VerifyOptions &opts) {
    const JsonRef out(json_object());
    set_part(out.p, "header", d.header);
    set_part(out.p, "claims", d.claims);
    json_object_set_new(
        out.p, "key_index",
        j.key_index ? json_integer(static_cast<json_int_t>(*j.key_index)) : json_null());
    json_object_set_new(out.p, "keys", json_integer(static_cast<json_int_t>(keys.one.size())));
    const json_t *exp = d.claims.json ? json_object_get(d.claims.json, "exp") : nullptr;
    json_object_set_new(out.p, "exp", json_is_number(exp) ? json_deep_copy(exp) : json_null());
    json_object_set_new(out.p, "now", json_integer(opts.now));
    json_object_set_new(out.p, "leeway", json_integer(opts.leeway));
    json_object_set_new(out.p, "audience", json_name(opts.audience));
    json_object_set_new(out.p, "token", json_name(asset_gate::reason_name(j.token)));
    json_t *surfaces = json_object();
    for (const auto &[name, v] : j.surfaces()) {
        json_t *surface = json_object();
        json_object_set_new(surface, "allowed", json_boolean(v.allowed()));
        json_object_set_new(surface, "reason", json_name(asset_gate::reason_name(v.reason)));
        json_object_set_new(surfaces, name, surface);
    }
    json_object_set_new(out.p, "surfaces", surfaces);
    json_t *unchecked = json_array();  // the record checks, once the token would pass
    if (j.any_allowed()) {
        for (const Reason r : kRecordReasons) {
            json_array_append_new(unchecked, json_name(asset_gate::reason_name(r)));
        }
    }
    json_object_set_new(out.p, "unchecked", unchecked);
    std::cout << dump(out.p, JSON_INDENT(2) | JSON_PRESERVE_ORDER) << "\n";
}

std::string part_text(const Part &part) {
    return part.json ? dump(part.json, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                     : "undecodable: " + part.error;
}

// Why the signature was not checked: what in the token's form stopped it before the keys.
std::string unchecked_because(const Decoded &d) {
    if (!d.header.json) return "not checked: the header is undecodable: " + d.header.error;
    const json_t *alg = json_object_get(d.header.json, "alg");
    if (!json_is_string(alg)) return "not checked: the header has no \"alg\" string";
    const std::string name = json_string_value(alg);
    if (name != "HS256") {
        return "not checked: the header's alg is \"" + name + "\" (only HS256 is accepted)";
    }
    if (json_object_get(d.header.json, "crit") != nullptr) {
        return "not checked: the header has \"crit\" (no extension is understood)";
    }
    return "not checked (the token is malformed)";
}

std::string signature_text(const Decoded &d, const Judgement &j, const Keys &keys) {
    const std::string count = std::to_string(keys.one.size());
    if (j.key_index) {
        const std::size_t k = *j.key_index;
        return "verified by " +
               (k == 0 ? std::string("the current key") : "fallback key " + std::to_string(k)) +
               " (key " + std::to_string(k + 1) + " of " + count + ")";
    }
    if (j.jws == Reason::bad_signature) {
        return "none of the " + count + " key(s) in the key file verifies it";
    }
    return unchecked_because(d);
}

void print_times(const json_t *claims, const asset_gate::VerifyOptions &opts) {
    std::cout << time_line("exp", json_object_get(claims, "exp"), opts.now, opts.leeway) << "\n";
    for (const char *name : {"nbf", "iat"}) {
        if (const json_t *v = json_object_get(claims, name); v != nullptr) {
            std::cout << time_line(name, v, opts.now, opts.leeway) << "\n";
        }
    }
}

void print_text(const Decoded &d, const Judgement &j, const Keys &keys,
                const asset_gate::VerifyOptions &opts) {
    std::cout << "header: " << part_text(d.header) << "\n";
    std::cout << "claims: " << part_text(d.claims) << "\n";
    std::cout << "signature: " << signature_text(d, j, keys) << "\n";
    if (d.claims.json) print_times(d.claims.json, opts);
    for (const auto &[name, v] : j.surfaces()) {
        std::cout << name << ": "
                  << (v.allowed()
                          ? std::string("allowed")
                          : "refused (" + std::string(asset_gate::reason_name(v.reason)) + ")")
                  << "\n";
    }
    if (j.any_allowed()) {
        std::cout << "note: the gate then checks the Redis records, which inspect cannot see, and "
                     "may still refuse (";
        for (const Reason r : kRecordReasons) {
            std::cout << (r == kRecordReasons[0] ? "" : ", ") << asset_gate::reason_name(r);
        }
        std::cout << ")\n";
    }
}

int inspect(int argc, char **argv) {
    Args args;
    if (int code = 0; !read_command_line(argc, argv,
                                         {{"--key-file", true},
                                          {"--audience", true},
                                          {"--leeway", true},
                                          {"--now", true},
                                          {"--json", false}},
                                         &args, &code)) {
        return code;
    }
    InspectRequest req;
    std::string error;
    if (!parse_inspect_request(args, &req, &error)) return fail(error);
    Keys keys;
    if (!load_keys(*req.key_file, &keys, &error)) return fail(error);
    std::string token;
    if (!read_token(*req.token, &token, &error)) return fail(error);

    Decoded decoded;
    decode_token(token, &decoded);
    const Judgement judgement = judge(token, keys, req.opts);
    if (req.json) {
        print_json(decoded, judgement, keys, req.opts);
    } else {
        print_text(decoded, judgement, keys, req.opts);
    }
    return judgement.any_allowed() ? kExitAllowed : kExitRefused;
}

}  // namespace

int main(int argc, char **argv) {
    const std::string_view command = argc > 1 ? argv[1] : "";
    if (command == "mint") return mint(argc, argv);
    if (command == "inspect") return inspect(argc, argv);
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << usage();
        return kExitAllowed;
    }
    std::cerr << (command.empty()
                      ? std::string("asset-gate-token: a command is needed\n")
                      : "asset-gate-token: unknown command \"" + printable(command) + "\"\n")
              << usage();
    return kExitUsage;
}
