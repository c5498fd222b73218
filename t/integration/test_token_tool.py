"""The operator token tool, asset-gate-token: `mint` makes tokens PyJWT and the gate accept;
`inspect` says what the gate would decide on each surface, in $asset_gate_reason's words.

The last test runs the same tokens through a real nginx with the module and checks that the
gate's X-Reason equals the reason inspect prints, surface by surface."""

import base64
import hashlib
import hmac
import json
import subprocess
import time
from urllib.parse import quote

import jwt
import pytest

from gate import AUDIENCE, FILE, KEY, OLD_KEY, REPO

TOOL = REPO / "build" / "asset-gate-token"
WRAPPER = REPO / "scripts" / "asset-gate-token"
OTHER_KEY = "a-key-the-key-file-has-never-held-0123456789"
PYJWT_HEADER = {"alg": "HS256", "typ": "JWT"}
RECORD_REASONS = ["asset_unknown", "asset_expired", "extension_mismatch", "org_unknown",
                  "org_blocked"]


# -- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(scope="session")
def tool():
    build = subprocess.run(["make", "-s", "build/asset-gate-token"], cwd=REPO,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    assert TOOL.exists()
    return TOOL


@pytest.fixture
def keyfile(tmp_path):
    """The current key, then one fallback: the module's rotation layout."""
    path = tmp_path / "keys"
    path.write_text(f"{KEY}\n{OLD_KEY}\n")
    return path


def run(*args, stdin=None, binary=TOOL):
    return subprocess.run([str(binary), *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=30)


def mint_with_tool(keyfile, asset_id=101, *extra):
    r = run("mint", "--key-file", keyfile, "--id", asset_id, *extra)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return r.stdout.strip()


def inspect(keyfile, token, *extra):
    return run("inspect", "--key-file", keyfile, *extra, token)


def inspect_json(keyfile, token, *extra):
    r = inspect(keyfile, token, "--json", *extra)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def verdicts(result):
    """{'render': 'allowed' | 'refused (reason)', 'content': ...} from inspect's text."""
    out = {}
    for line in result.stdout.splitlines():
        surface, _, verdict = line.partition(": ")
        if surface in ("render", "content"):
            out[surface] = verdict
    return out


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return b64(text.encode())


def forge(claims, header=None, key=KEY) -> str:
    """An HS256-signed token over any header and claims (dicts or raw JSON text)."""
    signing_input = part(header if header is not None else PYJWT_HEADER) + "." + part(claims)
    mac = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def claims(asset_id=101, exp_in=3600, **extra):
    c = {"id": asset_id, "exp": int(time.time()) + exp_in, "aud": AUDIENCE}
    c.update(extra)
    return c


def pyjwt(asset_id=101, purpose=None, key=KEY, exp_in=3600, **kw):
    c = claims(asset_id, exp_in)
    if purpose is not None:
        c["purpose"] = purpose
    return jwt.encode(c, key, algorithm=kw.pop("algorithm", "HS256"), **kw)


def flip(text: str, index: int) -> str:
    """`text` with one base64url character changed to another valid one."""
    c = text[index]
    return text[:index] + ("B" if c == "A" else "A") + text[index + 1:]


# -- mint ---------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", [None, "render", "subscription_delivery"])
def test_minted_token_decodes_in_pyjwt_with_the_requested_claims(tool, keyfile, purpose):
    before = int(time.time())
    token = mint_with_tool(keyfile, 4242, *(["--purpose", purpose] if purpose else []),
                           "--lifetime", "1h")
    after = int(time.time())
    assert jwt.get_unverified_header(token) == PYJWT_HEADER
    decoded = jwt.decode(token, KEY, algorithms=["HS256"], audience=AUDIENCE)
    assert before + 3600 <= decoded.pop("exp") <= after + 3600
    expected = {"id": 4242, "aud": AUDIENCE}
    if purpose:
        expected["purpose"] = purpose
    assert decoded == expected


def test_minted_token_is_byte_for_byte_what_pyjwt_mints(tool, keyfile):
    token = mint_with_tool(keyfile, 77, "--purpose", "render", "--lifetime", "900s",
                           "--now", "1700000000")
    assert token == jwt.encode({"id": 77, "exp": 1700000900, "aud": AUDIENCE,
                                "purpose": "render"}, KEY, algorithm="HS256")


def test_purpose_public_mints_a_token_without_a_purpose_claim(tool, keyfile):
    token = mint_with_tool(keyfile, 5, "--purpose", "public")
    assert "purpose" not in jwt.decode(token, KEY, algorithms=["HS256"], audience=AUDIENCE)


@pytest.mark.parametrize("lifetime, seconds", [
    ("900s", 900), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("365d", 365 * 86400),
    ("2w", 14 * 86400), ("600", 600),
])
def test_lifetime_sets_exp_from_now(tool, keyfile, lifetime, seconds):
    token = mint_with_tool(keyfile, 1, "--lifetime", lifetime, "--now", "1700000000")
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == 1700000000 + seconds


def test_lifetime_defaults_to_one_hour(tool, keyfile):
    token = mint_with_tool(keyfile, 1, "--now", "1700000000")
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == 1700003600


def test_mint_with_kid_and_audience_matches_pyjwt(tool, keyfile):
    token = mint_with_tool(keyfile, 9, "--kid", "2026-05", "--audience", "example:other",
                           "--now", "1700000000")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "2026-05", "typ": "JWT"}
    assert token == jwt.encode({"id": 9, "exp": 1700003600, "aud": "example:other"}, KEY,
                               algorithm="HS256", headers={"kid": "2026-05"})


def test_mint_signs_with_the_first_key_skipping_blank_lines_and_crlf(tool, tmp_path):
    path = tmp_path / "keys"
    path.write_bytes(f"\n\r\n{KEY}\r\n\n{OLD_KEY}\n".encode())
    token = mint_with_tool(path, 3)
    jwt.decode(token, KEY, algorithms=["HS256"], audience=AUDIENCE)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, OLD_KEY, algorithms=["HS256"], audience=AUDIENCE)


