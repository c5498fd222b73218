"""Every refusal of DESIGN.md sections 1-3 on real requests: the status and the reason.

Each test checks the response status and the X-Reason header, which the fixture
configuration fills from $asset_gate_reason (`add_header X-Reason ... always`)."""

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import quote

import pytest

from gate import AUDIENCE, FILE, KEY, OLD_KEY, PNG, mint

OTHER_KEY = "a-key-this-gate-has-never-heard-of-0123456789"
PYJWT_HEADER = {"alg": "HS256", "typ": "JWT"}


# -- helpers ------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj) -> str:
    """A JSON object (or raw text) as one base64url token part."""
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return b64(text.encode())


def sign(signing_input: str, key=KEY) -> str:
    return b64(hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest())


def forge(claims, header=None, key=KEY) -> str:
    """A correctly HS256-signed token over arbitrary header and claims (dicts or raw JSON)."""
    signing_input = part(header if header is not None else PYJWT_HEADER) + "." + part(claims)
    return signing_input + "." + sign(signing_input, key)


def claims(asset_id=101, exp_in=3600, **extra):
    c = {"id": asset_id, "exp": int(time.time()) + exp_in, "aud": AUDIENCE}
    c.update(extra)
    return c


def outcome(r):
    return r.status, r.header("x-reason")


def get(stack, path, token):
    return stack.request(f"{path}?token={token}")


# -- 1. method ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
@pytest.mark.parametrize("path", [FILE, "/exporter"])
def test_methods_other_than_get_and_head_get_405_with_allow(stack, method, path):
    r = stack.request(f"{path}?token={mint(101)}", method=method)
    assert outcome(r) == (405, "method")
    assert r.header("allow") == "GET, HEAD"


def test_method_check_comes_before_the_path_check(stack):
    r = stack.request("/exporter/a/b.png?token=x", method="POST")
    assert outcome(r) == (405, "method")


def test_head_is_not_refused_for_its_method(stack):
    r = stack.request(f"{FILE}?token={mint(101)}", method="HEAD")
    assert outcome(r) == (200, "allowed")
    assert r.body == b""


# -- 2. surfaces --------------------------------------------------------------------------

MALFORMED = [
    "/exporter/",                       # trailing slash on the base: no name
    "/exporter/a/b.png",                # two segments
    "/exporter/a.png/",                 # trailing slash after a name
    "/exporter/a.png/x.png",            # name followed by another segment
    "/exporterX",                       # shares the prefix but is not the base
    "/exporter-old/a.png",              # ditto, with a separator
    "/exporter/noext",                  # no extension
    "/exporter/a.",                     # empty extension
    "/exporter/.png",                   # dotfile
    "/exporter/.hidden.png",            # dotfile with a name
    "/exporter/..png",                  # starts with a dot
    "/exporter/a%2Fb.png",              # an encoded slash decodes to two segments
    "/exporter/a%20b.png",              # an encoded space is outside the alphabet
    "/exporter/a+b.png",                # '+' is outside the alphabet
    "/exporter/a~b.png",                # '~' is outside the alphabet
    "/exporter/caf%C3%A9.png",          # non-ASCII
    "/exporter/a%25b.png",              # an encoded '%'
    "/exporter/a;b.png",                # ';' is outside the alphabet
    "/exporter/x/../a/b.png",           # '..' resolved, still two segments
    "/exporter/a.png/..%2F",            # '..' that leaves the base with a trailing slash
    "/exporter/" + "a" * 1021 + ".png",  # 1025-byte name
]


@pytest.mark.parametrize("path", MALFORMED)
def test_malformed_path_refused_with_valid_token(stack, path):
    r = get(stack, path, mint(101))
    assert outcome(r) == (404, "malformed_path")


@pytest.mark.parametrize("path", MALFORMED)
def test_malformed_path_refused_before_crypto(stack, path):
    # A forged token would say bad_signature if the path were checked after the signature.
    r = get(stack, path, mint(101, key=OTHER_KEY))
    assert outcome(r) == (404, "malformed_path")


