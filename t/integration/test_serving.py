"""What an allowed request gets (DESIGN.md section 7), the asset and org checks of steps 6-8,
the variables of section 6 in the access log, and the ways a gate routes what it allows."""

import http.client
import re
import time
import uuid

import pytest

from gate import FILE, PNG, mint

URL_NAME = FILE.rsplit("/", 1)[1]
CONTENT_HEADERS = ("content-type", "cache-control", "x-content-type-options", "referrer-policy",
                   "content-length", "content-disposition", "accept-ranges")


def outcome(r):
    return r.status, r.header("x-reason")


def wait_for_log(stack, marker, which="access", timeout=5.0):
    """The access-log line holding `marker` (nginx may log just after the response is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        text = stack.access_log() if which == "access" else stack.error_log()
        lines = [line for line in text.splitlines() if marker in line]
        if lines:
            return lines[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {which} log line with {marker!r}:\n{text[-2000:]}")
        time.sleep(0.02)


def log_fields(line):
    return dict(re.findall(r"(\w+)=(\S*)", line.split(" HTTP/1.1 ", 1)[1]))


class Ids:
    """Asset ids no other test of this module uses, so the record cache never interferes."""

    def __init__(self, start):
        self.next = start

    def __call__(self):
        self.next += 1
        return self.next


new_id = Ids(5000)


# -- content headers ----------------------------------------------------------------------


def test_content_headers(stack):
    r = stack.content(101)
    assert outcome(r) == (200, "allowed")
    assert r.body == PNG
    # the file on disk is ".../blob", without an extension: the type is the record's format
    assert r.header("content-type") == "image/png"
    assert r.all("Cache-Control") == ["private, max-age=86400"]
    assert r.all("X-Content-Type-Options") == ["nosniff"]
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("content-disposition") is None
    assert r.header("expires") is None


def test_content_max_age_directive(make_stack):
    s = make_stack(location_extra="asset_gate_content_max_age 1h;")
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    r = s.content(101)
    assert r.status == 200
    assert r.all("Cache-Control") == ["private, max-age=3600"]


def _inline_stack_with(make_stack, extra):
    s = make_stack(start=False)
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @render;
            asset_gate_content inline;
            root {s.root};
            add_header X-Reason $asset_gate_reason always;
            {extra}
            try_files /$asset_gate_location =404;"""
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    return s


def test_serving_location_expires_does_not_add_a_second_cache_control(make_stack):
    s = _inline_stack_with(make_stack, "default_type text/html; expires 7d;")
    r = s.content(101)
    assert r.status == 200
    assert r.header("content-type") == "image/png"
    assert r.all("Cache-Control") == ["private, max-age=86400"]
    assert r.header("expires") is None


def test_serving_location_add_header_cannot_weaken_content_headers(make_stack):
    s = _inline_stack_with(make_stack, "add_header Referrer-Policy unsafe-url;\n"
                                       "            add_header X-Content-Type-Options other;")
    r = s.content(101)
    assert r.status == 200
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.all("X-Content-Type-Options") == ["nosniff"]


def test_referrer_policy_on_render_surface(stack):
    r = stack.render(101)
    assert outcome(r) == (200, "allowed")
    assert r.all("Referrer-Policy") == ["no-referrer"]
    # the render page is not content: no content headers
    assert r.header("x-content-type-options") is None
    assert r.header("cache-control") is None


@pytest.mark.parametrize("path", ["/exporter", FILE, "/exporter/a/b.png"])
def test_referrer_policy_on_refusals(stack, path):
    r = stack.request(f"{path}?token={mint(101, key='x' * 40)}")
    assert r.status == 404
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("x-content-type-options") is None
    assert r.header("cache-control") is None


def test_referrer_policy_on_405(stack):
    r = stack.request(FILE, method="POST")
    assert outcome(r) == (405, "method")
    assert r.all("Referrer-Policy") == ["no-referrer"]


def test_refusal_after_lookup_has_no_content_headers(stack):
    r = stack.content(102)  # org_blocked, decided after the Redis lookup
    assert outcome(r) == (404, "org_blocked")
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("x-content-type-options") is None
    assert r.header("content-type") != "image/png"


# -- Content-Disposition ------------------------------------------------------------------


def test_download_true_is_an_attachment_with_the_record_filename(stack):
    r = stack.request(f"{FILE}?token={mint(101)}&download=true")
    assert r.status == 200
    assert r.all("Content-Disposition") == ['attachment; filename="export-weekly-report.png"']
    assert r.body == PNG


