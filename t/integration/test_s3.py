"""Content from an S3-compatible store (DESIGN.md section 7; the S3 issue).

The store is s3rver (npm, pinned in t/s3/package.json; install with `npm ci --prefix t/s3`)
behind s3verify.Verifier, which recomputes every request's AWS Signature V4 with botocore's
own signer and refuses what S3 would refuse (SignatureDoesNotMatch, AccessDenied "Request has
expired", ...). s3rver alone accepts any V4 signature, so every signature check here is the
verifier's.

Proxy mode: the gate sends allowed content to `location @s3`, which proxies to the verifier
with the $asset_gate_s3_* variables. Redirect mode (`asset_gate_s3_redirect on`): the gate
answers 302 to a presigned URL, which the tests follow through the verifier.

s3rver only knows the access key id "S3RVER"; the tests use it with a secret that only the
verifier (and the credentials file) knows."""

import calendar
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest

from gate import MODULE, PNG, Stack, free_port, mint, wait_port
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from s3verify import Verifier, object_path, raw_request, signed_request

REPO = Path(__file__).resolve().parents[2]
S3RVER = Path(os.environ.get("ASSET_GATE_S3RVER",
                             REPO / "t" / "s3" / "node_modules" / "s3rver" / "bin" / "s3rver.js"))
NODE = os.environ.get("ASSET_GATE_NODE") or shutil.which("node") or "/usr/local/bin/node"

BUCKET = "asset-gate-exports"
SERVICE = "example"                 # s3rver --service-endpoint: BUCKET.s3.example is virtual-host
ACCESS_KEY = "S3RVER"               # the only access key id s3rver knows
SECRET = "Vf1r/9Xk+asset-gate-verifier-secret+0123456789/ABCDEFabcdef"
WRONG_SECRET = "Vf1r/9Xk+asset-gate-verifier-secret+0123456789/ABCDEFabcdeF"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////test+session/token=="
STORED_TYPE = "binary/octet-stream"  # what the store says; the gate must say the asset's format
REFUSED_LOG = "asset_gate: the object store refused the signed request"

BINARY = PNG + bytes(range(256)) * 8
BIG = random.Random(20260527).randbytes(5 * 1024 * 1024)

# id -> (object key, format, content, filename)
OBJECTS = {
    1: ("exports/png/team-1/task-1/blob", "image/png", BINARY, None),
    2: ("exports/mp4/team-1/task-2/big-video", "video/mp4", BIG, None),
    3: ("exports/csv/team-1/task-3/weekly report.csv", "text/csv", b"a,b\n1,2\n", "weekly report.csv"),
    4: ("exports/png/team 1/chart a+b=c.png", "image/png", PNG + b"space-plus", None),
    5: ("exports/png/r\u00e9sum\u00e9/\u30b0\u30e9\u30d5 \u00fc.png", "image/png", PNG + b"unicode", "r\u00e9sum\u00e9.png"),
    6: ("exports/png/~user/a~b.png", "image/png", PNG + b"tilde", None),
    7: ("exports/png/odd/it's (1) *!,;:@$&.png", "image/png", PNG + b"reserved", None),
    8: ("exports/png/other/secret-of-another-org.png", "image/png", PNG + b"another org", None),
}
MISSING = 9            # the record exists, the object does not
MISSING_KEY = "exports/png/team-1/task-9/never-uploaded"
UNKNOWN = 999          # no record at all
SPECIAL = [4, 5, 6, 7]
NAME = {"image/png": "export.png", "video/mp4": "export.mp4", "text/csv": "export.csv"}


# -- the store --------------------------------------------------------------------------------


class S3rver:
    def __init__(self, directory):
        self.dir = directory
        self.port = free_port()
        self.proc = None

    def start(self):
        if not S3RVER.exists():
            pytest.fail(f"s3rver is not installed ({S3RVER}): run `npm ci --prefix t/s3`")
        self.proc = subprocess.Popen(
            [NODE, str(S3RVER), "-d", str(self.dir), "-a", "127.0.0.1", "-p", str(self.port),
             "--service-endpoint", SERVICE, "--configure-bucket", BUCKET, "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, self.proc, "s3rver", timeout=30)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def credentials_file(directory, name, secret=SECRET, token=None, access_key=ACCESS_KEY):
    path = directory / name
    text = f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret}\n"
    if token:
        text += f"aws_session_token = {token}\n"
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory, request):
    """s3rver with the bucket and OBJECTS, behind a verifier that knows SECRET."""
    base = tmp_path_factory.mktemp("s3")
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    s3 = S3rver(data)
    request.addfinalizer(s3.stop)
    s3.start()
    verifier = Verifier(s3.port, {ACCESS_KEY: (SECRET, None)})
    request.addfinalizer(verifier.stop)
    verifier.start()
    for key, _fmt, content, _name in OBJECTS.values():
        status, _h, body = signed_request(verifier.port, "PUT", object_path(BUCKET, key), ACCESS_KEY,
                                          SECRET, body=content,
                                          headers={"Content-Type": STORED_TYPE})
        assert status == 200, (key, status, body)
    assert all(r.verdict == "verified" for r in verifier.records), verifier.records
    verifier.clear()
    return SimpleNamespace(s3=s3, verifier=verifier, port=verifier.port, dir=base,
                           good=credentials_file(base, "credentials"),
                           wrong=credentials_file(base, "wrong-credentials", secret=WRONG_SECRET),
                           with_token=credentials_file(base, "token-credentials", token=TOKEN))


def extra_verifier(store, request, **kw):
    """Another verifier in front of the same s3rver, e.g. with a session token or a region."""
    v = Verifier(store.s3.port, kw.pop("credentials", {ACCESS_KEY: (SECRET, None)}), **kw)
    request.addfinalizer(v.stop)
    return v.start()


def test_verifier_agrees_with_botocore_and_refuses_what_s3_refuses(store):
    """The verifier itself: what botocore signs passes, a changed byte does not."""
    port, key = store.port, OBJECTS[4][0]
    path = object_path(BUCKET, key)
    assert signed_request(port, "GET", path, ACCESS_KEY, SECRET)[0] == 200
    assert signed_request(port, "GET", path, ACCESS_KEY, WRONG_SECRET)[0] == 403
    assert signed_request(port, "GET", path, "AKIDUNKNOWN", SECRET)[0] == 403
    assert raw_request(port, "GET", path)[0] == 403                       # anonymous
    request = AWSRequest(method="GET", url=f"http://127.0.0.1:{port}{path}"
                         "?response-content-type=text%2Fplain&response-cache-control=no-cache")
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "s3", "us-east-1", expires=60).add_auth(request)
    parts = urlsplit(request.url)
    status, headers, body = raw_request(port, "GET", f"{parts.path}?{parts.query}")
    assert status == 200 and body == OBJECTS[4][2]
    assert headers["content-type"] == "text/plain" and headers["cache-control"] == "no-cache"
    tampered = parts.query.replace("no-cache", "no-store")
    status, _h, body = raw_request(port, "GET", f"{parts.path}?{tampered}")
    assert status == 403 and b"SignatureDoesNotMatch" in body
    status, _h, body = raw_request(port, "GET", f"{parts.path[:-1]}X?{parts.query}")
    assert status == 403 and b"SignatureDoesNotMatch" in body
    codes = [r.code for r in store.verifier.records[-7:]]
    assert codes == ["", "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "",
                     "SignatureDoesNotMatch", "SignatureDoesNotMatch"], codes