@pytest.mark.parametrize("path", ["/exporter/a/b.png", "/exporter/", "/exporter/.png"])
def test_malformed_path_refused_before_token_checks(stack, path):
    assert outcome(stack.request(path)) == (404, "malformed_path")
    assert outcome(get(stack, path, "garbage")) == (404, "malformed_path")
    assert outcome(stack.request(f"{path}?token=a&token=b")) == (404, "malformed_path")


@pytest.mark.parametrize("size", [255, 256, 1024])
def test_names_up_to_1024_bytes_are_content_paths(stack, size):
    name = "a" * (size - 4) + ".png"
    assert len(name) == size
    r = stack.request(f"/exporter/{name}")
    assert outcome(r) == (404, "no_token")
    r = stack.request(f"/exporter/{name}?token={mint(101)}")
    assert outcome(r) == (200, "allowed")
    assert r.body == PNG


def test_dotdot_segments_are_resolved_before_classification(stack):
    r = stack.request(f"/exporter/sub/../report.png?token={mint(101)}")
    assert outcome(r) == (200, "allowed")


def test_merged_slashes_are_classified_on_the_normalised_path(stack):
    r = stack.request(f"/exporter//report.png?token={mint(101)}")
    assert outcome(r) == (200, "allowed")


def test_name_with_several_dots_uses_the_last_extension(stack):
    r = stack.request(f"/exporter/report.v2.final.png?token={mint(101)}")
    assert outcome(r) == (200, "allowed")
    r = stack.request(f"/exporter/report.png.pdf?token={mint(101)}")
    assert outcome(r) == (404, "extension_mismatch")


# -- 3. token presence --------------------------------------------------------------------


@pytest.mark.parametrize("path", [FILE, "/exporter"])
def test_no_token(stack, path):
    assert outcome(stack.request(path)) == (404, "no_token")
    assert outcome(stack.request(path + "?download=true")) == (404, "no_token")


def test_token_in_a_header_or_cookie_is_not_a_token(stack):
    t = mint(101)
    for headers in ({"Authorization": f"Bearer {t}"}, {"Cookie": f"token={t}"},
                    {"X-Token": t}):
        assert outcome(stack.request(FILE, headers=headers)) == (404, "no_token")


@pytest.mark.parametrize("query", ["Token={t}", "TOKEN={t}", "token_={t}", "xtoken={t}",
                                   "tokens={t}", "a=token={t}"])
def test_token_arg_name_is_exact_and_case_sensitive(stack, query):
    r = stack.request(f"{FILE}?" + query.format(t=mint(101)))
    assert outcome(r) == (404, "no_token")


@pytest.mark.parametrize("query", ["token=a&token=b", "token={t}&token={t}",
                                   "token={t}&x=1&token=", "token=&token={t}"])
def test_duplicate_token(stack, query):
    t = mint(101)
    r = stack.request(f"{FILE}?" + query.format(t=t))
    assert outcome(r) == (404, "duplicate_token")


def test_token_in_second_position_is_found(stack):
    r = stack.request(f"{FILE}?a=1&token={mint(101)}&b=2")
    assert outcome(r) == (200, "allowed")


# -- 3. token shape -----------------------------------------------------------------------


def _valid():
    return mint(101)


BAD_TOKENS = {
    "garbage": lambda: "garbage",
    "two_parts": lambda: ".".join(_valid().split(".")[:2]),
    "four_parts": lambda: _valid() + ".AAAA",
    "empty_part": lambda: _valid().split(".")[0] + ".." + _valid().split(".")[2],
    "payload_padding": lambda: forge_padded_payload(),
    "invalid_char_star": lambda: swap_char(_valid(), 1, "*"),
    "invalid_char_space": lambda: swap_char(_valid(), 1, "%20"),
    "over_4096_bytes": lambda: mint(101, extra={"pad": "x" * 4000}),
    "header_not_json": lambda: signed_raw("not json", json.dumps(claims())),
    "payload_not_json": lambda: signed_raw(json.dumps(PYJWT_HEADER), "not json"),
    "payload_json_array": lambda: signed_raw(json.dumps(PYJWT_HEADER), "[1,2]"),
    "payload_trailing_garbage": lambda: signed_raw(json.dumps(PYJWT_HEADER),
                                                   json.dumps(claims()) + "x"),
}


