"""Managed Redis (DESIGN.md sections 5 and 8): an ACL user, a password read from a file, a
sentinel with its own password, and TLS with the peer verified: a good certificate, another
CA's, the wrong name, an expired one, the wrong password; each refusal a clear error-log
line and a 503, never a crashed worker. TLS needs hiredis 1.x; built against hiredis 0.14
(Debian 12), `asset_gate_redis_tls on` is an `nginx -t` error that says why."""

import time

import pytest
import redis

from fleet import MASTER_NAME, Sentinel, wait_until
from gate import Redis
from test_config import assert_fails_at, assert_ok, conf, config  # noqa: F401 (conf: a fixture)
from tls import NAME, Authority, TlsRedis, hiredis_major, module_links_hiredis_ssl

HAS_TLS = module_links_hiredis_ssl()
needs_tls = pytest.mark.skipif(not HAS_TLS, reason="the module has no TLS (hiredis 0.14)")

GATE_USER = "gate"
GATE_PASSWORD = "gate-acl-password-0123456789"
ADMIN_PASSWORD = "admin-password-for-the-default-user"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    d.chmod(0o755)
    good = Authority(d, "good")
    other = Authority(d, "other")
    return {
        "ca": good,
        "other_ca": other,
        "good": good.issue("good"),
        "expired": good.issue("expired", start="20200101000000Z", end="20200102000000Z"),
        "other": other.issue("other"),
    }


def add_acl_user(client, user=GATE_USER, password=GATE_PASSWORD):
    # Only what the gate does: read records (HGETALL, GET) and subscribe.
    client.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*",
                           "+hgetall", "+get", "+subscribe", "+ping", "+select", "+auth")


def write_password(s, text, name="redis.password"):
    path = s.dir / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def start_gate(s, redis_server, http_extra, addr=None):
    """Starts `s` (an unstarted Stack) on `redis_server`, already running (or through `addr`),
    with one asset."""
    s.redis = redis_server
    s.redis_addr = addr or f"127.0.0.1:{redis_server.port}"
    s.http_extra = http_extra
    s.start_redis_first = False
    s.start()
    s.put_org("org-1")
    s.put_asset(7, org="org-1")
    return s


def wait_for_log(s, needle, timeout=10):
    return wait_until(lambda: needle in s.error_log(), timeout, what=f"{needle!r} in the error log")


def assert_503_and_workers_alive(s):
    pids = sorted(s.worker_pids())
    for _ in range(3):
        r = s.content(7)
        assert r.status == 503, (r.status, r.body)
        assert r.header("retry-after"), r.headers
    assert sorted(s.worker_pids()) == pids, "a worker was replaced"
    assert "exited on signal" not in s.error_log()


def gate_with(conf, directive):
    """The gate location's body with one more directive; `asset_gate on` carries the mark."""
    return f"""
            asset_gate on;  # <-
            asset_gate_key_file {conf.keyfile};
            asset_gate_render @render;
            {directive}"""


# -- what the build can do --------------------------------------------------------------------


def test_module_speaks_tls_exactly_when_hiredis_can():
    # hiredis 1.x (Debian 13, forky) has hiredis_ssl and the module must use it; 0.14 has none.
    assert HAS_TLS == (hiredis_major() >= 1)


@pytest.mark.skipif(HAS_TLS, reason="the module has TLS")
def test_tls_on_without_hiredis_ssl_is_an_error_that_says_why(conf):
    text = config(conf, http="asset_gate_redis_tls on;  # <-")
    assert_fails_at(conf, text, "needs hiredis 1.x", "hiredis 0.14")


def test_tls_off_is_accepted_everywhere(conf):
    assert_ok(conf, config(conf, http="asset_gate_redis_tls off;"))


@pytest.mark.parametrize("extra", ["asset_gate_redis_tls_trusted_certificate /etc/ssl/certs/ca-certificates.crt;",
                                   "asset_gate_redis_tls_server_name redis.example;"])
def test_tls_settings_without_tls_on_are_an_error(conf, extra):
    gate = gate_with(conf, extra)
    assert_fails_at(conf, config(conf, gate=gate), "asset_gate_redis_tls\" is off")


