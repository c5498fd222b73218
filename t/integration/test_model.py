"""Model-based, randomised differential test: thousands of generated requests against a real
nginx loading the module and a real redis-server, each compared with the executable model of
the contract in model.py (status, body, headers, $asset_gate_reason and the other gate
variables, read from one JSON access-log line per request).

    /usr/bin/python3 -m pytest t/integration/test_model.py -q -s

ASSET_GATE_MODEL_SEED     seed (default 20260527); the same seed generates the same cases
ASSET_GATE_MODEL_CASES    cases in total, split evenly over the configurations (default 10000,
                          about a minute here)
ASSET_GATE_MODEL_CONFIGS  only these configurations, e.g. "a,c" (default all)
ASSET_GATE_MODEL_ONLY     only send these case indexes, e.g. "17,230" (all are still generated,
                          so a failing case replays exactly with the same seed)
ASSET_GATE_MODEL_KEEP     set: keep the stack's directory (nginx.conf, logs, files) afterwards
ASSET_GATE_MODEL_REPORT   a directory: write every mismatch (not only the first 30) to
                          DIR/model-SEED-CONFIG.txt

Every case uses a fresh asset id and fresh organisation names, so the shared-memory cache
never holds an older version of a record the case relies on. Redis stays up throughout.

In configurations with asset_gate_sync_max_age the sync heartbeat is part of the input too,
but per block of cases rather than per case (each worker reads it about once a second): a
block sets it (kept fresh by a writer thread, absent, old, ahead, malformed, of another type),
waits until every worker has read it, and gives each of its cases the heartbeat as input.
"""

import base64
import hashlib
import hmac
import http.client
import itertools
import json
import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import jwt
import pytest
import redis as redis_py

import model as M
from gate import AUDIENCE, KEY, MODULE, OLD_KEY, Stack

SEED = int(os.environ.get("ASSET_GATE_MODEL_SEED", "20260527"))
CASES = int(os.environ.get("ASSET_GATE_MODEL_CASES", "10000"))
ONLY_CONFIGS = {c for c in os.environ.get("ASSET_GATE_MODEL_CONFIGS", "").split(",") if c}
ONLY_CASES = {int(c) for c in os.environ.get("ASSET_GATE_MODEL_ONLY", "").split(",") if c}
REPORT_DIR = os.environ.get("ASSET_GATE_MODEL_REPORT")
MAX_LISTED = 30

OTHER_KEY = "a-key-this-gate-has-never-heard-of-0123456789"
KEYS = [KEY.encode(), OLD_KEY.encode()]
CUSTOM_AUDIENCE = "model:custom-audience"

CONFIGS = [
    M.GateConfig("a", render="@render", content="@content", cache=True),
    M.GateConfig("b", render="@render", content="inline", cache=False, leeway=120),
    M.GateConfig("c", render="@render", content="@content", cache=True, error_page_content=True),
    M.GateConfig("d", render="/render-target", content="/content-target", cache=True,
                 audience=CUSTOM_AUDIENCE, leeway=120),
    M.GateConfig("e", render=None, content="@content", cache=True),
    M.GateConfig("f", render="@render", content="@content", cache=True, sync_max_age=60),
    M.GateConfig("g", render="@render", content="inline", cache=True, try_files=False),
]


# -- the stack: a gate per configuration, one JSON access-log line per request ---------------

LOG_VARS = ("reason", "id", "purpose", "surface", "org", "format", "location", "filename")


class ModelStack(Stack):
    def __init__(self, cfg: M.GateConfig):
        super().__init__(cache=cfg.cache)
        self.cfg = cfg

    def config(self) -> str:
        self.write_keys()
        cfg = self.cfg
        fields = ",".join(f'"{v}":"$asset_gate_{v}"' for v in LOG_VARS)
        log = '{"case":"$http_x_model_case","status":"$status",' + fields + ',"uri":"$uri"}'
        gate = ["asset_gate on;", f"asset_gate_key_file {self.keyfile};",
                "add_header X-Reason $asset_gate_reason always;"]
        if cfg.audience != AUDIENCE:
            gate.append(f"asset_gate_audience {cfg.audience};")
        if cfg.leeway:
            gate.append(f"asset_gate_leeway {cfg.leeway}s;")
        if cfg.render:
            gate.append(f"asset_gate_render {cfg.render};")
        if cfg.content:
            gate.append(f"asset_gate_content {cfg.content};")
        if cfg.content == "inline":
            gate.append(f"root {self.root};")
            if cfg.try_files:
                gate.append("try_files /$asset_gate_location =404;")
        if cfg.error_page_content:
            gate.append("error_page 404 = @content;")
        if cfg.sync_max_age:
            gate.append(f"asset_gate_sync_max_age {cfg.sync_max_age}s;")
        cache = "asset_gate_cache_zone asset_gate_model:8m;" if cfg.cache else ""
        nl = "\n            "
        return f"""
load_module {MODULE};
daemon off;
master_process on;
worker_processes 2;
error_log {self.dir}/error.log info;
pid {self.dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format model escape=json '{log}';
    access_log {self.dir}/access.log model;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    large_client_header_buffers 4 32k;
    asset_gate_redis 127.0.0.1:{self.redis.port};
    asset_gate_redis_timeout 3s;
    {cache}
    server {{
        listen 127.0.0.1:{self.port};
        location ^~ /exporter {{
            {nl.join(gate)}
        }}
        location @render {{
            add_header X-Reason $asset_gate_reason always;
            return 200 "render id=$asset_gate_id purpose=$asset_gate_purpose\\n";
        }}
        location @content {{
            root {self.root};
            add_header X-Reason $asset_gate_reason always;
            try_files /$asset_gate_location =404;
        }}
        location /render-target {{
            internal;
            add_header X-Reason $asset_gate_reason always;
            return 200 "uri-render id=$asset_gate_id purpose=$asset_gate_purpose\\n";
        }}
        location /content-target {{
            internal;
            root {self.root};
            add_header X-Reason $asset_gate_reason always;
            try_files /$asset_gate_location =404;
        }}
        location = /model-404 {{ return 404; }}
        location = /model-405 {{ return 405; }}
    }}
}}
"""


# -- one case ------------------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    focus: str
    method: str
    path: bytes
    query: bytes | None
    redis: dict
    files: dict
    token_kind: str
    purpose: str | None
    asset_id: int
    expected: M.Expected = None
    notes: list = field(default_factory=list)
    hash_order: dict = field(default_factory=dict)
    now: int = 0

    def request_line(self):
        q = b"" if self.query is None else b"?" + self.query
        return f"{self.method} {(self.path + q).decode('ascii')}"

    def request_line_short(self, limit=1500):
        line = self.request_line()
        return line if len(line) <= limit else line[:limit] + f"...[{len(line)} chars]"


def short(b, limit=120):
    r = repr(b)
    return r if len(r) <= limit else r[:limit] + f"...[{len(b)} bytes]"


def describe_redis(redis):
    out = []
    for key, (kind, payload) in redis.items():
        if kind == "hash":
            size = M.record_size(payload)
            known = [(f, v) for f, v in payload if f in KNOWN_FIELDS]
            positions = [i for i, (f, _) in enumerate(payload) if f in KNOWN_FIELDS]
            out.append(f"    {key!r}: hash, {len(payload)} fields, {size} bytes; known fields "
                       f"at positions {positions}: "
                       + ", ".join(f"{f.decode()}={short(v)}" for f, v in known))
            extras = [(f, v) for f, v in payload if f not in KNOWN_FIELDS]
            if extras:
                out.append("      extra fields: " + ", ".join(
                    f"{short(f, 30)}={short(v, 30)}" for f, v in extras[:6])
                    + (" ..." if len(extras) > 6 else ""))
        else:
            out.append(f"    {key!r}: {kind} {short(payload)}")
    return "\n".join(out) or "    (none)"


KNOWN_FIELDS = {b"org", b"format", b"location", b"filename", b"expires_at",
                b"security_settings", b"allow_public"}


# -- the generator -------------------------------------------------------------------------------

FOCI = [
    ("allowed", 24), ("method", 3), ("malformed_path", 7), ("no_token", 4),
    ("duplicate_token", 4), ("bad_token", 5), ("bad_signature", 3), ("expired", 3),
    ("not_yet_valid", 3), ("wrong_audience", 3), ("bad_claims", 4), ("unknown_purpose", 3),
    ("purpose_surface", 5), ("asset_unknown", 5), ("asset_expired", 4),
    ("extension_mismatch", 4), ("bad_record", 10), ("org_unknown", 4), ("org_bad_record", 6),
    ("org_blocked", 4), ("purpose_ignores_org", 4), ("chaos", 8),
]