def swap_char(token, index_of_part, char):
    parts = token.split(".")
    p = parts[index_of_part]
    parts[index_of_part] = p[:5] + char + p[6:]
    return ".".join(parts)


def signed_raw(header_text, payload_text, key=KEY):
    signing_input = part(header_text) + "." + part(payload_text)
    return signing_input + "." + sign(signing_input, key)


def forge_padded_payload():
    # Correctly signed over a payload part that carries base64 padding.
    payload = base64.urlsafe_b64encode(json.dumps(claims(), separators=(",", ":")).encode() + b" ")
    payload = payload.decode()
    if not payload.endswith("="):
        payload = base64.urlsafe_b64encode(
            json.dumps(claims(), separators=(",", ":")).encode() + b"  ").decode()
    assert payload.endswith("=")
    signing_input = part(PYJWT_HEADER) + "." + payload
    return signing_input + "." + sign(signing_input)


# A well-formed header and payload with a signature part that is not 32 bytes of strict
# base64url: the signature fails (a link cut or mangled on its way), not the token's shape.
BAD_SIGNATURE_PARTS = {
    "signature_padding": lambda: _valid() + "=",
    "encoded_signature_padding": lambda: _valid() + "%3D",
    "standard_base64_plus": lambda: swap_char(_valid(), 2, "+"),
    "standard_base64_slash": lambda: swap_char(_valid(), 2, "/"),
}


@pytest.mark.parametrize("name", sorted(BAD_SIGNATURE_PARTS))
def test_malformed_signature_part_is_bad_signature(stack, name):
    assert outcome(get(stack, FILE, BAD_SIGNATURE_PARTS[name]())) == (404, "bad_signature")


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_bad_token(stack, name):
    token = BAD_TOKENS[name]()
    r = get(stack, FILE, token)
    assert outcome(r) == (404, "bad_token")


def test_oversized_token_is_bad_token_even_when_correctly_signed(stack):
    token = mint(101, extra={"pad": "x" * 4000})
    assert len(token) > 4096
    assert outcome(get(stack, FILE, token)) == (404, "bad_token")


@pytest.mark.parametrize("query", ["token=", "token"])
def test_empty_token_is_bad_token(stack, query):
    assert outcome(stack.request(f"{FILE}?{query}")) == (404, "bad_token")


def test_token_just_under_the_limit_is_verified(stack):
    pad = 2900
    token = mint(101, extra={"pad": "x" * pad})
    while len(token) < 4050:
        pad += 1
        token = mint(101, extra={"pad": "x" * pad})
    assert len(token) <= 4096
    assert outcome(get(stack, FILE, token)) == (200, "allowed")


# -- 3. signature -------------------------------------------------------------------------


def test_unknown_key_is_bad_signature(stack):
    assert outcome(stack.content(101, key=OTHER_KEY)) == (404, "bad_signature")


def test_tampered_payload_is_bad_signature(stack):
    h, _, s = mint(102).split(".")
    forged = h + "." + part(claims(101)) + "." + s
    assert outcome(get(stack, FILE, forged)) == (404, "bad_signature")


def test_tampered_header_is_bad_signature(stack):
    _, p, s = mint(101).split(".")
    forged = part({"typ": "JWT", "alg": "HS256"}) + "." + p + "." + s
    assert outcome(get(stack, FILE, forged)) == (404, "bad_signature")


def test_signature_of_another_token_is_bad_signature(stack):
    h, p, _ = mint(101).split(".")
    s = mint(101, exp_in=7200).split(".")[2]
    assert outcome(get(stack, FILE, f"{h}.{p}.{s}")) == (404, "bad_signature")


def test_truncated_signature_is_bad_signature(stack):
    token = mint(101)
    assert outcome(get(stack, FILE, token[:-1])) == (404, "bad_signature")


def test_flipped_signature_bit_is_bad_signature(stack):
    h, p, s = mint(101).split(".")
    s = ("B" if s[0] == "A" else "A") + s[1:]
    assert outcome(get(stack, FILE, f"{h}.{p}.{s}")) == (404, "bad_signature")


