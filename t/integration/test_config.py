"""Configuration errors are `nginx -t` errors naming the file and the line (DESIGN.md section 5).

Each test writes a whole nginx.conf, marks the offending directive with `# <-` and expects
"nginx.conf:<that line>" in nginx's stderr."""

import re
import socket
import subprocess

import pytest

from gate import KEY, MODULE, NGINX, PNG, Stack, free_port, mint, wait_port

MARK = "# <-"


@pytest.fixture
def conf():
    """An unstarted Stack (for its directory, key file and nginx_test); nothing is served."""
    s = Stack(start_redis=False)
    s.write_keys()
    yield s
    s.cleanup()


def line_of(text, marker=MARK):
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(hits) == 1, f"exactly one {marker!r} expected"
    return hits[0]


def config(s, http="", server="", gate=None, keyfile=None, redis=None):
    """A complete configuration; `gate` replaces the gate location's body."""
    keyfile = keyfile or s.keyfile
    redis = redis if redis is not None else f"asset_gate_redis 127.0.0.1:{free_port()};"
    if gate is None:
        gate = f"""
            asset_gate on;
            asset_gate_key_file {keyfile};
            asset_gate_render @render;
            asset_gate_content @content;"""
    return f"""load_module {MODULE};
error_log {s.dir}/test-error.log info;
pid {s.dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log {s.dir}/access.log;
    client_body_temp_path {s.dir}/client_body;
    proxy_temp_path {s.dir}/proxy;
    fastcgi_temp_path {s.dir}/fastcgi;
    uwsgi_temp_path {s.dir}/uwsgi;
    scgi_temp_path {s.dir}/scgi;
    {redis}
    {http}
    server {{
        listen 127.0.0.1:{s.port};
        location ^~ /exporter {{
            {gate}
        }}
        location @render {{ return 200 "render\\n"; }}
        location @content {{ root {s.root}; try_files /$asset_gate_location =404; }}
        {server}
    }}
}}
"""


def assert_fails_at(s, text, *needles):
    res = s.nginx_test(text)
    assert res.returncode != 0, res.stderr
    line = line_of(text)
    assert f"nginx.conf:{line}" in res.stderr, (line, res.stderr)
    assert "[emerg]" in res.stderr, res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)
    return res


def assert_ok(s, text):
    res = s.nginx_test(text)
    assert res.returncode == 0, res.stderr
    assert "test is successful" in res.stderr
    assert "[emerg]" not in res.stderr
    return res


# -- the baseline -------------------------------------------------------------------------


def test_baseline_configuration_passes(conf):
    assert_ok(conf, config(conf))


# -- keys ---------------------------------------------------------------------------------


def test_missing_key_file(conf):
    missing = conf.dir / "no-such-keys"
    text = config(conf, gate=f"""
            asset_gate on;
            asset_gate_key_file {missing};  {MARK}
            asset_gate_render @render;""")
    assert_fails_at(conf, text, str(missing))


def test_unreadable_key_path_that_is_a_directory(conf):
    text = config(conf, gate=f"""
            asset_gate on;
            asset_gate_key_file {conf.root};  {MARK}
            asset_gate_render @render;""")
    assert_fails_at(conf, text, str(conf.root))


@pytest.mark.parametrize("content", ["", "\n", "\n\n\n", "\r\n\r\n"],
                         ids=["empty", "one_blank_line", "blank_lines", "crlf_blank_lines"])
def test_key_file_without_keys(conf, content):
    path = conf.dir / "empty-keys"
    path.write_text(content)
    text = config(conf, gate=f"""
            asset_gate on;
            asset_gate_key_file {path};  {MARK}
            asset_gate_render @render;""")
    assert_fails_at(conf, text, str(path))


def test_key_file_at_http_level_with_error_at_its_line(conf):
    missing = conf.dir / "absent"
    text = config(conf, http=f"asset_gate_key_file {missing};  {MARK}", gate="""
            asset_gate on;
            asset_gate_render @render;""")
    assert_fails_at(conf, text, str(missing))


def test_asset_gate_on_without_keys(conf):
    text = config(conf, gate=f"""
            asset_gate on;  {MARK}
            asset_gate_render @render;
            asset_gate_content @content;""")
    assert_fails_at(conf, text, "asset_gate_key_file")