def test_mint_warns_about_a_short_current_key_without_showing_it(tool, tmp_path):
    path = tmp_path / "keys"
    path.write_text("short-key\n")
    r = run("mint", "--key-file", path, "--id", 1)
    assert r.returncode == 0
    assert "asset-gate-token: warning:" in r.stderr and "shorter than 32 bytes" in r.stderr
    assert "short-key" not in r.stderr + r.stdout
    jwt.decode(r.stdout.strip(), "short-key", algorithms=["HS256"], audience=AUDIENCE)


# -- inspect: the purpose x surface table of DESIGN.md section 3 --------------------------


@pytest.mark.parametrize("purpose, render, content", [
    ("render", "allowed", "refused (purpose_surface)"),
    ("subscription_delivery", "refused (purpose_surface)", "allowed"),
    (None, "allowed", "allowed"),
])
def test_inspect_verdicts_follow_the_purpose_surface_table(tool, keyfile, purpose, render,
                                                           content):
    token = mint_with_tool(keyfile, 101, *(["--purpose", purpose] if purpose else []))
    r = inspect(keyfile, token)
    assert r.returncode == 0, r.stderr
    assert verdicts(r) == {"render": render, "content": content}
    assert "signature: verified by the current key" in r.stdout
    # Allowed here is only the token's part: the Redis checks are named as still to come.
    assert all(reason in r.stdout for reason in RECORD_REASONS)


def test_inspect_shows_the_decoded_header_claims_and_expiry(tool, keyfile):
    token = mint_with_tool(keyfile, 808, "--purpose", "render", "--lifetime", "1h",
                           "--now", "1700000000")
    r = inspect(keyfile, token, "--now", "1700000000")
    assert '"alg": "HS256"' in r.stdout and '"typ": "JWT"' in r.stdout
    assert '"id": 808' in r.stdout and '"purpose": "render"' in r.stdout
    assert "exp: 2023-11-14T23:13:20Z (expires in 1h)" in r.stdout