# -- nginx configuration ---------------------------------------------------------------------------


def s3_http(port, credentials, addressing="path", endpoint=None, region=None, extra=""):
    endpoint = endpoint or f"http://127.0.0.1:{port}"
    region = f"asset_gate_s3_region {region};" if region else ""
    addressing = f"asset_gate_s3_addressing {addressing};" if addressing else ""
    return f"""
    asset_gate_s3_endpoint {endpoint};
    asset_gate_s3_bucket {BUCKET};
    {addressing}
    {region}
    asset_gate_s3_credentials_file {credentials};
    {extra}"""


def s3_location(name, port, path="$asset_gate_s3_path", literal_path=None,
                host="$asset_gate_s3_host", security_token=True, extra=""):
    """The documented recipe for proxy mode; `path` (or a `literal_path`, through a variable,
    as a named location allows no literal URI) lets a test tamper with the upstream path.
    `security_token=False` leaves out the X-Amz-Security-Token line (no session token);
    `extra` adds directives (proxy_cache, S3 settings, ...)."""
    preset = ""
    if literal_path is not None:
        preset = f"set $tampered_path {literal_path};"
        path = "$tampered_path"
    token = ("proxy_set_header X-Amz-Security-Token $asset_gate_s3_security_token;"
             if security_token else "")
    return f"""
        location {name} {{
            {preset}
            {extra}
            proxy_pass http://127.0.0.1:{port}{path};
            proxy_set_header Host {host};
            proxy_set_header X-Amz-Date $asset_gate_s3_date;
            proxy_set_header X-Amz-Content-Sha256 $asset_gate_s3_content_sha256;
            proxy_set_header Authorization $asset_gate_s3_authorization;
            {token}
            proxy_set_header Connection "";
            proxy_http_version 1.1;
            proxy_read_timeout 10s;
            proxy_connect_timeout 5s;
        }}"""


def gate(keyfile, content="@s3", extra=""):
    content = f"asset_gate_content {content};" if content else ""
    return f"""
            asset_gate on;
            asset_gate_key_file {keyfile};
            asset_gate_render @render;
            {content}
            {extra}"""


def gate_location(prefix, keyfile, content="@s3", extra=""):
    return f"""
        location ^~ {prefix} {{
            {gate(keyfile, content, extra)}
        }}"""


def build(http_extra, server_extra_of, gate_of=None):
    """An unstarted Stack: `server_extra_of(stack)` and `gate_of(stack)` see its key file."""
    s = Stack(http_extra=http_extra)
    s.server_extra = server_extra_of(s)
    s.gate = gate_of(s) if gate_of else gate(s.keyfile)
    return s


def load(s):
    """Asset and org records for OBJECTS, MISSING; the store already holds the objects."""
    s.put_org("org-1", security_settings=True, allow_public=True)
    for asset_id, (key, fmt, _content, filename) in OBJECTS.items():
        s.put_asset(asset_id, org="org-1", fmt=fmt, location=key, filename=filename, content=None)
    s.put_asset(MISSING, org="org-1", fmt="image/png", location=MISSING_KEY, content=None)
    return s


def tear_down_with(request, s):
    """When `request` ends: `s` stopped, its log checked, its directory removed."""
    def finish():
        try:
            s.stop()
            s.assert_healthy()
        finally:
            s.cleanup()
    request.addfinalizer(finish)


def start_module_stack(request, s):
    tear_down_with(request, s)
    return load(launch(s))


def launch(s):
    try:
        return s.start()
    except RuntimeError as e:
        stderr = (s.dir / "nginx.stderr").read_text(errors="replace")
        raise AssertionError(f"{e}:\n{stderr}\n{s.error_log()[-3000:]}") from None


def start_stack(make_stack, http_extra, server_extra_of, gate_of=None):
    s = make_stack(start=False, http_extra=http_extra)
    s.server_extra = server_extra_of(s)
    s.gate = gate_of(s) if gate_of else gate(s.keyfile)
    return load(launch(s))


def url(asset_id, base="/exporter", query="", purpose=None, name=None):
    fmt = OBJECTS[asset_id][1] if asset_id in OBJECTS else "image/png"
    return f"{base}/{name or NAME[fmt]}?token={mint(asset_id, purpose)}{query}"


def get(s, asset_id, method="GET", headers=None, **kw):
    return s.request(url(asset_id, **kw), method=method, headers=headers)


def new_records(verifier, mark):
    return verifier.since(mark)


def amz_headers(r):
    return [k for k, _ in r.raw if k.lower().startswith("x-amz-")]


# -- proxy mode --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(store, request):
    """Gate /exporter -> @s3 (the recipe); /tampered and /swapped proxy to other paths than
    the signed one."""
    port = store.port

    def server_extra(s):
        return (s3_location("@s3", port)
                + s3_location("@s3_suffixed", port, "$asset_gate_s3_path.x")
                + s3_location("@s3_swapped", port, literal_path=object_path(BUCKET, OBJECTS[8][0]))
                + s3_location("@s3_other_host", port, host=f"localhost:{port}")
                + gate_location("/tampered", s.keyfile, "@s3_suffixed")
                + gate_location("/otherhost", s.keyfile, "@s3_other_host")
                + gate_location("/swapped", s.keyfile, "@s3_swapped")
                # x-amz-*: no X-Amz-Security-Token line; a client header passed on explicitly
                + s3_location("@s3_minimal", port, security_token=False)
                + s3_location("@s3_passes_amz", port, extra="proxy_set_header "
                              "X-Amz-Request-Payer $http_x_amz_request_payer;")
                + gate_location("/minimal", s.keyfile, "@s3_minimal")
                + gate_location("/passamz", s.keyfile, "@s3_passes_amz")
                # the variables where the gate did not allow content
                + s3_location("/direct", port)
                + gate_location("/refusedpage", s.keyfile, "@s3", "error_page 404 = @s3;")
                + f"""
        location ^~ /renders {{
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @s3;
        }}""")

    s = build(s3_http(port, store.good), server_extra)
    return start_module_stack(request, s)


def test_proxy_serves_the_object_bytes_from_a_verified_signed_request(proxy, store):
    mark = store.verifier.mark()
    r = get(proxy, 1)
    assert r.status == 200, (r.status, r.body[:300], proxy.error_log()[-2000:])
    assert r.body == BINARY
    recs = new_records(store.verifier, mark)
    assert [(x.method, x.auth, x.verdict) for x in recs] == [("GET", "header", "verified")], recs
    assert recs[0].path == object_path(BUCKET, OBJECTS[1][0])
    assert recs[0].host == f"127.0.0.1:{store.port}"


def test_proxy_never_sends_the_token_or_client_query_to_the_store(proxy, store):
    mark = store.verifier.mark()
    r = get(proxy, 1, query="&download=true&x=1")
    assert r.status == 200
    (rec,) = new_records(store.verifier, mark)
    assert rec.query == "", rec.target
    assert "token" not in rec.target and "eyJ" not in rec.target
    assert not any("eyJ" in v for v in rec.headers.values()), rec.headers


def test_proxy_streams_a_5_mib_object_intact(proxy):
    r = get(proxy, 2)
    assert r.status == 200
    assert int(r.header("content-length")) == len(BIG)
    assert len(r.body) == len(BIG)
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(BIG).hexdigest()
    assert r.header("content-type") == "video/mp4"


@pytest.mark.parametrize("asset_id", SPECIAL, ids=["space-plus-equals", "unicode", "tilde",
                                                   "reserved-chars"])