def test_asset_gate_on_without_redis(conf):
    text = config(conf, redis="", gate=f"""
            asset_gate_key_file {conf.keyfile};
            asset_gate on;  {MARK}
            asset_gate_render @render;""")
    assert_fails_at(conf, text, "asset_gate_redis")


def test_keys_and_redis_inherited_from_http_level(conf):
    text = config(conf, http=f"asset_gate_key_file {conf.keyfile};", gate="""
            asset_gate on;
            asset_gate_render @render;""")
    assert_ok(conf, text)


def test_short_key_is_a_warning_not_an_error(conf):
    path = conf.dir / "short-keys"
    path.write_text(KEY + "\nshort-key-123\n")
    text = config(conf, gate=f"""
            asset_gate on;
            asset_gate_key_file {path};  {MARK}
            asset_gate_render @render;""")
    res = assert_ok(conf, text)
    warns = [line for line in res.stderr.splitlines() if "[warn]" in line]
    assert len(warns) == 1, res.stderr
    assert f"nginx.conf:{line_of(text)}" in warns[0]
    assert "line 2" in warns[0]
    assert "short-key-123" not in res.stderr


def test_keys_of_32_bytes_give_no_warning(conf):
    path = conf.dir / "exact-keys"
    path.write_text("k" * 32 + "\n")
    res = assert_ok(conf, config(conf, keyfile=path))
    assert "[warn]" not in res.stderr, res.stderr


# -- where `asset_gate on` may stand ------------------------------------------------------


def test_asset_gate_in_a_named_location(conf):
    text = config(conf, server=f"""
        location @gate {{
            asset_gate_key_file {conf.keyfile};
            asset_gate on;  {MARK}
        }}""")
    assert_fails_at(conf, text, '"asset_gate"')


@pytest.mark.parametrize("loc", ["~ ^/exporter", "~* ^/exporter", "~ ^/exp(?<rest>.*)$"])
def test_asset_gate_in_a_regex_location(conf, loc):
    text = config(conf, server=f"""
        location {loc} {{
            asset_gate_key_file {conf.keyfile};
            asset_gate on;  {MARK}
        }}""")
    assert_fails_at(conf, text, '"asset_gate"')


def test_asset_gate_in_an_if_block(conf):
    text = config(conf, server=f"""
        location /other {{
            asset_gate_key_file {conf.keyfile};
            if ($arg_x) {{
                asset_gate on;  {MARK}
            }}
        }}""")
    res = conf.nginx_test(text)
    assert res.returncode != 0
    assert f"nginx.conf:{line_of(text)}" in res.stderr, res.stderr


def test_asset_gate_at_server_level_is_not_allowed(conf):
    text = config(conf, server=f"asset_gate on;  {MARK}")
    assert_fails_at(conf, text)


@pytest.mark.parametrize("loc", ["/exporter", "= /exporter", "/exporter/"])
def test_prefix_locations_are_accepted(conf, loc):
    text = config(conf, server=f"""
        location {loc.replace('/exporter', '/files')} {{
            asset_gate_key_file {conf.keyfile};
            asset_gate on;
            asset_gate_content @content;
        }}""")
    assert_ok(conf, text)


# -- Redis address and failure mode -------------------------------------------------------


@pytest.mark.parametrize("addr", ["127.0.0.1:notaport", "127.0.0.1:0", "127.0.0.1:70000",
                                  "127.0.0.1:6379/path", "unix:", "unix:relative.sock",
                                  "no-such-host.invalid:6379"])
def test_invalid_redis_address(conf, addr):
    text = config(conf, redis=f"asset_gate_redis {addr};  {MARK}")
    assert_fails_at(conf, text)


def test_redis_host_name_is_accepted(conf):
    assert_ok(conf, config(conf, redis=f"asset_gate_redis localhost:{free_port()};"))


def test_redis_unix_socket_is_accepted(conf):
    assert_ok(conf, config(conf, redis=f"asset_gate_redis unix:{conf.dir}/redis.sock;"))