def test_non_canonical_signature_encoding_is_refused(stack):
    # The last of 43 characters carries 4 data bits and 2 unused ones; setting an unused bit
    # decodes to the same MAC, but is not the encoding of it.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    h, p, s = mint(101).split(".")
    last = alphabet.index(s[-1])
    assert last & 3 == 0
    variant = f"{h}.{p}.{s[:-1]}{alphabet[last | 1]}"
    assert base64.urlsafe_b64decode(variant.split(".")[2] + "=") == \
        base64.urlsafe_b64decode(s + "=")
    assert outcome(get(stack, FILE, variant)) == (404, "bad_signature")


def test_exp_may_be_a_fractional_number(stack):
    r = get(stack, FILE, forge(claims(exp=time.time() + 3600.5)))
    assert outcome(r) == (200, "allowed")
    r = get(stack, FILE, forge(claims(exp=time.time() - 5.5)))
    assert outcome(r) == (404, "expired")


# -- 3. header ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "HS512", "HS384", "hs256", "RS256", "", None])
def test_alg_other_than_hs256_is_refused_even_with_a_valid_hs256_signature(stack, alg):
    header = {"typ": "JWT"} if alg is None else {"alg": alg, "typ": "JWT"}
    assert outcome(get(stack, FILE, forge(claims(), header=header))) == (404, "bad_token")


def test_alg_none_unsigned_is_refused(stack):
    token = part({"alg": "none", "typ": "JWT"}) + "." + part(claims()) + "."
    assert outcome(get(stack, FILE, token)) == (404, "bad_token")


def test_pyjwt_hs512_token_is_refused(stack):
    token = mint(101, algorithm="HS512")
    assert outcome(get(stack, FILE, token)) == (404, "bad_token")


def test_crit_header_is_refused(stack):
    token = mint(101, headers={"crit": ["exp"]})
    assert outcome(get(stack, FILE, token)) == (404, "bad_token")
    token = forge(claims(), header={"alg": "HS256", "crit": []})
    assert outcome(get(stack, FILE, token)) == (404, "bad_token")


def test_bogus_kid_is_ignored(stack):
    r = get(stack, FILE, mint(101, headers={"kid": "../../etc/passwd"}))
    assert outcome(r) == (200, "allowed")
    assert r.body == PNG


def test_jku_x5u_and_jwk_headers_are_ignored(stack):
    header = {"alg": "HS256", "typ": "JWT", "kid": "other", "jku": "http://127.0.0.1:1/keys",
              "x5u": "http://127.0.0.1:1/cert", "jwk": {"kty": "oct", "k": b64(b"attacker")}}
    r = get(stack, FILE, forge(claims(), header=header))
    assert outcome(r) == (200, "allowed")
    # ... and a token signed with the key the jwk header offers is still refused.
    r = get(stack, FILE, forge(claims(), header=header, key="attacker"))
    assert outcome(r) == (404, "bad_signature")


# -- 3. time claims -----------------------------------------------------------------------


def test_expired(stack):
    assert outcome(stack.content(101, exp_in=-10)) == (404, "expired")
    assert outcome(stack.render(101, exp_in=-3600)) == (404, "expired")


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_not_yet_valid(stack, claim):
    token = mint(101, extra={claim: int(time.time()) + 600})
    assert outcome(get(stack, FILE, token)) == (404, "not_yet_valid")


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_past_nbf_and_iat_are_accepted(stack, claim):
    token = mint(101, extra={claim: int(time.time()) - 600})
    assert outcome(get(stack, FILE, token)) == (200, "allowed")


def test_leeway_accepts_recent_expiry_and_not_older(make_stack):
    s = make_stack(location_extra="asset_gate_leeway 60s;")
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    assert outcome(s.content(101, exp_in=-30)) == (200, "allowed")
    assert outcome(s.content(101, exp_in=-120)) == (404, "expired")
    token = mint(101, extra={"nbf": int(time.time()) + 30})
    assert outcome(get(s, FILE, token)) == (200, "allowed")
    token = mint(101, extra={"iat": int(time.time()) + 120})
    assert outcome(get(s, FILE, token)) == (404, "not_yet_valid")