def test_proxy_object_keys_with_special_characters_reach_the_store_encoded_once(proxy, store,
                                                                                asset_id):
    key, _fmt, content, _name = OBJECTS[asset_id]
    mark = store.verifier.mark()
    r = get(proxy, asset_id)
    assert r.status == 200, (r.status, r.body[:300])
    assert r.body == content
    (rec,) = new_records(store.verifier, mark)
    # nginx sent $asset_gate_s3_path unchanged: SigV4's encoding, upper-case hex, '~' and '/' kept
    assert rec.path == "/" + BUCKET + "/" + quote(key, safe="/~"), rec.path
    assert unquote(rec.path) == f"/{BUCKET}/{key}"
    assert rec.verdict == "verified"


def test_proxy_response_has_the_contract_content_headers(proxy):
    r = get(proxy, 1)
    assert r.status == 200
    assert r.all("Content-Type") == ["image/png"], r.raw   # not the store's binary/octet-stream
    assert r.all("Cache-Control") == ["private, max-age=86400"], r.raw
    assert r.all("X-Content-Type-Options") == ["nosniff"]
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("content-disposition") is None
    assert int(r.header("content-length")) == len(BINARY)


def test_proxy_hides_headers_that_reveal_the_store(proxy, store):
    # The store does send them ...
    status, direct, _ = signed_request(store.port, "GET", object_path(BUCKET, OBJECTS[1][0]),
                                       ACCESS_KEY, SECRET)
    assert status == 200
    assert direct["server"] == "AmazonS3" and "x-amz-request-id" in direct and "x-amz-id-2" in direct
    # ... and the client sees none of them.
    for r in (get(proxy, 1), get(proxy, 1, method="HEAD"), get(proxy, 1, headers={"Range": "bytes=0-9"}),
              get(proxy, 3, query="&download=true")):
        assert amz_headers(r) == [], r.raw
        servers = r.all("Server")
        assert len(servers) == 1 and servers[0].startswith("nginx"), r.raw
        assert not any("AmazonS3" in v for _, v in r.raw), r.raw


def test_proxy_object_missing_in_the_store_is_the_plain_404(proxy, store):
    denial = get(proxy, UNKNOWN)  # a refusal by the gate itself: the reference 404
    assert denial.status == 404
    mark = store.verifier.mark()
    r = get(proxy, MISSING)
    assert r.status == 404
    (rec,) = new_records(store.verifier, mark)
    assert rec.verdict == "verified" and rec.status == 404     # the store said NoSuchKey
    assert r.body == denial.body, r.body
    assert b"NoSuchKey" not in r.body and b"<Error>" not in r.body
    assert r.header("content-type") == denial.header("content-type")
    assert amz_headers(r) == []
    assert r.header("cache-control") is None and r.header("x-content-type-options") is None
    assert "is missing in the store" in proxy.error_log()


def test_proxy_get_with_range_is_206_with_the_right_slice(proxy):
    r = get(proxy, 2, headers={"Range": "bytes=1000000-1065535"})
    assert r.status == 206, (r.status, r.raw)
    assert r.body == BIG[1000000:1065536]
    assert r.header("content-range") == f"bytes 1000000-1065535/{len(BIG)}"
    assert r.all("Content-Type") == ["video/mp4"]
    assert r.all("Cache-Control") == ["private, max-age=86400"]
    assert r.all("X-Content-Type-Options") == ["nosniff"]


def test_proxy_head_is_200_with_the_headers_of_get_and_no_body(proxy, store):
    g = get(proxy, 1)
    mark = store.verifier.mark()
    h = get(proxy, 1, method="HEAD")
    recs = new_records(store.verifier, mark)
    assert h.status == 200, (h.status, [(x.method, x.verdict, x.code) for x in recs],
                             proxy.error_log()[-1500:])
    assert h.body == b""
    assert h.header("content-length") == str(len(BINARY))
    for name in ("content-type", "cache-control", "x-content-type-options", "referrer-policy"):
        assert h.header(name) == g.header(name), name
    assert all(x.verdict == "verified" for x in recs), recs


def test_proxy_download_true_is_an_attachment_with_the_record_filename(proxy):
    r = get(proxy, 3, query="&download=true")
    assert r.status == 200
    assert r.all("Content-Disposition") == ['attachment; filename="weekly report.csv"']
    assert r.body == OBJECTS[3][2]
    plain = get(proxy, 3, query="&download=1")
    assert plain.header("content-disposition") is None


def test_proxy_download_non_ascii_filename(proxy):
    r = get(proxy, 5, query="&download=true")
    assert r.status == 200
    value = r.header("content-disposition")
    assert value.startswith('attachment; filename="'), value
    assert value.endswith("filename*=UTF-8''r%C3%A9sum%C3%A9.png"), value


def test_proxy_path_differing_from_the_signed_one_is_refused_by_the_store_502(proxy, store):
    mark = store.verifier.mark()
    r = get(proxy, 1, base="/tampered")
    assert r.status == 502, (r.status, r.body[:300])
    (rec,) = new_records(store.verifier, mark)
    assert rec.path == object_path(BUCKET, OBJECTS[1][0]) + ".x"
    assert (rec.verdict, rec.code) == ("refused", "SignatureDoesNotMatch")
    assert b"SignatureDoesNotMatch" not in r.body and b"<Error>" not in r.body
    assert amz_headers(r) == []
    assert REFUSED_LOG in proxy.error_log()


def test_proxy_signature_for_one_object_cannot_fetch_another(proxy, store):
    mark = store.verifier.mark()
    r = get(proxy, 1, base="/swapped")
    assert r.status == 502, (r.status, r.body[:300])
    assert OBJECTS[8][2] not in r.body
    (rec,) = new_records(store.verifier, mark)
    assert rec.path == object_path(BUCKET, OBJECTS[8][0])
    assert (rec.verdict, rec.code) == ("refused", "SignatureDoesNotMatch")


def test_proxy_host_differing_from_the_signed_one_is_refused_by_the_store_502(proxy, store):
    mark = store.verifier.mark()
    r = get(proxy, 1, base="/otherhost")
    assert r.status == 502, (r.status, r.body[:300])
    (rec,) = new_records(store.verifier, mark)
    assert rec.host == f"localhost:{store.port}"
    assert (rec.verdict, rec.code) == ("refused", "SignatureDoesNotMatch")


def test_proxy_refusals_by_the_gate_never_reach_the_store(proxy, store):
    mark = store.verifier.mark()
    assert get(proxy, UNKNOWN).status == 404
    assert proxy.request(f"/exporter/export.png?token={mint(1, key='x' * 48)}").status == 404
    assert proxy.request(f"/exporter/export.csv?token={mint(1)}").status == 404  # wrong extension
    assert new_records(store.verifier, mark) == []


def test_proxy_wrong_secret_is_a_502_with_an_error_log_line(make_stack, store):
    s = start_stack(make_stack, s3_http(store.port, store.wrong),
                    lambda s: s3_location("@s3", store.port))
    mark = store.verifier.mark()
    r = get(s, 1)
    assert r.status == 502, (r.status, r.body[:300])
    (rec,) = new_records(store.verifier, mark)
    assert (rec.verdict, rec.code, rec.status) == ("refused", "SignatureDoesNotMatch", 403)
    assert b"SignatureDoesNotMatch" not in r.body and b"<Error>" not in r.body
    assert BINARY not in r.body
    assert amz_headers(r) == []
    assert not any("AmazonS3" in v for _, v in r.raw)
    lines = [l for l in s.error_log().splitlines() if REFUSED_LOG in l]
    assert lines and all("[error]" in l for l in lines), s.error_log()[-2000:]
    assert WRONG_SECRET not in s.error_log() and SECRET not in s.error_log()