def test_download_before_token_also_counts(stack):
    r = stack.request(f"{FILE}?download=true&token={mint(101)}")
    assert r.header("content-disposition") == 'attachment; filename="export-weekly-report.png"'


@pytest.mark.parametrize("value", ["1", "True", "TRUE", "yes", "", "true1", "truex"])
def test_download_other_than_exactly_true_is_inline(stack, value):
    r = stack.request(f"{FILE}?token={mint(101)}&download={value}")
    assert r.status == 200
    assert r.header("content-disposition") is None


def test_download_arg_name_is_exact(stack):
    r = stack.request(f"{FILE}?token={mint(101)}&Download=true&xdownload=true")
    assert r.status == 200
    assert r.header("content-disposition") is None


def test_download_without_record_filename_uses_the_url_name(stack):
    i = new_id()
    stack.put_asset(i, org="org-on")
    r = stack.request(f"/exporter/my-report_2026.png?token={mint(i)}&download=true")
    assert r.status == 200
    assert r.header("content-disposition") == 'attachment; filename="my-report_2026.png"'


def test_download_filename_with_double_quote_cannot_break_the_header(stack):
    i = new_id()
    stack.put_asset(i, org="org-on", filename='my "quoted" report\\.png')
    r = stack.request(f"/exporter/fallback.png?token={mint(i)}&download=true")
    assert r.status == 200
    value = r.header("content-disposition")
    m = re.fullmatch(r'attachment; filename="([^"\\]*)"', value)
    assert m, value
    assert m.group(1) in ("my _quoted_ report_.png", "fallback.png"), value


def test_download_non_ascii_filename_has_ascii_fallback_and_rfc6266_form(stack):
    i = new_id()
    stack.put_asset(i, org="org-on", filename="résumé-export.png")
    r = stack.request(f"/exporter/a.png?token={mint(i)}&download=true")
    assert r.status == 200
    value = r.header("content-disposition")
    m = re.fullmatch(r"""attachment; filename="([\x20-\x7e]*)"; filename\*=UTF-8''(\S+)""", value)
    assert m, value
    assert '"' not in m.group(1) and "\\" not in m.group(1)
    assert m.group(2) == "r%C3%A9sum%C3%A9-export.png"


def test_no_content_disposition_on_render_even_with_download(stack):
    r = stack.request(f"/exporter?token={mint(101)}&download=true")
    assert r.status == 200
    assert r.header("content-disposition") is None


# -- HEAD and Range -----------------------------------------------------------------------


def test_head_matches_get_headers_with_empty_body(stack):
    path = f"{FILE}?token={mint(101)}&download=true"
    g = stack.request(path)
    h = stack.request(path, method="HEAD")
    assert (g.status, h.status) == (200, 200)
    assert h.body == b""
    for name in CONTENT_HEADERS:
        assert h.header(name) == g.header(name), name
    assert h.header("content-length") == str(len(PNG))


def test_head_refusal_matches_get_refusal(stack):
    path = f"{FILE}?token=garbage"
    g = stack.request(path)
    h = stack.request(path, method="HEAD")
    assert outcome(h) == outcome(g) == (404, "bad_token")
    assert h.body == b""


def test_range_request_gets_206_with_content_headers(stack):
    r = stack.request(f"{FILE}?token={mint(101)}&download=true", headers={"Range": "bytes=0-3"})
    assert r.status == 206
    assert r.body == PNG[:4]
    assert r.header("content-range") == f"bytes 0-3/{len(PNG)}"
    assert r.header("content-type") == "image/png"
    assert r.all("Cache-Control") == ["private, max-age=86400"]
    assert r.all("X-Content-Type-Options") == ["nosniff"]
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("content-disposition") == 'attachment; filename="export-weekly-report.png"'


def test_suffix_range_request(stack):
    r = stack.request(f"{FILE}?token={mint(101)}", headers={"Range": "bytes=-5"})
    assert r.status == 206
    assert r.body == PNG[-5:]
    assert r.header("content-type") == "image/png"


def test_conditional_request_gets_304_with_content_headers(stack):
    path = f"{FILE}?token={mint(101)}"
    etag = stack.request(path).header("etag")
    assert etag
    r = stack.request(path, headers={"If-None-Match": etag})
    assert r.status == 304
    assert r.body == b""
    assert r.all("Cache-Control") == ["private, max-age=86400"]
    assert r.all("Referrer-Policy") == ["no-referrer"]