def test_no_leeway_by_default(stack):
    assert outcome(stack.content(101, exp_in=-2)) == (404, "expired")


# -- 3. audience --------------------------------------------------------------------------


@pytest.mark.parametrize("aud", ["posthog:other", "", "POSTHOG:EXPORTED_ASSET",
                                 ["posthog:other", "x"], [], None])
def test_wrong_audience(stack, aud):
    if aud is None:
        token = forge({"id": 101, "exp": int(time.time()) + 3600})
    else:
        token = mint(101, aud=aud)
    assert outcome(get(stack, FILE, token)) == (404, "wrong_audience")


def test_audience_array_containing_ours_is_allowed(stack):
    r = get(stack, FILE, mint(101, aud=["posthog:other", AUDIENCE]))
    assert outcome(r) == (200, "allowed")


def test_custom_audience(make_stack):
    s = make_stack(location_extra="asset_gate_audience example:custom;")
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    assert outcome(s.content(101)) == (404, "wrong_audience")
    assert outcome(s.content(101, aud="example:custom")) == (200, "allowed")
    assert outcome(s.content(101, aud=[AUDIENCE, "example:custom"])) == (200, "allowed")


# -- 3. claims ----------------------------------------------------------------------------


def _without(name):
    c = claims()
    del c[name]
    return c


BAD_CLAIMS = {
    "missing_exp": lambda: _without("exp"),
    "exp_string": lambda: claims(exp=str(int(time.time()) + 3600)),
    "exp_null": lambda: claims(exp=None),
    "id_string": lambda: claims(id="101"),
    "id_negative": lambda: claims(id=-101),
    "id_zero": lambda: claims(id=0),
    "id_float": lambda: claims(id=101.0),
    "id_fraction": lambda: claims(id=101.5),
    "id_bool": lambda: claims(id=True),
    "id_array": lambda: claims(id=[101]),
    "missing_id": lambda: _without("id"),
    "nbf_string": lambda: claims(nbf="0"),
}


@pytest.mark.parametrize("name", sorted(BAD_CLAIMS))
def test_bad_claims(stack, name):
    assert outcome(get(stack, FILE, forge(BAD_CLAIMS[name]()))) == (404, "bad_claims")


def test_duplicate_claim_keys_are_refused(stack):
    exp = int(time.time()) + 3600
    payload = f'{{"id":102,"exp":{exp},"aud":"{AUDIENCE}","id":101}}'
    r = get(stack, FILE, signed_raw(json.dumps(PYJWT_HEADER), payload))
    assert r.status == 404
    assert r.header("x-reason") == "bad_token"


@pytest.mark.parametrize("purpose", ["other", "RENDER", "public", "", None, 5, ["render"]])
def test_unknown_purpose(stack, purpose):
    token = forge(claims(purpose=purpose))
    assert outcome(get(stack, FILE, token)) == (404, "unknown_purpose")
    assert outcome(get(stack, "/exporter", token)) == (404, "unknown_purpose")


# -- 3. purpose x surface -----------------------------------------------------------------


def test_render_token_refused_on_content_surface(stack):
    assert outcome(stack.content(101, "render")) == (404, "purpose_surface")


def test_subscription_delivery_token_refused_on_render_surface(stack):
    assert outcome(stack.render(101, "subscription_delivery")) == (404, "purpose_surface")


# (sharing allowed?, purpose, surface) -> expected outcome; asset 101 belongs to org-on
# (security settings, public sharing allowed), 102 to org-off (public sharing disallowed).
MATRIX = [
    (True, "render", "render", (200, "allowed")),
    (True, "render", "content", (404, "purpose_surface")),
    (True, "subscription_delivery", "render", (404, "purpose_surface")),
    (True, "subscription_delivery", "content", (200, "allowed")),
    (True, None, "render", (200, "allowed")),
    (True, None, "content", (200, "allowed")),
    (False, "render", "render", (200, "allowed")),
    (False, "render", "content", (404, "purpose_surface")),
    (False, "subscription_delivery", "render", (404, "purpose_surface")),
    (False, "subscription_delivery", "content", (200, "allowed")),
    (False, None, "render", (404, "org_blocked")),
    (False, None, "content", (404, "org_blocked")),
]


