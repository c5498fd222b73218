"""No log ever holds a usable token or a key (DESIGN.md section 1): the gate masks token
signatures in the request line nginx writes to the error log and to $request, keeping the
header and payload, and logs each refusal's reason at info level."""

import re
import socket
import subprocess
import time
import uuid

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
    assert re.fullmatch(re.escape(f"GET {FILE}?") + masked(token) + " HTTP/1.1", lines[0]), lines
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
