"""asset_gate_status: Prometheus counters shared by all workers, read back after real traffic."""

import re
import subprocess
import time
from pathlib import Path

import pytest

from gate import FILE, NGINX, REPO

METRICS = "location = /metrics { asset_gate_status; }"


def scrape(stack):
    r = stack.request("/metrics")
    assert r.status == 200
    assert r.header("content-type") == "text/plain; version=0.0.4"
    values = {}
    for line in r.body.decode().splitlines():
        if line.startswith("#") or not line:
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


def decisions(values, reason, surface="content", purpose="public"):
    return values.get(
        f'asset_gate_decisions_total{{surface="{surface}",purpose="{purpose}",reason="{reason}"}}', 0)


@pytest.fixture
def metered(make_stack):
    s = make_stack(server_extra=METRICS)
    s.put_org("org-1")
    s.put_asset(101)
    return s


def test_decisions_are_counted_by_surface_purpose_and_reason(metered):
    for _ in range(7):
        assert metered.content(101).status == 200
    for _ in range(3):
        assert metered.content(101, key="some-other-key-0000000000000000000000").status == 404
    assert metered.render(101, "render").status == 200
    assert metered.content(999).status == 404
    assert metered.request("/exporter/a/b.png").status == 404
    assert metered.request(FILE, method="DELETE").status == 405
    v = scrape(metered)
    assert decisions(v, "allowed") == 7
    assert decisions(v, "bad_signature", purpose="none") == 3
    assert decisions(v, "allowed", surface="render", purpose="render") == 1
    assert decisions(v, "asset_unknown") == 1
    assert decisions(v, "malformed_path", surface="malformed", purpose="none") == 1
    assert decisions(v, "method", surface="none", purpose="none") == 1


def test_counters_are_shared_by_all_workers(metered):
    # Each request on its own connection: both workers take part.
    for _ in range(40):
        assert metered.content(101).status == 200
    totals = [decisions(scrape(metered), "allowed") for _ in range(6)]
    assert set(totals) == {40}, totals


def test_cache_hits_and_misses_and_redis_commands_agree_with_redis(metered):
    for _ in range(10):
        assert metered.content(101).status == 200
    v = scrape(metered)
    # First request: asset and org missed, one HGETALL each; the other nine: both hit.
    assert v['asset_gate_cache_lookups_total{result="miss"}'] == 2
    assert v['asset_gate_cache_lookups_total{result="hit"}'] == 18
    assert v["asset_gate_redis_commands_total"] == metered.redis.commands("hgetall") == 2
    assert v["asset_gate_redis_latency_seconds_count"] == 2
    assert v['asset_gate_redis_latency_seconds_bucket{le="+Inf"}'] == 2
    assert v["asset_gate_redis_latency_seconds_sum"] > 0


def served_again(s, after):
    deadline = time.monotonic() + 10
    while s.content(101).status != 200:
        assert time.monotonic() < deadline, f"no recovery after {after}"
        time.sleep(0.1)


def test_redis_timeouts_and_reconnects_are_counted(make_stack):
    s = make_stack(server_extra=METRICS, cache=False, redis_timeout="200ms")
    s.put_org("org-1")
    s.put_asset(101)
    assert s.content(101).status == 200
    s.redis.client.execute_command("CLIENT", "PAUSE", 1500, "ALL")
    assert s.content(101).status == 503
    time.sleep(1.8)
    served_again(s, "the pause")
    v = scrape(s)
    assert v['asset_gate_redis_errors_total{kind="timeout"}'] >= 1
    assert decisions(v, "redis_error") >= 1
    # A pause keeps the connection; a restart of Redis is a reconnect.
    assert v["asset_gate_redis_reconnects_total"] == 0
    s.redis.stop()
    s.redis.start()
    s.put_org("org-1")
    s.put_asset(101)
    served_again(s, "the restart")
    assert scrape(s)["asset_gate_redis_reconnects_total"] >= 1


def test_status_answers_head_and_refuses_other_methods(metered):
    assert metered.request("/metrics", method="HEAD").status == 200
    assert metered.request("/metrics", method="POST").status == 405


def test_status_works_in_a_configuration_without_a_gate(make_stack):
    s = make_stack(start=False, server_extra=METRICS)
    conf = s.config()
    conf = re.sub(r"location \^~ /exporter \{.*?\n        \}", "", conf, flags=re.S)
    conf = conf.replace("try_files /$asset_gate_location =404;", "")
    s.redis.start()
    result = s.nginx_test(conf)
    assert result.returncode == 0, result.stderr