def test_allowed_token_for_a_missing_file_gets_a_plain_404(stack):
    i = new_id()
    stack.put_asset(i, org="org-on", content=None)
    r = stack.request(f"/exporter/gone.png?token={mint(i)}&download=true")
    assert r.status == 404
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("content-type") != "image/png"
    assert r.header("content-disposition") is None
    assert r.header("x-content-type-options") is None
    assert "private" not in (r.header("cache-control") or "")


@pytest.mark.parametrize("location", ["../outside/blob", "/etc/hostname", "a/../../blob",
                                      "a//b", "a/./b", "exports/"])
def test_record_location_outside_the_content_root_is_a_bad_record(stack, location):
    i = new_id()
    outside = stack.dir / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "blob").write_bytes(b"secret outside the root")
    stack.put_asset(i, org="org-on", location=location, content=None)
    r = stack.content(i)
    assert (r.status, r.header("x-reason")) == (404, "bad_record")
    assert b"secret" not in r.body


# -- formats and extensions ---------------------------------------------------------------

FORMATS = [
    ("image/png", "png"),
    ("application/pdf", "pdf"),
    ("text/csv", "csv"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ("video/webm", "webm"),
    ("video/mp4", "mp4"),
    ("image/gif", "gif"),
    ("image/jpeg", "jpeg"),
    ("application/json", "json"),
    ("application/x-ndjson", "jsonl"),
    ("application/x-custom", "x-custom"),
]


@pytest.mark.parametrize("fmt,ext", FORMATS, ids=[f[1] for f in FORMATS])
def test_format_is_served_under_its_extension(stack, fmt, ext):
    i = new_id()
    body = f"content of {fmt}".encode()
    stack.put_asset(i, org="org-on", fmt=fmt, content=body)
    r = stack.request(f"/exporter/export-2026.{ext}?token={mint(i)}")
    assert outcome(r) == (200, "allowed")
    assert r.header("content-type") == fmt
    assert r.body == body
    assert r.all("X-Content-Type-Options") == ["nosniff"]


@pytest.mark.parametrize("fmt,ext", FORMATS, ids=[f[1] for f in FORMATS])
def test_format_refused_under_another_extension(stack, fmt, ext):
    i = new_id()
    stack.put_asset(i, org="org-on", fmt=fmt)
    wrong = "txt" if ext != "txt" else "png"
    r = stack.request(f"/exporter/export-2026.{wrong}?token={mint(i)}")
    assert outcome(r) == (404, "extension_mismatch")


@pytest.mark.parametrize("ext", ["PNG", "Png", "jpg", "png2", "pn", "blob"])
def test_extension_mismatch(stack, ext):
    r = stack.request(f"/exporter/report.{ext}?token={mint(101)}")
    assert outcome(r) == (404, "extension_mismatch")


def test_format_parameters_do_not_change_the_extension(stack):
    i = new_id()
    stack.put_asset(i, org="org-on", fmt="text/csv; charset=utf-8", location=f"csv/{i}")
    r = stack.request(f"/exporter/data.csv?token={mint(i)}")
    assert outcome(r) == (200, "allowed")
    assert r.header("content-type") == "text/csv; charset=utf-8"


def test_render_surface_ignores_the_extension(stack):
    i = new_id()
    stack.put_asset(i, org="org-on", fmt="application/pdf")
    assert outcome(stack.render(i)) == (200, "allowed")


# -- asset checks -------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", [None, "subscription_delivery"])
def test_asset_unknown(stack, purpose):
    assert outcome(stack.content(987_654, purpose)) == (404, "asset_unknown")


def test_asset_unknown_on_render_surface(stack):
    assert outcome(stack.render(987_655, "render")) == (404, "asset_unknown")


def test_asset_expired(stack):
    i = new_id()
    stack.put_asset(i, org="org-on", expires_at=int(time.time()) - 10)
    assert outcome(stack.content(i)) == (404, "asset_expired")
    assert outcome(stack.content(i, "subscription_delivery")) == (404, "asset_expired")
    assert outcome(stack.render(i, "render")) == (404, "asset_expired")


def test_asset_expiring_in_the_future_is_served(stack):
    i = new_id()
    stack.put_asset(i, org="org-on", expires_at=int(time.time()) + 3600)
    r = stack.content(i)
    assert outcome(r) == (200, "allowed")
    assert r.body == PNG


def test_asset_expires_at_zero_means_never(stack):
    i = new_id()
    stack.put_asset(i, org="org-on", expires_at=0)
    assert outcome(stack.content(i)) == (200, "allowed")


# -- org gate -----------------------------------------------------------------------------


def test_org_unknown_for_public_tokens_only(stack):
    # asset 104 belongs to an org that has no record
    assert outcome(stack.content(104)) == (404, "org_unknown")
    assert outcome(stack.render(104)) == (404, "org_unknown")
    assert outcome(stack.content(104, "subscription_delivery")) == (200, "allowed")
    assert outcome(stack.render(104, "render")) == (200, "allowed")


def test_org_blocked_only_with_security_settings_and_public_sharing_off(stack):
    assert outcome(stack.content(102)) == (404, "org_blocked")      # feature on, sharing off
    assert outcome(stack.content(103)) == (200, "allowed")          # feature off, sharing off
    assert outcome(stack.content(101)) == (200, "allowed")          # feature on, sharing on


def test_org_allow_public_absent_means_allowed(stack):
    i = new_id()
    stack.redis.client.hset("org:org-partial", mapping={"security_settings": "1"})
    stack.put_asset(i, org="org-partial")
    assert outcome(stack.content(i)) == (200, "allowed")


def test_org_gate_ignored_for_purpose_tokens(stack):
    assert outcome(stack.content(102, "subscription_delivery")) == (200, "allowed")
    assert outcome(stack.render(102, "render")) == (200, "allowed")


# -- variables in the access log ----------------------------------------------------------


def test_variables_filled_for_an_allowed_request(stack):
    marker = uuid.uuid4().hex
    r = stack.request(f"{FILE}?token={mint(101)}&m={marker}")
    assert r.status == 200
    f = log_fields(wait_for_log(stack, marker))
    assert f == {
        "reason": "allowed", "id": "101", "purpose": "public", "surface": "content",
        "org": "org-on", "format": "image/png",
        "location": "exports/png/team-1/task-101/blob", "filename": "export-weekly-report.png",
    }


def test_variables_for_an_allowed_render_request(stack):
    marker = uuid.uuid4().hex
    r = stack.request(f"/exporter?token={mint(102, 'render')}&m={marker}")
    assert r.status == 200
    assert r.body == b"render page for asset 102 purpose render\n"
    f = log_fields(wait_for_log(stack, marker))
    assert (f["reason"], f["id"], f["purpose"], f["surface"], f["org"]) == (
        "allowed", "102", "render", "render", "org-off")


@pytest.mark.parametrize("token", [
    mint(101, key="z" * 40),                         # bad_signature
    mint(101, exp_in=-60),                           # expired: signed, but not verified
    mint(101, aud="other"),                          # wrong_audience
    "garbage",                                       # bad_token
])
def test_variables_empty_when_the_token_failed_verification(stack, token):
    marker = uuid.uuid4().hex
    r = stack.request(f"{FILE}?token={token}&m={marker}")
    assert r.status == 404
    f = log_fields(wait_for_log(stack, marker))
    assert f["reason"] == r.header("x-reason") != "allowed"
    assert f["surface"] == "content"
    for name in ("id", "purpose", "org", "format", "location", "filename"):
        assert f[name] == "-", (name, f)


def test_surface_set_for_malformed_path_and_ids_empty(stack):
    marker = uuid.uuid4().hex
    stack.request(f"/exporter/a/b.png?token={mint(101)}&m={marker}")
    f = log_fields(wait_for_log(stack, marker))
    assert (f["reason"], f["surface"], f["id"], f["purpose"]) == (
        "malformed_path", "malformed", "-", "-")


def test_surface_render_and_reason_no_token(stack):
    marker = uuid.uuid4().hex
    stack.request(f"/exporter?m={marker}")
    f = log_fields(wait_for_log(stack, marker))
    assert (f["reason"], f["surface"], f["id"]) == ("no_token", "render", "-")


def test_variables_of_a_verified_token_refused_by_purpose(stack):
    marker = uuid.uuid4().hex
    stack.request(f"{FILE}?token={mint(101, 'render')}&m={marker}")
    f = log_fields(wait_for_log(stack, marker))
    assert (f["reason"], f["id"], f["purpose"], f["surface"]) == (
        "purpose_surface", "101", "render", "content")


def test_variables_empty_outside_the_gate(stack):
    marker = uuid.uuid4().hex
    stack.request(f"/whoami?m={marker}")
    f = log_fields(wait_for_log(stack, marker))
    assert set(f.values()) == {"-"}, f


# -- routing ------------------------------------------------------------------------------


def inline_gate(s, extra=""):
    return f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @render;
            asset_gate_content inline;
            root {s.root};
            add_header X-Reason $asset_gate_reason always;
            try_files /$asset_gate_location =404;
            {extra}"""


def test_inline_content_mode(make_stack):
    s = make_stack(start=False)
    s.gate = inline_gate(s)
    s.start()
    s.put_org("org-on")
    s.put_org("org-off", allow_public=False)
    s.put_asset(101, org="org-on", filename="inline.png")
    s.put_asset(102, org="org-off")
    s.put_asset(105, org="org-on", content=None)  # record without a file
    r = s.request(f"{FILE}?token={mint(101)}&download=true")
    assert outcome(r) == (200, "allowed")
    assert r.body == PNG
    assert r.header("content-type") == "image/png"
    assert r.all("Cache-Control") == ["private, max-age=86400"]
    assert r.all("X-Content-Type-Options") == ["nosniff"]
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("content-disposition") == 'attachment; filename="inline.png"'
    assert outcome(s.content(102)) == (404, "org_blocked")
    assert outcome(s.content(101, "render")) == (404, "purpose_surface")
    assert s.content(105).status == 404
    r = s.render(101)
    assert r.status == 200 and r.header("x-surface") == "render"


def test_inline_mode_does_not_serve_files_the_record_does_not_name(make_stack):
    s = make_stack(start=False)
    s.gate = inline_gate(s)
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    (s.root / "exporter").mkdir()
    (s.root / "exporter" / URL_NAME).write_bytes(b"not the asset")
    r = s.content(101)
    assert r.status == 200 and r.body == PNG
    assert s.request(FILE).status == 404


def test_uri_targets(make_stack):
    s = make_stack(start=False)
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render /render-page;
            asset_gate_content /internal/content;
            add_header X-Reason $asset_gate_reason always;"""
    s.server_extra = f"""
        location /internal/ {{
            internal;
            root {s.root};
            try_files /$asset_gate_location =404;
        }}
        location = /render-page {{
            internal;
            return 200 "render page id=$asset_gate_id purpose=$asset_gate_purpose\\n";
        }}"""
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on", filename="u.png")
    r = s.request(f"{FILE}?token={mint(101)}&download=true")
    assert r.status == 200
    assert r.body == PNG
    assert r.header("content-type") == "image/png"
    assert r.all("Cache-Control") == ["private, max-age=86400"]
    assert r.all("X-Content-Type-Options") == ["nosniff"]
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("content-disposition") == 'attachment; filename="u.png"'
    r = s.render(101, "render")
    assert r.status == 200
    assert r.body == b"render page id=101 purpose=render\n"
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert outcome(s.content(101, key="q" * 40)) == (404, "bad_signature")
    # the targets themselves are internal
    assert s.request("/render-page").status == 404
    assert s.request("/internal/content").status == 404


def test_keepalive_connection_survives_many_gate_requests(stack):
    i = new_id()
    stack.put_asset(i, org="org-on")
    requests = [
        (f"{FILE}?token={mint(101)}", "GET", 200),
        (f"/exporter?token={mint(101)}", "GET", 200),
        (f"{FILE}?token={mint(101)}", "HEAD", 200),
        (f"{FILE}?token=garbage", "GET", 404),
        ("/exporter/a/b.png", "GET", 404),
        (f"{FILE}?token={mint(102)}", "GET", 404),               # refused after lookup
        (f"/exporter/a.png?token={mint(i)}", "GET", 200),       # lookup, then cache
        (f"{FILE}?token={mint(876_543)}", "GET", 404),          # unknown asset
        ("/whoami", "GET", 200),
        (f"{FILE}?token={mint(101, 'render')}", "HEAD", 404),
    ]
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=5)
    try:
        conn.connect()
        sock = conn.sock
        for n in range(50):
            path, method, status = requests[n % len(requests)]
            conn.request(method, path)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == status, (n, path)
            assert not resp.will_close, (n, path)
            if method == "GET" and status == 200 and path.startswith(FILE):
                assert body == PNG
            assert conn.sock is sock, f"connection replaced at request {n}"
    finally:
        conn.close()


def test_user_error_page_is_used_for_refusals(make_stack):
    s = make_stack(start=False, location_extra="error_page 404 /custom404.html;")
    s.server_extra = f"""
        location = /custom404.html {{
            root {s.root};
        }}"""
    s.start()
    page = b"<html>custom not found page</html>\n"
    (s.root / "custom404.html").write_bytes(page)
    s.put_org("org-off", allow_public=False)
    s.put_asset(102, org="org-off")
    for r in (s.request("/exporter/a/b.png"),           # before the token
              s.content(102, key="k" * 40),             # after verification
              s.content(102),                           # after the lookup
              s.content(999_999)):
        assert r.status == 404
        assert r.body == page
        assert r.all("Referrer-Policy") == ["no-referrer"]