def test_proxy_default_addressing_is_virtual_host(make_stack, store):
    port = store.port
    s = start_stack(make_stack, s3_http(port, store.good, addressing=None,
                                        endpoint=f"http://s3.{SERVICE}:{port}"),
                    lambda s: s3_location("@s3", port))
    mark = store.verifier.mark()
    r = get(s, 4)
    assert r.status == 200, (r.status, r.body[:300], new_records(store.verifier, mark))
    assert r.body == OBJECTS[4][2]
    (rec,) = new_records(store.verifier, mark)
    assert rec.host == f"{BUCKET}.s3.{SERVICE}:{port}"
    assert rec.path == "/" + quote(OBJECTS[4][0], safe="/~")
    assert rec.verdict == "verified"


def test_proxy_region_is_signed(make_stack, store, request):
    v = extra_verifier(store, request, region="eu-central-1")
    ok = start_stack(make_stack, s3_http(v.port, store.good, region="eu-central-1"),
                     lambda s: s3_location("@s3", v.port))
    r = get(ok, 1)
    assert r.status == 200 and r.body == BINARY
    default = start_stack(make_stack, s3_http(v.port, store.good),
                          lambda s: s3_location("@s3", v.port))
    assert get(default, 1).status == 502
    assert [x.verdict for x in v.records] == ["verified", "refused"]


def test_proxy_session_token_is_sent_and_signed(make_stack, store, request):
    v = extra_verifier(store, request, credentials={ACCESS_KEY: (SECRET, TOKEN)})
    s = start_stack(make_stack, s3_http(v.port, store.with_token),
                    lambda s: s3_location("@s3", v.port))
    r = get(s, 1)
    assert r.status == 200, (r.status, v.records)
    assert r.body == BINARY
    (rec,) = v.records
    assert rec.headers["x-amz-security-token"] == TOKEN
    assert "x-amz-security-token" in rec.headers["authorization"]
    # without the token the same store refuses
    plain = start_stack(make_stack, s3_http(v.port, store.good),
                        lambda s: s3_location("@s3", v.port))
    assert get(plain, 1).status == 502
    assert v.records[-1].code == "InvalidToken"
    assert TOKEN not in s.error_log()


# -- proxy mode: the store's answers (DESIGN 7: 206, 304, 412 and 416 reach the client as such) --


def object_etag(store, asset_id):
    status, headers, _ = signed_request(store.port, "HEAD", object_path(BUCKET, OBJECTS[asset_id][0]),
                                        ACCESS_KEY, SECRET)
    assert status == 200
    return headers["etag"], headers["last-modified"]


def test_proxy_range_past_the_end_is_the_stores_416_not_a_502(proxy, store):
    mark = store.verifier.mark()
    r = get(proxy, 1, headers={"Range": f"bytes={len(BINARY) + 100}-"})
    (rec,) = new_records(store.verifier, mark)
    assert (rec.verdict, rec.status) == ("verified", 416)        # s3rver's InvalidRange
    assert r.status == 416, (r.status, r.body[:300])
    assert b"InvalidRange" not in r.body and b"<Error>" not in r.body   # nginx's own page
    assert amz_headers(r) == [] and not any("AmazonS3" in v for _, v in r.raw)
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert BINARY not in r.body


def test_proxy_range_is_206_with_content_range(proxy):
    r = get(proxy, 1, headers={"Range": "bytes=8-15"})
    assert r.status == 206, (r.status, r.raw)
    assert r.body == BINARY[8:16]
    assert r.header("content-range") == f"bytes 8-15/{len(BINARY)}"
    assert r.all("Content-Type") == ["image/png"]


def test_proxy_if_none_match_of_the_stored_object_is_304(proxy, store):
    etag, _ = object_etag(store, 1)
    mark = store.verifier.mark()
    r = get(proxy, 1, headers={"If-None-Match": etag})
    assert r.status == 304, (r.status, r.body[:300])
    assert r.body == b""
    assert [x.status for x in new_records(store.verifier, mark)] == [304]
    assert amz_headers(r) == []
    assert get(proxy, 1, headers={"If-None-Match": '"another-tag"'}).status == 200


def test_proxy_if_modified_since_is_304(proxy, store):
    _, last_modified = object_etag(store, 1)
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                          time.gmtime(calendar.timegm(time.strptime(
                              last_modified, "%a, %d %b %Y %H:%M:%S GMT")) + 1))
    r = get(proxy, 1, headers={"If-Modified-Since": later})
    assert r.status == 304, (r.status, r.body[:300])
    assert r.body == b""


def test_proxy_if_match_mismatch_is_412(proxy, store):
    # s3rver ignores If-Match: the verifier answers S3's 412 PreconditionFailed (s3verify.py).
    etag, _ = object_etag(store, 1)
    mark = store.verifier.mark()
    r = get(proxy, 1, headers={"If-Match": '"not-the-etag"'})
    (rec,) = new_records(store.verifier, mark)
    assert (rec.verdict, rec.status) == ("verified", 412)
    assert r.status == 412, (r.status, r.body[:300])
    assert b"PreconditionFailed" not in r.body and b"<Error>" not in r.body
    assert amz_headers(r) == [] and BINARY not in r.body
    ok = get(proxy, 1, headers={"If-Match": etag})
    assert ok.status == 200 and ok.body == BINARY


@pytest.mark.parametrize("status, code", [(503, "SlowDown"), (500, "InternalError"),
                                          (400, "InvalidRequest"), (301, "PermanentRedirect")])
def test_proxy_other_store_errors_are_a_502_with_an_error_log_line(proxy, store, status, code):
    path = object_path(BUCKET, OBJECTS[6][0])
    store.verifier.force(path, status, code)
    try:
        mark = store.verifier.mark()
        r = get(proxy, 6)
    finally:
        store.verifier.unforce(path)
    (rec,) = new_records(store.verifier, mark)
    assert rec.status == status
    assert r.status == 502, (r.status, r.body[:300])
    assert code.encode() not in r.body and b"<Error>" not in r.body
    assert amz_headers(r) == [] and r.header("location") is None
    assert f"asset_gate: the object store answered {status} for asset 6" in proxy.error_log()


# -- proxy mode: what reaches the store --------------------------------------------------------------


CLIENT_AMZ = {
    "x-amz-request-payer": "requester",
    "X-Amz-Security-Token": "client-chosen-session-token",
    "x-amz-date": "20000101T000000Z",
    "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
    "x-amz-server-side-encryption-customer-algorithm": "AES256",
    "X-Amz-Expected-Bucket-Owner": "123456789012",
}


@pytest.mark.parametrize("base", ["/exporter", "/minimal", "/passamz"])
def test_client_x_amz_headers_never_reach_the_store(proxy, store, base):
    mark, logged = store.verifier.mark(), len(proxy.error_log())
    r = get(proxy, 1, base=base, headers=CLIENT_AMZ)
    recs = new_records(store.verifier, mark)
    assert r.status == 200, (r.status, [(x.verdict, x.code, x.message) for x in recs])
    assert r.body == BINARY
    (rec,) = recs
    assert rec.verdict == "verified"
    sent = {k for k in rec.headers if k.startswith("x-amz-")}
    assert sent == {"x-amz-date", "x-amz-content-sha256"}, rec.headers
    assert rec.headers["x-amz-date"] != "20000101T000000Z"
    assert rec.headers["x-amz-content-sha256"] == hashlib.sha256(b"").hexdigest()
    assert REFUSED_LOG not in proxy.error_log()[logged:]


