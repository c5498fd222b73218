"""Fault injection (reference section 5.3): Redis down, killed, restarted, paused; peers that
never answer, answer garbage or answer the wrong shape; reload under traffic; clients that
leave while their lookup is pending; graceful shutdown.

Every stack is checked at teardown for crashed workers and [alert]/[emerg] lines (conftest).
No request may be held past its Redis deadline: every gate answer comes within TIMEOUT +
SLACK, and locations without the gate answer at once."""

import re
import threading
import time

import pytest

from faults import FakeRedis, Traffic, poll, raw_request
from gate import FILE, mint

TIMEOUT = 0.3  # asset_gate_redis_timeout 300ms
SLACK = 0.5


def seed(stack, *ids, org="org-1"):
    stack.put_org(org)
    for i in ids:
        stack.put_asset(i, org=org)


def assert_redis_error(r, status=503):
    assert (r.status, r.header("x-reason")) == (status, "redis_error"), r.body
    if status == 503:
        assert r.header("retry-after"), r.headers
    assert r.elapsed < TIMEOUT + SLACK, f"held {r.elapsed:.3f} s"


def assert_plain_location_fast(stack):
    r = stack.request("/whoami")
    assert r.status == 200 and r.elapsed < 0.2, r.elapsed


def recovered(stack, asset_id, timeout=5.0):
    def allowed():
        try:
            return stack.content(asset_id).status == 200
        except OSError as e:  # no request may be dropped: fail, with the log to tell why
            raise AssertionError(f"request dropped: {e!r}\n{stack.error_log()[-3000:]}") from e

    ok, took = poll(allowed, timeout, interval=0.1)
    assert ok, f"no recovery within {timeout} s:\n{stack.error_log()[-2000:]}"
    return took


def nginx_connections(stack):
    c = stack.redis.client
    own = c.client_id()
    return [x for x in c.client_list() if int(x["id"]) != own and "O" not in x["flags"]]


def assert_one_connection_per_worker(stack, timeout=5.0):
    ok, _ = poll(lambda: len(nginx_connections(stack)) == stack.workers, timeout, interval=0.1)
    assert ok, nginx_connections(stack)


# -- Redis itself fails ----------------------------------------------------------------------

def test_redis_down_at_start(make_stack):
    s = make_stack(start_redis=False, redis_timeout="300ms")
    for _ in range(5):
        assert_redis_error(s.content(1))
        assert_redis_error(s.render(1, purpose="render"))
    assert_plain_location_fast(s)
    # at the default error_log level: an [error] line per worker, not one per retry
    down = re.findall(r"\[error\].*asset_gate: redis 127\.0\.0\.1:\d+.*cannot connect", s.error_log())
    assert 1 <= len(down) <= s.workers, s.error_log()[-2000:]

    s.redis.start()  # the same port
    seed(s, 1)
    recovered(s, 1)
    assert s.render(1, purpose="render").status == 200
    assert_one_connection_per_worker(s)


def test_redis_down_with_failure_404(make_stack):
    s = make_stack(start_redis=False, redis_timeout="300ms", redis_failure=404)
    r = s.content(1)
    assert_redis_error(r, status=404)
    assert r.header("retry-after") is None


def test_redis_killed_under_traffic(make_stack):
    s = make_stack(cache=False, redis_timeout="300ms")
    seed(s, 1)
    assert s.content(1).status == 200
    with Traffic(lambda: s.content(1), max_seconds=15) as t:
        time.sleep(0.4)
        s.redis.stop(kill=True)
        killed = time.monotonic()
        time.sleep(1.0)
    assert not t.errors(), t.errors()[:3]
    statuses = [r.status for r in t.responses()]
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses and 503 in statuses, statuses
    slow = [r.elapsed for r in t.responses() if r.elapsed >= TIMEOUT + SLACK]
    assert not slow, slow
    assert [r.status for started, r in t.results if started > killed + 0.05] \
        and all(r.status == 503 for started, r in t.results if started > killed + 0.05)

    s.redis.start()
    seed(s, 1)
    recovered(s, 1)
    assert_one_connection_per_worker(s)


