"""Fail closed everywhere: each place an outside attack pass found a doubt resolved to "open"
(records, variables, query names, the cache, the config, invalidation races, Redis faults),
pinned against a real nginx and a real redis-server. DESIGN.md sections 1, 4, 5, 6."""

import concurrent.futures
import re
import socket
import threading
import time

import pytest
import redis

from conftest import serve
from gate import FILE, PNG, Stack, free_port, mint

CHANNEL = "asset_gate:invalidate"


def outcome(r):
    return r.status, r.header("x-reason")


def extra_fields(n):
    return {f"extra_{i:03d}": "x" * 10 for i in range(n)}


def wait_subscribed(stack, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while stack.redis.client.pubsub_numsub(CHANNEL)[0][1] < n:
        assert time.monotonic() < deadline, "the workers did not subscribe"
        time.sleep(0.05)


def nginx_client_ids(stack):
    own = stack.redis.client.client_id()
    return sorted(int(c["id"]) for c in stack.redis.client.client_list()
                  if int(c["id"]) != own and "P" not in c["flags"] and c["cmd"] != "monitor")


# -- 1, 2: records read whole, strict values ---------------------------------------------------

def test_org_switch_written_after_many_fields_still_blocks(stack):
    # An org hash with 40 fields before its switch: the first 32 used to be all that was read.
    stack.redis.client.hset("org:org-wide", mapping={**extra_fields(40), "security_settings": "1",
                                                     "allow_public": "0"})
    stack.put_asset(1001, org="org-wide")
    assert outcome(stack.content(1001)) == (404, "org_blocked")
    assert stack.content(1001, purpose="subscription_delivery").status == 200


def test_asset_expiry_written_after_many_fields_still_expires(stack):
    stack.put_asset(1002, org="org-on")
    stack.redis.client.hset("asset:1002", mapping={**extra_fields(40),
                                                   "expires_at": str(int(time.time()) - 10)})
    assert outcome(stack.content(1002)) == (404, "asset_expired")


@pytest.mark.parametrize("field,value", [
    ("allow_public", "false"), ("allow_public", " 0"), ("allow_public", ""),
    ("allow_public", "no"), ("security_settings", "true"), ("security_settings", "01"),
])
def test_odd_switch_values_are_bad_records_never_open(make_stack, field, value):
    s = make_stack(cache=False)
    fields = {"security_settings": "1", "allow_public": "0", field: value}
    s.redis.client.hset("org:org-odd", mapping=fields)
    s.put_asset(7, org="org-odd")
    assert outcome(s.content(7)) == (404, "bad_record")
    assert outcome(s.render(7)) == (404, "bad_record")
    # Purpose tokens never read the org.
    assert s.content(7, purpose="subscription_delivery").status == 200


@pytest.mark.parametrize("field,value", [
    ("expires_at", "1.5"), ("expires_at", ""), ("expires_at", "soon"), ("location", "../x"),
    ("format", "image/svg+xml"), ("filename", "a\r\nb.png"), ("org", ""),
])
def test_malformed_asset_fields_are_bad_records(make_stack, field, value):
    s = make_stack(cache=False)
    s.put_org("org-1")
    s.put_asset(8, org="org-1")
    s.redis.client.hset("asset:8", field, value)
    r = s.content(8, purpose="subscription_delivery")
    assert outcome(r) == (404, "bad_record")
    assert PNG not in r.body


# -- 3: nothing serves the content after a refusal ---------------------------------------------

@pytest.fixture(scope="module")
def error_page_stack():
    s = Stack(location_extra="error_page 404 = @content;").start()
    s.put_org("org-off", security_settings=True, allow_public=False)
    s.put_org("org-on", security_settings=True, allow_public=True)
    s.put_asset(2001, org="org-off")
    s.put_asset(2002, org="org-on", expires_at=int(time.time()) - 5)
    s.put_asset(2003, org="org-on", fmt="application/pdf")
    yield from serve(s)


@pytest.mark.parametrize("asset,reason", [(2001, "org_blocked"), (2002, "asset_expired"),
                                          (2003, "extension_mismatch")])
def test_error_page_to_the_content_target_never_serves_a_refused_asset(error_page_stack, asset,
                                                                         reason):
    r = error_page_stack.content(asset)
    assert r.status == 404
    assert PNG not in r.body
    assert r.header("x-reason") == reason
    deadline = time.monotonic() + 5
    while not (lines := [l for l in error_page_stack.access_log().splitlines()
                         if f"id={asset} " in l]):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # The record's fields stay empty after a refusal ("-" in the access log).
    assert f"reason={reason}" in lines[-1] and "location=- " in lines[-1], lines[-1]


def test_error_page_keeps_allowed_requests_working(error_page_stack):
    error_page_stack.put_asset(2004, org="org-on")
    r = error_page_stack.content(2004)
    assert (r.status, r.body) == (200, PNG)


def test_a_gate_target_stays_usable_as_the_applications_own_fallback(make_stack):
    # `asset_gate_render @app;` beside `try_files $uri @app;`: requests no gate decided pass.
    s = make_stack(server_extra="location /app { try_files /nonexistent @render; }")
    r = s.request("/app/page")
    assert r.status == 200 and b"render page" in r.body


def test_a_render_token_refused_on_content_cannot_reach_the_render_target(make_stack):
    s = make_stack(location_extra="error_page 404 = @render;")
    s.put_org("org-1")
    s.put_asset(33, org="org-1")
    r = s.content(33, purpose="render")  # purpose_surface, then error_page to @render
    assert r.status == 404 and b"render page" not in r.body
    assert "a gate's target serves only what the gate allowed" in s.error_log()


def test_x_accel_redirect_back_into_the_gate_is_decided_again(make_stack):
    # The render target's upstream answers X-Accel-Redirect into the (inline) gate location:
    # the render token must not turn into the asset's file.
    s = make_stack(start=False)
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @accel;
            asset_gate_content inline;
            root {s.root};
            try_files /$asset_gate_location =404;
            add_header X-Reason $asset_gate_reason always;"""
    app = free_port()
    s.server_extra = f"location @accel {{ proxy_pass http://127.0.0.1:{app}; }}"
    s.http_extra = f"""server {{ listen 127.0.0.1:{app};
        location / {{ add_header X-Accel-Redirect /exporter/stolen.png; return 204; }} }}"""
    s.start()
    s.put_org("org-1")
    s.put_asset(31, org="org-1")
    r = s.render(31, purpose="render")
    assert r.status == 404 and PNG not in r.body
    assert r.header("x-reason") == "no_token"
    # A real content link for the same asset still works inline.
    assert s.content(31, purpose="subscription_delivery").body == PNG


def test_subrequests_into_the_gate_are_refused(make_stack):
    s = make_stack(start=False)
    s.server_extra = f"""
        location = /page.html {{ ssi on; ssi_value_length 2048; root {s.root}; }}"""
    s.start()
    s.put_org("org-1")
    s.put_asset(32, org="org-1")
    token = mint(32, "subscription_delivery")
    (s.root / "page.html").write_text(f'<p><!--# include virtual="{FILE}?token={token}" --></p>')
    r = s.request("/page.html")
    assert PNG not in r.body
    assert "asset_gate: refused a subrequest" in s.error_log()


# -- 4: names compared decoded -------------------------------------------------------------------

@pytest.mark.parametrize("forged_name", ["%74oken", "t%6Fken", "%74%6F%6B%65%6E", "tok%65n"])
def test_percent_encoded_second_token_is_a_duplicate(stack, forged_name):
    token = mint(101, "render")
    r = stack.request(f"/exporter?token={token}&{forged_name}=forged")
    assert outcome(r) == (404, "duplicate_token")
    r = stack.request(f"/exporter?{forged_name}={token}&token=forged")
    assert outcome(r) == (404, "duplicate_token")


def test_percent_encoded_token_name_alone_is_the_token(stack):
    r = stack.request(f"/exporter?%74oken={mint(101, 'render')}")
    assert outcome(r) == (200, "allowed")


def test_percent_encoded_download_name_and_value_ask_for_an_attachment(stack):
    for query in ("%64ownload=true", "download=%74rue", "download=false&%64ownload=true"):
        r = stack.request(f"{FILE}?token={mint(101)}&{query}")
        assert r.status == 200, query
        assert (r.header("content-disposition") or "").startswith("attachment"), query
    r = stack.request(f"{FILE}?token={mint(101)}&download=true&%64ownload=no")
    assert r.header("content-disposition") is None


# -- 7: a named target that does not exist -------------------------------------------------------

@pytest.mark.parametrize("directive", ["asset_gate_render", "asset_gate_content"])
def test_typo_in_a_named_target_fails_nginx_t_with_file_and_line(make_stack, directive):
    s = make_stack(start=False)
    other = "asset_gate_content @content;" if directive == "asset_gate_render" \
        else "asset_gate_render @render;"
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            {other}
            {directive} @rendr;"""
    conf = s.config()
    line = next(i for i, l in enumerate(conf.splitlines(), 1) if "@rendr" in l)
    s.redis.start()
    result = s.nginx_test(conf)
    assert result.returncode != 0
    assert f'"{directive}" names "@rendr"' in result.stderr, result.stderr
    assert f"nginx.conf:{line}" in result.stderr, result.stderr


def test_named_target_in_another_server_does_not_count(make_stack):
    s = make_stack(start=False)
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @elsewhere;"""
    s.http_extra = "server { listen 127.0.0.1:1; location @elsewhere { return 200; } }"
    s.redis.start()
    result = s.nginx_test(s.config())
    assert result.returncode != 0 and '"@elsewhere"' in result.stderr, result.stderr


# -- 9: one huge record does not flush the cache ---------------------------------------------

def test_a_huge_record_is_bad_and_evicts_nothing(make_stack):
    s = make_stack(server_extra="location = /metrics { asset_gate_status; }", cache_valid="60s",
                   redis_timeout="300ms")
    s.put_org("org-1")
    ids = list(range(100, 140))
    for i in ids:
        s.put_asset(i, org="org-1")
        assert s.content(i).status == 200
    s.put_asset(99, org="org-1")
    s.redis.client.hset("asset:99", "padding", "x" * (2 * 1024 * 1024))
    assert outcome(s.content(99)) == (404, "bad_record")
    metrics = s.request("/metrics").body.decode()
    assert "asset_gate_cache_evictions_total 0" in metrics, metrics
    # With Redis paused, every warm link still answers from the cache.
    s.redis.client.execute_command("CLIENT", "PAUSE", 1500, "ALL")
    statuses = [s.content(i).status for i in ids]
    assert statuses == [200] * len(ids)


def test_a_large_valid_record_is_served_without_evicting_others(make_stack):
    s = make_stack(server_extra="location = /metrics { asset_gate_status; }", cache_valid="60s")
    s.put_org("org-1")
    for i in range(200, 230):
        s.put_asset(i, org="org-1")
        assert s.content(i).status == 200
    s.put_asset(199, org="org-1")
    s.redis.client.hset("asset:199", "padding", "x" * 60000)  # under 64 KiB: a valid record
    for _ in range(3):
        assert s.content(199).status == 200
    assert "asset_gate_cache_evictions_total 0" in s.request("/metrics").body.decode()


def test_a_full_zone_evicts_the_cold_keeps_the_hot_and_never_mixes_records(make_stack):
    """A zone far smaller than the records: each asset still answers with its own file, the
    zone evicts, and an asset fetched between every two others keeps its entry (second
    chance) where the cold ones, each fetched once a round, are fetched from Redis again.
    Without the workers' local copies, which would answer the hot asset before the zone."""
    s = make_stack(cache=False, http_extra="asset_gate_cache_zone small:32k; "
                   "asset_gate_cache_local 0; "
                   "asset_gate_cache_valid 60s; asset_gate_cache_negative 60s;",
                   server_extra="location = /metrics { asset_gate_status; }")
    s.put_org("org-1")
    cold = list(range(1000, 1400))
    hot = 999
    for i in [hot, *cold]:
        s.put_asset(i, org="org-1", content=PNG + str(i).encode())
    s.redis.log_every_command()
    for _round in range(2):
        for i in cold:
            for asset in (i, hot):
                r = s.content(asset)
                assert (r.status, r.body) == (200, PNG + str(asset).encode()), (asset, r.status)
    metrics = s.request("/metrics").body.decode()
    evictions = int(re.search(r"^asset_gate_cache_evictions_total (\d+)$", metrics, re.M).group(1))
    entries = int(re.search(r"^asset_gate_cache_entries (\d+)$", metrics, re.M).group(1))
    assert evictions > 0 and 0 < entries < len(cold), (evictions, entries)
    assert s.redis.logged("HGETALL", f"asset:{hot}") <= 2
    # the zone holds a fraction of the cold assets: a round later each is fetched again
    assert s.redis.logged("HGETALL", "asset:1") >= 2 * len(cold) - entries


def test_a_workers_local_copy_ends_with_an_invalidation_and_with_its_lifetime(make_stack):
    """The third request of a link is answered from the worker's own copy of the record, not
    the zone's: an invalidation must end that copy at once, and its lifetime is the zone's."""
    s = make_stack(workers=1, cache_valid="3s",
                   http_extra=f"asset_gate_invalidation_channel {CHANNEL};")
    wait_subscribed(s, 1)
    s.put_org("org-local")
    s.put_asset(50, org="org-local", content=PNG + b"first")
    token = mint(50)

    def body():
        r = s.request(f"{FILE}?token={token}")
        assert r.status == 200
        return r.body

    for _ in range(3):  # Redis, then the zone, then the worker's copy
        assert body() == PNG + b"first"
    s.put_asset(50, org="org-local", location="exports/png/team-1/task-50/second",
                content=PNG + b"second")
    assert body() == PNG + b"first"  # the record is cached: unchanged until told or expired
    s.redis.client.publish(CHANNEL, "asset:50")
    deadline = time.monotonic() + 0.5  # long before the copy's 3 s are up
    while body() != PNG + b"second":
        assert time.monotonic() < deadline, "the invalidation did not reach the worker's copy"
        time.sleep(0.02)
    for _ in range(3):
        assert body() == PNG + b"second"
    changed = time.monotonic()
    s.put_asset(50, org="org-local", location="exports/png/team-1/task-50/third",
                content=PNG + b"third")
    while body() != PNG + b"third":
        assert time.monotonic() - changed < 3 + 1, "a copy outlived its record's lifetime"
        time.sleep(0.05)
    assert time.monotonic() - changed > 1  # it was cached, and then expired


# -- 16: an invalidation racing a pending lookup is not lost ----------------------------------

@pytest.mark.parametrize("timeout", ["3s", "150ms"], ids=["answered", "past-its-deadline"])
def test_invalidation_that_races_a_pending_lookup_is_not_lost(make_stack, timeout):
    # Past its deadline the request is answered (503) but the reply still comes, late, and
    # would fill the cache: the invalidation must reach that lookup too.
    s = make_stack(cache_valid="60s", redis_timeout=timeout,
                   http_extra=f"asset_gate_invalidation_channel {CHANNEL};")
    wait_subscribed(s, s.workers)
    s.put_org("org-race", security_settings=True, allow_public=True)
    s.put_asset(40, org="org-race")
    token = mint(40)
    writer = redis.Redis(host="127.0.0.1", port=s.redis.port)
    allow = True
    stale = []
    for trial in range(8):
        # The asset is cached, the org is not: the request waits on the org's HGETALL.
        assert s.content(40, purpose="subscription_delivery").status == 200
        writer.publish(CHANNEL, "org:org-race")
        time.sleep(0.05)
        allow = not allow
        s.redis.client.execute_command("CLIENT", "PAUSE", 300, "ALL")
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            pending = pool.submit(s.request, f"{FILE}?token={token}")
            time.sleep(0.05)
            # Queued behind the pause, after the lookup: the change and its message, in one
            # pipeline so Redis runs them in the same pass as the stale read and may write the
            # message to the subscriber before the reply to the lookup.
            change = pool.submit(lambda a=allow: writer.pipeline(transaction=False)
                                 .hset("org:org-race", "allow_public", "1" if a else "0")
                                 .publish(CHANNEL, "org:org-race").execute())
            pending.result(timeout=10)
            change.result(timeout=10)
        time.sleep(0.1)
        after = [s.request(f"{FILE}?token={token}").status for _ in range(4)]
        if after != [200 if allow else 404] * 4:
            stale.append((trial, allow, after))
    assert not stale, f"stale answers after the invalidation: {stale}"


# -- 17: CLIENT PAUSE WRITE (Redis FAILOVER) does not hold reads --------------------------------

def test_public_lookups_pass_a_write_pause(make_stack):
    s = make_stack(cache=False, redis_timeout="500ms")
    s.put_org("org-1")
    s.put_asset(50, org="org-1")
    s.redis.client.execute_command("CLIENT", "PAUSE", 2000, "WRITE")
    started = time.monotonic()
    for purpose in (None, "subscription_delivery", None):
        r = s.content(50, purpose=purpose)
        assert outcome(r) == (200, "allowed"), purpose
    assert time.monotonic() - started < 1.0
    s.redis.client.execute_command("CLIENT", "UNPAUSE")


# -- 18: a timed-out lookup keeps the connection, and recovery is immediate ------------------

def test_stalls_do_not_reset_the_connection_or_delay_recovery(make_stack):
    s = make_stack(cache=False, redis_timeout="200ms", workers=1)
    s.put_org("org-1")
    for i in (60, 61):
        s.put_asset(i, org="org-1")
    assert s.content(60).status == 200
    before = nginx_client_ids(s)
    for _ in range(4):  # repeated stalls of 400 ms: each lookup times out
        s.redis.client.execute_command("CLIENT", "PAUSE", 400, "ALL")
        assert outcome(s.content(60)) == (503, "redis_error")
        time.sleep(0.45)
    # Redis is healthy again: the very next unrelated lookup is answered.
    assert outcome(s.content(61)) == (200, "allowed")
    assert nginx_client_ids(s) == before, "the connection was reset"


def test_a_dead_connection_is_still_dropped(make_stack, fake_redis):
    fake = fake_redis("blackhole")
    s = make_stack(redis_addr=fake.addr, start_redis=False, redis_timeout="200ms", workers=1)
    deadline = time.monotonic() + 5
    while "no reply for too long" not in s.error_log():
        assert time.monotonic() < deadline, "a silent connection was never dropped"
        assert s.content(1).status == 503
    while fake.accepted < 2:
        assert time.monotonic() < deadline, "no new connection after the drop"
        time.sleep(0.05)


# -- 19: a client that leaves while its lookup is pending ---------------------------------------

def test_client_leaving_during_a_lookup_is_logged_with_a_reason(make_stack):
    s = make_stack(cache=False, redis_timeout="2s", log_format="$status reason=$asset_gate_reason")
    s.put_org("org-1")
    s.put_asset(70, org="org-1")
    s.redis.client.execute_command("CLIENT", "PAUSE", 800, "ALL")
    with socket.create_connection(("127.0.0.1", s.port)) as c:
        c.sendall(f"GET {FILE}?token={mint(70)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while "499" not in s.access_log():
        assert time.monotonic() < deadline, s.access_log()
        time.sleep(0.05)
    assert "499 reason=redis_error" in s.access_log()
    time.sleep(0.8)
    assert s.content(70).status == 200
