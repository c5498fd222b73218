"""asset_gate_health: 200 while the answering worker's gates can decide (keys, Redis data
connection up, a fresh sync heartbeat when asset_gate_sync_max_age is set), else 503 with
Retry-After and a line naming why. Real nginx (2 workers) and a real redis-server; each answer
comes from one worker, so a change is waited for until several answers in a row agree."""

import time

from gate import free_port
from test_config import assert_fails_at, assert_ok, conf, config  # noqa: F401 (conf: a fixture)
from test_sync_stale import beat, gated, outcome

HEALTH = "location = /healthz { asset_gate_health; }"


def until_health(s, status, timeout=10.0, streak=6, method="GET", says=""):
    """Asks /healthz (each on a new connection, so both workers answer) until `streak` answers
    in a row have `status` (and a body with `says` in it); returns the last."""
    deadline = time.monotonic() + timeout
    run, got = 0, None
    while time.monotonic() < deadline:
        got = s.request("/healthz", method=method)
        run = run + 1 if got.status == status and says.encode() in got.body else 0
        if run >= streak:
            return got
        time.sleep(0.05)
    raise AssertionError(f"/healthz still {got.status} {got.body!r} after {timeout}s, "
                         f"expected {status}")


def assert_unhealthy(r, body):
    assert r.status == 503
    assert r.body.decode() == body
    assert r.header("retry-after") == "1"
    assert r.header("cache-control") == "no-store"
    assert r.header("content-type") == "text/plain"


# -- up and down ---------------------------------------------------------------------------------

def test_health_is_ok_while_redis_is_up(make_stack):
    s = make_stack(server_extra=HEALTH)
    r = until_health(s, 200)
    assert r.body == b"ok\n"
    assert r.header("cache-control") == "no-store"
    assert r.header("content-type") == "text/plain"
    assert r.header("retry-after") is None


def test_health_is_503_while_redis_is_down_and_ok_again_once_it_is_back(make_stack):
    s = make_stack(server_extra=HEALTH)
    until_health(s, 200)
    s.redis.stop()
    r = until_health(s, 503)
    assert_unhealthy(r, f"redis: down (127.0.0.1:{s.redis.port})\n")
    s.redis.start()
    # Within the reconnect backoff (at most 3 s) of each worker, and its setup.
    assert until_health(s, 200, timeout=10).body == b"ok\n"


def test_health_reports_every_gate_not_only_the_first(make_stack):
    dead = free_port()  # nothing listens: this gate's connection is never up
    s = make_stack(server_extra=f"""{HEALTH}
        location ^~ /other {{
            asset_gate on;
            asset_gate_key_file KEYFILE;
            asset_gate_redis 127.0.0.1:{dead};
            asset_gate_render @render;
        }}""", start=False)
    s.server_extra = s.server_extra.replace("KEYFILE", str(s.keyfile))
    s.start()
    assert_unhealthy(until_health(s, 503), f"redis: down (127.0.0.1:{dead})\n")
    # The first gate's Redis is up all the while: it still serves.
    s.put_org("org-1")
    s.put_asset(101)
    assert s.content(101).status == 200


# -- the sync heartbeat ---------------------------------------------------------------------------

def test_health_is_503_while_the_heartbeat_is_missing_stale_or_ahead(make_stack):
    s = gated(make_stack, max_age="3s", server_extra=HEALTH)
    r = until_health(s, 503)
    assert_unhealthy(r, "sync: unknown (heartbeat sync:heartbeat missing, malformed or unread)\n")
    beat(s)
    assert until_health(s, 200).body == b"ok\n"
    beat(s, at=int(time.time()) - 100)
    r = until_health(s, 503, says="stale")
    body = r.body.decode()
    assert body.startswith("sync: stale (heartbeat sync:heartbeat "), body
    assert body.endswith(" s old, max 3 s)\n"), body
    assert 99 <= int(body.split()[4]) <= 102, body
    # Public links answer sync_stale meanwhile: what the 503 warns a load balancer of.
    assert outcome(s.content(101)) == (404, "sync_stale")
    beat(s, at=int(time.time()) + 3600)
    r = until_health(s, 503, says="ahead")
    assert r.body.decode().endswith(" s ahead, max 3 s)\n"), r.body
    beat(s)
    until_health(s, 200)


def test_the_heartbeat_does_not_matter_without_a_sync_max_age(make_stack):
    s = make_stack(server_extra=HEALTH)
    assert s.redis.client.get("sync:heartbeat") is None
    assert until_health(s, 200).body == b"ok\n"


# -- methods ---------------------------------------------------------------------------------------

def test_health_answers_head_without_a_body(make_stack):
    s = make_stack(server_extra=HEALTH)
    r = until_health(s, 200, method="HEAD")
    assert r.body == b""
    assert r.header("content-length") == "3"
    assert r.header("cache-control") == "no-store"
    s.redis.stop()
    r = until_health(s, 503, method="HEAD")
    assert r.body == b"" and r.header("retry-after") == "1"


def test_health_refuses_other_methods(make_stack):
    s = make_stack(server_extra=HEALTH)
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        assert s.request("/healthz", method=method).status == 405, method


# -- configuration ---------------------------------------------------------------------------------

def test_health_in_a_location_is_valid(conf):
    assert_ok(conf, config(conf, server=HEALTH))


def test_health_outside_a_location_fails_at_its_line(conf):
    text = config(conf, server="asset_gate_health;  # <-")
    assert_fails_at(conf, text, '"asset_gate_health" directive is not allowed here')
    text = config(conf, http="asset_gate_health;  # <-")
    assert_fails_at(conf, text, '"asset_gate_health" directive is not allowed here')


def test_health_takes_no_arguments(conf):
    text = config(conf, server="location = /healthz { asset_gate_health on; }  # <-")
    assert_fails_at(conf, text, 'invalid number of arguments in "asset_gate_health"')


def test_health_cannot_share_a_location_with_another_content_handler(conf):
    # Before it or after it: either would answer instead of it.
    for other in ("asset_gate_status;", "proxy_pass http://127.0.0.1:9;"):
        text = config(conf, server=f"location = /healthz {{ {other}\n asset_gate_health;  # <-\n }}")
        assert_fails_at(conf, text, '"asset_gate_health" cannot share a location')
        text = config(conf, server=f"location = /healthz {{ asset_gate_health;  # <-\n {other} }}")
        assert_fails_at(conf, text, '"asset_gate_health" cannot share a location')


def test_health_without_any_gate_fails_at_its_line(conf):
    text = config(conf, gate="return 404;", server="location = /healthz { asset_gate_health; }  # <-")
    text = text.replace("try_files /$asset_gate_location =404;", "")
    assert_fails_at(conf, text, '"asset_gate_health" needs a location with "asset_gate on"')


def test_health_cannot_be_in_a_gate_location(conf):
    # The gate would answer the health request as a link without a token: a 404.
    text = config(conf, gate=f"""
            asset_gate on;
            asset_gate_key_file {conf.keyfile};
            asset_gate_render @render;
            asset_gate_content @content;
            asset_gate_health;  # <-""")
    assert_fails_at(conf, text, '"asset_gate_health" cannot be in a location with "asset_gate on"')