# (format, extension reachable by a NAME, i.e. without a '.')
GOOD_FORMATS = [
    (b"image/png", b"png"), (b"image/png", b"png"), (b"application/pdf", b"pdf"),
    (b"text/csv", b"csv"),
    (b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"xlsx"),
    (b"video/webm", b"webm"), (b"video/mp4", b"mp4"), (b"image/gif", b"gif"),
    (b"application/json", b"json"), (b"application/x-ndjson", b"jsonl"),
    (b"image/jpeg", b"jpeg"), (b"text/plain; charset=utf-8", b"plain"),
    (b"text/csv; charset=utf-8", b"csv"), (b"image/png ; q=1", b"png"),
    (b"image/png\t;\tx=y", b"png"), (b"application/octet-stream", b"octet-stream"),
    (b"image/PNG", b"PNG"), (b"Image/png", b"png"), (b"x!#$&'^`|~*+-.y/a_b-c", b"a_b-c"),
    (b"application/x-www-form-urlencoded", b"x-www-form-urlencoded"),
]
# Formats whose extension holds a '.' (or '+', '~'): no content name can end in it, so the
# project refuses such records as bad_record on every surface, rather than serve them nowhere.
BAD_FORMATS = [
    b"application/vnd.ms-excel", b"application/vnd.oasis.opendocument.text",
    None, b"", b"image", b"image/", b"/png", b"image/png/x", b"image /png", b"image/png ",
    b"image/svg+xml", b"image/p~g", b"image/png;\x01", b"image/png; a=\x7f",
    b"image/p\xc3\xa9ng", b"image/png; name=caf\xc3\xa9", b"image/png\n", b"image/png\r",
    b"image/p%6Eg", b"image/png;\nx=1", b"image\x00/png",
]
BAD_EXPIRES = [b"", b" 5", b"5 ", b"1.5", b"-1", b"1e9", b"+5", b"0x10",
               b"9223372036854775808", b"99999999999999999999", b"5\n", b"abc",
               b"\xd9\xa1\xd9\xa2", b"12a"]
BAD_LOCATIONS = [b"", b"/abs/file.png", b"a\\b", b"a\x01b", b"a\x7fb", b"a//b", b"a/", b"../x",
                 b"a/./b", b"a/../b", b".", b"..", b"./a", b"a/..", b"a\nb", b"a/\tb",
                 None]  # None: 1025 bytes
BAD_FILENAMES = [b"a\x01.png", b"a\x7f.png", b"tab\tname.png", b"nl\n.png", b"\x1b[31m.png"]
GOOD_FILENAMES = [b"report.png", b"my report 2026.png", b'quoted "x".png',
                  b"r\xc3\xa9sum\xc3\xa9.png", b"", b"a\\b.png", b"x;y=z.png", b"..",
                  b"export-weekly_2026.05.27.png"]
BAD_FLAGS = [b"true", b"01", b" 0", b"", b"false", b"2", b"1 ", b"yes", b"0\n", b"10", b"-0"]
TOKEN_NAMES = [b"%74oken", b"t%6Fken", b"to%6ben", b"%74%6F%6B%65%6E", b"toke%6E",
               b"%74%6f%6b%65%6e"]
DECOY_NAMES = [b"Token", b"TOKEN", b"token_", b"xtoken", b"tokens", b"%2574oken", b"token%20",
               b"token+", b"%54oken", b"tok%2Ben", b"token%3D", b"%20token", b"tok", b"a"]
NOISE = [b"a=1", b"x", b"=", b"=v", b"utm_source=mail", b"%zz=1", b"q=%", b"k=v=w",
         b"download_=true", b"Download=true", b"DOWNLOAD=true", b"%", b"tokenx=1", b"t=1"]
NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
LOC_CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
             " %+~@,;=()'!$&#?[]")