# -- users and passwords ----------------------------------------------------------------------


def test_user_without_a_password_is_an_error(conf):
    gate = gate_with(conf, "asset_gate_redis_user gate;")
    assert_fails_at(conf, config(conf, gate=gate), "asset_gate_redis_user\" needs")


def test_missing_password_file_names_file_and_line(conf):
    text = config(conf, http=f"asset_gate_redis_password_file {conf.dir}/nope;  # <-")
    assert_fails_at(conf, text, "cannot open password file", "nope")


@pytest.mark.parametrize("content,why", [("", "is empty"), ("\n", "is empty"),
                                         ("first-secret\nsecond-secret\n", "more than one line")])
def test_malformed_password_file_is_an_error(conf, content, why):
    path = write_password(conf, content)
    text = config(conf, http=f"asset_gate_redis_password_file {path};  # <-")
    res = assert_fails_at(conf, text, why)
    assert "secret" not in res.stderr  # never the contents


def test_password_and_password_file_at_one_level_is_an_error(conf):
    path = write_password(conf, "x\n")
    text = config(conf, http=f"asset_gate_redis_password abc;\n    asset_gate_redis_password_file {path};  # <-")
    assert_fails_at(conf, text, "is duplicate")


def test_a_location_password_file_overrides_the_http_password(conf):
    path = write_password(conf, "inner\n")
    gate = f"""
            asset_gate on;
            asset_gate_key_file {conf.keyfile};
            asset_gate_render @render;
            asset_gate_redis_password_file {path};"""
    assert_ok(conf, config(conf, http="asset_gate_redis_password outer;", gate=gate))


def acl_redis(s):
    """A redis-server whose default user has another password than the gate's ACL user."""
    server = Redis(s.dir, password=ADMIN_PASSWORD).start()
    add_acl_user(server.client)
    return server


def test_acl_user_with_password_file(make_stack):
    s = make_stack(start=False)
    server = acl_redis(s)
    path = write_password(s, GATE_PASSWORD + "\n")
    start_gate(s, server, f"asset_gate_redis_user {GATE_USER};\n"
                          f"    asset_gate_redis_password_file {path};")
    r = s.content(7)
    assert r.status == 200, (r.status, r.body, s.error_log()[-2000:])
    clients = s.redis.client.client_list()
    assert any(c.get("user") == GATE_USER for c in clients), clients
    # The password never reaches the log or the configuration dump's neighbourhood.
    assert GATE_PASSWORD not in s.error_log()


def test_wrong_password_is_a_503_with_the_reason_logged(make_stack):
    s = make_stack(start=False)
    server = acl_redis(s)
    path = write_password(s, "not-the-password\n")
    start_gate(s, server, f"asset_gate_redis_user {GATE_USER};\n"
                           f"    asset_gate_redis_password_file {path};")
    assert_503_and_workers_alive(s)
    wait_for_log(s, "AUTH failed")
    assert "WRONGPASS" in s.error_log()
    assert "not-the-password" not in s.error_log()


# -- a sentinel with its own password ---------------------------------------------------------


SENTINEL_PASSWORD = "sentinel-password-9876543210"


def start_sentinel(s, master, extra=""):
    sentinel = Sentinel(s.dir, 0, master.port)
    with open(sentinel.conf, "a") as f:
        f.write(f"requirepass {SENTINEL_PASSWORD}\n{extra}")
    sentinel.start()
    sentinel.client = redis.Redis(host="127.0.0.1", port=sentinel.port, password=SENTINEL_PASSWORD,
                                  decode_responses=True, socket_timeout=5)
    wait_until(lambda: sentinel.master_addr() == ("127.0.0.1", master.port), 10,
               what="the sentinel to know the master")
    return sentinel


@pytest.fixture
def sentinels():
    made = []
    yield made
    for x in made:
        x.stop()


