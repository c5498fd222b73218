"""No log ever holds a usable token or a key (DESIGN.md section 1): the gate masks token
signatures in the request line nginx writes to the error log and to $request, keeping the
header and payload, and logs each refusal's reason at info level."""

import re
import socket
import subprocess
import time
import uuid
from urllib.parse import unquote

import pytest

from gate import FILE, KEY, NGINX, OLD_KEY, free_port, mint


def tok(asset_id=101, purpose=None, **kw):
    """A token no other test mints (a unique jti), so one test's log never answers another's."""
    return mint(asset_id, purpose, extra={"jti": uuid.uuid4().hex}, **kw)


def parts(token):
    h, p, s = token.split(".")
    return h, p, s


def settle(stack, marker, timeout=5.0):
    """Waits until the access log has a line with `marker`, so both logs hold the request."""
    deadline = time.monotonic() + timeout
    while marker not in stack.access_log():
        if time.monotonic() > deadline:
            tail = stack.access_log()[-2000:]
            raise AssertionError(f"no access log line with {marker!r}:\n{tail}")
        time.sleep(0.02)


def all_logs(stack):
    stderr = stack.dir / "nginx.stderr"
    return {
        "error.log": stack.error_log(),
        "access.log": stack.access_log(),
        "nginx.stderr": stderr.read_text(errors="replace") if stderr.exists() else "",
    }


def assert_no_secret(stack, *secrets):
    for name, text in all_logs(stack).items():
        for secret in secrets + (KEY, OLD_KEY):
            assert secret not in text, f"{secret[:12]}... found in {name}"


def assert_masked(stack, token, logs=("error.log", "access.log")):
    h, p, s = parts(token)
    texts = all_logs(stack)
    for name in logs:
        assert f"token={h}.{p}..." in texts[name], f"masked token missing from {name}"
    assert_no_secret(stack, s)


def masked(token):
    """A regex for the masked token: header and payload kept, then only dots (at least 3)."""
    h, p, _ = parts(token)
    return re.escape(f"token={h}.{p}") + r"\.{3,}"


