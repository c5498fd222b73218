"""An executable model of asset_gate's decision, written from the contract (DESIGN.md,
"THE CONTRACT") and the project's decisions where the contract is silent, NOT from the C++.

`decide()` is a pure function of
  - the gate configuration (`GateConfig`: targets, inline content, error_page, cache,
    audience, leeway),
  - the Redis contents (`{key: (type, payload)}`, type "hash" with a list of (field, value)
    pairs in insertion order, or "string" / "list" / "set" / "zset"; the sync heartbeat is
    the key `sync:heartbeat`, as the gate last read it),
  - the files below the content root (`{location: bytes}`),
  - the request (method, raw path, raw query string or None), the signing keys and `now`,
and returns an `Expected`: status, body kind, the set of acceptable `$asset_gate_reason`
values (one, unless the contract leaves the choice open), the headers that must (or must
not) be present, and the gate variables that must appear in the access log.

Where the contract does not fix which of two reasons wins (a token malformed in shape or
header: bad_token or bad_signature; several claims failing at once), the model answers with
the set of all acceptable reasons instead of inventing an order.

Byte strings throughout: paths, records and files are bytes, as nginx and Redis see them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

INT64_MAX = 2**63 - 1
MAX_TOKEN = 4096
MAX_NAME = 1024
MAX_LOCATION = 1024
MAX_RECORD = 65536

PRE_VERIFY = frozenset({"method", "malformed_path", "no_token", "duplicate_token", "bad_token",
                        "bad_signature"})
CLAIMS = frozenset({"expired", "not_yet_valid", "wrong_audience", "bad_claims",
                    "unknown_purpose"})
POST_VERIFY = frozenset({"purpose_surface", "asset_unknown", "asset_expired",
                         "extension_mismatch", "bad_record", "org_unknown", "org_blocked",
                         "sync_stale", "allowed"})
ALL_REASONS = PRE_VERIFY | CLAIMS | POST_VERIFY

# DESIGN 2: the extension of the well-known formats (exact, case-sensitive essence match).
EXTENSIONS = {
    b"image/png": b"png",
    b"application/pdf": b"pdf",
    b"text/csv": b"csv",
    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": b"xlsx",
    b"video/webm": b"webm",
    b"video/mp4": b"mp4",
    b"image/gif": b"gif",
    b"image/jpeg": b"jpeg",
    b"application/json": b"json",
    b"application/x-ndjson": b"jsonl",
}

NAME_RE = re.compile(rb"[A-Za-z0-9._-]+")
EXT_CHARS_RE = re.compile(rb"[A-Za-z0-9_-]+")  # no ".": EXT is what follows the last "."
TCHAR = rb"[A-Za-z0-9!#$%&'*+\-.^_`|~]"
FORMAT_RE = re.compile(rb"(" + TCHAR + rb"+)/(" + TCHAR + rb"+)(?:[ \t]*;[\x20-\x7e\t]*)?")
DECIMAL_RE = re.compile(rb"[0-9]+")
B64URL_RE = re.compile(rb"[A-Za-z0-9_-]*")
HEX = b"0123456789abcdefABCDEF"
HEARTBEAT_KEY = b"sync:heartbeat"


class NotModelled(Exception):
    """The request leaves what the model covers (nginx answers it before the gate runs, or
    it does not reach the gate location). Generators must not produce such requests."""


@dataclass(frozen=True)
class GateConfig:
    name: str
    render: str | None = "@render"     # "@render" | "/render-target" | None (unset)
    content: str | None = "@content"   # "@content" | "/content-target" | "inline" | None
    error_page_content: bool = False   # `error_page 404 = @content;` inside the gate location
    cache: bool = True
    audience: str = "posthog:exported_asset"
    leeway: int = 0
    base: bytes = b"/exporter"
    max_age: int = 86400
    sync_max_age: int = 0              # asset_gate_sync_max_age in seconds; 0: off
    try_files: bool = True             # inline: with try_files, or the gate serves from root

    def describe(self):
        bits = [f"render={self.render or 'unset'}", f"content={self.content or 'unset'}",
                f"cache={'on' if self.cache else 'off'}", f"audience={self.audience}",
                f"leeway={self.leeway}s"]
        if self.error_page_content:
            bits.append("error_page 404 = @content")
        if self.sync_max_age:
            bits.append(f"sync_max_age={self.sync_max_age}s")
        if self.content == "inline":
            bits.append("try_files" if self.try_files else "root, no try_files")
        return f"({self.name}) " + " ".join(bits)


@dataclass
class Expected:
    status: int
    reasons: frozenset
    body: str                      # "default404" | "default405" | "file" | "render"
    file: bytes | None = None      # body == "file": the bytes
    render: bytes | None = None    # body == "render": the page text
    headers: dict = field(default_factory=dict)   # lower-case name -> exact value, None = absent
    disposition_prefix: str | None = None         # Content-Disposition must start with this
    variables: dict = field(default_factory=dict) # log variable -> exact bytes
    surface: str | None = None
    why: str = ""                  # the model's own account of the decision

    def summary(self):
        return (f"{self.status} reason={'|'.join(sorted(self.reasons))} body={self.body}"
                f" ({self.why})")


# -- nginx's URI handling ------------------------------------------------------------------


def pct_decode_path(raw: bytes) -> bytes:
    """nginx decodes %HH in the path; a '%' without two hex digits, or %00, is a 400."""
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:
            h = raw[i + 1:i + 3]
            if len(h) < 2 or h[0] not in HEX or h[1] not in HEX:
                raise NotModelled("invalid percent-encoding in the path (nginx: 400)")
            b = int(h, 16)
            if b == 0:
                raise NotModelled("%00 in the path (nginx: 400)")
            out.append(b)
            i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


def normalise(raw_path: bytes) -> bytes:
    """$uri: percent-decoded, `//` merged, `.` and `..` segments resolved."""
    if not raw_path.startswith(b"/") or b"#" in raw_path or b"?" in raw_path:
        raise NotModelled("path shape the model does not cover")
    segs = pct_decode_path(raw_path).split(b"/")[1:]
    out: list[bytes] = []
    trailing = False
    for i, s in enumerate(segs):
        last = i == len(segs) - 1
        if s in (b"", b"."):
            trailing = last
            continue
        if s == b"..":
            if not out:
                raise NotModelled("'..' above the root (nginx: 400)")
            out.pop()
            trailing = last
            continue
        out.append(s)
        trailing = False
    uri = b"/" + b"/".join(out)
    if trailing and out:
        uri += b"/"
    return uri


def classify(uri: bytes, base: bytes):
    """DESIGN 2: (surface, NAME, EXT) of a normalised URI inside the gate location."""
    if not uri.startswith(base):
        raise NotModelled(f"{uri!r} does not reach the gate location {base!r}")
    if uri == base:
        return "render", None, None
    rest = uri[len(base):]
    if not rest.startswith(b"/"):
        return "malformed", None, None
    name = rest[1:]
    if not (1 <= len(name) <= MAX_NAME) or not NAME_RE.fullmatch(name):
        return "malformed", None, None
    if name.startswith(b".") or b"." not in name:
        return "malformed", None, None
    ext = name.rsplit(b".", 1)[1]
    if not ext:
        return "malformed", None, None
    return "content", name, ext


# -- the query string ------------------------------------------------------------------------


def pct_decode_arg(raw: bytes) -> bytes:
    """%HH -> the byte; a '%' not followed by two hex digits stays literal; '+' stays '+'."""
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        h = raw[i + 1:i + 3]
        if c == 0x25 and len(h) == 2 and h[0] in HEX and h[1] in HEX:
            out.append(int(h, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


def parse_query(raw: bytes | None):
    """[(decoded name, decoded value, raw part)] of the non-empty '&'-separated parts."""
    if not raw:
        return []
    args = []
    for part in raw.split(b"&"):
        if not part:
            continue
        name, eq, value = part.partition(b"=")
        args.append((pct_decode_arg(name), pct_decode_arg(value) if eq else b"", part))
    return args


def wants_download(args) -> bool:
    values = [v for n, v, _ in args if n == b"download"]
    return bool(values) and values[-1] == b"true"


# -- tokens (DESIGN 3) ------------------------------------------------------------------------


def b64url_decode(part: bytes):
    """Strict base64url without padding; None when the part is not that."""
    if not B64URL_RE.fullmatch(part) or len(part) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=") != part:
        raise NotModelled("non-canonical base64url (the contract does not say)")
    return data


def _json_object(data: bytes):
    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=no_dups)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def verify(token: bytes, keys, audience: str, leeway: int, now: int):
    """(claims, None) for a verified token, or (None, frozenset of acceptable reasons)."""
    shape = frozenset({"bad_token", "bad_signature"})
    if len(token) > MAX_TOKEN:
        return None, frozenset({"bad_token"})
    parts = token.split(b".")
    if len(parts) != 3 or not all(parts):
        return None, shape
    decoded = [b64url_decode(p) for p in parts]
    if any(d is None for d in decoded):
        return None, shape
    header = _json_object(decoded[0])
    if header is None or header.get("alg") != "HS256" or "crit" in header:
        return None, shape
    signing_input = parts[0] + b"." + parts[1]
    if not any(hmac.compare_digest(hmac.new(k, signing_input, hashlib.sha256).digest(),
                                   decoded[2]) for k in keys):
        return None, frozenset({"bad_signature"})
    claims = _json_object(decoded[1])
    if claims is None:
        return None, frozenset({"bad_token", "bad_claims"})
    failing = set()
    aud = claims.get("aud")
    if "aud" not in claims:
        failing |= {"wrong_audience", "bad_claims"}
    elif not (aud == audience or (isinstance(aud, list) and audience in aud)):
        failing.add("wrong_audience")
    exp = claims.get("exp")
    if not _is_number(exp):
        failing.add("bad_claims")
    elif exp <= now - leeway:
        failing.add("expired")
    for name in ("nbf", "iat"):
        if name in claims:
            v = claims[name]
            if not _is_number(v):
                failing.add("bad_claims")
            elif v > now + leeway:
                failing.add("not_yet_valid")
    i = claims.get("id")
    if not (isinstance(i, int) and not isinstance(i, bool) and 0 < i <= INT64_MAX):
        failing.add("bad_claims")
    if "purpose" in claims:
        p = claims["purpose"]
        if not isinstance(p, str):
            failing |= {"unknown_purpose", "bad_claims"}
        elif p not in ("render", "subscription_delivery"):
            failing.add("unknown_purpose")
    if failing:
        return None, frozenset(failing)
    return claims, None


# -- Redis records (DESIGN 4) -----------------------------------------------------------------


def _has_control(b: bytes) -> bool:
    return any(c < 0x20 or c == 0x7F for c in b)


def format_extension(fmt: bytes):
    """The extension of a format (DESIGN 2), or None when the format is malformed."""
    if not FORMAT_RE.fullmatch(fmt):
        return None
    essence = fmt.split(b";", 1)[0].rstrip(b" \t")
    ext = EXTENSIONS.get(essence, essence.split(b"/", 1)[1])
    return ext if EXT_CHARS_RE.fullmatch(ext) else None


def location_ok(loc: bytes) -> bool:
    if not loc or len(loc) > MAX_LOCATION or loc.startswith(b"/"):
        return False
    if b"\\" in loc or _has_control(loc):
        return False
    return all(s not in (b"", b".", b"..") for s in loc.split(b"/"))


def record_size(pairs) -> int:
    return sum(len(f) + len(v) for f, v in pairs)


def asset_record_problem(pairs):
    """Why an asset hash is unusable (bad_record), or None."""
    if record_size(pairs) > MAX_RECORD:
        return "record over 64 KiB"
    r = dict(pairs)
    org = r.get(b"org")
    if not org or _has_control(org):
        return "org missing, empty or with a control byte"
    fmt = r.get(b"format")
    if fmt is None or format_extension(fmt) is None:
        return "format missing or malformed"
    if b"expires_at" in r:
        e = r[b"expires_at"]
        if not DECIMAL_RE.fullmatch(e) or int(e) > INT64_MAX:
            return "expires_at not a decimal int64"
    if b"location" in r and not location_ok(r[b"location"]):
        return "location malformed"
    if b"filename" in r and _has_control(r[b"filename"]):
        return "filename with a control byte"
    return None


def org_record_problem(pairs):
    if record_size(pairs) > MAX_RECORD:
        return "record over 64 KiB"
    r = dict(pairs)
    for f in (b"security_settings", b"allow_public"):
        if f in r and r[f] not in (b"0", b"1"):
            return f"{f.decode()} not exactly 0 or 1"
    return None


def heartbeat_problem(entry, max_age: int, now: int):
    """Why the sync heartbeat makes a public token stale (DESIGN 4), or None: missing, not
    a string of unix seconds (the decimal rule of expires_at), or further than max_age from
    now on either side (the project's rule: a heartbeat far in the future is no freshness)."""
    if entry is None:
        return "heartbeat missing"
    kind, payload = entry
    if kind != "string":
        return f"heartbeat is a {kind}"
    if not DECIMAL_RE.fullmatch(payload) or int(payload) > INT64_MAX:
        return f"heartbeat {payload[:40]!r} is not unix seconds"
    age = now - int(payload)
    if abs(age) > max_age:
        return f"heartbeat age {age}s beyond {max_age}s"
    return None


# -- the decision -------------------------------------------------------------------------------


def _refuse(reasons, why, surface=None):
    return Expected(404, frozenset(reasons), "default404",
                    headers={"referrer-policy": "no-referrer", "content-type": "text/html",
                             "content-disposition": None, "x-content-type-options": None},
                    variables={v: b"" for v in ("org", "format", "location", "filename")},
                    surface=surface, why=why)


def decide(cfg: GateConfig, redis: dict, files: dict, method: str, raw_path: bytes,
           raw_query: bytes | None, now: int, keys) -> Expected:
    uri = normalise(raw_path)  # nginx's own work, before any module runs
    surface, name, ext = classify(uri, cfg.base)

    # 1 method
    if method not in ("GET", "HEAD"):
        e = Expected(405, frozenset({"method"}), "default405",
                     headers={"allow": "GET, HEAD", "referrer-policy": "no-referrer"},
                     variables={v: b"" for v in ("org", "format", "location", "filename")},
                     why="method")
        e.variables.update(id=b"", purpose=b"")
        return e

    def refuse_pre(reasons, why):
        e = _refuse(reasons, why)
        e.variables.update(id=b"", purpose=b"")  # never filled from an unverified token
        return e

    # 2 surface
    if surface == "malformed":
        return refuse_pre({"malformed_path"}, f"$uri {uri[:80]!r} is malformed")

    # 3 exactly one token
    args = parse_query(raw_query)
    tokens = [v for n, v, _ in args if n == b"token"]
    if not tokens:
        return refuse_pre({"no_token"}, "no token argument")
    if len(tokens) > 1:
        return refuse_pre({"duplicate_token"}, f"{len(tokens)} token arguments")
    token = tokens[0]

    # 4 verify
    claims, reasons = verify(token, keys, cfg.audience, cfg.leeway, now)
    if reasons is not None:
        if reasons <= PRE_VERIFY:
            return refuse_pre(reasons, "token refused")
        e = _refuse(reasons, "claims refused")
        e.variables.update(id=b"", purpose=b"")
        return e
    asset_id = claims["id"]
    purpose = claims.get("purpose", "public")

    def refuse(reason, why):
        e = _refuse({reason}, why, surface)
        e.variables.update(id=str(asset_id).encode(), purpose=purpose.encode(),
                           surface=surface.encode())
        return e

    # 5 purpose x surface, and a surface without a target
    allowed_surfaces = {"render": {"render"}, "subscription_delivery": {"content"},
                        "public": {"render", "content"}}[purpose]
    if surface not in allowed_surfaces:
        return refuse("purpose_surface", f"{purpose} token on the {surface} surface")
    if surface == "render" and cfg.render is None:
        return refuse("purpose_surface", "no render target configured")
    if surface == "content" and cfg.content is None:
        return refuse("purpose_surface", "no content target configured")

    # 6 the asset record
    key = b"asset:" + str(asset_id).encode()
    if key not in redis:
        return refuse("asset_unknown", f"{key.decode()} absent")
    kind, payload = redis[key]
    if kind != "hash":
        return refuse("bad_record", f"{key.decode()} is a {kind}")
    problem = asset_record_problem(payload)
    if problem:
        return refuse("bad_record", f"asset record: {problem}")
    rec = dict(payload)

    # 7 asset checks
    exp_at = int(rec.get(b"expires_at", b"0"))
    if 0 < exp_at <= now:
        return refuse("asset_expired", f"expires_at {exp_at} <= now {now}")
    if surface == "content":
        if ext != format_extension(rec[b"format"]):
            return refuse("extension_mismatch",
                          f"EXT {ext!r} vs format extension {format_extension(rec[b'format'])!r}")
        if b"location" not in rec:
            return refuse("asset_unknown", "content surface and no location")

    # 8 org gate, public tokens only
    if purpose == "public":
        okey = b"org:" + rec[b"org"]
        if okey not in redis:
            return refuse("org_unknown", f"{okey!r} absent")
        okind, opayload = redis[okey]
        if okind != "hash":
            return refuse("bad_record", f"{okey!r} is a {okind}")
        problem = org_record_problem(opayload)
        if problem:
            return refuse("bad_record", f"org record: {problem}")
        o = dict(opayload)
        if o.get(b"security_settings", b"0") == b"1" and o.get(b"allow_public", b"1") == b"0":
            return refuse("org_blocked", "security_settings=1 allow_public=0")

    # 8b the sync heartbeat, public tokens the records allow (earlier refusals keep theirs)
    if purpose == "public" and cfg.sync_max_age:
        problem = heartbeat_problem(redis.get(HEARTBEAT_KEY), cfg.sync_max_age, now)
        if problem:
            return refuse("sync_stale", problem)

    # 9 allowed
    variables = {"id": str(asset_id).encode(), "purpose": purpose.encode(),
                 "surface": surface.encode(), "org": rec[b"org"], "format": rec[b"format"],
                 "location": rec.get(b"location", b"")}
    if rec.get(b"filename") and re.fullmatch(rb"[A-Za-z0-9._ -]+", rec[b"filename"]):
        variables["filename"] = rec[b"filename"]  # others may be sanitised: not asserted
    why = f"allowed {purpose} {surface}"
    if surface == "render":
        prefix = b"uri-render" if cfg.render.startswith("/") else b"render"
        return Expected(200, frozenset({"allowed"}), "render",
                        render=b"%s id=%d purpose=%s\n" % (prefix, asset_id, purpose.encode()),
                        headers={"referrer-policy": "no-referrer", "content-disposition": None},
                        variables=variables, surface=surface, why=why)
    loc = rec[b"location"]
    if loc not in files:
        # the decision is `allowed`; whatever serves the bytes finds no file
        return Expected(404, frozenset({"allowed"}), "default404",
                        headers={"referrer-policy": "no-referrer", "content-disposition": None},
                        variables=variables, surface=surface, why=why + ", no file on disk")
    headers = {"content-type": rec[b"format"].decode("ascii"),
               "cache-control": f"private, max-age={cfg.max_age}",
               "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
    prefix = None
    if wants_download(args):
        fn = rec.get(b"filename")
        if fn and re.fullmatch(rb"[A-Za-z0-9._ -]+", fn):
            headers["content-disposition"] = f'attachment; filename="{fn.decode()}"'
        else:
            prefix = "attachment"  # sanitised record filename or the URL's name: not fixed
    else:
        headers["content-disposition"] = None
    return Expected(200, frozenset({"allowed"}), "file", file=files[loc], headers=headers,
                    disposition_prefix=prefix, variables=variables, surface=surface,
                    why=why + (", download" if wants_download(args) else ""))