def test_sentinel_with_its_own_password(make_stack, sentinels):
    s = make_stack(start=False)
    s.redis.start()
    sentinel = start_sentinel(s, s.redis)
    sentinels.append(sentinel)
    path = write_password(s, SENTINEL_PASSWORD + "\n", "sentinel.password")
    start_gate(s, s.redis, f"asset_gate_redis_sentinel_password_file {path};",
               addr=f"sentinel:{MASTER_NAME}@127.0.0.1:{sentinel.port}")
    wait_for_log(s, f"using 127.0.0.1:{s.redis.port} (the sentinel named the master)")
    r = s.content(7)
    assert r.status == 200, (r.status, s.error_log()[-2000:])


def test_sentinel_without_its_password_is_refused_and_says_so(make_stack, sentinels):
    s = make_stack(start=False)
    s.redis.start()
    sentinel = start_sentinel(s, s.redis)
    sentinels.append(sentinel)
    start_gate(s, s.redis, "", addr=f"sentinel:{MASTER_NAME}@127.0.0.1:{sentinel.port}")
    assert_503_and_workers_alive(s)
    wait_for_log(s, "NOAUTH")
    assert "the sentinel refused" in s.error_log()


def test_sentinel_password_without_a_sentinel_address_is_an_error(conf):
    gate = gate_with(conf, "asset_gate_redis_sentinel_password abc;")
    assert_fails_at(conf, config(conf, gate=gate), "not a sentinel: address")


# -- TLS ----------------------------------------------------------------------------------------


def tls_directives(pki, ca="ca", server_name=None):
    out = [f"asset_gate_redis_tls on;",
           f"asset_gate_redis_tls_trusted_certificate {pki[ca].cert};"]
    if server_name:
        out.append(f"asset_gate_redis_tls_server_name {server_name};")
    return "\n    ".join(out)


def tls_redis(s, pki, which="good", password=None):
    cert, key = pki[which]
    authority = pki["other_ca"] if which == "other" else pki["ca"]
    return TlsRedis(s.dir, authority, cert, key, password=password).start()


@needs_tls
@pytest.mark.parametrize("server_name", [NAME, None], ids=["by-name", "by-ip"])
def test_tls_good_certificate(make_stack, pki, server_name):
    s = make_stack(start=False)
    start_gate(s, tls_redis(s, pki), tls_directives(pki, server_name=server_name))
    r = s.content(7)
    assert r.status == 200, (r.status, s.error_log()[-2000:])
    assert "connected (TLS)" in s.error_log()
    assert "refused" not in s.error_log()


def start_tls_acl_gate(make_stack, pki, password, extra=""):
    """A gate on a TLS Redis whose default user has another password, as the ACL user with
    `password` read from a file."""
    s = make_stack(start=False)
    server = tls_redis(s, pki, password=ADMIN_PASSWORD)
    add_acl_user(server.client)
    path = write_password(s, password)
    start_gate(s, server, tls_directives(pki, server_name=NAME) +
               f"\n    asset_gate_redis_user {GATE_USER};\n    asset_gate_redis_password_file {path};"
               + extra)
    return s, server


@needs_tls
def test_tls_with_an_acl_user_and_invalidation_channel(make_stack, pki):
    s, server = start_tls_acl_gate(make_stack, pki, GATE_PASSWORD,
                                   "\n    asset_gate_invalidation_channel asset_gate:inv;")
    assert s.content(7).status == 200
    # Flip the org off and announce it: the subscriber (also over TLS, as the ACL user) hears.
    wait_until(lambda: server.client.pubsub_numsub("asset_gate:inv")[0][1] >= 2, 10,
               what="both workers subscribed")
    s.put_org("org-1", security_settings=True, allow_public=False)
    server.client.publish("asset_gate:inv", "org:org-1")
    wait_until(lambda: s.content(7).status == 404, 5, what="the invalidation to arrive")
    users = {c.get("user") for c in server.client.client_list()}
    assert GATE_USER in users, users