def test_proxy_keeps_the_clients_other_headers(proxy, store):
    mark = store.verifier.mark()
    assert get(proxy, 1, headers={"X-Client-Note": "kept", **CLIENT_AMZ}).status == 200
    (rec,) = new_records(store.verifier, mark)
    assert rec.headers.get("x-client-note") == "kept"


@pytest.mark.parametrize("how", ["never-gated", "refused-then-error-page", "allowed-render"])
def test_s3_variables_without_allowed_content_send_nothing_to_the_store(proxy, store, how):
    token = mint(1)
    target = {"never-gated": f"/direct/export.png?token={token}",
              "refused-then-error-page": f"/refusedpage/export.png?token={mint(UNKNOWN)}",
              "allowed-render": f"/renders?token={mint(1, 'render')}"}[how]
    denial = get(proxy, UNKNOWN)
    mark = store.verifier.mark()
    r = proxy.request(target)
    assert new_records(store.verifier, mark) == []
    assert r.status == 404, (r.status, r.body[:300])
    assert r.body == denial.body
    assert "asset_gate: no signed S3 request" in proxy.error_log()


# -- proxy mode: where the S3 settings are written ----------------------------------------------------


def test_s3_settings_in_the_gate_location_sign_the_requests_it_allows(make_stack, store):
    """The settings next to `asset_gate on`, the recipe's @s3 without any: the request is signed
    with the gate's settings, and never sent unsigned with the client's URI and token."""
    port = store.port
    s = start_stack(make_stack, "", lambda s: s3_location("@s3", port),
                    lambda s: gate(s.keyfile, "@s3", s3_http(port, store.good)))
    mark = store.verifier.mark()
    token = mint(1)
    r = s.request(f"/exporter/export.png?token={token}")
    recs = new_records(store.verifier, mark)
    assert all(token not in x.target and token.split(".")[2] not in x.target for x in recs), recs
    assert r.status == 200, (r.status, [(x.target, x.auth, x.code) for x in recs])
    assert r.body == BINARY
    ((rec),) = recs
    assert (rec.auth, rec.verdict, rec.query) == ("header", "verified", "")
    assert rec.path == object_path(BUCKET, OBJECTS[1][0])


def test_s3_settings_in_the_serving_location_alone_sign_too(make_stack, store):
    port = store.port
    s = start_stack(make_stack, "", lambda s: s3_location("@s3", port,
                                                          extra=s3_http(port, store.good)))
    r = get(s, 1)
    assert r.status == 200 and r.body == BINARY


def test_each_gate_signs_with_its_own_s3_settings(make_stack, store):
    """Two gates, one serving location: each request is signed with the settings of the gate
    that allowed it (here the second gate's secret is wrong, so only its requests fail)."""
    port = store.port
    s = start_stack(make_stack, "",
                    lambda s: s3_location("@s3", port)
                    + gate_location("/second", s.keyfile, "@s3", s3_http(port, store.wrong)),
                    lambda s: gate(s.keyfile, "@s3", s3_http(port, store.good)))
    assert get(s, 1).status == 200
    mark = store.verifier.mark()
    assert get(s, 1, base="/second").status == 502
    (rec,) = new_records(store.verifier, mark)
    assert (rec.verdict, rec.code) == ("refused", "SignatureDoesNotMatch")
    assert get(s, 1).status == 200


def test_allowed_content_that_cannot_be_signed_sends_nothing_to_the_store(make_stack, store):
    """A URI target, which nginx -t cannot follow, and no S3 settings anywhere: the gate allows
    the request, the variables refuse to sign, the store sees nothing, the client a 404."""
    port = store.port
    s = start_stack(make_stack, "", lambda s: s3_location("/s3internal", port),
                    lambda s: gate(s.keyfile, "/s3internal"))
    mark = store.verifier.mark()
    r = get(s, 1)
    assert new_records(store.verifier, mark) == []
    assert r.status == 404, (r.status, r.body[:300])
    assert "asset_gate: no signed S3 request" in s.error_log()


# -- proxy mode behind proxy_cache (nginx sends a HEAD as GET: proxy_cache_convert_head) -------------


@pytest.fixture(scope="module")
def cached(store, request):
    port = store.port

    def server_extra(s):
        cache = ("proxy_cache s3cache; proxy_cache_valid 200 206 1m; "
                 "proxy_cache_key $asset_gate_s3_host$asset_gate_s3_path;")
        no_convert = ("proxy_cache s3cache; proxy_cache_valid 200 206 1m; "
                      "proxy_cache_convert_head off; "
                      "proxy_cache_key $request_method$asset_gate_s3_host$asset_gate_s3_path;")
        return (s3_location("@s3", port, extra=cache)
                + s3_location("@s3_head", port, extra=no_convert)
                + gate_location("/headasis", s.keyfile, "@s3_head"))

    def http_extra(base):
        return s3_http(port, store.good) + f"\n    proxy_cache_path {base}/s3cache keys_zone=s3cache:1m;"

    s = Stack(http_extra="")
    s.http_extra = http_extra(s.dir)
    s.server_extra = server_extra(s)
    s.gate = gate(s.keyfile)
    return start_module_stack(request, s)


def test_proxy_cache_head_is_signed_as_the_get_that_nginx_sends(cached, store):
    mark = store.verifier.mark()
    h = get(cached, 3, method="HEAD")
    recs = new_records(store.verifier, mark)
    assert h.status == 200, (h.status, [(x.method, x.verdict, x.code) for x in recs],
                             cached.error_log()[-1500:])
    assert [(x.method, x.verdict) for x in recs] == [("GET", "verified")]
    assert h.body == b"" and h.header("content-length") == str(len(OBJECTS[3][2]))
    assert h.all("Content-Type") == ["text/csv"]
    # the GET nginx made for the HEAD fills the cache (once its body is read, a moment later)
    for _ in range(40):
        mark = store.verifier.mark()
        g = get(cached, 3)
        assert g.status == 200 and g.body == OBJECTS[3][2]
        if new_records(store.verifier, mark) == []:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the GET behind the HEAD never filled the cache")


def test_proxy_cache_get_is_served_then_answered_from_the_cache(cached, store):
    mark = store.verifier.mark()
    first = get(cached, 1)
    time.sleep(0.2)  # the entry is usable once the whole body is in
    second = get(cached, 1, headers={"Range": "bytes=0-7"})
    assert first.status == 200 and first.body == BINARY
    assert second.status == 206 and second.body == BINARY[:8]
    assert [(x.method, x.verdict) for x in new_records(store.verifier, mark)] == [("GET", "verified")]
    for r in (first, second):
        assert amz_headers(r) == [] and r.all("Content-Type") == ["image/png"]


def test_proxy_cache_convert_head_off_signs_the_head(cached, store):
    mark = store.verifier.mark()
    h = get(cached, 4, method="HEAD", base="/headasis")
    recs = new_records(store.verifier, mark)
    assert h.status == 200, (h.status, [(x.method, x.verdict, x.code) for x in recs])
    assert [(x.method, x.verdict) for x in recs] == [("HEAD", "verified")]
    g = get(cached, 4, base="/headasis")
    assert g.status == 200 and g.body == OBJECTS[4][2]