def test_inspect_reads_a_pyjwt_minted_token(tool, keyfile):
    r = inspect(keyfile, pyjwt(101, "subscription_delivery"))
    assert r.returncode == 0
    assert verdicts(r) == {"render": "refused (purpose_surface)", "content": "allowed"}


def test_inspect_reads_the_token_from_stdin_with_a_dash(tool, keyfile):
    r = run("inspect", "--key-file", keyfile, "-", stdin=pyjwt(101, "render") + "\n")
    assert r.returncode == 0, r.stderr
    assert verdicts(r) == {"render": "allowed", "content": "refused (purpose_surface)"}


# -- inspect: time --------------------------------------------------------------------------


def test_expired_token_is_refused_on_both_surfaces_with_exit_1(tool, keyfile):
    r = inspect(keyfile, pyjwt(101, exp_in=-10))
    assert r.returncode == 1
    assert verdicts(r) == {"render": "refused (expired)", "content": "refused (expired)"}
    assert "expired 1" in r.stdout and " ago)" in r.stdout
    assert "asset_unknown" not in r.stdout  # nothing further for the gate to check


def test_leeway_covering_the_expiry_allows_the_token(tool, keyfile):
    token = pyjwt(101, exp_in=-10)
    r = inspect(keyfile, token, "--leeway", "30s")
    assert r.returncode == 0
    assert verdicts(r) == {"render": "allowed", "content": "allowed"}
    assert "within the leeway" in r.stdout
    assert inspect(keyfile, token, "--leeway", "5s").returncode == 1


def test_now_option_decides_expiry_against_the_given_time(tool, keyfile):
    token = mint_with_tool(keyfile, 1, "--lifetime", "100s", "--now", "1700000000")
    assert inspect(keyfile, token, "--now", "1700000099").returncode == 0
    late = inspect(keyfile, token, "--now", "1700000100")
    assert late.returncode == 1
    assert verdicts(late)["render"] == "refused (expired)"


def test_future_nbf_is_not_yet_valid(tool, keyfile):
    r = inspect(keyfile, forge(claims(nbf=int(time.time()) + 600)))
    assert verdicts(r) == {"render": "refused (not_yet_valid)",
                           "content": "refused (not_yet_valid)"}
    assert "nbf: " in r.stdout and "in the future" in r.stdout


# -- inspect: keys and signatures --------------------------------------------------------------


def test_token_signed_with_an_unknown_key_is_bad_signature(tool, keyfile):
    r = inspect(keyfile, pyjwt(101, key=OTHER_KEY))
    assert r.returncode == 1
    assert verdicts(r) == {"render": "refused (bad_signature)",
                           "content": "refused (bad_signature)"}
    assert "signature: none of the 2 key(s)" in r.stdout


def test_token_signed_with_a_fallback_key_is_allowed_and_says_fallback(tool, keyfile):
    r = inspect(keyfile, pyjwt(101, "render", key=OLD_KEY))
    assert r.returncode == 0
    assert "signature: verified by fallback key 1" in r.stdout
    assert verdicts(r)["render"] == "allowed"
    assert inspect_json(keyfile, pyjwt(101, key=OLD_KEY))[1]["key_index"] == 1


def test_tampered_payload_is_bad_signature(tool, keyfile):
    header, payload, signature = pyjwt(101).split(".")
    r = inspect(keyfile, ".".join([header, flip(payload, 5), signature]))
    assert verdicts(r)["render"] in ("refused (bad_signature)", "refused (bad_token)")
    assert verdicts(r)["render"] == verdicts(r)["content"]