def resolved(name):
    """The addresses `name` resolves to, in the order nginx gets them (getaddrinfo, TCP,
    AI_ADDRCONFIG): "localhost" is 127.0.0.1 alone, or ::1 first and then 127.0.0.1, as
    /etc/hosts has it."""
    infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                               socket.AI_ADDRCONFIG)
    return list(dict.fromkeys(info[4][0] for info in infos))


def host_of(addr):
    """The host of a CLIENT LIST address: "127.0.0.1:6379", "[::1]:6379" or "::1:6379"."""
    return addr.rsplit(":", 1)[0].strip("[]")


def test_redis_host_name_is_resolved_at_config_time_and_used(make_stack):
    # The address used is the one hiredis would take: the name's first IPv4 address, else its
    # first IPv6 one; a warning names it when there are more. The Redis listens on every
    # address the name has, as Debian's redis-server does on both loopbacks, so that only the
    # gate's choice decides where it connects.
    addrs = resolved("localhost")
    want = next((a for a in addrs if ":" not in a), addrs[0])
    s = make_stack(start=False)
    s.redis.bind = list(dict.fromkeys(["127.0.0.1", *addrs]))
    s.redis_addr = f"localhost:{s.redis.port}"
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    r = s.content(101)
    assert r.status == 200 and r.body == PNG
    assert s.redis.total_lookups() >= 1
    own = s.redis.client.client_id()
    gates = [c for c in s.redis.client.client_list() if int(c["id"]) != own]
    assert gates and {host_of(c["laddr"]) for c in gates} == {want}
    if len(addrs) > 1:  # said when the configuration is read: on nginx's stderr at start
        warning = (f'redis address "localhost:{s.redis.port}" resolves to {len(addrs)} addresses,'
                   f" using {want}")
        assert warning in (s.dir / "nginx.stderr").read_text(errors="replace")


def test_redis_ipv6_address_is_used_and_logged_in_brackets(make_stack):
    s = make_stack(start=False)
    s.redis.bind = ["127.0.0.1", "::1"]
    s.redis_addr = f"[::1]:{s.redis.port}"
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    assert s.content(101).status == 200
    own = s.redis.client.client_id()
    gates = [c for c in s.redis.client.client_list() if int(c["id"]) != own]
    assert gates and {host_of(c["laddr"]) for c in gates} == {"::1"}
    assert f"([::1]:{s.redis.port}): connected" in s.error_log()


@pytest.mark.parametrize("value", ["500", "502", "0", "none", "503s"])
def test_invalid_redis_failure(conf, value):
    text = config(conf, http=f"asset_gate_redis_failure {value};  {MARK}")
    assert_fails_at(conf, text, value)


@pytest.mark.parametrize("value", ["503", "404"])
def test_valid_redis_failure(conf, value):
    assert_ok(conf, config(conf, http=f"asset_gate_redis_failure {value};"))


# Every directive that takes one of a few words names them when given another, and refuses
# being written twice in one block.
CHOICES = [
    ("asset_gate_redis_failure", "expected 503 or 404"),
    ("asset_gate_redis_read_from", "expected master or replica"),
    ("asset_gate_s3_addressing", "expected path or virtual"),
]


@pytest.mark.parametrize("directive,expected", CHOICES)
def test_choice_directive_names_its_values(conf, directive, expected):
    text = config(conf, http=f"{directive} Master;  {MARK}")
    assert_fails_at(conf, text, f'invalid value "Master", {expected}')


@pytest.mark.parametrize("directive,expected", CHOICES)
def test_choice_directive_twice_is_a_duplicate(conf, directive, expected):
    first = expected.split()[1]
    text = config(conf, http=f"{directive} {first};\n    {directive} {first};  {MARK}")
    assert_fails_at(conf, text, "is duplicate")


# -- targets ------------------------------------------------------------------------------


@pytest.mark.parametrize("directive,value", [
    ("asset_gate_render", "render"),
    ("asset_gate_render", "@"),
    ("asset_gate_render", "http://app"),
    ("asset_gate_render", "inline"),
    ("asset_gate_content", "content"),
    ("asset_gate_content", "/"),
])
def test_invalid_target(conf, directive, value):
    text = config(conf, gate=f"""
            asset_gate on;
            asset_gate_key_file {conf.keyfile};
            {directive} {value};  {MARK}""")
    assert_fails_at(conf, text, value)