def test_redis_restarted(make_stack):
    s = make_stack(cache=False, redis_timeout="300ms")
    seed(s, 1)
    assert s.content(1).status == 200
    s.redis.stop()
    for _ in range(3):
        assert_redis_error(s.content(1))
    s.redis.start()
    seed(s, 1)
    recovered(s, 1)
    assert_one_connection_per_worker(s)


def test_redis_paused_requests_fail_within_the_deadline(make_stack):
    s = make_stack(cache=False, redis_timeout="300ms")
    seed(s, 1, 2)
    assert s.content(1).status == 200
    assert s.content(2, purpose="subscription_delivery").status == 200
    s.redis.client.execute_command("CLIENT", "PAUSE", 3000, "ALL")
    paused = time.monotonic()

    out = {}
    gate = threading.Thread(target=lambda: out.setdefault("r", s.content(1)))
    gate.start()
    time.sleep(0.05)
    assert_plain_location_fast(s)  # while the gate request waits for Redis
    gate.join(timeout=5)
    assert_redis_error(out["r"])

    n = 0
    while time.monotonic() - paused < 2.2 and n < 20:
        assert_redis_error(s.content(1 + n % 2, purpose=None if n % 3 else "subscription_delivery"))
        assert_plain_location_fast(s)
        n += 1
    assert n >= 3
    assert "timed out" in s.error_log()

    time.sleep(max(0.0, 3.1 - (time.monotonic() - paused)))
    recovered(s, 1)
    assert_one_connection_per_worker(s)


# -- something else answers -----------------------------------------------------------------

def test_peer_that_never_answers(make_stack, fake_redis):
    fake = fake_redis("blackhole")
    s = make_stack(redis_addr=fake.addr, start_redis=False, redis_timeout="300ms")
    pids = s.worker_pids()
    for i in range(8):
        assert_redis_error(s.content(1 + i % 2))
        assert_plain_location_fast(s)
    assert_redis_error(s.content(3, purpose="subscription_delivery"))
    assert fake.accepted >= 1 and b"HGETALL" in bytes(fake.received)
    assert sorted(s.worker_pids()) == sorted(pids), "a worker was replaced"


@pytest.mark.parametrize("payload", [b"HELLO\r\n", b"\x00\xff\xfe garbage \x7f\r\n\r\n"],
                         ids=["hello", "binary"])
def test_peer_that_answers_garbage(make_stack, fake_redis, payload):
    fake = fake_redis("garbage", payload)
    s = make_stack(redis_addr=fake.addr, start_redis=False, redis_timeout="300ms")
    pids = s.worker_pids()
    for i in range(8):
        assert_redis_error(s.content(1, purpose=None if i % 2 else "subscription_delivery"))
        assert_plain_location_fast(s)
    assert fake.accepted >= 1
    assert sorted(s.worker_pids()) == sorted(pids), "a worker was replaced"


@pytest.mark.parametrize("payload", [
    b":1\r\n",                      # an integer
    b"$-1\r\n",                     # nil
    b"+OK\r\n",                     # a status
    b"-ERR nope\r\n",               # an error
    b"*1\r\n$1\r\nx\r\n",           # an odd array
    b"*2\r\n*0\r\n:1\r\n",          # the script's shape with an integer as the org
    b"*2\r\n*1\r\n$1\r\nx\r\n*0\r\n",  # an odd asset hash in the script's shape
    # The module builds replies itself: nesting, elements past its first block, RESP3 types
    # (hiredis 1.x parses them, 0.14 calls them a protocol error), a huge claimed array.
    b"*1\r\n" * 200 + b":1\r\n",    # nested 200 deep (past the reader's own limit)
    b"*3\r\n*2\r\n*1\r\n+a\r\n$-1\r\n:7\r\n-ERR x\r\n",  # mixed, nested
    b"*301\r\n" + b"".join(b"$20\r\n%020d\r\n" % i for i in range(301)),  # odd, 8 KiB
    b"%2\r\n+org\r\n+o\r\n,1.5\r\n#t\r\n",  # a map, a double, a bool
    b"*3\r\n=7\r\ntxt:abc\r\n(12345678901234567890\r\n_\r\n",  # verbatim, bignum, null
    b"*2147483647\r\n:1\r\n",       # claims two billion elements, sends one
], ids=["integer", "nil", "status", "error", "odd-array", "org-integer", "odd-asset",
        "deep", "mixed", "odd-wide", "resp3-map", "resp3-strings", "huge-claim"])