def test_tampered_header_or_truncated_signature_is_refused(tool, keyfile):
    header, payload, signature = pyjwt(101).split(".")
    for token in (".".join([flip(header, 3), payload, signature]),
                  ".".join([header, payload, signature[:-4]])):
        r = inspect(keyfile, token)
        assert r.returncode == 1
        assert verdicts(r)["render"] in ("refused (bad_signature)", "refused (bad_token)")


@pytest.mark.parametrize("token", [
    part({"alg": "none", "typ": "JWT"}) + "." + part(claims()) + ".",
    jwt.encode(claims(), KEY, algorithm="HS512"),
    forge(claims(), header={"alg": "HS256", "typ": "JWT", "crit": ["exp"]}),
    "not-a-token",
    "a.b.c.d",
])
def test_alg_none_and_other_malformed_tokens_are_bad_token(tool, keyfile, token):
    r = inspect(keyfile, token)
    assert r.returncode == 1
    assert verdicts(r) == {"render": "refused (bad_token)", "content": "refused (bad_token)"}


@pytest.mark.parametrize("token,why", [
    (part({"alg": "none", "typ": "JWT"}) + "." + part(claims()) + ".",
     'the header\'s alg is "none" (only HS256 is accepted)'),
    (jwt.encode(claims(), KEY, algorithm="HS512"), 'the header\'s alg is "HS512"'),
    (forge(claims(), header={"alg": "HS256", "typ": "JWT", "crit": ["exp"]}), 'the header has "crit"'),
    ("!!!." + part(claims()) + "." + "A" * 43, "the header is undecodable: not base64url"),
])
def test_inspect_says_why_the_signature_was_not_checked(tool, keyfile, token, why):
    r = inspect(keyfile, token)
    line = next(l for l in r.stdout.splitlines() if l.startswith("signature: "))
    assert line.startswith("signature: not checked: ") and why in line, line


def test_undecodable_parts_are_named_not_guessed(tool, keyfile):
    r = inspect(keyfile, "!!!." + part("not json") + "." + "A" * 43)
    assert "header: undecodable: not base64url" in r.stdout
    assert "claims: undecodable: not JSON" in r.stdout
    code, out = inspect_json(keyfile, "!!!." + part("[1]") + "." + "A" * 43)
    assert code == 1
    assert out["header"] is None and out["claims"] is None
    assert out["claims_error"] == "not a JSON object"


@pytest.mark.parametrize("token_claims, reason", [
    (claims(aud="someone:else"), "wrong_audience"),
    (claims(purpose="admin"), "unknown_purpose"),
    (claims(asset_id="101"), "bad_claims"),
    (claims(asset_id=0), "bad_claims"),
    ('{"id":101,"id":102,"exp":9999999999,"aud":"posthog:exported_asset"}', "bad_token"),
])
def test_claim_refusals_carry_the_gates_reason(tool, keyfile, token_claims, reason):
    r = inspect(keyfile, forge(token_claims))
    assert verdicts(r) == {"render": f"refused ({reason})", "content": f"refused ({reason})"}


def test_audience_option_changes_the_required_audience(tool, keyfile):
    token = mint_with_tool(keyfile, 1, "--audience", "example:other")
    assert verdicts(inspect(keyfile, token))["render"] == "refused (wrong_audience)"
    assert verdicts(inspect(keyfile, token, "--audience", "example:other"))["render"] == "allowed"


# -- inspect --json ---------------------------------------------------------------------------


def test_json_output_parses_and_matches_the_text_verdicts(tool, keyfile):
    token = mint_with_tool(keyfile, 101, "--purpose", "render", "--now", "1700000000")
    code, out = inspect_json(keyfile, token, "--now", "1700000001")
    assert code == 0
    assert out["header"] == PYJWT_HEADER
    assert out["claims"] == {"id": 101, "exp": 1700003600, "aud": AUDIENCE, "purpose": "render"}
    assert out["key_index"] == 0
    assert out["surfaces"] == {"render": {"allowed": True, "reason": "allowed"},
                               "content": {"allowed": False, "reason": "purpose_surface"}}
    assert out["unchecked"] == RECORD_REASONS
    text = inspect(keyfile, token, "--now", "1700000001")
    assert verdicts(text) == {"render": "allowed", "content": "refused (purpose_surface)"}


