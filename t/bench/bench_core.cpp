// Google Benchmark figures for the core's per-request work: verification of a valid and of an
// invalid token, path classification, the decision, and the mask every error-log line passes.
#include <benchmark/benchmark.h>

#include <string>

#include "core/decision.hpp"
#include "core/log_mask.hpp"
#include "core/path.hpp"
#include "core/token.hpp"
#include "core/verified_cache.hpp"

using namespace asset_gate;

namespace {

constexpr std::int64_t kNow = 1780000000;
constexpr const char *kKey = "bench-current-signing-key-0123456789abcdef";

std::string sign(const std::string &header_payload) {
    HmacSha256Key key(kKey);
    Mac mac = key.sign(header_payload);
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned bits = 0;
    int nbits = 0;
    for (std::uint8_t b : mac) {
        bits = (bits << 8) | b;
        nbits += 8;
        while (nbits >= 6) {
            out.push_back(kAlphabet[(bits >> (nbits - 6)) & 63]);
            nbits -= 6;
        }
    }
    if (nbits > 0) out.push_back(kAlphabet[(bits << (6 - nbits)) & 63]);
    return header_payload + "." + out;
}

// base64url of PyJWT's header {"alg":"HS256","typ":"JWT"} and of the claims
// {"id":101,"exp":1790000000,"aud":"posthog:exported_asset"}; sign() adds the signature.
const std::string kSigningInput =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJpZCI6MTAxLCJleHAiOjE3OTAwMDAwMDAsImF1ZCI6InBvc3Rob2c6ZXhwb3J0ZWRfYXNzZXQifQ";

KeySet keys() {
    KeySet k;
    k.add(kKey);
    k.add("bench-previous-signing-key-fedcba9876543210");
    return k;
}

void BM_VerifyValidToken(benchmark::State &state) {
    KeySet k = keys();
    std::string token = sign(kSigningInput);
    VerifyOptions opts;
    opts.now = kNow;
    if (verify_token(token, k, opts).reason != Reason::allowed) {
        state.SkipWithError("the benchmark token does not verify");
        return;
    }
    for (auto _ : state) benchmark::DoNotOptimize(verify_token(token, k, opts));
}
BENCHMARK(BM_VerifyValidToken);

// A link fetched again: the per-worker cache of verified tokens answers.
void BM_VerifiedTokenCacheHit(benchmark::State &state) {
    std::string token = sign(kSigningInput);
    VerifiedTokenCache cache;
    Claims claims;
    claims.id = 101;
    claims.exp = 1790000000;
    int scope = 0;
    cache.insert(&scope, token, claims);
    Claims out;
    if (!cache.find(&scope, token, kNow, 0, &out)) {
        state.SkipWithError("the cache does not find the token it was given");
        return;
    }
    for (auto _ : state) benchmark::DoNotOptimize(cache.find(&scope, token, kNow, 0, &out));
}
BENCHMARK(BM_VerifiedTokenCacheHit);

void BM_VerifyBadSignature(benchmark::State &state) {
    KeySet k = keys();
    std::string token = sign(kSigningInput);
    token[token.size() - 2] = token[token.size() - 2] == 'A' ? 'B' : 'A';
    VerifyOptions opts;
    opts.now = kNow;
    if (verify_token(token, k, opts).reason != Reason::bad_signature) {
        state.SkipWithError("the tampered token is not refused for its signature");
        return;
    }
    for (auto _ : state) benchmark::DoNotOptimize(verify_token(token, k, opts));
}
BENCHMARK(BM_VerifyBadSignature);

void BM_ClassifyContentPath(benchmark::State &state) {
    std::string_view uri = "/exporter/export-weekly-report-2026-05-27-101010.png";
    for (auto _ : state) benchmark::DoNotOptimize(classify_path(uri, "/exporter"));
}
BENCHMARK(BM_ClassifyContentPath);

void BM_ClassifyMalformedPath(benchmark::State &state) {
    std::string_view uri = "/exporter/a/b.png";
    for (auto _ : state) benchmark::DoNotOptimize(classify_path(uri, "/exporter"));
}
BENCHMARK(BM_ClassifyMalformedPath);

void BM_Decide(benchmark::State &state) {
    AssetRecord asset;
    asset.found = true;
    asset.org = "org-1";
    asset.format = "image/png";
    asset.location = "exports/png/team-1/blob";
    OrgRecord org;
    org.found = true;
    org.security_settings = true;
    org.allow_public = true;
    for (auto _ : state) {
        Reason r = decide_purpose(Purpose::public_, Surface::content);
        if (r == Reason::allowed) r = decide_asset(asset, Surface::content, "png", kNow);
        if (r == Reason::allowed) r = decide_org(Purpose::public_, org);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_Decide);

// An error-log record of 300 bytes as the writer sees it, with the request line nginx appends;
// without a token and with one (PyJWT's header, the claims above, a signature).
std::string log_line(std::string_view message, const std::string &query) {
    std::string line = "2026/05/27 10:10:10 [info] 4242#4242: *17 " + std::string(message) +
                       "client: 192.168.10.20, server: , request: \"GET /exporter/a.png" + query +
                       " HTTP/1.1\", host: \"exports.example.com\", referrer: \"https://app."
                       "example.com/dashboard/42\"";
    line.resize(299, ' ');
    return line + "\n";
}

void mask_bench(benchmark::State &state, const std::string &line) {
    std::string out(line.size(), '\0');
    for (auto _ : state) {
        benchmark::DoNotOptimize(mask_token_signatures(line, out.data()));
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * line.size()));
}

void BM_MaskLogLineWithoutToken(benchmark::State &state) {
    mask_bench(state, log_line("asset_gate: refused: bad_signature, ",
                               "?download=true&utm_source=weekly-report.v2"));
}
BENCHMARK(BM_MaskLogLineWithoutToken);

void BM_MaskLogLineWithToken(benchmark::State &state) {
    const std::string line = log_line("", "?token=" + sign(kSigningInput));
    if (line.size() != 300 || line.find(sign(kSigningInput)) == std::string::npos) {
        state.SkipWithError("the benchmark line does not hold the whole token");
        return;
    }
    mask_bench(state, line);
}
BENCHMARK(BM_MaskLogLineWithToken);

// $request in the access log: the probe that decides whether to copy the request line.
void BM_ProbeRequestLine(benchmark::State &state) {
    const std::string line =
        "GET /exporter/export-weekly-2026-05-27.png?token=" + sign(kSigningInput) + " HTTP/1.1";
    for (auto _ : state) benchmark::DoNotOptimize(has_unmasked_token(line));
}
BENCHMARK(BM_ProbeRequestLine);

}  // namespace

BENCHMARK_MAIN();
