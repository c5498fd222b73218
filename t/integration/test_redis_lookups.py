"""How the gate reads its records from Redis (DESIGN.md sections 4 and 5): one read-only
HGETALL per record (the asset, then for public tokens its org), the shared cache and its lifetimes, errors never cached, coalescing, key prefix,
database, AUTH, unix sockets, and one connection per worker.

Every test builds its own stack so INFO commandstats starts from zero."""

import concurrent.futures
import re
import time

import pytest
import redis

from faults import Monitor
from gate import FILE, PNG, mint

PID_LOG = '$pid $status reason=$asset_gate_reason id=$asset_gate_id'


@pytest.fixture
def monitored(make_stack):
    """make_stack, plus a MONITOR on the stack's Redis to count the commands nginx sends."""
    monitors = []

    def make(**kw):
        s = make_stack(**kw)
        s.monitor = Monitor(s.redis.port, s.redis.password)
        monitors.append(s.monitor)
        return s

    yield make
    for m in monitors:
        m.close()


def lookups(stack):
    """The records nginx read: HGETALLs of asset keys and of org keys, and any script."""
    return {"asset": stack.monitor.count_keys("HGETALL", "asset:", stack.redis.client),
            "org": stack.monitor.count_keys("HGETALL", "org:", stack.redis.client),
            "eval": stack.monitor.count("EVAL", stack.redis.client)
            + stack.monitor.count("EVAL_RO", stack.redis.client)}


def wait_nginx_connected(stack, timeout=3.0):
    """Waits until every worker has its Redis connection up (they connect at start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(nginx_clients(stack)) >= stack.workers:
            return
        time.sleep(0.05)


def nginx_clients(stack, client=None):
    """CLIENT LIST entries other than the test's own connection(s)."""
    client = client or stack.redis.client
    own = client.client_id()
    return [c for c in client.client_list() if int(c["id"]) != own and "O" not in c["flags"]]


# -- one command per miss ------------------------------------------------------------------

def test_full_miss_for_public_token_reads_the_asset_then_its_org(monitored):
    s = monitored()
    s.put_org("org-1")
    s.put_asset(7, org="org-1")
    r = s.content(7)
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    assert r.body == PNG
    # Plain reads (no script): correct on a cluster, and served during CLIENT PAUSE WRITE.
    assert lookups(s) == {"asset": 1, "org": 1, "eval": 0}


def test_full_miss_for_purpose_token_is_one_hgetall_without_org(monitored):
    s = monitored()
    # The org record does not exist: a purpose token never needs it.
    s.put_asset(8, org="org-missing")
    r = s.content(8, purpose="subscription_delivery")
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    assert lookups(s) == {"asset": 1, "org": 0, "eval": 0}
    r = s.render(9, purpose="render")  # unknown asset: still one HGETALL, no org
    assert (r.status, r.header("x-reason")) == (404, "asset_unknown")
    assert lookups(s) == {"asset": 2, "org": 0, "eval": 0}


def test_render_purpose_token_reads_only_the_asset(monitored):
    s = monitored()
    s.put_asset(10, org="org-missing")
    r = s.render(10, purpose="render")
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    assert lookups(s) == {"asset": 1, "org": 0, "eval": 0}


def test_cached_asset_with_missing_org_fetches_only_the_org(monitored):
    s = monitored()
    s.put_org("org-1")
    s.put_asset(11, org="org-1")
    assert s.content(11, purpose="subscription_delivery").status == 200
    assert lookups(s) == {"asset": 1, "org": 0, "eval": 0}
    # Asset cached by the purpose request, org not yet: one HGETALL of the org.
    r = s.content(11)
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    assert lookups(s) == {"asset": 1, "org": 1, "eval": 0}
    assert s.content(11).status == 200
    assert lookups(s) == {"asset": 1, "org": 1, "eval": 0}


def test_public_token_with_missing_org_is_refused_and_the_missing_org_cached(monitored):
    s = monitored()
    s.put_asset(12, org="org-missing")
    r = s.content(12)
    assert (r.status, r.header("x-reason")) == (404, "org_unknown")
    assert lookups(s) == {"asset": 1, "org": 1, "eval": 0}
    assert s.content(12).header("x-reason") == "org_unknown"
    assert lookups(s) == {"asset": 1, "org": 1, "eval": 0}


def test_public_token_of_a_missing_asset_never_reads_an_org(monitored):
    s = monitored()
    r = s.content(13)
    assert (r.status, r.header("x-reason")) == (404, "asset_unknown")
    assert lookups(s) == {"asset": 1, "org": 0, "eval": 0}


# -- the shared cache -----------------------------------------------------------------------