@pytest.mark.parametrize("sharing,purpose,surface,expected", MATRIX,
                         ids=[f"sharing_{'on' if m[0] else 'off'}-{m[1] or 'public'}-{m[2]}"
                              for m in MATRIX])
def test_posthog_matrix(stack, sharing, purpose, surface, expected):
    asset_id = 101 if sharing else 102
    r = stack.render(asset_id, purpose) if surface == "render" else stack.content(asset_id, purpose)
    assert outcome(r) == expected
    if expected[0] == 200 and surface == "content":
        assert r.body == PNG
    if expected[0] == 200 and surface == "render":
        assert r.header("x-surface") == "render"
        assert f"asset {asset_id} ".encode() in r.body


# -- keys ---------------------------------------------------------------------------------


def test_fallback_key_verifies(stack):
    assert outcome(stack.content(101, key=OLD_KEY)) == (200, "allowed")
    assert outcome(stack.render(101, "render", key=OLD_KEY)) == (200, "allowed")


def test_retired_key_is_refused_after_rotation(make_stack):
    s = make_stack(keys=(KEY,))
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    assert outcome(s.content(101, key=OLD_KEY)) == (404, "bad_signature")
    assert outcome(s.content(101, key=KEY)) == (200, "allowed")


def test_new_key_as_fallback_verifies(make_stack):
    s = make_stack(keys=(OLD_KEY, KEY))
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    assert outcome(s.content(101, key=KEY)) == (200, "allowed")
    assert outcome(s.content(101, key=OLD_KEY)) == (200, "allowed")
    assert outcome(s.content(101, key=OTHER_KEY)) == (404, "bad_signature")


# -- encodings ----------------------------------------------------------------------------


def test_percent_encoded_token_value_still_verifies(stack):
    token = mint(101)
    encoded = "".join(f"%{ord(c):02X}" if c in ".eJ_-" else c for c in token)
    assert encoded != token
    r = get(stack, FILE, encoded)
    assert outcome(r) == (200, "allowed")
    assert r.body == PNG


def test_fully_percent_encoded_token_still_verifies(stack):
    token = mint(101)
    r = get(stack, FILE, quote(token, safe=""))  # only the dots stay as they are
    assert outcome(r) == (200, "allowed")


# -- targets ------------------------------------------------------------------------------


def test_render_surface_refused_when_asset_gate_render_is_unset(make_stack):
    s = make_stack(start=False)
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_content @content;
            add_header X-Reason $asset_gate_reason always;"""
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    assert outcome(s.render(101)) == (404, "purpose_surface")
    assert outcome(s.render(101, "render")) == (404, "purpose_surface")
    assert outcome(s.content(101)) == (200, "allowed")


def test_content_surface_refused_when_asset_gate_content_is_unset(make_stack):
    s = make_stack(start=False)
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @render;
            add_header X-Reason $asset_gate_reason always;"""
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    assert outcome(s.content(101)) == (404, "purpose_surface")
    assert outcome(s.content(101, "subscription_delivery")) == (404, "purpose_surface")
    assert outcome(s.render(101)) == (200, "allowed")


# -- the response never tells which check failed ------------------------------------------


def test_all_refusals_have_the_same_body(stack):
    cases = [
        stack.request("/exporter/a/b.png"),
        stack.request(FILE),
        stack.request(f"{FILE}?token=garbage"),
        stack.content(101, key=OTHER_KEY),
        stack.content(101, exp_in=-10),
        stack.content(101, "render"),
        stack.content(999_999),
        stack.content(102),
        stack.content(104),
    ]
    reasons = {r.header("x-reason") for r in cases}
    assert len(reasons) == len(cases), reasons
    assert {r.status for r in cases} == {404}
    assert len({r.body for r in cases}) == 1
    assert len({r.header("content-type") for r in cases}) == 1