class Gen:
    def __init__(self, cfg: M.GateConfig, seed: int):
        self.cfg = cfg
        self.rng = random.Random(f"{seed}:{cfg.name}")
        self.id_base = self.rng.randrange(10**6, 10**12)
        self.used_ids = set()

    # helpers -------------------------------------------------------------------------
    def chance(self, p):
        return self.rng.random() < p

    def pick(self, seq):
        return self.rng.choice(seq)

    def weighted(self, pairs):
        names = [n for n, _ in pairs]
        return self.rng.choices(names, weights=[w for _, w in pairs])[0]

    def pct(self, data: bytes, p=0.3) -> bytes:
        """Percent-encode some bytes of `data` (mixed-case hex)."""
        out = bytearray()
        for c in data:
            if self.chance(p):
                h = "%02X" % c if self.chance(0.5) else "%02x" % c
                out += b"%" + h.encode()
            else:
                out.append(c)
        return bytes(out)

    def fresh_id(self, index):
        if self.chance(0.01):
            for i in (1, 2**31, 2**32 + 1, 2**53 + 1, M.INT64_MAX):
                if i not in self.used_ids:
                    self.used_ids.add(i)
                    return i
        i = self.id_base + index
        self.used_ids.add(i)
        return i

    # tokens ----------------------------------------------------------------------------
    def claims(self, asset_id, purpose, now):
        c = {"id": asset_id, "exp": now + self.rng.choice([600, 3600, 86400 * 30]),
             "aud": self.cfg.audience}
        if purpose is not None:
            c["purpose"] = purpose
        return c

    def sign(self, claims, key=KEY, headers=None, algorithm="HS256"):
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)

    def token(self, kind, asset_id, purpose, now):
        c = self.claims(asset_id, purpose, now)
        lw = self.cfg.leeway
        if kind == "valid":
            sub = self.weighted([("plain", 10), ("fallback", 3), ("kid", 1), ("aud_array", 2),
                                 ("past_nbf_iat", 2), ("leeway", 2 if lw else 0),
                                 ("extra_claims", 2), ("exactly_4096", 1), ("float_exp", 1)])
            key = KEY
            headers = None
            if sub == "fallback":
                key = OLD_KEY
            elif sub == "kid":
                headers = {"kid": self.pick(["../../etc/passwd", "0", "other-key"])}
            elif sub == "aud_array":
                c["aud"] = ["posthog:other", self.cfg.audience]
            elif sub == "past_nbf_iat":
                c["nbf"] = now - 600
                c["iat"] = now - self.pick([0, 600])
            elif sub == "leeway":
                c["exp"] = now - lw // 3
                c[self.pick(["nbf", "iat"])] = now + lw // 3
            elif sub == "extra_claims":
                c.update({"team": 7, "dashboard": {"x": [1, "y"]}, "sub": "u", "jti": "j"})
            elif sub == "float_exp":
                c["exp"] = now + 3600.5
            elif sub == "exactly_4096":
                return self.sized_token(c, 4096), "valid:exactly_4096"
            return self.sign(c, key, headers), f"valid:{sub}"
        if kind == "expired":
            c["exp"] = now - lw - self.pick([300, 86400])
            return self.sign(c), kind
        if kind == "not_yet_valid":
            c[self.pick(["nbf", "iat"])] = now + lw + self.pick([300, 86400])
            return self.sign(c), kind
        if kind == "wrong_audience":
            sub = self.pick(["other", "array", "upper", "default_or_custom", "missing"])
            if sub == "other":
                c["aud"] = "posthog:other"
            elif sub == "array":
                c["aud"] = ["a", "posthog:other"]
            elif sub == "upper":
                c["aud"] = self.cfg.audience.upper()
            elif sub == "default_or_custom":
                c["aud"] = CUSTOM_AUDIENCE if self.cfg.audience == AUDIENCE else AUDIENCE
            else:
                del c["aud"]
            return self.sign(c), f"wrong_audience:{sub}"
        if kind == "bad_claims":
            sub = self.pick(["no_exp", "exp_string", "no_id", "id_string", "id_zero",
                             "id_negative", "id_float", "id_bool", "nbf_string"])
            if sub == "no_exp":
                del c["exp"]
            elif sub == "exp_string":
                c["exp"] = str(c["exp"])
            elif sub == "no_id":
                del c["id"]
            elif sub == "id_string":
                c["id"] = str(asset_id)
            elif sub == "id_zero":
                c["id"] = 0
            elif sub == "id_negative":
                c["id"] = -asset_id
            elif sub == "id_float":
                c["id"] = asset_id + 0.5
            elif sub == "id_bool":
                c["id"] = True
            else:
                c["nbf"] = "yesterday"
            return self.sign(c), f"bad_claims:{sub}"
        if kind == "unknown_purpose":
            c["purpose"] = self.pick(["admin", "", "Render", "public", "subscription-delivery",
                                      "render "])
            return self.sign(c), f"unknown_purpose:{c['purpose']!r}"
        if kind == "bad_signature":
            sub = self.pick(["other_key", "tampered", "swapped_payload"])
            if sub == "other_key":
                return self.sign(c, OTHER_KEY), "bad_signature:other_key"
            t = self.sign(c)
            h, p, s = t.split(".")
            if sub == "tampered":
                i = self.rng.randrange(2, 40)
                s = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
            else:
                p = self.sign(dict(c, id=asset_id + 1)).split(".")[1]
            return f"{h}.{p}.{s}", f"bad_signature:{sub}"
        if kind == "bad_token":
            sub = self.pick(["garbage", "two_parts", "four_parts", "padding", "alg_none",
                             "hs512", "alg_lower", "over_4096", "empty", "abc", "star",
                             "empty_part"])
            t = self.sign(c)
            if sub == "garbage":
                t = "garbage"
            elif sub == "two_parts":
                t = ".".join(t.split(".")[:2])
            elif sub == "four_parts":
                t = t + ".AAAA"
            elif sub == "padding":
                t = t + "="
            elif sub == "alg_none":
                t = jwt.encode(c, None, algorithm="none")
            elif sub == "hs512":
                t = self.sign(c, algorithm="HS512")
            elif sub == "alg_lower":
                t = forge(c, {"alg": "hs256", "typ": "JWT"})
            elif sub == "over_4096":
                t = self.sized_token(c, 4097)
            elif sub == "empty":
                t = ""
            elif sub == "abc":
                t = "a.b.c"
            elif sub == "star":
                t = t[:5] + "*" + t[6:]
            else:
                h, _, s = t.split(".")
                t = f"{h}..{s}"
            return t, f"bad_token:{sub}"
        raise AssertionError(kind)

    def sized_token(self, c, size):
        for extra in range(0, 8):
            pad = (size * 3) // 4 - 200
            while True:
                cc = dict(c, pad="x" * pad)
                if extra:
                    cc["e"] = "y" * extra
                t = self.sign(cc)
                if len(t) >= size:
                    break
                pad += 1
            if len(t) == size:
                return t
        raise AssertionError(f"no token of exactly {size} bytes")

    # paths -------------------------------------------------------------------------------
    def name(self, ext: bytes, total=None):
        if total is None:
            total = len(ext) + 1 + self.weighted([(1, 1), (8, 3), (30, 3), (100, 1)])
        stem_len = total - len(ext) - 1
        first = self.pick(NAME_CHARS.replace(".", ""))
        stem = first + "".join(self.pick(NAME_CHARS) for _ in range(stem_len - 1))
        return stem.encode() + b"." + ext

    def decorate(self, suffix: bytes) -> bytes:
        """A raw path that nginx normalises to /exporter + suffix."""
        if self.chance(0.3):
            suffix = self.pct(suffix, self.pick([0.05, 0.3, 1.0]))
        if not self.chance(0.25):
            return b"/exporter" + suffix
        prefixes = [b"/exporter", b"//exporter", b"/./exporter", b"/x/../exporter",
                    b"/%65xporter", b"/exporte%72", b"/%2E/exporter"]
        if suffix:  # these leave a trailing '/' unless a name follows
            prefixes += [b"/exporter/a%2F..", b"/exporter/sub/.."]
        prefix = self.pick(prefixes)
        if suffix.startswith(b"/") and self.chance(0.5):
            suffix = self.pick([b"/", b"//", b"/./", b"%2F", b"/x/../", b"/%2e/",
                                b"/x%2F..%2F"]) + suffix[1:]
        return prefix + suffix

    def content_path(self, ext: bytes):
        if self.chance(0.05):
            return self.decorate(b"/" + self.name(ext, total=1024))
        return self.decorate(b"/" + self.name(ext))

    def render_path(self):
        return self.decorate(b"")

    def malformed_path(self):
        n = self.name(b"png")
        return self.pick([
            b"/exporter/", b"/exporter/" + n + b"/", b"/exporter/a/" + n, b"/exporterX",
            b"/exporterX/" + n, b"/exporter-old/" + n, b"/exporter/noext", b"/exporter/a.",
            b"/exporter/a.b.", b"/exporter/.png", b"/exporter/.hidden.png", b"/exporter/..png",
            b"/exporter/a%2Fb.png", b"/exporter/a%20b.png", b"/exporter/a+b.png",
            b"/exporter/a~b.png", b"/exporter/caf%C3%A9.png", b"/exporter/a%25b.png",
            b"/exporter/a;b.png", b"/exporter/x/../a/b.png", b"/exporter/a.png/..%2F",
            b"/exporter/" + self.name(b"png", total=1025), b"/exporter/a.png/.",
            b"/exporter/a%3Fb.png", b"/exporter/a%23b.png", b"/exporter/...",
            b"/exporter/" + n + b"%2F", b"/exporter/.", b"/exporter/%2e", b"/exporter//",
            b"/exporter/a%5Cb.png", b"/exporter/a:b.png", b"/exporter/a*b.png",
            self.decorate(b"/" + n + b"/x"), b"/exporter/" + n + b"/%2e%2e%2F",
            b"/exporter/%2e%2e%2e.png", b"/exporter/noext/..",
        ])

    # the query --------------------------------------------------------------------------
    def query(self, token: str, focus: str):
        notes = []
        parts = []
        value = token.encode()
        if self.chance(0.15) and value:
            value = self.pct(value, self.pick([0.02, 0.2]))
            notes.append("token value percent-encoded")
        if focus == "no_token":
            sub = self.pick(["none", "empty", "decoys", "decoys"])
            if sub == "none":
                return None, ["no query"]
            if sub == "empty":
                return b"", ["empty query"]
            for _ in range(self.rng.randint(1, 3)):
                parts.append(self.pick(DECOY_NAMES) + b"=" + value)
            notes.append("decoy names only")
        elif focus in ("bad_token", "chaos") and self.chance(0.1):
            parts.append(b"token")  # a bare `token`: one token, empty value
            notes.append("bare token")
        else:
            name = b"token" if self.chance(0.88) else self.pick(TOKEN_NAMES)
            parts.append(name + b"=" + value)
            if focus == "duplicate_token":
                second = b"token" if self.chance(0.6) else self.pick(TOKEN_NAMES)
                v2 = self.pick([value, b"", None, token.encode()[:-3] + b"abc"])
                parts.append(second if v2 is None else second + b"=" + v2)
                notes.append("duplicate token")
        for _ in range(self.weighted([(0, 5), (1, 3), (3, 1)])):
            parts.append(self.pick(NOISE + DECOY_NAMES))
        d = self.download()
        if d:
            parts += d
        self.rng.shuffle(parts)
        if self.chance(0.1):
            parts.insert(self.rng.randrange(len(parts) + 1), b"")
        q = b"&".join(parts)
        if self.chance(0.05):
            q = b"&" + q + b"&"
        return q, notes

    def download(self):
        return self.weighted([
            ([], 10), ([b"download=true"], 4), ([b"download=True"], 1),
            ([b"download=%74rue"], 1), ([b"download=1"], 1), ([b"%64ownload=true"], 1),
            ([b"download=true", b"download=1"], 1), ([b"download=1", b"download=true"], 1),
            ([b"download"], 1), ([b"download=tru%65"], 1), ([b"download=true%20"], 1),
            ([b"downl%6Fad=%74%72%75%65"], 1), ([b"download="], 1),
        ])

    # records ----------------------------------------------------------------------------
    def org_name(self, uid):
        return self.pick([b"org-", b"org ", b"org:", b"Org-\xc3\xa9-", b"o*?", b"",
                          b"org\xff"]) + uid

    def location(self, uid, index):
        if self.chance(0.04):  # exactly 1024 bytes, in segments of at most 255
            head = f"m{uid.decode()}-".encode()
            body = bytearray(head + bytes(self.rng.choice(b"abcXYZ019_-")
                                          for _ in range(1024 - len(head))))
            for cut in (200, 400, 600, 800, 1000):
                body[cut] = 0x2F
            return bytes(body)
        depth = self.weighted([(1, 2), (2, 3), (4, 1)])
        segs = [f"m{uid.decode()}" + "".join(self.pick(LOC_CHARS) for _ in range(
            self.rng.randint(0, 6)))]
        for _ in range(depth - 1):
            s = "".join(self.pick(LOC_CHARS) for _ in range(self.rng.randint(1, 12)))
            if s in (".", ".."):
                s += "x"
            segs.append(s)
        loc = "/".join(segs).encode()
        if self.chance(0.1):
            loc += self.pick([b"/r\xc3\xa9sum\xc3\xa9", b"/...", b"/.x", b"/x..", b"/\xff"])
        return loc

    def extras(self, uid):
        n = self.weighted([(0, 8), (self.rng.randint(1, 5), 5), (self.rng.randint(28, 40), 3),
                           (self.rng.randint(100, 200), 3)])
        out = []
        names = set()
        while len(out) < n:
            f = self.pick([b"x-", b"meta_", b"Org", b"ORG", b"org ", b"format2", b"location_",
                           b"", b"Filename", b"expires", b"allow_public_", b"\xc3\xa9"])
            f += str(self.rng.randrange(10**6)).encode()
            if f in names or f in KNOWN_FIELDS:
                continue
            names.add(f)
            v = self.pick([b"", b"1", b"0", b"true", b"\x01\x02", b"/etc/passwd", b"../..",
                           b"v" * self.rng.randint(1, 80), b"\xff\xfe"])
            out.append((f, v))
        return out

    def hash_with(self, known, uid, force_last=None):
        """known fields + extra fields, in an order that puts known fields anywhere."""
        extras = self.extras(uid)
        known = list(known)
        self.rng.shuffle(known)
        last = self.chance(0.3) if force_last is None else force_last
        if last:
            pairs = extras + known
        elif self.chance(0.3):
            pairs = known + extras
        else:
            pairs = extras[:]
            for kv in known:
                pairs.insert(self.rng.randrange(len(pairs) + 1), kv)
        return pairs

    def pad_to(self, pairs, size):
        """Add one field so that the record's names and values add up to exactly `size`."""
        cur = M.record_size(pairs)
        name = b"padding"
        if cur + len(name) >= size:
            return pairs
        pairs = pairs + [(name, b"p" * (size - cur - len(name)))]
        if self.chance(0.5):
            self.rng.shuffle(pairs)
        return pairs

    # a whole case -------------------------------------------------------------------------
    def case(self, index, now):
        rng = self.rng
        focus = self.weighted(FOCI)
        uid = f"{self.cfg.name}{index}x{rng.randrange(10**6)}".encode()
        asset_id = self.fresh_id(index)
        chaos = focus == "chaos"

        def maybe(p_defect, defect):
            return chaos and self.chance(p_defect) or focus == defect

        # surface and purpose
        surface = self.pick(["content", "content", "render"])
        if focus in ("extension_mismatch",):
            surface = "content"
        if focus == "purpose_surface":
            purpose, surface = self.pick([("render", "content"),
                                          ("subscription_delivery", "render")])
            if self.cfg.render is None and self.chance(0.5):
                purpose, surface = self.pick([(None, "render"), ("render", "render")])
        elif focus in ("org_unknown", "org_bad_record", "org_blocked"):
            purpose = None
        elif focus == "purpose_ignores_org":
            purpose = "render" if surface == "render" else "subscription_delivery"
        elif chaos:
            purpose = self.pick([None, "render", "subscription_delivery"])
        else:
            purpose = {"render": self.pick([None, "render"]),
                       "content": self.pick([None, None, "subscription_delivery"])}[surface]
        if (surface == "render" and self.cfg.render is None and focus != "purpose_surface"
                and not chaos):
            surface = "content"
            if purpose == "render":
                purpose = "subscription_delivery"

        # the asset record
        redis = {}
        files = {}
        notes = []
        org = self.org_name(uid)
        fmt, ext = self.pick(GOOD_FORMATS)
        location = self.location(uid, index)
        known = {b"org": org, b"format": fmt, b"location": location}
        if self.chance(0.4):
            known[b"filename"] = self.pick(GOOD_FILENAMES)
        exp_at = self.weighted([(None, 6), (b"0", 1), (b"0000", 1),
                                (str(now + 10**5).encode(), 2), (b"9223372036854775807", 1)])
        if exp_at is not None:
            known[b"expires_at"] = exp_at
        if surface == "render" and self.chance(0.3):
            del known[b"location"]
        asset_key = b"asset:" + str(asset_id).encode()
        oversize = None
        if maybe(0.1, "asset_expired"):
            known[b"expires_at"] = self.pick([b"1", str(now - 100).encode(), b"0001",
                                              str(now - 86400).encode()])
        asset_kind = "hash"
        if maybe(0.15, "bad_record"):
            sub = self.pick(["org", "format", "format", "expires_at", "location", "location",
                             "filename", "oversize", "wrong_type"])
            notes.append(f"asset record defect: {sub}")
            if sub == "org":
                v = self.pick([None, b"", b"org\x01" + uid, b"org\x7f" + uid, b"org\t" + uid,
                               b"org\n"])
                if v is None:
                    del known[b"org"]
                else:
                    known[b"org"] = v
            elif sub == "format":
                v = self.pick(BAD_FORMATS)
                if v is None:
                    del known[b"format"]
                else:
                    known[b"format"] = v
            elif sub == "expires_at":
                known[b"expires_at"] = self.pick(BAD_EXPIRES)
            elif sub == "location":
                v = self.pick(BAD_LOCATIONS)
                known[b"location"] = (b"m" + uid + b"/" + b"l" * 1100)[:1025] if v is None else v
            elif sub == "filename":
                known[b"filename"] = self.pick(BAD_FILENAMES)
            elif sub == "oversize":
                oversize = M.MAX_RECORD + 1
            else:
                asset_kind = self.pick(["string", "list", "set", "zset"])
        elif not chaos and focus == "allowed" and self.chance(0.05):
            oversize = M.MAX_RECORD  # exactly at the limit: still a good record
            notes.append("asset record exactly 64 KiB")
        if maybe(0.1, "asset_unknown"):
            if surface == "content" and self.chance(0.4):
                known.pop(b"location", None)
                notes.append("content without location")
            else:
                asset_kind = None
                notes.append("asset key absent")
        if asset_kind == "hash":
            pairs = self.hash_with(known.items(), uid)
            if oversize:
                pairs = self.pad_to(pairs, oversize)
            redis[asset_key] = ("hash", pairs)
        elif asset_kind is not None:
            redis[asset_key] = (asset_kind, self.pick([b"x", b"", b"org"]))
            notes.append(f"asset key is a {asset_kind}")
        if b"location" in known and M.location_ok(known[b"location"]) and not (
                focus == "allowed" and self.chance(0.03)):
            files[known[b"location"]] = (b"model-file %s " % uid) + bytes(
                rng.randrange(256) for _ in range(rng.randint(0, 64)))
        elif focus == "allowed":
            notes.append("no file on disk")

        # the content name's extension
        name_ext = ext or b"png"
        if maybe(0.1, "extension_mismatch"):
            name_ext = self.pick([b"pdf", b"PNG", b"png2", b"jpg", b"csv", b"xlsx",
                                  (ext or b"x") + b"x", (ext or b"x").upper()])
            if name_ext == ext:
                name_ext = b"zzz"

        # the org record
        okey = b"org:" + known.get(b"org", org)
        okind = "hash"
        ofields = {}
        if self.chance(0.7):
            ofields[b"security_settings"] = self.pick([b"0", b"1"])
        if self.chance(0.7):
            ofields[b"allow_public"] = self.pick([b"0", b"1"])
        if ofields.get(b"security_settings") == b"1" and ofields.get(b"allow_public") == b"0":
            if not (focus == "org_blocked" or chaos):
                ofields[b"allow_public"] = b"1"
        if focus == "org_blocked":
            ofields[b"security_settings"] = b"1"
            ofields[b"allow_public"] = b"0"
        org_oversize = None
        org_defect = maybe(0.1, "org_bad_record") or (focus == "purpose_ignores_org"
                                                      and self.chance(0.5))
        if org_defect:
            sub = self.pick(["security_settings", "allow_public", "allow_public", "oversize",
                             "wrong_type"])
            notes.append(f"org record defect: {sub}")
            if sub in ("security_settings", "allow_public"):
                ofields[sub.encode()] = self.pick(BAD_FLAGS)
            elif sub == "oversize":
                org_oversize = M.MAX_RECORD + 1
            else:
                okind = self.pick(["string", "list", "set"])
        if maybe(0.1, "org_unknown") or (focus == "purpose_ignores_org" and not org_defect
                                         and self.chance(0.5)):
            okind = None
            notes.append("org key absent")
        if not known.get(b"org") or M._has_control(known[b"org"]):
            okind = None  # the asset record is refused before any org lookup: no shared key
        if okind == "hash":
            opairs = self.hash_with(ofields.items(), uid)
            if org_oversize:
                opairs = self.pad_to(opairs, org_oversize)
            if not opairs:
                opairs = [(b"note", b"empty org")]
            redis.setdefault(okey, ("hash", opairs))
        elif okind is not None:
            redis.setdefault(okey, (okind, b"1"))

        # the token
        tk = {"expired": "expired", "not_yet_valid": "not_yet_valid",
              "wrong_audience": "wrong_audience", "bad_claims": "bad_claims",
              "unknown_purpose": "unknown_purpose", "bad_signature": "bad_signature",
              "bad_token": "bad_token"}.get(focus, "valid")
        if chaos and self.chance(0.3):
            tk = self.pick(["expired", "not_yet_valid", "wrong_audience", "bad_claims",
                            "unknown_purpose", "bad_signature", "bad_token"])
        token, token_kind = self.token(tk, asset_id, purpose, now)

        # the request
        if focus == "malformed_path" or (chaos and self.chance(0.1)):
            path = self.malformed_path()
        elif surface == "render":
            path = self.render_path()
        else:
            path = self.content_path(name_ext)
        query, qnotes = self.query(token, "duplicate_token" if maybe(0.1, "duplicate_token")
                                   else "no_token" if maybe(0.1, "no_token") else focus)
        if tk == "bad_token" and query is not None and b"token" in query.split(b"&"):
            token_kind = "bad_token:bare"
        notes += qnotes
        method = "GET"
        if maybe(0.1, "method"):
            method = self.pick(["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND",
                                "FOO", "CONNECT_"])
        elif self.chance(0.12):
            method = "HEAD"
        return Case(index, focus, method, path, query, redis, files, token_kind, purpose,
                    asset_id, notes=notes)