def test_cache_serves_repeated_lookups_across_workers(monitored):
    s = monitored(cache_valid="30s", log_format=PID_LOG)
    s.put_org("org-1")
    s.put_asset(20, org="org-1")
    token = mint(20)
    statuses = []
    deadline = time.monotonic() + 15
    # At least 20 requests, each on a new connection, until both workers have served some.
    while time.monotonic() < deadline and len(statuses) < 400:
        statuses.append(s.request(f"{FILE}?token={token}").status)
        pids = set(re.findall(r"^(\d+) ", s.access_log(), re.M))
        if len(statuses) >= 20 and len(pids) >= 2:
            break
    assert statuses == [200] * len(statuses)
    assert len(set(re.findall(r"^(\d+) ", s.access_log(), re.M))) == 2, \
        "the requests never reached both workers"
    assert lookups(s) == {"asset": 1, "org": 1, "eval": 0}


def test_without_cache_every_request_reaches_redis(monitored):
    s = monitored(cache=False)
    s.put_org("org-1")
    s.put_asset(21, org="org-1")
    token = mint(21)
    for _ in range(20):
        assert s.request(f"{FILE}?token={token}").status == 200
    assert lookups(s) == {"asset": 20, "org": 20, "eval": 0}
    for _ in range(5):
        assert s.content(21, purpose="subscription_delivery").status == 200
    assert lookups(s) == {"asset": 25, "org": 20, "eval": 0}


def test_flag_flip_takes_effect_within_positive_lifetime(monitored):
    s = monitored(cache_valid="1s", cache_negative="1s")
    s.put_org("org-1", security_settings=True, allow_public=True)
    s.put_asset(22, org="org-1")
    assert s.content(22).status == 200
    s.put_org("org-1", security_settings=True, allow_public=False)
    flipped = time.monotonic()
    # Still cached: allowed right after the flip, without asking Redis.
    r = s.content(22)
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    assert lookups(s)["org"] == 1
    time.sleep(max(0.0, 1.5 - (time.monotonic() - flipped)))
    r = s.content(22)
    assert (r.status, r.header("x-reason")) == (404, "org_blocked")
    assert lookups(s)["org"] == 2
    # The purpose token ignores the org gate, and the asset is cached again.
    assert s.content(22, purpose="subscription_delivery").status == 200


def test_negative_entries_live_for_cache_negative(monitored):
    s = monitored(cache_valid="5s", cache_negative="1s")
    s.put_org("org-1")
    r = s.content(23)
    assert (r.status, r.header("x-reason")) == (404, "asset_unknown")
    created = time.monotonic()
    s.put_asset(23, org="org-1")
    r = s.content(23)
    assert (r.status, r.header("x-reason")) == (404, "asset_unknown"), "negative entry not cached"
    assert lookups(s)["asset"] == 1
    time.sleep(max(0.0, 1.5 - (time.monotonic() - created)))
    r = s.content(23)
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    assert lookups(s)["asset"] == 2


def test_redis_errors_are_never_cached(monitored):
    s = monitored(cache_valid="30s", cache_negative="30s")
    s.put_org("org-1")
    s.put_asset(24, org="org-1")
    # An error reply that is not about the record: the ACL refuses the asset keys (NOPERM).
    s.redis.client.execute_command("ACL", "SETUSER", "default", "resetkeys", "~org:*")
    try:
        for _ in range(3):
            r = s.content(24)
            assert (r.status, r.header("x-reason")) == (503, "redis_error")
            assert r.header("retry-after")
        stat = s.redis.client.info("errorstats").get("errorstat_NOPERM", "count=0")
        errors = int(stat["count"] if isinstance(stat, dict) else stat.split("=")[1])
        assert errors == 3, "a Redis error was served from the cache"
    finally:
        s.redis.client.execute_command("ACL", "SETUSER", "default", "~*")
    assert "NOPERM" in s.error_log()
    r = s.content(24)
    assert (r.status, r.header("x-reason")) == (200, "allowed")


def test_key_of_another_type_is_a_bad_record_cached_as_negative(monitored):
    s = monitored(cache_valid="30s", cache_negative="30s")
    s.put_org("org-1")
    s.redis.client.set("asset:24", "not a hash")  # HGETALL answers WRONGTYPE: Redis answered
    for _ in range(3):
        r = s.content(24)
        assert (r.status, r.header("x-reason")) == (404, "bad_record")
        assert r.header("retry-after") is None
    assert lookups(s)["asset"] == 1, "a bad record is cached like a missing one"
    assert "WRONGTYPE" not in s.error_log(), "Redis answered: not logged as a Redis error"
    # The org key of another type refuses public tokens only.
    s.put_asset(25, org="org-str")
    s.redis.client.set("org:org-str", "x")
    r = s.content(25)
    assert (r.status, r.header("x-reason")) == (404, "bad_record")
    assert s.content(25, purpose="subscription_delivery").status == 200
    for kind in ("rpush", "sadd"):
        key = f"asset:{26 if kind == 'rpush' else 27}"
        getattr(s.redis.client, kind)(key, "x")
        r = s.content(int(key.split(":")[1]), purpose="subscription_delivery")
        assert (r.status, r.header("x-reason")) == (404, "bad_record"), kind


# -- coalescing -----------------------------------------------------------------------------