def test_peer_that_answers_the_wrong_shape(make_stack, fake_redis, payload):
    fake = fake_redis("reply", payload)
    s = make_stack(redis_addr=fake.addr, start_redis=False, redis_timeout="300ms")
    pids = s.worker_pids()
    for i in range(6):
        r = s.content(1, purpose=None if i % 2 else "subscription_delivery")
        assert_redis_error(r)
    assert_plain_location_fast(s)
    assert fake.accepted >= 1
    assert sorted(s.worker_pids()) == sorted(pids), "a worker was replaced"


def test_peer_that_speaks_first(make_stack, fake_redis):
    # A well-formed reply nobody asked for, as a POP3 server greets its clients: an address
    # pointing at the wrong service must not take workers down.
    fake = fake_redis("unsolicited", b"+OK POP3 server ready\r\n")
    s = make_stack(redis_addr=fake.addr, start_redis=False, redis_timeout="300ms")
    time.sleep(0.3)
    for _ in range(4):
        assert_redis_error(s.content(1))
    assert_plain_location_fast(s)
    time.sleep(0.2)
    crashes = [l for l in s.error_log().splitlines() if "exited on signal" in l or "Assertion" in l]
    assert not crashes, "\n".join(crashes[:4])


# -- nginx's own lifecycle ------------------------------------------------------------------

def test_reload_under_traffic(make_stack):
    s = make_stack(cache_valid="60s", redis_timeout="300ms")
    ids = [1, 2, 3, 4, 5]
    seed(s, *ids)
    for i in ids:
        assert s.content(i).status == 200
    reads = s.redis.commands("hgetall")
    assert reads >= len(ids)
    old = set(s.worker_pids())
    assert len(old) == s.workers

    n = [0]

    def one():
        n[0] += 1
        return s.content(ids[n[0] % len(ids)])

    with Traffic(one, max_seconds=15) as t:
        time.sleep(0.3)
        s.reload()
        time.sleep(1.5)
    assert not t.errors(), t.errors()[:3]
    assert len(t.results) >= 10
    assert [r.status for r in t.responses()] == [200] * len(t.responses())

    def settled():
        pids = set(s.worker_pids())
        return len(pids) == s.workers and not (pids & old)

    ok, _ = poll(settled, 5.0, interval=0.1)
    assert ok, f"old workers {old} still around: {s.worker_pids()}"
    # The shared cache survived the reload: no new Redis command for cached assets.
    for i in ids:
        assert s.content(i).status == 200
    assert s.redis.commands("hgetall") == reads
    seed(s, 6)
    assert s.content(6).status == 200  # the new workers reach Redis
    assert s.redis.commands("hgetall") > reads


@pytest.mark.parametrize("action", ["reload", "stop"])
def test_pending_lookup_is_answered_across_reload_and_shutdown(make_stack, action):
    # A request waiting on Redis when nginx reloads or stops is still answered, at its
    # deadline at the latest; the old worker does not leave it open.
    s = make_stack(cache=False, redis_timeout="1s")
    seed(s, 1)
    assert s.content(1).status == 200
    s.redis.client.execute_command("CLIENT", "PAUSE", 3000, "ALL")
    out = {}

    def pending():
        try:
            out["r"] = s.content(1)
        except Exception as e:  # noqa: BLE001
            out["r"] = e

    th = threading.Thread(target=pending)
    th.start()
    time.sleep(0.2)
    started = time.monotonic()
    if action == "reload":
        s.reload()
    else:
        s.stop()
        assert time.monotonic() - started < 1.0 + 2.0
    th.join(timeout=5)
    r = out["r"]
    assert not isinstance(r, Exception), f"pending request lost on {action}: {r!r}"
    assert (r.status, r.header("x-reason")) == (503, "redis_error")
    assert r.elapsed < 1.0 + SLACK
    time.sleep(0.5)
    assert "open socket" not in s.error_log()