# -- redirect mode -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redirect(store, request):
    """/exporter: default lifetime; /custom: 10 minutes; /short: one second."""

    def server_extra(s):
        return (gate_location("/custom", s.keyfile, None,
                              "asset_gate_s3_redirect on; asset_gate_s3_presign_expires 10m;")
                + gate_location("/short", s.keyfile, None,
                                "asset_gate_s3_redirect on; asset_gate_s3_presign_expires 1s;"))

    s = build(s3_http(store.port, store.good), server_extra,
              lambda s: gate(s.keyfile, None, "asset_gate_s3_redirect on;"))
    return start_module_stack(request, s)


def location_of(r):
    assert r.status == 302, (r.status, r.body[:300])
    (loc,) = r.all("Location")
    parts = urlsplit(loc)
    return loc, parts, dict(parse_qsl(parts.query, keep_blank_values=True))


def follow(loc, method="GET", headers=None):
    """Fetches a presigned URL: connects to 127.0.0.1 at the URL's port, with its Host."""
    parts = urlsplit(loc)
    assert parts.scheme == "http"
    target = parts.path + ("?" + parts.query if parts.query else "")
    return raw_request(parts.port, method, target, headers=headers, host=parts.netloc)


def test_redirect_is_a_302_to_a_presigned_get_of_the_object(redirect, store):
    mark = store.verifier.mark()
    r = get(redirect, 1)
    loc, parts, q = location_of(r)
    assert new_records(store.verifier, mark) == []     # nginx does not contact the store
    assert (parts.scheme, parts.netloc) == ("http", f"127.0.0.1:{store.port}")
    assert parts.path == object_path(BUCKET, OBJECTS[1][0])
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert re.fullmatch(rf"{ACCESS_KEY}/\d{{8}}/us-east-1/s3/aws4_request", q["X-Amz-Credential"])
    assert re.fullmatch(r"\d{8}T\d{6}Z", q["X-Amz-Date"])
    assert abs(time.time() - calendar.timegm(time.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))) < 60
    assert q["X-Amz-Expires"] == "3600"
    assert q["X-Amz-SignedHeaders"] == "host"
    assert re.fullmatch(r"[0-9a-f]{64}", q["X-Amz-Signature"])
    assert q["response-content-type"] == "image/png"
    assert "response-content-disposition" not in q
    assert "token" not in loc and "eyJ" not in loc
    assert r.all("Cache-Control") == ["no-store"]
    assert r.all("Referrer-Policy") == ["no-referrer"]


def test_redirect_followed_through_the_verifier_serves_the_bytes_as_the_asset_format(redirect,
                                                                                     store):
    loc, _, _ = location_of(get(redirect, 1))
    mark = store.verifier.mark()
    status, headers, body = follow(loc)
    assert status == 200, body[:500]
    assert body == BINARY
    assert headers["content-type"] == "image/png"      # response-content-type, not binary/octet-stream
    (rec,) = new_records(store.verifier, mark)
    assert (rec.auth, rec.verdict) == ("query", "verified")


def test_redirect_of_a_5_mib_object(redirect):
    loc, _, q = location_of(get(redirect, 2))
    assert q["response-content-type"] == "video/mp4"
    status, headers, body = follow(loc)
    assert status == 200
    assert hashlib.sha256(body).digest() == hashlib.sha256(BIG).digest()
    assert headers["content-type"] == "video/mp4"


@pytest.mark.parametrize("asset_id", SPECIAL, ids=["space-plus-equals", "unicode", "tilde",
                                                   "reserved-chars"])
def test_redirect_object_keys_with_special_characters(redirect, asset_id):
    key, _fmt, content, _name = OBJECTS[asset_id]
    loc, parts, _ = location_of(get(redirect, asset_id))
    assert parts.path == "/" + BUCKET + "/" + quote(key, safe="/~")
    status, _headers, body = follow(loc)
    assert status == 200, body[:500]
    assert body == content


def test_redirect_lifetime_is_configurable(redirect):
    loc, _, q = location_of(get(redirect, 1, base="/custom"))
    assert q["X-Amz-Expires"] == "600"
    status, _h, body = follow(loc)
    assert status == 200 and body == BINARY


def test_redirect_download_true_carries_the_content_disposition(redirect):
    loc, _, q = location_of(get(redirect, 3, query="&download=true"))
    assert q["response-content-disposition"] == 'attachment; filename="weekly report.csv"'
    assert q["response-content-type"] == "text/csv"
    status, headers, body = follow(loc)
    assert status == 200 and body == OBJECTS[3][2]
    assert headers["content-disposition"] == 'attachment; filename="weekly report.csv"'
    assert headers["content-type"] == "text/csv"


def test_redirect_download_non_ascii_filename(redirect):
    loc, _, q = location_of(get(redirect, 5, query="&download=true"))
    value = q["response-content-disposition"]
    assert value.startswith('attachment; filename="')
    assert value.endswith("filename*=UTF-8''r%C3%A9sum%C3%A9.png"), value
    status, headers, _ = follow(loc)
    assert status == 200
    assert headers["content-disposition"] == value


@pytest.mark.parametrize("query", ["", "&download=1", "&download=True", "&Download=true"])
def test_redirect_without_download_true_has_no_content_disposition(redirect, query):
    _, _, q = location_of(get(redirect, 3, query=query))
    assert "response-content-disposition" not in q


def test_redirect_refusals_are_the_plain_404(redirect):
    r = get(redirect, UNKNOWN)
    assert r.status == 404 and r.header("location") is None
    r = redirect.request(f"/exporter/export.png?token={mint(1, exp_in=-10)}")
    assert r.status == 404 and r.header("location") is None


def test_redirect_render_surface_is_not_redirected(redirect):
    r = redirect.request(f"/exporter?token={mint(1, 'render')}")
    assert r.status == 200 and r.header("location") is None


def test_presigned_url_is_refused_by_the_store_once_expired(redirect, store):
    # X-Amz-Date has whole seconds: start early in a second so the URL is fresh when fetched.
    deadline = time.monotonic() + 3
    while time.time() % 1 > 0.3 and time.monotonic() < deadline:
        time.sleep(0.02)
    loc, _, q = location_of(get(redirect, 1, base="/short"))
    assert q["X-Amz-Expires"] == "1"
    status, _h, body = follow(loc)
    assert status == 200 and body == BINARY, body[:300]
    time.sleep(2.5)
    mark = store.verifier.mark()
    status, headers, body = follow(loc)
    assert status == 403, body[:300]
    assert b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body
    assert BINARY not in body
    (rec,) = new_records(store.verifier, mark)
    assert (rec.verdict, rec.code, rec.message) == ("refused", "AccessDenied", "Request has expired")


def _flip(text, index):
    c = text[index]
    return text[:index] + ("0" if c != "0" else "1") + text[index + 1:]


def _tamper(loc, what):
    parts = urlsplit(loc)
    path, query = parts.path, parts.query
    if what == "path":
        path = path[:-1] + ("x" if path[-1] != "x" else "y")
    elif what == "other-object":
        path = object_path(BUCKET, OBJECTS[8][0])
    elif what == "signature":
        i = query.index("X-Amz-Signature=") + len("X-Amz-Signature=") + 10
        query = _flip(query, i)
    elif what == "expires":
        query = query.replace("X-Amz-Expires=3600", "X-Amz-Expires=604800")
    elif what == "content-type":
        query = query.replace("response-content-type=image%2Fpng", "response-content-type=text%2Fhtml")
    elif what == "date":
        i = query.index("X-Amz-Date=") + len("X-Amz-Date=") + 12  # a minute digit
        query = _flip(query, i)
    elif what == "dropped-content-type":
        query = "&".join(p for p in query.split("&") if not p.startswith("response-content-type="))
    assert (path, query) != (parts.path, parts.query), what
    return f"{parts.scheme}://{parts.netloc}{path}?{query}"