def forge(claims, header, key=KEY):
    def b64(d):
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode()
    si = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return si + "." + b64(hmac.new(key.encode(), si.encode(), hashlib.sha256).digest())


# focus -> the reasons the model must give for it (a check on the generator and the model)
FOCUS_REASONS = {
    "allowed": {"allowed"}, "method": {"method"}, "malformed_path": {"malformed_path"},
    "no_token": {"no_token"}, "duplicate_token": {"duplicate_token"},
    "bad_token": {"bad_token", "bad_signature"}, "bad_signature": {"bad_signature"},
    "expired": {"expired"}, "not_yet_valid": {"not_yet_valid"},
    "wrong_audience": {"wrong_audience", "bad_claims"}, "bad_claims": {"bad_claims"},
    "unknown_purpose": {"unknown_purpose"}, "purpose_surface": {"purpose_surface"},
    "asset_unknown": {"asset_unknown"}, "asset_expired": {"asset_expired"},
    "extension_mismatch": {"extension_mismatch"}, "bad_record": {"bad_record"},
    "org_unknown": {"org_unknown"}, "org_bad_record": {"bad_record"},
    "org_blocked": {"org_blocked"}, "purpose_ignores_org": {"allowed"},
}


def expect(cfg, case, now):
    """The model's answer, checked to be the same a little later (no case sits on a clock
    edge) and, for focused cases, to be the reason the case was built for."""
    e = M.decide(cfg, case.redis, case.files, case.method, case.path, case.query, now, KEYS)
    later = M.decide(cfg, case.redis, case.files, case.method, case.path, case.query,
                     now + 20, KEYS)
    assert (e.status, e.reasons) == (later.status, later.reasons), \
        f"case {case.index} sits on a clock edge: {e.summary()} / {later.summary()}"
    want = FOCUS_REASONS.get(case.focus)
    if want is not None and cfg.sync_max_age and "allowed" in want:
        want = want | {"sync_stale"}  # the block's heartbeat may be stale
    if want is not None:
        assert e.reasons <= want, (
            f"generator/model disagree on case {case.index} (focus {case.focus}): model says "
            f"{e.summary()}\n  {case.request_line_short()}\n{describe_redis(case.redis)}")
    return e