def test_json_output_for_an_unverified_token_has_no_key_index(tool, keyfile):
    code, out = inspect_json(keyfile, pyjwt(101, key=OTHER_KEY))
    assert code == 1
    assert out["key_index"] is None
    assert out["claims"]["id"] == 101  # shown, though the gate would not trust it
    assert out["surfaces"]["render"] == {"allowed": False, "reason": "bad_signature"}
    assert out["surfaces"]["content"] == {"allowed": False, "reason": "bad_signature"}
    assert out["unchecked"] == []


# -- errors -----------------------------------------------------------------------------------


def error_cases(tmp_path, keyfile):
    empty = tmp_path / "empty"
    empty.write_text("")
    blank = tmp_path / "blank"
    blank.write_text("\n\r\n\n")
    token = pyjwt(101)
    mint = ["mint", "--key-file", keyfile, "--id"]
    return [
        (["mint", "--id", "1"], "needs --key-file"),
        (["mint", "--key-file", keyfile], "needs --id"),
        (["mint", "--key-file", tmp_path / "missing", "--id", "1"], "cannot open key file"),
        (["mint", "--key-file", tmp_path, "--id", "1"], "cannot read key file"),
        (["mint", "--key-file", empty, "--id", "1"], "has no keys"),
        (["mint", "--key-file", blank, "--id", "1"], "has no keys"),
        (mint + ["0"], "invalid --id"),
        (mint + ["-5"], "invalid --id"),
        (mint + ["abc"], "invalid --id"),
        (mint + ["1.5"], "invalid --id"),
        (mint + ["99999999999999999999"], "invalid --id"),
        (mint + ["1", "--purpose", "admin"], "invalid --purpose"),
        (mint + ["1", "--lifetime", "1x"], "invalid --lifetime"),
        (mint + ["1", "--lifetime", "0s"], "invalid --lifetime"),
        (mint + ["1", "--lifetime", "h"], "invalid --lifetime"),
        (mint + ["1", "--lifetime", "1.5h"], "invalid --lifetime"),
        (mint + ["1", "--lifetime", ""], "invalid --lifetime"),
        (mint + ["1", "--bogus"], "unknown option"),
        (mint + ["1", "--id", "2"], "given twice"),
        (["mint", "--key-file"], "needs a value"),
        (mint + ["1", "extra"], "takes no arguments"),
        (["inspect", "--key-file", keyfile], "needs a token"),
        (["inspect", "--key-file", keyfile, ""], "token is empty"),
        (["inspect", "--key-file", keyfile, token, token], "one token"),
        (["inspect", token], "needs --key-file"),
        (["inspect", "--key-file", empty, token], "has no keys"),
        (["inspect", "--key-file", tmp_path / "missing", token], "cannot open key file"),
        (["inspect", "--key-file", keyfile, "--leeway", "soon", token], "invalid --leeway"),
        (["inspect", "--key-file", keyfile, "--now", "yesterday", token], "invalid --now"),
        (["inspect", "--key-file", keyfile, "--json=yes", token], "takes no value"),
        (["frobnicate"], "unknown command"),
        ([], "a command is needed"),
    ]


def test_every_error_exits_2_with_a_clear_message_on_stderr(tool, tmp_path, keyfile):
    for args, message in error_cases(tmp_path, keyfile):
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("asset-gate-token: "), (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)


def test_an_empty_stdin_is_an_error(tool, keyfile):
    r = run("inspect", "--key-file", keyfile, "-", stdin="\n")
    assert r.returncode == 2
    assert r.stderr == "asset-gate-token: no token on stdin\n"


