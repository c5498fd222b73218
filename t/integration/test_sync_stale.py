"""asset_gate_sync_max_age (DESIGN.md sections 4 and 5): public tokens are refused with
`sync_stale` while `PREFIX sync:heartbeat` is missing, malformed or older than the max age;
purpose tokens never are. Real nginx (2 workers) and a real redis-server; each worker reads the
heartbeat about once a second, so every change is waited for rather than slept on."""

import threading
import time

import pytest

from gate import mint
from test_config import assert_fails_at, assert_ok, conf, config  # noqa: F401 (conf: a fixture)

HEARTBEAT = "sync:heartbeat"
METRICS = "location = /metrics { asset_gate_status; }"


def outcome(r):
    return r.status, r.header("x-reason")


def gated(make_stack, max_age="3s", **kw):
    """A stack whose gate checks the heartbeat, with a public-shareable asset 101."""
    extra = kw.pop("location_extra", "")
    s = make_stack(location_extra=f"asset_gate_sync_max_age {max_age}; {extra}", **kw)
    s.put_org("org-1", security_settings=True, allow_public=True)
    s.put_asset(101, org="org-1")
    return s


def beat(s, at=None, key=HEARTBEAT):
    s.redis.client.set(key, str(int(time.time()) if at is None else at))


class Writer:
    """What the sync does: writes the heartbeat every half second while running."""

    def __init__(self, s, key=HEARTBEAT):
        self.s, self.key = s, key
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            beat(self.s, key=self.key)
            self.stop.wait(0.5)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def until(request, want, timeout=10.0, streak=6):
    """Sends `request()` until `streak` answers in a row (each on a new connection, so both
    workers answer) are `want`; returns the last. Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    run, got = 0, None
    while time.monotonic() < deadline:
        got = outcome(request())
        run = run + 1 if got == want else 0
        if run >= streak:
            return got
        time.sleep(0.05)
    raise AssertionError(f"still {got} after {timeout}s, expected {want}")


def metric(s, name):
    r = s.request("/metrics")
    assert r.status == 200
    return {line.split("{", 1)[1].rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
            for line in r.body.decode().splitlines() if line.startswith(name + "{")}


# -- the rule ------------------------------------------------------------------------------------

def test_missing_heartbeat_refuses_public_tokens_with_sync_stale(make_stack):
    s = gated(make_stack)
    until(lambda: s.content(101), (404, "sync_stale"))
    r = s.content(101)
    assert outcome(r) == (404, "sync_stale")
    assert r.body == s.content(999).body  # the same plain 404 as any refusal
    assert outcome(s.render(101)) == (404, "sync_stale")
    lines = [l for l in s.access_log().splitlines() if "reason=sync_stale" in l]
    assert lines and all("purpose=public" in l and " 404 " in l for l in lines)


def test_purpose_tokens_never_depend_on_the_heartbeat(make_stack):
    s = gated(make_stack)
    until(lambda: s.content(101), (404, "sync_stale"))
    for _ in range(6):
        assert outcome(s.render(101, "render")) == (200, "allowed")
        assert outcome(s.content(101, "subscription_delivery")) == (200, "allowed")


def test_fresh_heartbeat_allows_public_tokens(make_stack):
    s = gated(make_stack)
    with Writer(s):
        until(lambda: s.content(101), (200, "allowed"))
        assert outcome(s.render(101)) == (200, "allowed")


def test_heartbeat_older_than_max_age_refuses_until_written_again(make_stack):
    s = gated(make_stack, max_age="2s")
    with Writer(s):
        until(lambda: s.content(101), (200, "allowed"))
    # The sync stopped: the last value ages past 2 s (the record itself stays cached).
    until(lambda: s.content(101), (404, "sync_stale"), timeout=12)
    assert outcome(s.content(101, "subscription_delivery")) == (200, "allowed")
    beat(s)
    until(lambda: s.content(101), (200, "allowed"))


@pytest.mark.parametrize("value", ["abc", "1.5", "", " 1795956473", "-1", "1795956473\n",
                                   "9223372036854775808"])
def test_malformed_heartbeat_is_stale(make_stack, value):
    s = gated(make_stack)
    with Writer(s):
        until(lambda: s.content(101), (200, "allowed"))
    s.redis.client.set(HEARTBEAT, value)
    until(lambda: s.content(101), (404, "sync_stale"))


def test_heartbeat_of_another_type_is_stale(make_stack):
    s = gated(make_stack)
    s.redis.client.hset(HEARTBEAT, "at", str(int(time.time())))
    until(lambda: s.content(101), (404, "sync_stale"))
    assert "[alert]" not in s.error_log()


def test_heartbeat_counts_from_the_future_only_within_max_age(make_stack):
    s = gated(make_stack, max_age="30s")
    beat(s, int(time.time()) + 20)  # clocks apart by less than the max age
    until(lambda: s.content(101), (200, "allowed"))
    beat(s, int(time.time()) + 3600)  # would keep the records "fresh" for an hour
    until(lambda: s.content(101), (404, "sync_stale"))


@pytest.mark.parametrize("asset,org,reason", [
    (102, {"security_settings": True, "allow_public": False}, "org_blocked"),
    (103, None, "org_unknown"),
    (999, None, "asset_unknown"),
])
def test_a_refused_public_token_keeps_its_own_reason(make_stack, asset, org, reason):
    s = gated(make_stack)
    if asset != 999:
        if org is not None:
            s.put_org(f"org-{asset}", **org)
        s.put_asset(asset, org=f"org-{asset}")
    until(lambda: s.content(101), (404, "sync_stale"))
    assert outcome(s.content(asset)) == (404, reason)
    assert outcome(s.request(f"/exporter/x.pdf?token={mint(101)}")) == (404, "extension_mismatch")


# -- off, prefix, several settings ------------------------------------------------------------------

def test_without_the_directive_the_heartbeat_is_never_read(make_stack):
    s = make_stack()
    s.put_org("org-1")
    s.put_asset(101, org="org-1")
    for _ in range(6):
        assert outcome(s.content(101)) == (200, "allowed")
    time.sleep(1.5)
    assert s.redis.commands("get") == 0


def test_off_in_a_location_overrides_the_http_level(make_stack):
    s = make_stack(http_extra="asset_gate_sync_max_age 3s;",
                   location_extra="asset_gate_sync_max_age off;")
    s.put_org("org-1")
    s.put_asset(101, org="org-1")
    for _ in range(6):
        assert outcome(s.content(101)) == (200, "allowed")


def test_the_key_prefix_applies_to_the_heartbeat(make_stack):
    s = make_stack(location_extra="asset_gate_sync_max_age 3s; asset_gate_redis_prefix pfx:;")
    s.put_org("org-1", prefix="pfx:")
    s.put_asset(101, org="org-1", prefix="pfx:")
    with Writer(s):  # the unprefixed key is someone else's
        until(lambda: s.content(101), (404, "sync_stale"))
    with Writer(s, key="pfx:" + HEARTBEAT):
        until(lambda: s.content(101), (200, "allowed"))


def test_gates_with_other_prefixes_read_their_own_heartbeats(make_stack):
    s = make_stack(start=False, location_extra="asset_gate_sync_max_age 3s;")
    s.server_extra = f"""
        location ^~ /other {{
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @render;
            asset_gate_redis_prefix b:;
            asset_gate_sync_max_age 3s;
            add_header X-Reason $asset_gate_reason always;
        }}"""
    s.start()
    for prefix in ("", "b:"):
        s.put_org("org-1", prefix=prefix)
        s.put_asset(101, org="org-1", prefix=prefix)
    with Writer(s):
        until(lambda: s.content(101), (200, "allowed"))
        until(lambda: s.request(f"/other?token={mint(101)}"), (404, "sync_stale"))
        with Writer(s, key="b:" + HEARTBEAT):
            until(lambda: s.request(f"/other?token={mint(101)}"), (200, "allowed"))


# -- the hot path, failures, reload ---------------------------------------------------------------

def test_requests_make_no_redis_round_trip_for_the_heartbeat(make_stack):
    s = gated(make_stack)
    with Writer(s):
        until(lambda: s.content(101), (200, "allowed"))
        before, started = s.redis.commands("get"), time.monotonic()
        for _ in range(60):
            assert outcome(s.content(101)) == (200, "allowed")
        gets = s.redis.commands("get") - before
        elapsed = time.monotonic() - started
    # Each of the 2 workers reads about once a second, whatever the traffic.
    assert gets <= 2 * (elapsed + 2), (gets, elapsed)


def test_redis_down_refuses_cached_public_tokens_with_sync_stale_not_503(make_stack):
    s = gated(make_stack, cache_valid="60s")
    with Writer(s):
        until(lambda: s.content(101), (200, "allowed"))
        s.redis.stop()
    # The records are cached, the heartbeat cannot be read: fail closed, but no 503 for it.
    until(lambda: s.content(101), (404, "sync_stale"))
    assert outcome(s.content(101, "subscription_delivery")) == (200, "allowed")
    # A lookup Redis must answer is still the 503 of asset_gate_redis_failure.
    r = s.content(777)
    assert outcome(r) == (503, "redis_error")


def test_reload_does_not_refuse_public_tokens_while_new_workers_read(make_stack):
    s = gated(make_stack, max_age="5s", server_extra=METRICS)
    with Writer(s):
        until(lambda: s.content(101), (200, "allowed"))
        stop = time.monotonic() + 3
        seen = []
        s.reload()
        while time.monotonic() < stop:
            seen.append(outcome(s.content(101)))
    assert seen and set(seen) == {(200, "allowed")}, sorted(set(seen))


def test_status_shows_the_heartbeat_age(make_stack):
    s = gated(make_stack, max_age="60s", server_extra=METRICS)
    beat(s, int(time.time()) - 10)
    until(lambda: s.content(101), (200, "allowed"))
    deadline = time.monotonic() + 5
    while True:
        age = metric(s, "asset_gate_sync_heartbeat_age_seconds")
        read = metric(s, "asset_gate_sync_heartbeat_read_seconds")
        label = f'redis="127.0.0.1:{s.redis.port}",key="sync:heartbeat"}}'
        if label in age or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert 10 <= int(age[label]) <= 13, age
    assert 0 <= int(read[label]) <= 2, read
    s.redis.client.delete(HEARTBEAT)
    until(lambda: s.content(101), (404, "sync_stale"))
    deadline = time.monotonic() + 5
    while metric(s, "asset_gate_sync_heartbeat_age_seconds")[label] != "NaN":
        assert time.monotonic() < deadline
        time.sleep(0.2)


# -- configuration ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["abc", "0", "0s", "-5s", "500ms", "5x"])
def test_a_bad_max_age_fails_nginx_t_at_its_line(conf, value):
    text = config(conf, http=f"asset_gate_sync_max_age {value};  # <-")
    assert_fails_at(conf, text, f'invalid value "{value}"', "asset_gate_sync_max_age")


def test_a_second_max_age_in_one_block_is_a_duplicate(conf):
    text = config(conf, http="asset_gate_sync_max_age 5s;\n    asset_gate_sync_max_age 6s;  # <-")
    assert_fails_at(conf, text, "is duplicate")


@pytest.mark.parametrize("where", ["http", "server", "location"])
def test_max_age_is_accepted_at_every_level(conf, where):
    directive = "asset_gate_sync_max_age 10s;"
    if where == "location":
        gate = f"""
            asset_gate on;
            asset_gate_key_file {conf.keyfile};
            asset_gate_render @render;
            {directive}"""
        assert_ok(conf, config(conf, gate=gate))
    else:
        assert_ok(conf, config(conf, **{where: directive}))
    assert_ok(conf, config(conf, http="asset_gate_sync_max_age off;"))



def test_new_workers_wait_for_their_first_read_instead_of_refusing(make_stack):
    # Redis holds every command for 2.5 s while nginx reloads: the new workers' first GET is
    # answered only then, and the public requests they take meanwhile wait for it (the records
    # are in the shared cache) instead of being refused for a heartbeat not read yet.
    s = gated(make_stack, max_age="10s", cache_valid="60s", redis_timeout="5s")
    with Writer(s):
        until(lambda: s.content(101), (200, "allowed"))
        s.redis.client.execute_command("CLIENT", "PAUSE", "2500", "ALL")
        stop = time.monotonic() + 3.5
        s.reload()
        seen = []
        while time.monotonic() < stop:
            r = s.content(101)
            seen.append((outcome(r), r.elapsed))
    assert {o for o, _ in seen} == {(200, "allowed")}, seen
    assert max(e for _, e in seen) > 0.3, "no request waited for a first read"