@pytest.mark.parametrize("what", ["path", "other-object", "signature", "expires", "content-type",
                                  "date", "dropped-content-type"])
def test_tampered_presigned_url_is_refused_by_the_store(redirect, store, what):
    loc, _, _ = location_of(get(redirect, 1))
    assert follow(loc)[0] == 200
    mark = store.verifier.mark()
    status, _h, body = follow(_tamper(loc, what))
    assert status == 403, (what, status, body[:300])
    assert b"<Code>SignatureDoesNotMatch</Code>" in body, body[:300]
    assert BINARY not in body and OBJECTS[8][2] not in body
    (rec,) = new_records(store.verifier, mark)
    assert (rec.verdict, rec.code) == ("refused", "SignatureDoesNotMatch")


def test_redirect_wrong_secret_is_refused_by_the_store(make_stack, store):
    s = start_stack(make_stack, s3_http(store.port, store.wrong), lambda s: "",
                    lambda s: gate(s.keyfile, None, "asset_gate_s3_redirect on;"))
    loc, _, _ = location_of(get(s, 1))
    status, _h, body = follow(loc)
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body and BINARY not in body


def test_redirect_virtual_host_addressing(make_stack, store):
    port = store.port
    s = start_stack(make_stack, s3_http(port, store.good, addressing="virtual",
                                        endpoint=f"http://s3.{SERVICE}:{port}"),
                    lambda s: "", lambda s: gate(s.keyfile, None, "asset_gate_s3_redirect on;"))
    loc, parts, _ = location_of(get(s, 6))
    assert parts.netloc == f"{BUCKET}.s3.{SERVICE}:{port}"
    assert parts.path == "/" + quote(OBJECTS[6][0], safe="/~")
    status, _h, body = follow(loc)
    assert status == 200, body[:300]
    assert body == OBJECTS[6][2]


def test_redirect_with_a_session_token(make_stack, store, request):
    v = extra_verifier(store, request, credentials={ACCESS_KEY: (SECRET, TOKEN)})
    s = start_stack(make_stack, s3_http(v.port, store.with_token), lambda s: "",
                    lambda s: gate(s.keyfile, None, "asset_gate_s3_redirect on;"))
    loc, _, q = location_of(get(s, 1))
    assert q["X-Amz-Security-Token"] == TOKEN
    status, _h, body = follow(loc)
    assert status == 200 and body == BINARY


def test_redirect_default_port_is_left_out_of_the_url(make_stack, store):
    s = start_stack(make_stack, s3_http(store.port, store.good, endpoint="https://s3.example.com:443"),
                    lambda s: "", lambda s: gate(s.keyfile, None, "asset_gate_s3_redirect on;"))
    loc, parts, _ = location_of(get(s, 1))
    assert parts.scheme == "https" and parts.netloc == "s3.example.com", loc


@pytest.mark.parametrize("query", ["", "&download=true", "&X-Amz-Signature=client&x=1",
                                   "&response-content-type=text%2Fhtml&X-Amz-Expires=604800"])
def test_redirect_url_never_carries_the_client_token_or_query(redirect, query):
    token = mint(3)
    r = redirect.request(f"/exporter/export.csv?token={token}{query}")
    loc, parts, q = location_of(r)
    header, payload, signature = token.split(".")
    for part in (token, payload, signature, "token", "client", "text%2Fhtml", "text/html"):
        assert part not in loc, (part, loc)
    assert q["X-Amz-Expires"] == "3600" and q["response-content-type"] == "text/csv"
    assert [k for k, _ in parse_qsl(parts.query)].count("X-Amz-Signature") == 1
    assert token not in r.body.decode(errors="replace")
    assert follow(loc)[0] == 200


# -- configuration errors (nginx -t) -------------------------------------------------------------------

MARK = "# <-"


@pytest.fixture
def conf():
    s = Stack(start_redis=False)
    s.write_keys()
    creds = credentials_file(s.dir, "credentials")
    yield SimpleNamespace(stack=s, creds=creds)
    s.cleanup()


def config_text(c, http="", gate_extra="", content="@content", server=""):
    s = c.stack
    return f"""load_module {MODULE};
error_log {s.dir}/test-error.log info;
pid {s.dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {s.dir}/client_body;
    proxy_temp_path {s.dir}/proxy;
    fastcgi_temp_path {s.dir}/fastcgi;
    uwsgi_temp_path {s.dir}/uwsgi;
    scgi_temp_path {s.dir}/scgi;
    asset_gate_redis 127.0.0.1:{free_port()};
    {http}
    server {{
        listen 127.0.0.1:{s.port};
        location ^~ /exporter {{
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_content {content};
            {gate_extra}
        }}
        location @content {{ return 404; }}
        {server}
    }}
}}
"""


def marked_line(text):
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if MARK in line]
    assert len(hits) == 1
    return hits[0]


def assert_fails_at(c, text, *needles):
    res = c.stack.nginx_test(text)
    assert res.returncode != 0, res.stderr
    assert "[emerg]" in res.stderr, res.stderr
    assert f"nginx.conf:{marked_line(text)}" in res.stderr, res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)
    return res


def good_http(c, endpoint="http://127.0.0.1:9000", creds=None, extra=""):
    return f"""asset_gate_s3_endpoint {endpoint};
    asset_gate_s3_bucket {BUCKET};
    asset_gate_s3_credentials_file {creds or c.creds};
    {extra}"""


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.1:9000",
    "https://s3.eu-west-1.amazonaws.com",
    "http://minio.internal:9000/",
])
def test_nginx_t_accepts_a_complete_s3_configuration(conf, endpoint):
    text = config_text(conf, good_http(conf, endpoint, extra="asset_gate_s3_region eu-west-1;\n"
                                       "asset_gate_s3_addressing path;\n"
                                       "asset_gate_s3_presign_expires 7d;"),
                       "asset_gate_s3_redirect on;")
    res = conf.stack.nginx_test(text)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("endpoint", [
    "127.0.0.1:9000",                     # no scheme
    "s3.amazonaws.com",
    "ftp://127.0.0.1:9000",
    "http://127.0.0.1:9000/bucket",       # a path
    "http://127.0.0.1:9000/bucket/",
    "http://127.0.0.1:9000?x=1",
    "http://user@127.0.0.1:9000",
    "http://",
])
def test_nginx_t_refuses_an_invalid_endpoint(conf, endpoint):
    text = config_text(conf, f"asset_gate_s3_endpoint {endpoint}; {MARK}")
    assert_fails_at(conf, text, "invalid S3 endpoint")


def test_nginx_t_refuses_a_missing_credentials_file(conf):
    missing = conf.stack.dir / "no-such-credentials"
    text = config_text(conf, f"asset_gate_s3_credentials_file {missing}; {MARK}")
    assert_fails_at(conf, text, "cannot open S3 credentials file", str(missing))