@pytest.mark.parametrize("timeout", ["300ms", "2s"])
def test_clients_leaving_while_lookup_pending(make_stack, timeout):
    s = make_stack(cache=False, redis_timeout=timeout)
    seed(s, 1, 2)
    assert s.content(1).status == 200
    s.redis.client.execute_command("CLIENT", "PAUSE", 1000, "ALL")
    paused = time.monotonic()
    for i in range(10):  # gone at once
        raw_request(s.port, f"{FILE}?token={mint(1 + i % 2)}")
    late = [raw_request(s.port, f"{FILE}?token={mint(1 + i % 2)}", close_immediately=False)
            for i in range(10)]
    time.sleep(0.15)  # these are surely waiting on Redis now
    for sock in late:
        sock.close()
    assert_plain_location_fast(s)
    time.sleep(max(0.0, 1.2 - (time.monotonic() - paused)))

    recovered(s, 1)
    for _ in range(10):
        assert s.content(2).status == 200
    assert s.render(2, purpose="render").status == 200
    s.stop()
    log = s.error_log()
    assert "open socket" not in log
    assert " 499 " in s.access_log(), "no request was seen leaving while pending"


def test_shutdown_not_blocked_while_redis_down(make_stack):
    s = make_stack(redis_timeout="300ms")
    seed(s, 1)
    assert s.content(1).status == 200
    s.redis.stop(kill=True)
    for i in range(5):  # the reconnect timers are now running, with backoff
        assert_redis_error(s.content(100 + i))
    time.sleep(0.5)
    started = time.monotonic()
    s.stop()
    assert time.monotonic() - started < 3.0
    assert "open socket" not in s.error_log()


def test_shutdown_not_blocked_when_redis_never_started(make_stack):
    s = make_stack(start_redis=False, redis_timeout="300ms")
    assert_redis_error(s.content(1))
    time.sleep(1.0)  # let the backoff grow
    started = time.monotonic()
    s.stop()
    assert time.monotonic() - started < 3.0


def test_a_sentinel_that_never_answers_is_left_for_the_next(make_stack, fake_redis):
    # Three silent sentinels before a real one: a worker that starts on a silent one must not
    # wait on it for ever. Its question has the connect deadline; past it the worker asks the
    # next sentinel, and every request is served once each worker has found the real one.
    from fleet import MASTER_NAME, Sentinel, wait_until
    silent = [fake_redis("blackhole") for _ in range(3)]
    s = make_stack(start=False, redis_timeout="200ms")
    s.redis.start()
    sentinel = Sentinel(s.dir, 0, s.redis.port).start()
    try:
        wait_until(lambda: sentinel.master_addr() == ("127.0.0.1", s.redis.port), 10,
                   what="the sentinel to know the master")
        hosts = ",".join([f.addr for f in silent] + [f"127.0.0.1:{sentinel.port}"])
        s.redis_addr = f"sentinel:{MASTER_NAME}@{hosts}"
        s.start_redis_first = False
        s.start()
        s.put_org("org-on")
        s.put_asset(1, org="org-on")
        # each worker needs at most 3 deadlines (and the backoff between) to reach it
        wait_until(lambda: s.error_log().count("(the sentinel named the master)") >= s.workers,
                   10, what="every worker to find the answering sentinel")
        assert all(s.content(1).status == 200 for _ in range(10))
        if any(f.accepted for f in silent):  # a worker started on a silent one
            assert "connection setup timed out" in s.error_log()
    finally:
        sentinel.stop()