def raw_request(stack, data: bytes, close_early=False):
    """Sends raw bytes; returns what the server answered (possibly nothing)."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(data)
        if close_early:
            return b""
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


# -- the signature never reaches a log ----------------------------------------------------


def test_allowed_request_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    r = stack.request(f"{FILE}?token={token}&m={marker}")
    assert r.status == 200
    settle(stack, marker)
    assert_masked(stack, token, logs=("access.log",))


def test_allowed_render_request_is_masked(stack):
    token, marker = tok(101, "render"), uuid.uuid4().hex
    assert stack.request(f"/exporter?token={token}&m={marker}").status == 200
    settle(stack, marker)
    assert_masked(stack, token, logs=("access.log",))


@pytest.mark.parametrize("kind", ["bad_signature", "expired", "purpose_surface", "org_blocked",
                                  "asset_unknown"])
def test_refused_request_is_masked_in_both_logs(stack, kind):
    token = {
        "bad_signature": lambda: tok(101, key="n" * 40),
        "expired": lambda: tok(101, exp_in=-60),
        "purpose_surface": lambda: tok(101, "render"),
        "org_blocked": lambda: tok(102),
        "asset_unknown": lambda: tok(777_001),
    }[kind]()
    marker = uuid.uuid4().hex
    r = stack.request(f"{FILE}?token={token}&m={marker}")
    assert (r.status, r.header("x-reason")) == (404, kind)
    settle(stack, marker)
    assert_masked(stack, token)


def test_malformed_path_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    assert stack.request(f"/exporter/a/b.png?token={token}&m={marker}").status == 404
    settle(stack, marker)
    assert_masked(stack, token)


@pytest.mark.parametrize("method", ["POST", "DELETE", "OPTIONS"])
def test_405_is_masked(stack, method):
    token, marker = tok(101), uuid.uuid4().hex
    assert stack.request(f"{FILE}?token={token}&m={marker}", method=method).status == 405
    settle(stack, marker)
    assert_masked(stack, token)


def test_nginx_own_400_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    r = stack.request(f"/exporter/a%00.png?token={token}&m={marker}")
    assert r.status == 400
    settle(stack, marker)
    assert_masked(stack, token)


def test_400_for_a_bad_header_line_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    answer = raw_request(stack, (f"GET {FILE}?token={token}&m={marker} HTTP/1.1\r\n"
                                 f"Host: x\r\nBad Header\x01: y\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 400")
    settle(stack, marker)
    assert_masked(stack, token)


def test_client_leaving_mid_headers_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    raw_request(stack, f"GET {FILE}?token={token}&m={marker} HTTP/1.1\r\nHost: x\r\n".encode(),
                close_early=True)
    settle(stack, marker)
    assert_masked(stack, token, logs=("access.log",))


def test_too_long_uri_does_not_log_the_signature(stack):
    token, marker = tok(101), uuid.uuid4().hex
    answer = raw_request(stack, (f"GET {FILE}?m={marker}&token={token}&pad={'x' * 9000} "
                                 f"HTTP/1.1\r\nHost: x\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 414")
    time.sleep(0.3)
    assert_no_secret(stack, parts(token)[2])


def read_response(sock, until=b"plain location\n"):
    data = b""
    while until not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_nginx_own_400_on_a_keepalive_connection_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(f"GET /exporter/a%00.png?token={token}&m={marker} HTTP/1.1\r\n"
                     f"Host: x\r\n\r\n".encode())
        assert read_response(sock, b"</html>").startswith(b"HTTP/1.1 400")
    settle(stack, marker)
    assert_masked(stack, token)


def test_nginx_own_400_on_a_pipelined_request_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"
                     + f"GET /exporter/a%00.png?token={token}&m={marker} HTTP/1.1\r\n"
                       f"Host: x\r\n\r\n".encode())
        answer = read_response(sock, b"</html>")
    assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 400" in answer
    settle(stack, marker)
    assert_masked(stack, token)


def test_gate_refusal_on_a_keepalive_connection_is_masked(stack):
    tokens = [tok(101, key=c * 40) for c in "abc"]
    markers = [uuid.uuid4().hex for _ in tokens]
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        for t, m in zip(tokens, markers):
            sock.sendall(f"GET {FILE}?token={t}&m={m} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert read_response(sock, b"</html>").startswith(b"HTTP/1.1 404")
    for m in markers:
        settle(stack, m)
    for t in tokens:
        assert_masked(stack, t)


def test_upstream_error_of_a_proxied_render_target_is_masked(make_stack):
    s = make_stack(start=False)
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @app;
            asset_gate_content @content;"""
    s.server_extra = f"location @app {{ proxy_pass http://127.0.0.1:{free_port()}; }}"
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    token = tok(101, "render")
    assert s.render(101, "render").status == 502
    assert s.request(f"/exporter?token={token}").status == 502
    time.sleep(0.2)
    assert "upstream:" in s.error_log()
    assert_masked(s, token)


def test_masking_survives_a_reload(make_stack):
    s = make_stack()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    before = set(s.worker_pids())
    s.reload()
    deadline = time.monotonic() + 10
    while set(s.worker_pids()) & before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(s.worker_pids()) & before, "old workers still running 10 s after reload"
    t1, t2 = tok(101), tok(101, key="r" * 40)
    m1, m2 = uuid.uuid4().hex, uuid.uuid4().hex
    assert s.request(f"/exporter/a%00.png?token={t1}&m={m1}").status == 400
    assert s.request(f"{FILE}?token={t2}&m={m2}").status == 404
    settle(s, m1)
    settle(s, m2)
    assert_masked(s, t1)
    assert_masked(s, t2)


def test_token_in_second_query_position_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    r = stack.request(f"{FILE}?m={marker}&a=1&token={token}&b=2")
    assert r.status == 200
    settle(stack, marker)
    assert_masked(stack, token, logs=("access.log",))


def test_duplicated_tokens_are_both_masked(stack):
    t1, t2, marker = tok(101), tok(102), uuid.uuid4().hex
    r = stack.request(f"{FILE}?token={t1}&m={marker}&token={t2}")
    assert (r.status, r.header("x-reason")) == (404, "duplicate_token")
    settle(stack, marker)
    assert_masked(stack, t1)
    assert_masked(stack, t2)