@pytest.mark.parametrize("body, reason", [
    ("aws_access_key_id = AKIDEXAMPLE\n", "no aws_secret_access_key"),
    ("aws_access_key_id = AKIDEXAMPLE\naws_secret_access_key =\n", "no aws_secret_access_key"),
    ("aws_access_key_id = AKIDEXAMPLE\naws_secret_access_key wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY\n",
     "is not"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY\n", "no aws_access_key_id"),
    ("", "no aws_access_key_id"),
])
def test_nginx_t_refuses_credentials_without_a_key_pair_and_never_prints_the_secret(conf, body,
                                                                                      reason):
    path = conf.stack.dir / "bad-credentials"
    path.write_text(body)
    text = config_text(conf, f"asset_gate_s3_credentials_file {path}; {MARK}")
    res = assert_fails_at(conf, text, "invalid S3 credentials file", reason)
    log = conf.stack.dir / "test-error.log"
    for secret_part in ("wJalrXUtnFEMI", "EXAMPLEKEY"):
        assert secret_part not in res.stderr + res.stdout
        assert not log.exists() or secret_part not in log.read_text(errors="replace")


def test_nginx_t_refuses_redirect_without_an_endpoint(conf):
    http = f"""asset_gate_s3_bucket {BUCKET};
    asset_gate_s3_credentials_file {conf.creds};"""
    text = config_text(conf, http, f"asset_gate_s3_redirect on; {MARK}")
    res = conf.stack.nginx_test(text)
    assert res.returncode != 0, res.stderr
    assert "[emerg]" in res.stderr and "asset_gate_s3_redirect" in res.stderr, res.stderr
    lines = text.splitlines()
    gate_on = 1 + next(n for n, line in enumerate(lines) if "asset_gate on;" in line)
    assert any(f"nginx.conf:{n}" in res.stderr for n in (gate_on, marked_line(text))), res.stderr


@pytest.mark.parametrize("missing", ["bucket", "credentials"])
def test_nginx_t_refuses_redirect_without_bucket_or_credentials(conf, missing):
    http = "asset_gate_s3_endpoint http://127.0.0.1:9000;\n"
    if missing != "bucket":
        http += f"asset_gate_s3_bucket {BUCKET};\n"
    if missing != "credentials":
        http += f"asset_gate_s3_credentials_file {conf.creds};\n"
    res = conf.stack.nginx_test(config_text(conf, http, "asset_gate_s3_redirect on;"))
    assert res.returncode != 0 and "asset_gate_s3_redirect" in res.stderr, res.stderr


def test_nginx_t_refuses_an_unknown_addressing_style(conf):
    text = config_text(conf, good_http(conf, extra=f"asset_gate_s3_addressing sideways; {MARK}"))
    assert_fails_at(conf, text, "sideways")


@pytest.mark.parametrize("value", ["0s", "8d"])
def test_nginx_t_refuses_a_presign_lifetime_outside_1s_to_7d(conf, value):
    text = config_text(conf, good_http(conf), f"asset_gate_s3_presign_expires {value};")
    res = conf.stack.nginx_test(text)
    assert res.returncode != 0, res.stderr
    assert "asset_gate_s3_presign_expires" in res.stderr, res.stderr


def test_nginx_t_redirect_is_a_location_directive(conf):
    text = config_text(conf, good_http(conf, extra=f"asset_gate_s3_redirect on; {MARK}"))
    assert_fails_at(conf, text, "not allowed here")


def test_nginx_t_refuses_a_duplicate_endpoint(conf):
    text = config_text(conf, good_http(conf, extra=f"asset_gate_s3_endpoint http://127.0.0.1:9001; {MARK}"))
    assert_fails_at(conf, text, "duplicate")


# -- nginx -t: a gate whose S3 requests cannot be signed ------------------------------------------------

S3_PROXY = """location @s3 {
            proxy_pass http://127.0.0.1:9000$asset_gate_s3_path;
            proxy_set_header Host $asset_gate_s3_host;
            proxy_set_header X-Amz-Date $asset_gate_s3_date;
            proxy_set_header X-Amz-Content-Sha256 $asset_gate_s3_content_sha256;
            proxy_set_header Authorization $asset_gate_s3_authorization;
        }"""


def gate_on_line(text, occurrence=0):
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if "asset_gate on;" in line]
    return lines[occurrence]


@pytest.mark.parametrize("missing", [
    ["asset_gate_s3_endpoint", "asset_gate_s3_bucket", "asset_gate_s3_credentials_file"],
    ["asset_gate_s3_bucket"],
    ["asset_gate_s3_credentials_file"],
    ["asset_gate_s3_endpoint"],
], ids=["none", "bucket", "credentials", "endpoint"])
def test_nginx_t_refuses_a_gate_whose_s3_requests_cannot_be_signed(conf, missing):
    settings = {"asset_gate_s3_endpoint": "http://127.0.0.1:9000",
                "asset_gate_s3_bucket": BUCKET,
                "asset_gate_s3_credentials_file": str(conf.creds)}
    http = "".join(f"{k} {v};\n    " for k, v in settings.items() if k not in missing)
    text = config_text(conf, http, content="@s3", server=S3_PROXY)
    res = conf.stack.nginx_test(text)
    assert res.returncode != 0, res.stderr
    assert "[emerg]" in res.stderr, res.stderr
    assert f"nginx.conf:{gate_on_line(text)}" in res.stderr, res.stderr
    assert '"asset_gate_content @s3"' in res.stderr, res.stderr
    for name in missing:
        assert f'"{name}"' in res.stderr, (name, res.stderr)


@pytest.mark.parametrize("where", ["http", "gate", "serving"])
def test_nginx_t_accepts_s3_settings_wherever_they_are_written(conf, where):
    settings = good_http(conf)
    text = config_text(conf, settings if where == "http" else "", content="@s3",
                       gate_extra=settings if where == "gate" else "",
                       server=S3_PROXY.replace("{", "{ " + settings, 1) if where == "serving"
                       else S3_PROXY)
    res = conf.stack.nginx_test(text)
    assert res.returncode == 0, res.stderr


def test_nginx_t_accepts_a_disk_gate_beside_an_s3_gate(conf):
    s = conf.stack
    disk_gate = f"""location ^~ /files {{
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_content @disk;
        }}
        location @disk {{ root /var/lib/exports; try_files /$asset_gate_location =404; }}"""
    text = config_text(conf, "", content="@s3", gate_extra=good_http(conf),
                       server=S3_PROXY + disk_gate)
    res = conf.stack.nginx_test(text)
    assert res.returncode == 0, res.stderr


def test_nginx_t_without_s3_variables_needs_no_s3_settings(conf):
    text = config_text(conf, "", content="@s3",
                       server="location @s3 { proxy_pass http://127.0.0.1:9000; }")
    res = conf.stack.nginx_test(text)
    assert res.returncode == 0, res.stderr


def test_nginx_t_warns_when_the_serving_location_s3_settings_are_overridden(conf):
    serving = S3_PROXY.replace("{", "{ asset_gate_s3_bucket another-bucket;", 1)
    text = config_text(conf, good_http(conf), content="@s3", server=serving)
    res = conf.stack.nginx_test(text)
    assert res.returncode == 0, res.stderr
    assert "[warn]" in res.stderr and "@s3" in res.stderr, res.stderr


def test_nginx_t_refuses_an_inline_gate_that_proxies_without_s3_settings(conf):
    text = config_text(conf, "", content="inline",
                       gate_extra="proxy_pass http://127.0.0.1:9000$asset_gate_s3_path;")
    res = conf.stack.nginx_test(text)
    assert res.returncode != 0, res.stderr
    assert f"nginx.conf:{gate_on_line(text)}" in res.stderr, res.stderr
    assert '"asset_gate_content inline"' in res.stderr, res.stderr