def test_concurrent_misses_share_one_command_per_worker(make_stack):
    s = make_stack(redis_timeout="2s", log_format=PID_LOG)
    s.put_org("org-1")
    s.put_asset(30, org="org-1")
    wait_nginx_connected(s)
    token = mint(30)
    n = 30
    # Counted by the server's own log of the commands it ran, once the pause is over and every
    # reply is in: MONITOR misses the commands a pause held back on some servers.
    s.redis.log_every_command()
    before = s.redis.total_lookups()
    s.redis.client.execute_command("CLIENT", "PAUSE", 300, "ALL")
    paused = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda _: s.request(f"{FILE}?token={token}"), range(n)))
    assert [r.status for r in results] == [200] * n, [r.header("x-reason") for r in results]
    assert time.monotonic() - paused >= 0.25, "the requests did not wait for the paused Redis"
    # One asset read and one org read per worker, whatever the number of requests.
    asset, org = s.redis.logged("HGETALL", "asset:"), s.redis.logged("HGETALL", "org:")
    assert 1 <= asset <= 2
    assert 1 <= org <= 2
    assert asset + org == s.redis.total_lookups() - before  # the log missed none


# -- where the records are ------------------------------------------------------------------

def test_key_prefix_reads_prefixed_keys_only(make_stack):
    s = make_stack(http_extra="asset_gate_redis_prefix ag:;")
    s.put_org("org-1", allow_public=True, prefix="ag:")
    s.put_org("org-1", allow_public=False)  # unprefixed copy would block
    s.put_asset(40, org="org-1", prefix="ag:")
    s.put_asset(41, org="org-1")  # unprefixed only
    r = s.content(40)
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    r = s.content(41)
    assert (r.status, r.header("x-reason")) == (404, "asset_unknown")
    r = s.content(41, purpose="subscription_delivery")
    assert (r.status, r.header("x-reason")) == (404, "asset_unknown")
    # The org is read with the prefix too.
    s.put_asset(42, org="org-2", prefix="ag:")
    s.put_org("org-2", allow_public=True)  # unprefixed only
    r = s.content(42)
    assert (r.status, r.header("x-reason")) == (404, "org_unknown")


def test_redis_db_selects_the_database(make_stack):
    s = make_stack(http_extra="asset_gate_redis_db 3;")
    db0 = s.redis.client
    db3 = redis.Redis(host="127.0.0.1", port=s.redis.port, db=3, decode_responses=True)
    s.put_asset(50, org="org-1")  # db 0 only
    s.put_org("org-1")
    s.redis.client = db3
    try:
        s.put_org("org-3")
        s.put_asset(51, org="org-3")
    finally:
        s.redis.client = db0
    r = s.content(51)
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    r = s.content(50)
    assert (r.status, r.header("x-reason")) == (404, "asset_unknown")
    assert s.redis.commands("select") >= 1


def test_auth_with_the_right_password(make_stack):
    s = make_stack(redis_password="s3cret-pass")
    s.put_org("org-1")
    s.put_asset(60, org="org-1")
    r = s.content(60)
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    assert s.content(61, purpose="subscription_delivery").header("x-reason") == "asset_unknown"


def test_auth_with_a_wrong_password_is_a_redis_error(make_stack):
    s = make_stack(start=False, redis_password="s3cret-pass")
    s.redis_password = "wrong-pass"  # nginx is told another password than Redis requires
    s.start()
    s.put_org("org-1")
    s.put_asset(62, org="org-1")
    for _ in range(3):
        r = s.content(62)
        assert (r.status, r.header("x-reason")) == (503, "redis_error")
        assert r.header("retry-after")
        assert r.elapsed < 0.3 + 0.5
        time.sleep(0.1)
    log = s.error_log()
    assert re.search(r"\[error\].*AUTH", log), log[-2000:]
    assert "wrong-pass" not in log and "s3cret-pass" not in log


def test_unix_socket(make_stack):
    s = make_stack(redis_unix=True)
    s.put_org("org-1")
    s.put_asset(70, org="org-1")
    r = s.content(70)
    assert (r.status, r.header("x-reason")) == (200, "allowed")
    clients = nginx_clients(s)
    assert clients and all(s.redis.socket in c.get("laddr", "") + c.get("addr", "")
                           for c in clients), clients


# -- connections -----------------------------------------------------------------------------

def test_one_connection_per_worker(make_stack):
    s = make_stack(cache=False)
    s.put_org("org-1")
    s.put_asset(80, org="org-1")
    for i in range(40):
        assert s.content(80, purpose=None if i % 2 else "subscription_delivery").status == 200
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        assert set(r.status for r in pool.map(lambda _: s.content(80), range(30))) == {200}
    clients = nginx_clients(s)
    assert len(clients) == s.workers, clients
    info = s.redis.client.info("clients")
    assert info["connected_clients"] - 1 == s.workers
    # No new connections were opened per request.
    assert s.redis.client.info("stats")["total_connections_received"] <= s.workers + 2