def test_percent_encoded_token_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    encoded = token.replace(".", "%2E")
    r = stack.request(f"{FILE}?token={encoded}&m={marker}")
    assert r.status == 200
    settle(stack, marker)
    assert_no_secret(stack, parts(token)[2])


def test_token_sent_to_a_location_without_the_gate_is_masked(stack):
    token, marker = tok(101), uuid.uuid4().hex
    r = stack.request(f"/whoami?token={token}&m={marker}")
    assert r.status == 200
    settle(stack, marker)
    assert_masked(stack, token, logs=("access.log",))


def test_masked_form_keeps_header_and_payload_exactly(stack):
    token, marker = tok(101, key="m" * 40), uuid.uuid4().hex
    stack.request(f"{FILE}?token={token}&m={marker}")
    settle(stack, marker)
    line = next(l for l in stack.access_log().splitlines() if marker in l)
    assert re.match(re.escape(f"GET {FILE}?") + masked(token)
                    + re.escape(f"&m={marker} HTTP/1.1 404 "), line), line


# -- reasons at info ----------------------------------------------------------------------


@pytest.mark.parametrize("path,reason", [
    ("/exporter/a/b.png", "malformed_path"),
    (FILE, "no_token"),
    (FILE + "?token=garbage", "bad_token"),
    (FILE + "?token=a&token=b", "duplicate_token"),
])
def test_refusal_reason_logged_at_info(stack, path, reason):
    marker = uuid.uuid4().hex
    sep = "&" if "?" in path else "?"
    stack.request(f"{path}{sep}m={marker}")
    settle(stack, marker)
    lines = [l for l in stack.error_log().splitlines() if marker in l]
    assert len(lines) == 1, lines
    assert re.search(rf"\[info\] .*asset_gate: refused\b.*\b{reason}\b", lines[0]), lines[0]


@pytest.mark.parametrize("reason", ["bad_signature", "purpose_surface", "org_blocked",
                                    "org_unknown", "asset_unknown", "expired"])
def test_refusal_reason_of_a_token_logged_at_info(stack, reason):
    token = {
        "bad_signature": lambda: tok(101, key="n" * 40),
        "purpose_surface": lambda: tok(101, "render"),
        "org_blocked": lambda: tok(102),
        "org_unknown": lambda: tok(104),
        "asset_unknown": lambda: tok(777_002),
        "expired": lambda: tok(101, exp_in=-60),
    }[reason]()
    marker = uuid.uuid4().hex
    r = stack.request(f"{FILE}?token={token}&m={marker}")
    assert r.header("x-reason") == reason
    settle(stack, marker)
    lines = [l for l in stack.error_log().splitlines() if marker in l]
    assert len(lines) == 1, lines
    assert re.search(rf"\[info\] .*asset_gate: refused\b.*\b{reason}\b", lines[0]), lines[0]


def test_method_refusal_logged_at_info(stack):
    marker = uuid.uuid4().hex
    stack.request(f"{FILE}?m={marker}", method="PUT")
    settle(stack, marker)
    lines = [l for l in stack.error_log().splitlines() if marker in l]
    assert any(re.search(r"\[info\] .*asset_gate: refused\b.*\bmethod\b", l) for l in lines), lines


def test_allowed_request_logs_no_refusal(stack):
    marker = uuid.uuid4().hex
    assert stack.request(f"{FILE}?token={tok(101)}&m={marker}").status == 200
    settle(stack, marker)
    lines = [l for l in stack.error_log().splitlines() if marker in l]
    assert not any("refused" in l for l in lines), lines


def test_refusal_not_logged_above_info(make_stack):
    s = make_stack(start=False)
    s.http_extra = f"error_log {s.dir}/error.log info;\n    error_log {s.dir}/notice.log notice;"
    s.start()
    marker = uuid.uuid4().hex
    s.request(f"{FILE}?token=garbage&m={marker}")
    settle(s, marker)
    assert "asset_gate: refused" in s.error_log()
    assert "asset_gate: refused" not in (s.dir / "notice.log").read_text()


# -- other log formats --------------------------------------------------------------------