@needs_tls
@pytest.mark.parametrize("case,reason", [
    # OpenSSL names it by what the peer sent: its certificate alone, or with its own CA
    ("other", ("unable to get local issuer certificate", "self-signed certificate in certificate chain")),
    ("wrong-name", ("hostname mismatch",)),
    ("expired", ("certificate has expired",)),
])
def test_tls_refused_certificate_is_a_503_and_a_clear_log_line(make_stack, pki, case, reason):
    s = make_stack(start=False)
    which = {"other": "other", "wrong-name": "good", "expired": "expired"}[case]
    name = "elsewhere.test" if case == "wrong-name" else NAME
    start_gate(s, tls_redis(s, pki, which), tls_directives(pki, server_name=name))
    assert_503_and_workers_alive(s)
    wait_for_log(s, "the server's certificate is refused")
    line = next(l for l in s.error_log().splitlines() if "certificate is refused" in l)
    assert "[error]" in line and any(r in line for r in reason), line
    assert f"127.0.0.1:{s.redis.port}" in line, line
    assert "connected (TLS)" not in s.error_log()


@needs_tls
def test_tls_wrong_password_is_a_503(make_stack, pki):
    s, _ = start_tls_acl_gate(make_stack, pki, "wrong")
    assert_503_and_workers_alive(s)
    wait_for_log(s, "AUTH failed")
    assert "WRONGPASS" in s.error_log()


@needs_tls
def test_tls_to_a_plain_port_is_a_503(make_stack, pki):
    s = make_stack(start=False)
    s.redis.start()
    start_gate(s, s.redis, tls_directives(pki, server_name=NAME))
    assert_503_and_workers_alive(s)
    wait_until(lambda: "asset_gate: redis" in s.error_log() and "connected (TLS)" not in s.error_log(),
               5, what="the failure logged")


@needs_tls
def test_plain_client_to_a_tls_port_is_a_503(make_stack, pki):
    s = make_stack(start=False)
    start_gate(s, tls_redis(s, pki), "")
    assert_503_and_workers_alive(s)


@needs_tls
def test_tls_missing_trusted_certificate_is_an_error(conf, pki):
    text = config(conf, http=f"asset_gate_redis_tls on;\n    asset_gate_redis_tls_trusted_certificate {conf.dir}/none.pem;")
    res = conf.nginx_test(text)
    assert res.returncode != 0
    assert "cannot load the trusted certificates" in res.stderr and "none.pem" in res.stderr, res.stderr


@needs_tls
def test_tls_over_a_unix_socket_is_an_error(conf):
    gate = gate_with(conf, "asset_gate_redis_tls on;")
    assert_fails_at(conf, config(conf, gate=gate, redis=f"asset_gate_redis unix:{conf.dir}/r.sock;"),
                    "unix: socket")


@needs_tls
def test_tls_to_a_sentinel_with_its_password_and_to_the_master(make_stack, pki, sentinels):
    s = make_stack(start=False)
    server = tls_redis(s, pki)
    cert, key = pki["good"]
    # The sentinel speaks TLS to its clients and to the master it watches.
    sentinel = Sentinel(s.dir, 0, server.port)
    text = sentinel.conf.read_text().replace(f"port {sentinel.port}\n", "port 0\n")
    sentinel.conf.write_text(text + f"""tls-port {sentinel.port}
tls-cert-file {cert}
tls-key-file {key}
tls-ca-cert-file {pki['ca'].cert}
tls-auth-clients no
tls-replication yes
requirepass {SENTINEL_PASSWORD}
""")
    sentinel.start()
    sentinels.append(sentinel)
    sentinel.client = redis.Redis(host="127.0.0.1", port=sentinel.port, password=SENTINEL_PASSWORD,
                                  ssl=True, ssl_cert_reqs="none", decode_responses=True,
                                  socket_timeout=5)
    wait_until(lambda: sentinel.master_addr() == ("127.0.0.1", server.port), 10,
               what="the sentinel to know the master")
    start_gate(s, server, tls_directives(pki) + f"\n    asset_gate_redis_sentinel_password {SENTINEL_PASSWORD};",
               addr=f"sentinel:{MASTER_NAME}@127.0.0.1:{sentinel.port}")
    wait_for_log(s, f"using 127.0.0.1:{server.port} (the sentinel named the master)")
    wait_until(lambda: s.content(7).status == 200, 5, what="a 200 through the sentinel")
    assert f"sentinel 127.0.0.1:{sentinel.port}): connected (TLS)" in s.error_log()
    assert SENTINEL_PASSWORD not in s.error_log()