def test_a_redis_that_refuses_connections_is_counted_and_logged_once_as_an_error(make_stack):
    # Debian's error_log shows [error] and above: a lost Redis must be there, once per
    # connection and outage (not once per retry), and so must its return.
    s = make_stack(server_extra=METRICS, cache=False, redis_timeout="200ms")
    s.put_org("org-1")
    s.put_asset(101)
    assert s.content(101).status == 200
    before = scrape(s).get('asset_gate_redis_errors_total{kind="error"}', 0)
    s.redis.stop()
    for _ in range(10):
        assert s.content(101).status == 503
    time.sleep(1.5)  # several reconnect attempts of each worker
    after = scrape(s)['asset_gate_redis_errors_total{kind="error"}']
    assert after - before >= s.workers, (before, after)
    lost = [l for l in s.error_log().splitlines()
            if "asset_gate: redis" in l and ("connection lost" in l or "cannot connect" in l
                                             or "disconnected" in l)]
    errors = [l for l in lost if "[error]" in l]
    assert 1 <= len(errors) <= s.workers, errors  # one data connection per worker
    assert len(lost) > len(errors), "the retries are logged below error"
    s.redis.start()
    s.put_org("org-1")
    s.put_asset(101)
    served_again(s, "the restart")
    back = [l for l in s.error_log().splitlines() if "connected again" in l]
    assert back and all("[error]" in l for l in back), back


def test_build_info_names_the_versions_that_run(metered):
    changelog = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    version = re.match(r"\S+ \(([^-)]+)", changelog).group(1)
    nginx = re.search(r"nginx/(\S+)", subprocess.run([NGINX, "-v"], capture_output=True,
                                                    text=True).stderr).group(1)
    header = Path("/usr/include/hiredis/hiredis.h").read_text()
    hiredis = ".".join(re.search(rf"#define HIREDIS_{part} (\d+)", header).group(1)
                       for part in ("MAJOR", "MINOR", "PATCH"))
    v = scrape(metered)
    info = [name for name in v if name.startswith("asset_gate_build_info")]
    assert info == [f'asset_gate_build_info{{version="{version}",nginx="{nginx}",'
                    f'hiredis="{hiredis}"}}'], info
    assert v[info[0]] == 1


def redis_up(values):
    return {re.search(r'connection="(\w+)"', name).group(1): value
            for name, value in values.items() if name.startswith("asset_gate_redis_up{")}


def until_scraped(s, want, timeout=10.0):
    """Scrapes (each on a new connection, so either worker answers) until four in a row give
    `want` for the connections' up gauge; returns the last."""
    deadline, run, got = time.monotonic() + timeout, 0, None
    while time.monotonic() < deadline:
        got = redis_up(scrape(s))
        run = run + 1 if got == want else 0
        if run >= 4:
            return got
        time.sleep(0.1)
    raise AssertionError(f"asset_gate_redis_up stayed {got}, not {want}")


def test_redis_up_follows_the_connections(make_stack):
    s = make_stack(server_extra=METRICS, http_extra="asset_gate_invalidation_channel changes;")
    names = [n for n in scrape(s) if n.startswith("asset_gate_redis_up{")]
    assert sorted(names) == sorted(f'asset_gate_redis_up{{redis="127.0.0.1:{s.redis.port}",'
                                   f'connection="{c}"}}' for c in ("data", "invalidation")), names
    until_scraped(s, {"data": 1, "invalidation": 1})
    s.redis.stop()
    until_scraped(s, {"data": 0, "invalidation": 0})
    s.redis.start()
    until_scraped(s, {"data": 1, "invalidation": 1}, timeout=15)


def test_cache_fill_is_shown(make_stack):
    metered = make_stack(server_extra=METRICS, http_extra="asset_gate_invalidation_channel changes;")
    metered.put_org("org-1")
    v = scrape(metered)
    assert v["asset_gate_cache_entries"] == 0 and v["asset_gate_cache_bytes"] == 0
    assert v["asset_gate_cache_size_bytes"] == 1024 * 1024  # the stack's 1m zone
    for asset in (102, 103, 104):
        metered.put_asset(asset)
        assert metered.content(asset).status == 200
    assert metered.content(999).status == 404  # an absence is cached too
    v = scrape(metered)
    assert v["asset_gate_cache_entries"] == 5  # three assets, their org, and asset 999
    assert 5 * 64 < v["asset_gate_cache_bytes"] < 5 * 512
    # An invalidation takes its entry, and its bytes, out.
    bytes_before = v["asset_gate_cache_bytes"]
    deadline = time.monotonic() + 5
    while scrape(metered)["asset_gate_cache_entries"] != 4 and time.monotonic() < deadline:
        metered.redis.client.publish("changes", "asset:102")  # again, if it came before SUBSCRIBE
        time.sleep(0.05)
    v = scrape(metered)
    assert v["asset_gate_cache_entries"] == 4
    assert v["asset_gate_cache_bytes"] < bytes_before