def test_plain_request_log_format_is_masked(make_stack):
    s = make_stack(log_format="$request")
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    token = tok(101)
    sig = parts(token)[2]
    assert s.request(f"{FILE}?token={token}").status == 200
    assert s.request(f"{FILE}?token={tok(101, key='v' * 40)}").status == 404
    assert s.request(f"/exporter/a%00.png?token={token}").status == 400
    deadline = time.monotonic() + 5
    while len(s.access_log().splitlines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = s.access_log().splitlines()
    # Two workers may write their lines in either order: find the allowed request's line.
    want = re.escape(f"GET {FILE}?") + masked(token) + " HTTP/1.1"
    assert any(re.fullmatch(want, line) for line in lines), lines
    assert len(lines) == 3
    assert_no_secret(s, sig)


def test_builtin_combined_log_format_is_masked(make_stack):
    s = make_stack(start=False)
    combined = s.dir / "combined.log"
    s.http_extra = f"access_log {combined} combined;"
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    token = tok(101)
    sig = parts(token)[2]
    assert s.request(f"{FILE}?token={token}").status == 200
    assert s.request(f"/exporter/a%00.png?token={token}").status == 400
    deadline = time.monotonic() + 5
    while (not combined.exists() or len(combined.read_text().splitlines()) < 2) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    text = combined.read_text()
    assert re.search(re.escape(f'"GET {FILE}?') + masked(token) + ' HTTP/1.1" 200 ', text), text
    assert sig not in text


# -- keys ---------------------------------------------------------------------------------


def test_keys_never_logged_at_startup_or_after_requests(stack):
    for key in (KEY, OLD_KEY, "w" * 40):
        marker = uuid.uuid4().hex
        stack.request(f"{FILE}?token={tok(101, key=key)}&m={marker}")
        settle(stack, marker)
    assert_no_secret(stack)


def test_short_key_warning_at_nginx_t_does_not_show_the_key(make_stack):
    short = "shortkey-Zq81"
    s = make_stack(start=False, keys=(KEY, short))
    s.redis.start()
    text = s.config()
    res = s.nginx_test(text)
    assert res.returncode == 0, res.stderr
    assert "[warn]" in res.stderr and "32 bytes" in res.stderr
    assert short not in res.stderr and KEY not in res.stderr
    assert short not in res.stdout and KEY not in res.stdout


def test_short_key_warning_at_startup_and_reload_does_not_show_the_key(make_stack):
    short = "shortkey-Pw42"
    s = make_stack(keys=(short,))
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    r = s.content(101, key=short)
    assert r.status == 200
    s.reload()
    time.sleep(0.5)
    assert s.content(101, key=short).status == 200
    logs = all_logs(s)
    assert "32 bytes" in logs["nginx.stderr"] + logs["error.log"]
    for name, text in logs.items():
        assert short not in text, f"short key found in {name}"


def test_config_errors_do_not_show_the_key(make_stack):
    s = make_stack(start=False)
    s.redis.start()
    text = s.config().replace("asset_gate on;",
                              "asset_gate on;\n            asset_gate_leeway bogus;")
    res = s.nginx_test(text)
    assert res.returncode != 0
    assert KEY not in res.stderr and OLD_KEY not in res.stderr
    res = subprocess.run([NGINX, "-T", "-p", str(s.dir), "-c", str(s.dir / "nginx.conf")],
                         capture_output=True, text=True)
    assert KEY not in res.stdout + res.stderr


# -- every level, every position, every encoding ------------------------------------------
# nginx's own debug lines (`http args: "token=..."`, `http finalize request: ... "/x?token=..."`,
# `http header: "Referer: ..."`), rewrite_log notices and percent-encoded forms carry the token
# with other text before it than `?token=`: the mask finds a token by its shape.

RECORD_START = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(debug|info|notice|warn|error|crit|alert|emerg)\] ")
TIMESTAMP = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[")


def pct(text, upper=True):
    """Every character percent-encoded."""
    return "".join(("%%%02X" if upper else "%%%02x") % ord(c) for c in text)


def token_forms(token):
    """(name, value) pairs that all carry `token` as the gate reads it, and two it does not
    decode (twice encoded) but a reader of the log could."""
    h, p, s = parts(token)
    return [
        ("token", token),
        ("%74oken", token),
        ("%74%6F%6B%65%6E", token),
        ("token", token.replace(".", "%2E")),
        ("token", token.replace(".", "%2e")),
        ("token", "%65" + token[1:]),
        ("token", pct(token)),
        ("token", pct(token, upper=False)),
        ("token", f"{h}.{p}.{pct(s)}"),
        ("token", token.replace(".", "%252E")),
        ("token", pct(token).replace("%", "%25")),
    ]


def unquote_twice(value):
    return unquote(unquote(value))


def signature_forms(sig):
    return [sig, pct(sig), pct(sig, upper=False), pct(sig).replace("%", "%25")]


def assert_no_signature_in(texts, sigs):
    """No log holds a signature, raw, percent-encoded, or once decoded or twice."""
    for name, text in texts.items():
        once = unquote(text, errors="replace")
        twice = unquote(once, errors="replace")
        for sig in sigs:
            for form in signature_forms(sig):
                assert form not in text, f"signature {sig[:8]}... ({form[:12]}...) in {name}"
            assert sig not in once and sig not in twice, f"signature {sig[:8]}... decodes in {name}"
        for key in (KEY, OLD_KEY):
            assert key not in text, f"a key in {name}"


# At debug level, nginx's header filter logs the response header block as one record of
# several lines.
HEADER_BLOCK_LINE = re.compile(r"(HTTP/\d\.\d \d{3} .*|[A-Za-z0-9-]+: .*|)\r?")


def assert_records_intact(text, name):
    """Every line starts a record with its timestamp (or continues a header block) and holds
    no other record."""
    lines = text.split("\n")
    assert lines[-1] == "", f"{name} does not end with a newline"
    for line in lines[:-1]:
        assert RECORD_START.match(line) or HEADER_BLOCK_LINE.fullmatch(line), \
            f"{name}: line without its own timestamp: {line[:160]!r}"
        assert len(TIMESTAMP.findall(line)) <= 1 and not TIMESTAMP.search(line, 1), \
            f"{name}: records glued together: {line[:300]!r}"


def wait_markers(path, markers, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if all(m in text for m in markers):
            return text
        if time.monotonic() > deadline:
            missing = [m for m in markers if m not in text]
            raise AssertionError(f"{path.name}: no line for {missing[:3]}")
        time.sleep(0.02)


def log_stack(make_stack, **kw):
    """A stack whose http block writes a debug log besides error.log at info, so each record
    passes through two error logs in one chain."""
    s = make_stack(start=False, **kw)
    s.http_extra = (f"error_log {s.dir}/debug.log debug;\n"
                    f"    error_log {s.dir}/error.log info;\n    " + s.http_extra)
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    return s


def logs_of(s):
    texts = all_logs(s)
    debug = s.dir / "debug.log"
    texts["debug.log"] = debug.read_text(errors="replace") if debug.exists() else ""
    return texts


def test_debug_log_holds_no_signature_in_any_form(make_stack):
    s = log_stack(make_stack)
    sigs, markers = [], []
    for i, (name, value) in enumerate(token_forms(tok(101)) + token_forms(tok(101, key="d" * 40))):
        marker = uuid.uuid4().hex
        markers.append(marker)
        sigs.append(parts(unquote_twice(value))[2])
        method = "POST" if i % 5 == 4 else "GET"
        r = s.request(f"{FILE}?m={marker}&{name}={value}", method=method)
        assert r.status < 500
    # A token elsewhere than the query: a header nginx prints at debug level.
    token, marker = tok(101), uuid.uuid4().hex
    sigs.append(parts(token)[2])
    markers.append(marker)
    s.request(f"{FILE}?m={marker}", headers={"Referer": f"https://app.example{FILE}?token={token}",
                                             "X-Shared-Link": token})
    wait_markers(s.dir / "access.log", markers)
    time.sleep(0.2)
    texts = logs_of(s)
    assert 'http args: "m=' in texts["debug.log"], "no debug lines: is nginx built --with-debug?"
    assert "Referer: https://app.example" in texts["debug.log"]
    assert_no_signature_in(texts, sigs)
    h, p, _ = parts(token)
    assert f"X-Shared-Link: {h}.{p}...." in texts["debug.log"]
    for name in ("debug.log", "error.log"):
        assert_records_intact(texts[name], name)
    assert len(texts["access.log"].splitlines()) == len(markers)


def test_rewrite_log_notice_holds_no_signature(make_stack):
    s = make_stack(start=False, server_extra="""
        rewrite_log on;
        location /old/ { rewrite ^/old/(.*)$ /exporter/$1 last; }""")
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    sigs, markers = [], []
    for name, value in token_forms(tok(101))[:6]:
        marker = uuid.uuid4().hex
        markers.append(marker)
        sigs.append(parts(unquote_twice(value))[2])
        s.request(f"/old/{FILE.rsplit('/', 1)[1]}?{name}={value}&m={marker}")
    wait_markers(s.dir / "access.log", markers)
    time.sleep(0.2)
    texts = all_logs(s)
    notices = [l for l in texts["error.log"].splitlines() if "rewritten data" in l]
    assert len(notices) == len(markers), texts["error.log"][-2000:]
    assert all('args: "' in l for l in notices)
    assert_no_signature_in(texts, sigs)
    assert_records_intact(texts["error.log"], "error.log")


def test_error_line_cut_inside_a_token_keeps_records_apart(make_stack):
    """nginx cuts an error record at 2 KiB (NGX_MAX_ERROR_STR) and ends it with '\\n'; cut
    inside the token, the record must still end there, and the next one start on its own."""
    s = log_stack(make_stack)
    probe, marker = tok(101, key="c" * 40), uuid.uuid4().hex
    s.request(f"{FILE}?m={marker}&pad=&token={probe}")
    h, p, _ = parts(probe)
    line = next(l for l in wait_markers(s.dir / "error.log", [marker]).splitlines()
                if marker in l and "refused" in l)
    sig_at = line.index(f"token={h}.{p}.") + len(f"token={h}.{p}.")
    sigs, markers = [], []
    for into in range(1, 43, 3):  # where the cut falls in the 43 characters of the signature
        token, marker = tok(101, key="c" * 40), uuid.uuid4().hex
        pad = "x" * (2047 - sig_at - into)
        sigs.append(parts(token)[2])
        markers.append(marker)
        assert s.request(f"{FILE}?m={marker}&pad={pad}&token={token}").status == 404
    wait_markers(s.dir / "access.log", markers)
    time.sleep(0.2)
    texts = logs_of(s)
    cut = [l for l in texts["error.log"].splitlines() if "refused" in l and "pad=xx" in l]
    assert len(cut) == len(markers), "a refusal record is missing or glued to another"
    assert all(len(l.encode()) <= 2047 and "HTTP/1.1" not in l for l in cut), "not cut"
    assert all(l.endswith("...") or l.endswith(".") for l in cut), cut[0][-80:]
    for name in ("debug.log", "error.log"):
        assert_records_intact(texts[name], name)
    assert_no_signature_in(texts, sigs)
    assert len(texts["access.log"].splitlines()) == len(markers) + 1


def test_records_written_to_several_error_logs_are_identical(make_stack):
    """Each error log of a chain gets the same masked record: masking one does not leave the
    tail of the unmasked text in the buffer the next one writes."""
    s = make_stack(start=False)
    s.http_extra = (f"error_log {s.dir}/a.log info;\n    error_log {s.dir}/b.log info;\n"
                    f"    error_log {s.dir}/c.log notice;")
    s.start()
    tokens, markers = [tok(101, key=c * 40) for c in "pqr"], []
    for t in tokens:
        markers.append(uuid.uuid4().hex)
        s.request(f"{FILE}?m={markers[-1]}&token={t}")
    wait_markers(s.dir / "access.log", markers)
    time.sleep(0.2)
    a, b = ((s.dir / f).read_text(errors="replace") for f in ("a.log", "b.log"))
    assert a == b
    for name, text in (("a.log", a), ("b.log", b)):
        assert_records_intact(text, name)
    assert_no_signature_in({"a.log": a, "b.log": b}, [parts(t)[2] for t in tokens])
    assert sum("refused" in l for l in a.splitlines()) == len(tokens)