# -- running the cases ----------------------------------------------------------------------------


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, target: str, headers):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                reused = False
            else:
                reused = True
            try:
                self.conn.putrequest(method, target, skip_accept_encoding=True)
                for k, v in headers.items():
                    self.conn.putheader(k, v)
                self.conn.endheaders()
                resp = self.conn.getresponse()
                body = resp.read()
                out = (resp.status, resp.getheaders(), body)
                if resp.will_close:
                    self.close()
                return out
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused or attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def write_case(rc, root, case):
    pipe = rc.pipeline(transaction=False)
    big = []
    for key, (kind, payload) in case.redis.items():
        if key == M.HEARTBEAT_KEY:
            continue  # the block's, already written and read by the workers
        if kind == "hash":
            flat = [x for kv in payload for x in kv]
            pipe.execute_command("HSET", key, *flat)
            if len(payload) > 32:
                pipe.hkeys(key)
                big.append(key)
        elif kind == "string":
            pipe.set(key, payload)
        elif kind == "list":
            pipe.rpush(key, payload)
        elif kind == "set":
            pipe.sadd(key, payload)
        elif kind == "zset":
            pipe.zadd(key, {payload: 1})
    replies = pipe.execute()
    # the order HGETALL returns big hashes in, to attribute mismatches (never to expect)
    orders = [r for r in replies if isinstance(r, list)]
    case.hash_order = dict(zip(big, orders))
    for loc, data in case.files.items():
        p = root / os.fsdecode(loc)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def read_log(stack, wanted, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        raw = (stack.dir / "access.log").read_bytes() if (stack.dir / "access.log").exists() \
            else b""
        lines = {}
        for line in raw.splitlines():
            try:
                rec = json.loads(line.decode("utf-8", "surrogateescape"))
            except ValueError:
                continue
            rec = {k: v.encode("utf-8", "surrogateescape") for k, v in rec.items()}
            if rec.get("case"):
                lines[int(rec["case"])] = rec
        if wanted <= set(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


@dataclass
class Got:
    status: int
    headers: list
    body: bytes
    log: dict | None = None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name]

    def one(self, name):
        v = self.all(name)
        return v[0] if v else None


def compare(cfg, case, got: Got, bodies):
    """The list of differences between the model's answer and what nginx did."""
    e = case.expected
    diffs = []
    head = case.method == "HEAD"
    if got.status != e.status:
        diffs.append(("status", f"status {got.status}, expected {e.status}"))
    reason = got.log.get("reason", b"").decode(errors="replace") if got.log else None
    if got.log is None:
        diffs.append(("log", "no access-log line"))
    elif reason not in e.reasons:
        diffs.append(("reason", f"reason {reason!r}, expected {'|'.join(sorted(e.reasons))}"))
    # body
    if e.body == "file":
        want = e.file
    elif e.body == "render":
        want = e.render
    else:
        want = bodies[e.body]
    if head:
        want = b""
    if got.body != want:
        what = "the file" if case.files and got.body in case.files.values() else \
            short(got.body, 100)
        diffs.append(("body", f"body {what}, expected {e.body}{' (HEAD: empty)' if head else ''}"))
    # headers
    for name, value in e.headers.items():
        vals = got.all(name)
        if value is None:
            if vals:
                diffs.append(("headers", f"{name}: {vals}, expected absent"))
        elif name in ("referrer-policy", "cache-control", "x-content-type-options"):
            if vals != [value]:
                diffs.append(("headers", f"{name}: {vals}, expected [{value!r}]"))
        elif vals != [value]:
            diffs.append(("headers", f"{name}: {vals}, expected {value!r}"))
    if e.disposition_prefix is not None:
        v = got.one("content-disposition")
        if v is None or not v.startswith(e.disposition_prefix):
            diffs.append(("headers", f"content-disposition: {v!r}, expected "
                                     f"{e.disposition_prefix}..."))
    # variables
    if got.log is not None:
        for var, value in e.variables.items():
            if got.log.get(var, b"") != value:
                diffs.append(("variables", f"${'asset_gate_' + var} = "
                                           f"{short(got.log.get(var, b''), 80)}, expected "
                                           f"{short(value, 80)}"))
    return diffs


# -- attributing a mismatch to a known defect ------------------------------------------------
#
# Each "defect" below rewrites the case's INPUTS the way a known bug misreads them (the
# model itself stays as the contract says); a mismatch belongs to the first defect under
# which the unchanged model predicts exactly what nginx answered.


def _d_32_fields(case):
    redis = {}
    for key, (kind, payload) in case.redis.items():
        if kind == "hash" and len(payload) > 32:
            values = dict(payload)
            order = case.hash_order.get(key) or [f for f, _ in payload]
            payload = [(f, values[f]) for f in order if f in values][:32]
        redis[key] = (kind, payload)
    return redis, case.query


def _d_encoded_names(case):
    if not case.query:
        return case.redis, case.query
    parts = []
    for part in case.query.split(b"&"):
        name, eq, value = part.partition(b"=")
        if M.pct_decode_arg(name) != name:
            name = b"undecoded-" + name
        parts.append(name + eq + value)
    return case.redis, b"&".join(parts)


def _d_encoded_download_value(case):
    if not case.query:
        return case.redis, case.query
    parts = []
    for part in case.query.split(b"&"):
        name, eq, value = part.partition(b"=")
        if M.pct_decode_arg(name) == b"download" and M.pct_decode_arg(value) != value:
            value = b"undecoded-" + value
        parts.append(name + eq + value)
    return case.redis, b"&".join(parts)


def _d_odd_flags_open(case):
    redis = {}
    for key, (kind, payload) in case.redis.items():
        if key.startswith(b"org:") and kind == "hash":
            payload = [(f, b"0" if f == b"security_settings" and v not in (b"0", b"1") else
                        b"1" if f == b"allow_public" and v not in (b"0", b"1") else v)
                       for f, v in payload]
        redis[key] = (kind, payload)
    return redis, case.query


def _d_oversize_accepted(case):
    redis = {}
    for key, (kind, payload) in case.redis.items():
        if kind == "hash" and M.record_size(payload) > M.MAX_RECORD:
            payload = [(f, v) for f, v in payload if f != b"padding"]
        redis[key] = (kind, payload)
    return redis, case.query


def _d_unusable_is_missing(case):
    redis = {}
    for key, (kind, payload) in case.redis.items():
        if key == M.HEARTBEAT_KEY:
            redis[key] = (kind, payload)  # not a record
            continue
        if kind != "hash":
            continue
        if key.startswith(b"asset:") and M.asset_record_problem(payload):
            continue
        if key.startswith(b"org:") and M.org_record_problem(payload):
            continue
        redis[key] = (kind, payload)
    return redis, case.query


def _d_lenient_fields(case):
    """Known asset fields misread leniently: a filename with control bytes kept, an empty
    expires_at or location taken as absent, a decimal prefix of expires_at parsed."""
    redis = {}
    for key, (kind, payload) in case.redis.items():
        if key.startswith(b"asset:") and kind == "hash":
            out = []
            for f, v in payload:
                if f == b"filename" and M._has_control(v):
                    continue
                if f in (b"expires_at", b"location") and v == b"":
                    continue
                if f == b"expires_at" and not M.DECIMAL_RE.fullmatch(v):
                    digits = re.match(rb"[0-9]+", v)
                    if digits:
                        v = digits.group()
                out.append((f, v))
            payload = out
        redis[key] = (kind, payload)
    return redis, case.query


DEFECTS = [
    ("percent-encoded arg names not decoded", _d_encoded_names),
    ("records read only 32 fields", _d_32_fields),
    ("allow_public / security_settings odd values treated as open", _d_odd_flags_open),
    ("records over 64 KiB accepted", _d_oversize_accepted),
    ("malformed record or wrong-type key treated as missing (not bad_record)",
     _d_unusable_is_missing),
    ("percent-encoded download value not decoded", _d_encoded_download_value),
    ("malformed filename / empty or fractional expires_at / empty location accepted",
     _d_lenient_fields),
]


def _explains(cfg, case, got, redis, query, now, bodies):
    """Does the model, on these rewritten inputs, predict exactly what nginx answered?
    (Record variables after a refusal are left out: that defect is judged on its own.)"""
    e = M.decide(cfg, redis, case.files, case.method, case.path, query, now, KEYS)
    diffs = compare(cfg, Case(**{**case.__dict__, "expected": e}), got, bodies)
    if "allowed" not in e.reasons:
        diffs = [d for d in diffs if d[0] != "variables" or "asset_gate_id" in d[1]
                 or "asset_gate_purpose" in d[1]]
    return not diffs


def _rewrite(case, defects):
    c = case
    for d in defects:
        redis, query = d(c)
        c = Case(**{**c.__dict__, "redis": redis, "query": query})
    return c.redis, c.query


def classify_mismatch(cfg, case, got, diffs, now, bodies):
    """Which known defect a mismatch most likely comes from (first match wins)."""
    e = case.expected
    kinds = {k for k, _ in diffs}
    refused = "allowed" not in e.reasons
    reason = (got.log or {}).get("reason", b"").decode(errors="replace")
    asset = case.redis.get(b"asset:" + str(case.asset_id).encode())
    org = None
    if asset and asset[0] == "hash" and b"org" in dict(asset[1]):
        org = case.redis.get(b"org:" + dict(asset[1])[b"org"])
    wrong_type = (asset and asset[0] != "hash") or (case.purpose is None and org
                                                     and org[0] != "hash")
    if got.status == 503:
        return ("wrong-type keys answered 503" if wrong_type else "503 although Redis answered")
    _, name, _ = M.classify(M.normalise(case.path), cfg.base)
    if reason == "malformed_path" and name is not None and len(name) > 255:
        return "content names of 256-1024 bytes refused as malformed_path"
    vars_only_after_refusal = refused and kinds == {"variables"} and not any(
        "asset_gate_id" in d or "asset_gate_purpose" in d for _, d in diffs)
    if not vars_only_after_refusal:
        for n in (1, 2, 3):
            for combo in itertools.combinations(DEFECTS, n):
                redis, query = _rewrite(case, [d for _, d in combo])
                if (redis, query) != (case.redis, case.query) and \
                        _explains(cfg, case, got, redis, query, now, bodies):
                    return " + ".join(label for label, _ in combo)
    defect = [n for n in case.notes if n.startswith(("asset record defect", "org record defect"))]
    if defect and e.reasons == {"bad_record"} and reason not in ("bad_record", ""):
        return f"{defect[0]} not refused as bad_record (got {reason})"
    if refused and cfg.error_page_content and got.status == 200 and (
            case.method == "HEAD" or got.body in case.files.values()):
        return "refused request got the file (error_page 404 = @content)"
    if vars_only_after_refusal:
        return "record variables filled after a refusal"
    return "other"


class HeartbeatBlocks:
    """The sync heartbeat of a configuration with asset_gate_sync_max_age, one state per block
    of cases, drawn from its own generator (the cases' stay as they are for every config)."""

    STATES = [("fresh", 5), ("missing", 2), ("old", 2), ("ancient", 1), ("ahead", 1),
              ("far_ahead", 1), ("malformed", 1), ("wrong_type", 1)]
    MALFORMED = [b"abc", b"1.5", b"", b" 1795956473", b"-5", b"1795956473\n", b"0x10",
                 b"9223372036854775808"]

    def __init__(self, cfg, seed, port, workers=2):
        self.cfg = cfg
        self.rng = random.Random(f"{seed}:{cfg.name}:heartbeat")
        self.rc = redis_py.Redis(host="127.0.0.1", port=port)
        self.workers = workers
        self.next_switch = 0
        self.block = -1
        self.state = None
        self.value = None
        self.writer = None
        self.writer_stop = threading.Event()

    def due(self, index):
        return index >= self.next_switch

    def _write_fresh(self):
        while not self.writer_stop.is_set():
            self.rc.set(M.HEARTBEAT_KEY, str(int(time.time())))
            self.writer_stop.wait(0.4)

    def stop_writer(self):
        if self.writer is not None:
            self.writer_stop.set()
            self.writer.join()
            self.writer = None

    def switch(self, index):
        """The next block's state, written; returns once every worker has read it."""
        self.stop_writer()
        self.block += 1
        self.next_switch = index + self.rng.randint(100, 250)
        self.state = state = self.rng.choices([n for n, _ in self.STATES],
                                              weights=[w for _, w in self.STATES])[0]
        w, max_age = int(time.time()), self.cfg.sync_max_age
        self.value = None
        self.rc.delete(M.HEARTBEAT_KEY)
        if state == "fresh":
            self.writer_stop = threading.Event()
            self.writer = threading.Thread(target=self._write_fresh, daemon=True)
            self.writer.start()
        elif state == "missing":
            pass
        elif state == "wrong_type":
            self.rc.hset(M.HEARTBEAT_KEY, "at", str(w))
        else:
            self.value = {
                "old": lambda: str(w - max_age - 5).encode(),
                "ancient": lambda: self.rng.choice([b"0", b"1", str(w - 10**6).encode()]),
                "ahead": lambda: str(w + max_age // 4).encode(),
                "far_ahead": lambda: str(w + max_age + 300).encode(),
                "malformed": lambda: self.rng.choice(self.MALFORMED),
            }[state]()
            self.rc.set(M.HEARTBEAT_KEY, self.value)
        self._wait_read()

    def _wait_read(self):
        """Every worker reads once a second: 3 reads each after the write leave no worker with
        an older answer (and then some time passes, whatever the count)."""
        def gets():
            return self.rc.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
        before, started = gets(), time.monotonic()
        while gets() < before + 3 * self.workers or time.monotonic() < started + 1.5:
            assert time.monotonic() < started + 30, "the workers do not read the heartbeat"
            time.sleep(0.1)

    def entry(self, now):
        """The heartbeat as the model sees it for a case of this block at `now`."""
        if self.state == "fresh":
            return ("string", str(now).encode())  # the writer keeps it within a second
        if self.state == "missing":
            return None
        if self.state == "wrong_type":
            return ("hash", [(b"at", str(now).encode())])
        return ("string", self.value)

    def note(self):
        return f"heartbeat block {self.block}: {self.state}" + (
            f" {self.value!r}" if self.value is not None else "")


def run_config(cfg, seed, n_cases):
    """Generate and send the cases one by one (each with its own `now`, so no case can age
    past a clock edge however slow the machine), then read the log and compare."""
    gen = Gen(cfg, seed)
    stack = ModelStack(cfg)
    heartbeat = None
    selected = []
    results = {}
    started = time.monotonic()
    try:
        stack.start()
        rc = redis_py.Redis(host="127.0.0.1", port=stack.redis.port)
        client = Client(stack.port)
        bodies = {"default404": client.request("GET", "/model-404", {})[2],
                  "default405": client.request("GET", "/model-405", {})[2]}
        if cfg.sync_max_age:
            heartbeat = HeartbeatBlocks(cfg, seed, stack.redis.port)
        for i in range(n_cases):
            if heartbeat is not None and heartbeat.due(i):
                heartbeat.switch(i)
            now = int(time.time())
            case = gen.case(i, now)  # every case is generated, so a replay is exact
            if ONLY_CASES and i not in ONLY_CASES:
                continue
            if heartbeat is not None:
                entry = heartbeat.entry(now)
                if entry is not None:
                    case.redis[M.HEARTBEAT_KEY] = entry
                case.notes.append(heartbeat.note())
            case.now = now
            case.expected = expect(cfg, case, now)
            selected.append(case)
            write_case(rc, stack.root, case)
            target = (case.path + (b"" if case.query is None else b"?" + case.query))
            status, headers, body = client.request(case.method, target.decode("ascii"),
                                                   {"X-Model-Case": str(case.index)})
            results[case.index] = Got(status, headers, body)
        client.close()
        logs = read_log(stack, set(results))
        for i, got in results.items():
            got.log = logs.get(i)
        if heartbeat is not None:
            heartbeat.stop_writer()
        stack.stop()
        stack.assert_healthy()
    finally:
        if heartbeat is not None:
            heartbeat.stop_writer()
        stack.stop()
        if os.environ.get("ASSET_GATE_MODEL_KEEP"):
            print(f"kept {stack.dir}")
        else:
            stack.cleanup()
    elapsed = time.monotonic() - started

    mismatches = []
    for case in selected:
        got = results[case.index]
        diffs = compare(cfg, case, got, bodies)
        if diffs:
            mismatches.append((case, got, diffs,
                               classify_mismatch(cfg, case, got, diffs, case.now, bodies)))
    return selected, mismatches, elapsed


def format_mismatch(cfg, seed, case, got, diffs, category):
    e = case.expected
    log = got.log or {}
    out = [f"--- seed {seed} config {cfg.name} case {case.index} [{category}]",
           f"  config:   {cfg.describe()}",
           f"  request:  {case.request_line_short()}",
           f"  focus:    {case.focus}; token {case.token_kind}; purpose "
           f"{case.purpose or 'public'}; notes: {'; '.join(case.notes) or '-'}",
           f"  redis:\n{describe_redis(case.redis)}",
           f"  files:    {', '.join(short(k, 80) for k in case.files) or '-'}",
           f"  expected: {e.summary()}",
           f"            headers {e.headers}",
           f"            vars { {k: short(v, 40) for k, v in e.variables.items()} }",
           f"  got:      {got.status} reason={log.get('reason', b'?').decode(errors='replace')}"
           f" X-Reason={got.one('x-reason')!r} body={short(got.body, 100)}",
           f"            vars { {k: short(log.get(k, b''), 40) for k in LOG_VARS[1:]} }",
           "            headers " + ", ".join(f"{k}: {v}" for k, v in got.headers
                                             if k.lower() not in ("date", "server")),
           "  differences:"] + [f"    - {d}" for _, d in diffs]
    return "\n".join(out)


CONFIG_PARAMS = [c for c in CONFIGS if not ONLY_CONFIGS or c.name in ONLY_CONFIGS]


@pytest.mark.parametrize("cfg", CONFIG_PARAMS, ids=[c.name for c in CONFIG_PARAMS])
def test_model(cfg):
    assert MODULE.exists()
    n = max(1, CASES // len(CONFIGS))
    cases, mismatches, elapsed = run_config(cfg, SEED, n)
    reasons = Counter("|".join(sorted(c.expected.reasons)) for c in cases)
    statuses = Counter(c.expected.status for c in cases)
    print(f"\nmodel: seed {SEED} config {cfg.describe()}")
    print(f"model: {len(cases)} cases in {elapsed:.1f}s; expected statuses "
          + ", ".join(f"{s}: {k}" for s, k in sorted(statuses.items())))
    print("model: expected reasons: " + ", ".join(f"{r} {k}" for r, k in
                                                   sorted(reasons.items(), key=lambda x: -x[1])))

    def encoded_names(c):
        return any(raw.partition(b"=")[0] != n for n, _, raw in M.parse_query(c.query)
                   if n in (b"token", b"download"))

    print(f"model: HEAD {sum(c.method == 'HEAD' for c in cases)}, records > 32 fields "
          f"{sum(any(k == 'hash' and len(p) > 32 for k, p in c.redis.values()) for c in cases)}"
          f", percent-encoded arg names {sum(map(encoded_names, cases))}, wrong-type keys "
          f"{sum(any(v[0] != 'hash' for k, v in c.redis.items() if k != M.HEARTBEAT_KEY) for c in cases)}")
    blocks = Counter(n.split(": ", 1)[1].split(" ", 1)[0] for c in cases for n in c.notes
                     if n.startswith("heartbeat block"))
    if blocks:
        print("model: cases per heartbeat state: " + ", ".join(
            f"{state} {k}" for state, k in sorted(blocks.items())))
    if not mismatches:
        print(f"model: config {cfg.name}: no mismatch")
        return
    cats = Counter(m[3] for m in mismatches)
    print(f"model: config {cfg.name}: {len(mismatches)} mismatches of {len(cases)} cases")
    for cat, k in cats.most_common():
        print(f"model:   {k:5d}  {cat}")
    listed = []
    # the listing: the first example of each category, then the rest, at most MAX_LISTED
    firsts = {}
    for m in mismatches:
        firsts.setdefault(m[3], m)
    first_ids = {id(m) for m in firsts.values()}
    ordered = list(firsts.values()) + [m for m in mismatches if id(m) not in first_ids]
    for case, got, diffs, cat in ordered[:MAX_LISTED]:
        listed.append(format_mismatch(cfg, SEED, case, got, diffs, cat))
    if REPORT_DIR:
        path = os.path.join(REPORT_DIR, f"model-{SEED}-{cfg.name}.txt")
        with open(path, "w") as f:
            f.write("\n".join(format_mismatch(cfg, SEED, *m) for m in ordered) + "\n")
        print(f"model: all {len(mismatches)} mismatches written to {path}")
    text = "\n".join(listed)
    pytest.fail(f"seed {SEED} config {cfg.name}: {len(mismatches)} of {len(cases)} cases differ "
                f"from the model (" + ", ".join(f"{k} {c}" for c, k in cats.most_common())
                + f"); replay with ASSET_GATE_MODEL_SEED={SEED} ASSET_GATE_MODEL_CONFIGS="
                f"{cfg.name} ASSET_GATE_MODEL_ONLY=<case>\n" + text, pytrace=False)


# -- the model on its own: pinned examples from the contract and the rules ----------------------


def _model_case(path=b"/exporter/r.png", query=None, asset=None, org=None, purpose=None,
                method="GET", cfg=CONFIGS[0], token_claims=None, files=None, heartbeat=None):
    now = int(time.time())
    claims = {"id": 7, "exp": now + 600, "aud": AUDIENCE}
    if purpose:
        claims["purpose"] = purpose
    claims.update(token_claims or {})
    token = jwt.encode(claims, KEY, algorithm="HS256").encode()
    if query is None:
        query = b"token=" + token
    query = query.replace(b"TOKEN", token)
    redis = {}
    fields = [(b"org", b"o1"), (b"format", b"image/png"), (b"location", b"l/r")]
    if asset is not False:
        redis[b"asset:7"] = asset if isinstance(asset, tuple) else \
            ("hash", asset if asset is not None else fields)
    if org is not False:
        redis[b"org:o1"] = org if org is not None else ("hash", [(b"allow_public", b"1")])
    if heartbeat is not None:
        redis[M.HEARTBEAT_KEY] = heartbeat
    files = {b"l/r": b"bytes"} if files is None else files
    return M.decide(cfg, redis, files, method, path, query, now, KEYS)


def _reasons(**kw):
    return set(_model_case(**kw).reasons)


def test_model_examples():
    base = [(b"org", b"o1"), (b"format", b"image/png"), (b"location", b"l/r")]
    extra = [(b"x%d" % i, b"v") for i in range(100)]
    assert _reasons() == {"allowed"}
    assert _reasons(method="POST", path=b"/exporter/a/b.png") == {"method"}
    for p in (b"/exporter/", b"/exporter/a/b.png", b"/exporterX", b"/exporter/noext",
              b"/exporter/.png", b"/exporter/a.", b"/exporter/a%2Fb.png",
              b"/exporter/" + b"a" * 1021 + b".png"):
        assert _reasons(path=p) == {"malformed_path"}, p
    for p in (b"/exporter/x/../r.png", b"//exporter//r.png", b"/exporter/%72.p%6Eg",
              b"/exporter/" + b"a" * 1020 + b".png"):
        assert _reasons(path=p) == {"allowed"}, p
    assert _reasons(path=b"/exporter") == {"allowed"}
    assert _reasons(query=b"token=TOKEN&%74oken=B") == {"duplicate_token"}
    assert _reasons(query=b"TOKEN=x&%2574oken=TOKEN") == {"no_token"}
    assert _reasons(query=b"t%6Fken=TOKEN") == {"allowed"}
    assert _reasons(query=b"token") == {"bad_token", "bad_signature"}
    assert _reasons(query=b"token=" + b"a" * 4097) == {"bad_token"}
    e = _model_case(query=b"token=TOKEN&download=1&%64ownload=%74rue")
    assert "content-disposition" not in e.headers and e.disposition_prefix == "attachment"
    e = _model_case(query=b"token=TOKEN&download=true&download=1")
    assert e.headers["content-disposition"] is None
    assert _reasons(token_claims={"exp": int(time.time()) - 10}) == {"expired"}
    assert _reasons(token_claims={"id": 1.5}) == {"bad_claims"}
    assert _reasons(token_claims={"purpose": "admin"}) == {"unknown_purpose"}
    assert _reasons(token_claims={"aud": ["x"]}) == {"wrong_audience"}
    assert _reasons(purpose="render") == {"purpose_surface"}
    assert _reasons(path=b"/exporter", cfg=CONFIGS[4]) == {"purpose_surface"}
    assert _reasons(asset=False) == {"asset_unknown"}
    assert _reasons(asset=base[:2]) == {"asset_unknown"}          # content without location
    assert _reasons(path=b"/exporter", asset=base[:2]) == {"allowed"}
    for name, value in ((b"expires_at", b" 5"), (b"expires_at", b""), (b"expires_at", b"1.5"),
                         (b"expires_at", b"9223372036854775808"), (b"format", b"image/svg+xml"),
                         (b"location", b"a//b"), (b"location", b"a/./b"), (b"location", b""),
                         (b"filename", b"a\x01"), (b"org", b"")):
        rec = [kv for kv in base if kv[0] != name] + [(name, value)]
        assert _reasons(asset=rec) == {"bad_record"}, (name, value)
    assert _reasons(asset=base + [(b"expires_at", b"0")]) == {"allowed"}
    assert _reasons(asset=base + [(b"expires_at", b"1")]) == {"asset_expired"}
    assert _reasons(asset=[(b"format", b"image/jpeg")] + base[::2]) == {"extension_mismatch"}
    assert _reasons(asset=extra + base) == {"allowed"}
    room = 65536 - M.record_size(base + [(b"pad", b"")])
    assert _reasons(asset=base + [(b"pad", b"p" * room)]) == {"allowed"}        # 64 KiB exactly
    assert _reasons(asset=base + [(b"pad", b"p" * (room + 1))]) == {"bad_record"}
    assert _reasons(org=False) == {"org_unknown"}
    assert _reasons(asset=("string", b"x")) == {"bad_record"}
    assert _reasons(asset=("set", b"x"), purpose="subscription_delivery") == {"bad_record"}
    assert _reasons(org=("string", b"1")) == {"bad_record"}
    assert _reasons(org=("hash", [(b"allow_public", b"01")])) == {"bad_record"}
    assert _reasons(org=("hash", [(b"security_settings", b"1"), (b"allow_public", b"0")])) \
        == {"org_blocked"}
    assert _reasons(purpose="subscription_delivery", org=("list", b"x")) == {"allowed"}


def test_model_heartbeat_examples():
    synced = next(c for c in CONFIGS if c.sync_max_age == 60)
    now = int(time.time())

    def beat(at):
        return ("string", str(at).encode())

    assert _reasons(cfg=synced, heartbeat=beat(now)) == {"allowed"}
    assert _reasons(cfg=synced, path=b"/exporter", heartbeat=beat(now - 30)) == {"allowed"}
    assert _reasons(cfg=synced, heartbeat=beat(now + 30)) == {"allowed"}
    for stale in (None, beat(now - 90), beat(now + 90), beat(0), ("string", b"1.5"),
                  ("string", b""), ("string", b"9223372036854775808"), ("hash", [(b"a", b"1")])):
        assert _reasons(cfg=synced, heartbeat=stale) == {"sync_stale"}, stale
        assert _reasons(cfg=synced, path=b"/exporter", heartbeat=stale) == {"sync_stale"}, stale
        # purpose tokens never depend on it; refusals the records make keep their reasons
        assert _reasons(cfg=synced, heartbeat=stale, purpose="subscription_delivery") == \
            {"allowed"}
        assert _reasons(cfg=synced, path=b"/exporter", heartbeat=stale, purpose="render") == \
            {"allowed"}
        assert _reasons(cfg=synced, heartbeat=stale, org=False) == {"org_unknown"}
        assert _reasons(cfg=synced, heartbeat=stale, asset=False) == {"asset_unknown"}
        assert _reasons(cfg=synced, heartbeat=stale, path=b"/exporter/r.pdf") == \
            {"extension_mismatch"}
        assert _reasons(cfg=synced, heartbeat=stale, org=(
            "hash", [(b"security_settings", b"1"), (b"allow_public", b"0")])) == {"org_blocked"}
    # without the directive the heartbeat is no input at all
    assert _reasons(heartbeat=None) == {"allowed"}
    assert _reasons(heartbeat=beat(0)) == {"allowed"}