def test_duplicate_target_is_refused(conf):
    text = config(conf, gate=f"""
            asset_gate on;
            asset_gate_key_file {conf.keyfile};
            asset_gate_content @content;
            asset_gate_content inline;  {MARK}""")
    assert_fails_at(conf, text)


# -- cache zone and times -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["asset_gate", "asset_gate:", ":10m", "asset_gate:1k",
                                   "asset_gate:ten"])
def test_invalid_cache_zone(conf, value):
    text = config(conf, http=f"asset_gate_cache_zone {value};  {MARK}")
    assert_fails_at(conf, text)


def test_cache_zone_outside_http_is_refused(conf):
    text = config(conf, server=f"asset_gate_cache_zone z:1m;  {MARK}")
    assert_fails_at(conf, text)


@pytest.mark.parametrize("directive,value", [
    ("asset_gate_leeway", "abc"),
    ("asset_gate_leeway", "-5s"),
    ("asset_gate_leeway", "5 s"),
    ("asset_gate_redis_timeout", "fast"),
    ("asset_gate_cache_valid", "5x"),
    ("asset_gate_cache_negative", "never"),
    ("asset_gate_content_max_age", "1day"),
    ("asset_gate_redis_db", "-1"),
    ("asset_gate_redis_db", "one"),
])
def test_invalid_values(conf, directive, value):
    text = config(conf, http=f'{directive} "{value}";  {MARK}')
    assert_fails_at(conf, text)


def test_zero_redis_timeout_is_refused(conf):
    text = config(conf, http="asset_gate_redis_timeout 0;", gate=f"""
            asset_gate on;  {MARK}
            asset_gate_key_file {conf.keyfile};
            asset_gate_render @render;""")
    assert_fails_at(conf, text, "asset_gate_redis_timeout")


def test_all_directives_with_valid_values(conf):
    text = config(conf, http="""
    asset_gate_cache_zone asset_gate:10m;
    asset_gate_cache_valid 10s;
    asset_gate_cache_negative 1s;
    asset_gate_audience posthog:exported_asset;
    asset_gate_leeway 30s;
    asset_gate_redis_password secret;
    asset_gate_redis_db 3;
    asset_gate_redis_timeout 250ms;
    asset_gate_redis_prefix ph:;
    asset_gate_redis_failure 404;
    asset_gate_content_max_age 1h;""")
    assert_ok(conf, text)


# -- the contract's example ---------------------------------------------------------------


def test_contract_example_configuration_passes(conf):
    exports = conf.dir / "exports"
    exports.mkdir()
    keys = conf.dir / "asset_gate-keys"
    keys.write_text(KEY + "\n")
    text = f"""load_module {MODULE};
error_log {conf.dir}/test-error.log;
pid {conf.dir}/nginx.pid;
events {{ }}
http {{
    access_log {conf.dir}/access.log;
    client_body_temp_path {conf.dir}/client_body;
    proxy_temp_path {conf.dir}/proxy;
    fastcgi_temp_path {conf.dir}/fastcgi;
    uwsgi_temp_path {conf.dir}/uwsgi;
    scgi_temp_path {conf.dir}/scgi;
    upstream app {{ server 127.0.0.1:{free_port()}; }}
    asset_gate_redis 127.0.0.1:{free_port()};
    asset_gate_cache_zone asset_gate:10m;
    server {{
        listen 127.0.0.1:{conf.port};
        location ^~ /exporter {{
            asset_gate on;
            asset_gate_key_file {keys};
            asset_gate_render  @render;
            asset_gate_content @content;
        }}
        location @render  {{ proxy_pass http://app; }}          # the page that renders charts
        location @content {{ root {exports}; try_files /$asset_gate_location =404; }}
    }}
}}
"""
    assert_ok(conf, text)