def test_no_key_bytes_appear_in_any_output(tool, tmp_path, keyfile):
    outputs = []
    for args, _ in error_cases(tmp_path, keyfile):
        r = run(*args)
        outputs.append(r.stdout + r.stderr)
    token = mint_with_tool(keyfile, 101)
    for t in (token, pyjwt(101, key=OLD_KEY), pyjwt(101, key=OTHER_KEY), "x.y.z"):
        for extra in ([], ["--json"]):
            r = inspect(keyfile, t, *extra)
            outputs.append(r.stdout + r.stderr)
    for r in (run("mint", "--key-file", keyfile, "--id", 1, "--kid", "k"), run("--help")):
        outputs.append(r.stdout + r.stderr)
    for out in outputs:
        for key in (KEY, OLD_KEY):
            assert key not in out
            assert key[:16] not in out


# -- the wrapper ------------------------------------------------------------------------------


def test_wrapper_script_runs_the_built_tool(tool, keyfile):
    r = subprocess.run([str(WRAPPER), "mint", "--key-file", str(keyfile), "--id", "12",
                        "--purpose", "render"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert jwt.decode(token, KEY, algorithms=["HS256"], audience=AUDIENCE)["id"] == 12
    r = subprocess.run([str(WRAPPER), "inspect", "--key-file", str(keyfile), token],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0
    assert verdicts(r) == {"render": "allowed", "content": "refused (purpose_surface)"}


# -- the cross-check: inspect says what the real gate says -------------------------------------


def cross_check_tokens(keyfile):
    now = int(time.time())
    header, payload, signature = pyjwt(101).split(".")
    return {
        "render purpose": mint_with_tool(keyfile, 101, "--purpose", "render"),
        "subscription_delivery purpose": mint_with_tool(keyfile, 101, "--purpose",
                                                        "subscription_delivery"),
        "public": mint_with_tool(keyfile, 101),
        "public from PyJWT": pyjwt(101),
        "fallback key": pyjwt(101, "render", key=OLD_KEY),
        "unknown key": pyjwt(101, key=OTHER_KEY),
        "expired": pyjwt(101, exp_in=-3600),
        "nbf in the future": forge(claims(nbf=now + 3600)),
        "wrong audience": forge(claims(aud="someone:else")),
        "audience array": forge(claims(aud=["x", AUDIENCE])),
        "id a string": forge(claims(asset_id="101")),
        "exp missing": forge({"id": 101, "aud": AUDIENCE}),
        "unknown purpose": forge(claims(purpose="admin")),
        "alg none": part({"alg": "none", "typ": "JWT"}) + "." + part(claims()) + ".",
        "HS512": jwt.encode(claims(), KEY, algorithm="HS512"),
        "crit header": forge(claims(), header={"alg": "HS256", "crit": ["x"]}),
        "tampered payload": ".".join([header, flip(payload, 5), signature]),
        "truncated signature": ".".join([header, payload, signature[:-4]]),
        "duplicate claim": forge('{"id":101,"id":102,"exp":%d,"aud":"%s"}' % (now + 3600,
                                                                              AUDIENCE)),
        "garbage": "not-a-token",
    }


def test_inspect_reason_equals_the_gates_reason_for_the_same_tokens(tool, make_stack):
    stack = make_stack()  # keys: KEY current, OLD_KEY fallback, in stack.keyfile
    stack.put_org("org-1", security_settings=True, allow_public=True)
    stack.put_asset(101, org="org-1")
    mismatches = []
    for name, token in cross_check_tokens(stack.keyfile).items():
        code, out = inspect_json(stack.keyfile, token)
        for surface, path in (("render", "/exporter"), ("content", FILE)):
            said = out["surfaces"][surface]["reason"]
            r = stack.request(f"{path}?token={quote(token, safe='')}")
            gate = r.header("x-reason")
            if gate != said or r.status != (200 if said == "allowed" else 404):
                mismatches.append(f"{name} on {surface}: inspect {said}, gate {r.status} {gate}")
    assert not mismatches, "\n".join(mismatches)