def test_contract_example_serves():
    """The same example, started for real: one allowed content link and one render link."""
    s = Stack()
    s.start_redis_first = True
    try:
        s.redis.start()
        app = free_port()
        exports = s.root
        s.write_keys()
        text = f"""load_module {MODULE};
daemon off;
error_log {s.dir}/error.log info;
pid {s.dir}/nginx.pid;
events {{ }}
http {{
    access_log {s.dir}/access.log;
    client_body_temp_path {s.dir}/client_body;
    proxy_temp_path {s.dir}/proxy;
    fastcgi_temp_path {s.dir}/fastcgi;
    uwsgi_temp_path {s.dir}/uwsgi;
    scgi_temp_path {s.dir}/scgi;
    upstream app {{ server 127.0.0.1:{app}; }}
    asset_gate_redis 127.0.0.1:{s.redis.port};
    asset_gate_cache_zone asset_gate:10m;
    server {{
        listen 127.0.0.1:{s.port};
        location ^~ /exporter {{
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render  @render;
            asset_gate_content @content;
        }}
        location @render  {{ proxy_pass http://app; }}
        location @content {{ root {exports}; try_files /$asset_gate_location =404; }}
    }}
    server {{
        listen 127.0.0.1:{app};
        location / {{ return 200 "app render page\\n"; }}
    }}
}}
"""
        (s.dir / "nginx.conf").write_text(text)
        s.nginx_proc = subprocess.Popen([NGINX, "-p", str(s.dir), "-c", str(s.dir / "nginx.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(s.port, s.nginx_proc, "nginx")
        s.put_org("org-on")
        s.put_asset(101, org="org-on")
        r = s.content(101)
        assert r.status == 200 and r.body == PNG
        assert r.header("content-type") == "image/png"
        r = s.request(f"/exporter?token={mint(101, 'render')}")
        assert r.status == 200 and r.body == b"app render page\n"
        assert r.header("referrer-policy") == "no-referrer"
        assert s.content(101, key="x" * 40).status == 404
    finally:
        s.stop()
        log = s.error_log()
        s.cleanup()
    assert not re.search(r"\[(alert|emerg)\]|exited on signal", log), log


# -- asset_gate_token_cache, asset_gate_cache_local -------------------------------------------

@pytest.mark.parametrize("directive", ["asset_gate_token_cache", "asset_gate_cache_local"])
def test_worker_cache_sizes_take_a_size_in_http_only(conf, directive):
    assert_ok(conf, config(conf, http=f"{directive} 16m;"))
    assert_ok(conf, config(conf, http=f"{directive} 0;"))
    text = config(conf, http=f"{directive} lots;  {MARK}")
    assert_fails_at(conf, text, f'"{directive}" directive invalid value')
    text = config(conf, server=f"{directive} 1m;  {MARK}")
    assert_fails_at(conf, text, f'"{directive}" directive is not allowed here')


@pytest.mark.parametrize("size,warned", [("0", False), ("100", True), ("64k", False)])
def test_links_work_whatever_the_local_cache(make_stack, size, warned):
    s = make_stack(http_extra=f"asset_gate_cache_local {size};", workers=1)
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    s.put_asset(102, org="org-on", location="exports/png/team-1/task-102/blob",
                content=PNG + b"102")
    for _ in range(4):  # again and again: from the local copy, the zone, or Redis
        r = s.content(101)
        assert (r.status, r.body) == (200, PNG)
        r = s.content(102)
        assert (r.status, r.body) == (200, PNG + b"102")
    assert s.content(103).status == 404  # not found, cached as such
    assert s.content(103).status == 404
    assert ("no local record cache of 100 bytes" in s.error_log()) == warned


@pytest.mark.parametrize("size,warned", [("0", False), ("100", True), ("64k", False)])
def test_links_work_whatever_the_token_cache(make_stack, size, warned):
    s = make_stack(http_extra=f"asset_gate_token_cache {size};")
    s.put_org("org-on")
    s.put_asset(101, org="org-on")
    token = mint(101)
    for _ in range(4):  # the same link again: from the cache, or verified afresh
        r = s.request(f"/exporter/x-101.png?token={token}")
        assert (r.status, r.body) == (200, PNG)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert s.request(f"/exporter/x-101.png?token={forged}").status == 404
    assert ("no verified-token cache of 100 bytes" in s.error_log()) == warned
