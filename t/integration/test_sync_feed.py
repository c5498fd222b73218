"""asset-gate-sync's change feed (install + watch) against a real PostgreSQL and redis-server,
and through a real nginx where the change has to reach a request: every change kind arrives
as it commits (no poll: the reconciliation is off), nothing is lost while the sync is down,
DB-only content is served, the heartbeat follows the sync's health."""

import datetime as dt
import signal
import subprocess
import time
import urllib.request

import pytest

from gate import Redis, free_port
from test_sync import OTHER, SEC, SYNC, Subscriber, db, pg_server, rds, records, run  # noqa: F401

# A change that waited for the queue's fallback read (once a second, with the heartbeat)
# would arrive 0.5 s late on average; the notification brings it in milliseconds.
ARRIVES_WITHIN = 0.5


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Watch:
    """`asset-gate-sync watch` as a process, its stderr in a file."""

    def __init__(self, tmp_path, db_url, redis_port, *args, prefix=None, channel=None,
                 reconcile="0", name="watch", watch_args=()):
        self.log = tmp_path / f"{name}.stderr"
        cmd = [str(SYNC), "--database-url", db_url, "--redis", f"redis://127.0.0.1:{redis_port}/0"]
        if prefix is not None:
            cmd += ["--prefix", prefix]
        if channel is not None:
            cmd += ["--publish-channel", channel]
        cmd += [*args, "watch", "--reconcile-rate", reconcile, *watch_args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))

    def stderr(self):
        return self.log.read_text()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("watch did not exit within 15 s of the signal")
        return self.proc.returncode


@pytest.fixture
def watches():
    made = []

    def make(*args, **kw):
        w = Watch(*args, **kw)
        made.append(w)
        return w
    yield make
    for w in made:
        w.stop(signal.SIGKILL)


class Messages(Subscriber):
    def wait_for(self, key, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.ps.get_message(timeout=0.01)
            if m and m["type"] == "message" and m["data"] == key:
                return time.monotonic()
        raise AssertionError(f"no message {key}")


def arrival(sub, key, change):
    """Seconds from just before the change's COMMIT to its key on the invalidation channel."""
    started = time.monotonic()
    change()
    return sub.wait_for(key) - started


def queued(db):
    return db.sql("SELECT count(*) FROM asset_gate_sync_queue")[0][0]


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


# -- install -----------------------------------------------------------------------------

def triggers(db):
    return sorted(db.sql("SELECT c.relname::text, t.tgname::text FROM pg_trigger t JOIN pg_class c"
                         " ON c.oid = t.tgrelid WHERE t.tgname LIKE 'asset_gate_sync%'"))


def test_install_creates_the_feed_idempotently_and_uninstall_removes_it(db, rds, tmp_path):
    run(db, rds, "install")
    run(db, rds, "install")                                   # again: replaces, no error
    assert triggers(db) == sorted(
        [(t, "asset_gate_sync_row") for t in ("posthog_exportedasset", "posthog_organization")]
        + [(t, "asset_gate_sync_update") for t in ("posthog_dashboard", "posthog_dashboarditem",
                                                    "posthog_exportedasset", "posthog_organization",
                                                    "posthog_team")])
    org = db.add_org([SEC])
    db.set_org(org, allow_public=True)                        # saved, but nothing changed
    db.sql("UPDATE posthog_organization SET name = 'renamed' WHERE id = %s", (org,))
    assert db.sql("SELECT kind, ident FROM asset_gate_sync_queue") == [("org", org)]
    run(db, rds, "uninstall")
    assert triggers(db) == []
    assert db.sql("SELECT to_regclass('asset_gate_sync_queue')") == [(None,)]
    db.set_org(org, allow_public=False)                       # the application still works
    p = subprocess.run([str(SYNC), "--database-url", db.url, "--redis", f"redis://127.0.0.1:{rds.port}/0",
                        "watch"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "change feed is not installed" in p.stderr and "asset-gate-sync install" in p.stderr
    assert "Traceback" not in p.stderr


def test_install_dry_run_prints_the_sql_and_changes_nothing(db, rds):
    p = run(db, rds, "--dry-run", "install")
    assert "CREATE TRIGGER asset_gate_sync_update AFTER UPDATE ON \"public\".\"posthog_organization\"" in p.stdout
    assert triggers(db) == []


# -- every change kind, as it commits -------------------------------------------------------

def test_each_change_kind_arrives_as_it_commits(db, rds, tmp_path, watches):
    prefix, chan = "pfx:", "asset-gate:invalidate"
    org = db.add_org([SEC], allow_public=True)
    org2 = db.add_org([], allow_public=True)
    team = db.add_team(org)
    dash = db.add_dashboard(team, "Weekly")
    ins = db.add_insight(team, name="Funnel")
    on_dash = db.add_asset(team, dashboard_id=dash, content_location="d/1")
    on_ins = db.add_asset(team, "application/pdf", insight_id=ins, content_location="i/1")
    run(db, rds, "install")
    sub = Messages(rds, chan)
    w = watches(tmp_path, db.url, rds.port, prefix=prefix, channel=chan)
    wait_for(lambda: rds.client.exists(prefix + "sync:heartbeat"), "the first heartbeat")
    assert f"{prefix}asset:{on_dash}" in records(rds, prefix)
    sub.drain(0.2)
    hget = rds.client.hget
    took = {}

    new = []
    took["asset created"] = arrival(sub, f"{prefix}asset:{on_dash + 2}", lambda: new.append(
        db.add_asset(team, "text/csv", content_location="c/new", created_at=None)))
    assert new == [on_dash + 2] and hget(f"{prefix}asset:{new[0]}", "location") == "c/new"
    took["asset updated"] = arrival(sub, f"{prefix}asset:{new[0]}", lambda: db.sql(
        "UPDATE posthog_exportedasset SET content_location = 'c/later' WHERE id = %s", (new[0],)))
    assert hget(f"{prefix}asset:{new[0]}", "location") == "c/later"
    took["sharing switched off"] = arrival(sub, f"{prefix}org:{org}",
                                           lambda: db.set_org(org, allow_public=False))
    assert hget(f"{prefix}org:{org}", "allow_public") == "0"
    took["feature removed"] = arrival(sub, f"{prefix}org:{org}", lambda: db.set_org(org, features=[OTHER]))
    assert hget(f"{prefix}org:{org}", "security_settings") == "0"
    org3 = "6f1b2c1e-0000-4000-8000-000000000003"
    took["org created"] = arrival(sub, f"{prefix}org:{org3}",
                                  lambda: db.add_org([SEC], allow_public=False, org_id=org3))
    assert rds.client.hgetall(f"{prefix}org:{org3}") == {"security_settings": "1", "allow_public": "0"}
    took["team moved"] = arrival(sub, f"{prefix}asset:{on_ins}", lambda: db.sql(
        "UPDATE posthog_team SET organization_id = %s WHERE id = %s", (org2, team)))
    assert hget(f"{prefix}asset:{on_ins}", "org") == org2
    took["dashboard renamed"] = arrival(sub, f"{prefix}asset:{on_dash}", lambda: db.sql(
        "UPDATE posthog_dashboard SET name = 'Monthly' WHERE id = %s", (dash,)))
    assert hget(f"{prefix}asset:{on_dash}", "filename").startswith("export-monthly-")
    took["insight renamed"] = arrival(sub, f"{prefix}asset:{on_ins}", lambda: db.sql(
        "UPDATE posthog_dashboarditem SET name = 'Retention' WHERE id = %s", (ins,)))
    assert hget(f"{prefix}asset:{on_ins}", "filename").startswith("export-retention-")
    took["asset deleted"] = arrival(sub, f"{prefix}asset:{new[0]}", lambda: db.sql(
        "DELETE FROM posthog_exportedasset WHERE id = %s", (new[0],)))
    assert not rds.client.exists(f"{prefix}asset:{new[0]}")
    took["org deleted"] = arrival(sub, f"{prefix}org:{org3}", lambda: db.sql(
        "DELETE FROM posthog_organization WHERE id = %s", (org3,)))
    assert not rds.client.exists(f"{prefix}org:{org3}")
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    db.sql("UPDATE posthog_exportedasset SET expires_after = %s WHERE id = %s", (soon, on_dash))
    sub.wait_for(f"{prefix}asset:{on_dash}")                  # expires_at written
    assert hget(f"{prefix}asset:{on_dash}", "expires_at") == str(int(soon.timestamp()))
    sub.wait_for(f"{prefix}asset:{on_dash}", timeout=5)      # then removed by the expiry sweep
    assert not rds.client.exists(f"{prefix}asset:{on_dash}")
    slow = {k: round(v, 3) for k, v in took.items() if v >= ARRIVES_WITHIN}
    assert not slow, f"changes that waited for a read of the queue: {slow} (all: {took})"
    wait_for(lambda: queued(db) == 0, "the queue to be acknowledged")  # just after Redis has it
    assert w.stop() == 0
    sub.close()


def test_unchanged_saves_write_nothing(db, rds, tmp_path, watches):
    """Django saves every column: a save that changes nothing the records use is not queued,
    and a change that leaves the record as it was is not written or published."""
    org = db.add_org([SEC])
    team = db.add_team(org)
    asset = db.add_asset(team, content_location="x/1")
    run(db, rds, "install")
    sub = Messages(rds, "chan")
    w = watches(tmp_path, db.url, rds.port, channel="chan")
    wait_for(lambda: rds.client.exists("sync:heartbeat"), "the first heartbeat")
    sub.drain(0.2)
    rds.client.config_resetstat()
    db.set_org(org, allow_public=True)
    db.sql("UPDATE posthog_exportedasset SET exception = 'retry' WHERE id = %s", (asset,))
    assert queued(db) == 0
    db.sql("UPDATE posthog_exportedasset SET export_context = '{\"path\": \"/x\"}' WHERE id = %s", (asset,))
    wait_for(lambda: queued(db) == 0, "the queue to empty")
    assert sub.drain(0.5) == []
    assert rds.commands("multi") == 0 and rds.commands("hset") == 0
    assert w.stop() == 0


# -- restarts -----------------------------------------------------------------------------

def test_changes_made_while_the_sync_is_down_are_applied_on_restart(db, rds, tmp_path, watches):
    org = db.add_org([SEC], allow_public=True)
    team = db.add_team(org)
    keep = db.add_asset(team, content_location="k/1")
    doomed = db.add_asset(team, content_location="k/2")
    run(db, rds, "install")
    first = watches(tmp_path, db.url, rds.port, name="first")
    wait_for(lambda: rds.client.exists("sync:heartbeat"), "the first heartbeat")
    assert first.stop() == 0
    assert "backfill: written=3" in first.stderr()
    before = records(rds)
    new = db.add_asset(team, "image/gif", content_location="k/3", created_at=None)
    db.set_org(org, allow_public=False)
    db.sql("DELETE FROM posthog_exportedasset WHERE id = %s", (doomed,))
    db.sql("UPDATE posthog_exportedasset SET content_location = 'k/1b' WHERE id = %s", (keep,))
    time.sleep(1.5)
    assert records(rds) == before                              # nobody applied them
    assert queued(db) == 4
    second = watches(tmp_path, db.url, rds.port, name="second")
    wait_for(lambda: queued(db) == 0, "the queue to empty")
    got = records(rds)
    assert got[f"asset:{new}"]["location"] == "k/3"
    assert got[f"org:{org}"]["allow_public"] == "0"
    assert f"asset:{doomed}" not in got
    assert got[f"asset:{keep}"]["location"] == "k/1b"
    assert second.stop() == 0
    assert "backfill" not in second.stderr()                   # the queue did it, not a backfill


def test_a_sync_killed_mid_way_loses_nothing(db, rds, tmp_path, watches):
    """SIGKILL (no clean shutdown): the queue rows of changes not yet in Redis stay queued."""
    org = db.add_org([SEC], allow_public=True)
    team = db.add_team(org)
    run(db, rds, "install")
    w = watches(tmp_path, db.url, rds.port, name="killed")
    wait_for(lambda: rds.client.exists("sync:heartbeat"), "the first heartbeat")
    made = [db.add_asset(team, content_location=f"m/{i}", created_at=None) for i in range(200)]
    w.stop(signal.SIGKILL)
    rds.client.delete(*[f"asset:{a}" for a in made[:50]])     # as if they had not arrived
    db.sql("INSERT INTO asset_gate_sync_queue (kind, ident) SELECT 'asset', unnest(%s::int[])::text",
           (made[:50],))
    again = watches(tmp_path, db.url, rds.port, name="again")
    wait_for(lambda: queued(db) == 0, "the queue to empty")
    assert all(rds.client.hget(f"asset:{a}", "location") == f"m/{i}" for i, a in enumerate(made))
    assert again.stop() == 0


def test_a_second_watch_waits_as_a_standby_and_takes_over(db, rds, tmp_path, watches):
    """One consumer per queue (an advisory lock): a second would delete queue rows the
    first has not applied. The standby follows once the first is gone."""
    org = db.add_org([SEC])
    team = db.add_team(org)
    run(db, rds, "install")
    first = watches(tmp_path, db.url, rds.port, name="first")
    wait_for(lambda: rds.client.exists("sync:heartbeat"), "the first heartbeat")
    second = watches(tmp_path, db.url, rds.port, name="second", channel="standby-writes")
    wait_for(lambda: "another asset-gate-sync watch follows" in second.stderr(), "the standby")
    sub = Messages(rds, "standby-writes")
    a = db.add_asset(team, content_location="by/first", created_at=None)
    wait_for(lambda: rds.client.exists(f"asset:{a}"), "the first watch")
    assert sub.drain(0.3) == []                               # the standby wrote nothing
    first.stop(signal.SIGKILL)
    b = db.add_asset(team, content_location="by/second", created_at=None)
    assert sub.wait_for(f"asset:{b}", timeout=15)
    assert rds.client.hget(f"asset:{b}", "location") == "by/second"
    # the queue row goes after Redis has the record (and its message): moments later
    wait_for(lambda: queued(db) == 0, "the queue to be acknowledged")
    assert second.stop() == 0
    sub.close()


# -- heartbeat, metrics, reconnection ------------------------------------------------------------

@pytest.fixture
def own_pg():
    """A PostgreSQL server of the test's own, to stop and start again."""
    from pg import PostgresServer
    server = PostgresServer(port=free_port()).start()
    yield server
    server.stop()
    server.cleanup()


def test_heartbeat_follows_the_syncs_health(own_pg, rds, tmp_path, watches):
    db = own_pg.create_database()
    org = db.add_org([SEC])
    team = db.add_team(org)
    run(db, rds, "install")
    port = free_port()
    w = watches(tmp_path, db.url, rds.port, watch_args=("--metrics-listen", f"127.0.0.1:{port}"))
    wait_for(lambda: rds.client.exists("sync:heartbeat"), "the first heartbeat")
    beats = set()
    deadline = time.monotonic() + 3.2
    while time.monotonic() < deadline:
        beats.add(int(rds.client.get("sync:heartbeat")))
        time.sleep(0.1)
    assert len(beats) >= 3 and abs(max(beats) - time.time()) <= 2        # every 1-2 s
    m = metrics(port)
    assert m["asset_gate_sync_up"] == 1 and abs(m["asset_gate_sync_last_success_timestamp_seconds"] - time.time()) < 3
    assert m["asset_gate_sync_heartbeat_timestamp_seconds"] == max(beats) or \
        m["asset_gate_sync_heartbeat_timestamp_seconds"] >= max(beats)

    db.close()
    own_pg.stop()                                              # PostgreSQL goes away
    time.sleep(1.5)
    stale = rds.client.get("sync:heartbeat")
    time.sleep(3)
    assert rds.client.get("sync:heartbeat") == stale           # no heartbeat while not following
    m = metrics(port)
    assert m["asset_gate_sync_up"] == 0 and m['asset_gate_sync_errors_total{backend="postgresql"}'] >= 1
    assert m["asset_gate_sync_since_last_success_seconds"] >= 3
    assert w.proc.poll() is None                               # still there, retrying
    assert "retrying with backoff" in w.stderr()

    own_pg.resume()
    wait_for(lambda: rds.client.get("sync:heartbeat") != stale, "the heartbeat to resume", timeout=20)
    db2 = own_pg.open_database(db.name)
    asset = db2.add_asset(team, content_location="after/restart", created_at=None)
    wait_for(lambda: rds.client.hget(f"asset:{asset}", "location") == "after/restart", "a change after it")
    wait_for(lambda: metrics(port)['asset_gate_sync_changes_total{kind="asset"}'] >= 1, "the count")
    assert 0 <= metrics(port)["asset_gate_sync_lag_seconds"] < 5
    assert w.stop() == 0
    last = rds.client.get("sync:heartbeat")
    time.sleep(2.2)
    assert rds.client.get("sync:heartbeat") == last            # stops with the sync
    db2.close()


def test_reconciliation_repairs_drift_at_its_rate(db, rds, tmp_path, watches):
    org = db.add_org([SEC])
    team = db.add_team(org)
    assets = [db.add_asset(team, content_location=f"r/{i}") for i in range(30)]
    run(db, rds, "install")
    w = watches(tmp_path, db.url, rds.port, reconcile="200")
    wait_for(lambda: rds.client.exists("sync:heartbeat"), "the first heartbeat")
    rds.client.delete(f"asset:{assets[3]}")                   # drift no change in the database explains
    rds.client.hset(f"asset:{assets[7]}", "org", "someone-else")
    rds.client.hset("asset:999999", mapping={"org": org, "format": "image/png"})  # a record of nothing
    rds.client.delete(f"org:{org}")
    wait_for(lambda: rds.client.exists(f"asset:{assets[3]}")
             and rds.client.hget(f"asset:{assets[7]}", "org") == org
             and rds.client.exists(f"org:{org}"), "the reconciliation", timeout=15)
    assert w.stop() == 0


# -- content kept in PostgreSQL, through nginx ------------------------------------------------------

def test_db_only_content_is_materialised_and_served_through_nginx(db, make_stack, watches, tmp_path):
    chan = "asset_gate:invalidate"
    s = make_stack(cache_valid="30s", cache_negative="30s",
                   http_extra=f"asset_gate_invalidation_channel {chan};")
    org = db.add_org([SEC], allow_public=True)
    team = db.add_team(org)
    run(db, s.redis, "install")
    w = watches(tmp_path, db.url, s.redis.port, "--content-root", str(s.root), channel=chan)
    wait_for(lambda: s.redis.client.exists("sync:heartbeat"), "the first heartbeat")

    # PostHog loads the asset moments after creating it: the gate's negative entry goes too
    next_id = db.sql("SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM posthog_exportedasset_id_seq")[0][0]
    assert s.content(next_id, "subscription_delivery", name="/exporter/x.png").header("X-Reason") == "asset_unknown"
    asset = db.add_asset(team, "image/png", content_location=None, content=b"\x89PNG from the database",
                         created_at=None)
    assert asset == next_id
    wait_for(lambda: s.redis.client.exists(f"asset:{asset}"), "the record")
    rec = s.redis.client.hgetall(f"asset:{asset}")
    assert rec["location"].startswith(f"db/{asset}/") and rec["location"].endswith(".png")
    path = s.root / rec["location"]
    assert path.read_bytes() == b"\x89PNG from the database" and oct(path.stat().st_mode & 0o777) == "0o644"
    name = f"/exporter/{rec['filename']}"
    r = s.content(asset, "subscription_delivery", name=name)
    assert r.status == 200 and r.body == b"\x89PNG from the database", (r.status, r.header("X-Reason"))
    assert r.header("Content-Type") == "image/png"

    db.sql("UPDATE posthog_exportedasset SET content = %s WHERE id = %s", (b"\x89PNG second take", asset))
    wait_for(lambda: s.redis.client.hget(f"asset:{asset}", "location") != rec["location"], "the new content")
    # the record moves first and the stale file goes after it, so that no record names a missing
    # file: the old file is gone moments after the new location shows
    assert (s.root / s.redis.client.hget(f"asset:{asset}", "location")).exists()
    wait_for(lambda: not path.exists(), "the old file to go")
    assert s.content(asset, name=name).body == b"\x89PNG second take"

    db.sql("DELETE FROM posthog_exportedasset WHERE id = %s", (asset,))
    wait_for(lambda: not (s.root / "db" / str(asset)).exists(), "the files to go")
    assert not s.redis.client.exists(f"asset:{asset}")
    r = s.content(asset, "subscription_delivery", name=name)
    assert r.status == 404 and r.header("X-Reason") == "asset_unknown"

    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    expiring = db.add_asset(team, "image/png", content_location=None, content=b"short-lived",
                            created_at=None, expires_after=soon)
    wait_for(lambda: (s.root / "db" / str(expiring)).exists(), "the short-lived file")
    wait_for(lambda: not (s.root / "db" / str(expiring)).exists(), "the file to expire", timeout=6)
    assert not s.redis.client.exists(f"asset:{expiring}")
    assert w.stop() == 0


def test_backfill_materialises_db_content_too(db, rds, tmp_path):
    org = db.add_org([SEC])
    team = db.add_team(org)
    a = db.add_asset(team, "text/csv", content_location=None, content=b"a,b\n1,2\n")
    b = db.add_asset(team, "text/csv", content_location="s3/key", content=b"ignored: object storage wins")
    root = tmp_path / "exports"
    root.mkdir()
    run(db, rds, "--content-root", str(root), "backfill")
    loc = rds.client.hget(f"asset:{a}", "location")
    assert (root / loc).read_bytes() == b"a,b\n1,2\n"
    assert rds.client.hget(f"asset:{b}", "location") == "s3/key"
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == [loc.rsplit("/", 1)[1]]


# -- configuration ------------------------------------------------------------------------------

def test_bad_configuration_exits_non_zero_with_a_message(db, rds, tmp_path):
    run(db, rds, "install")
    redis = f"redis://127.0.0.1:{rds.port}/0"
    busy = free_port()
    import socket
    holder = socket.socket()
    holder.bind(("127.0.0.1", busy))
    holder.listen()
    cases = [
        (["--database-url", db.url, "--redis", redis, "--content-root", str(tmp_path / "nope"), "watch"],
         2, "--content-root"),
        (["--database-url", db.url, "--redis", redis, "watch", "--reconcile-rate", "-1"], 2, "--reconcile-rate"),
        (["--database-url", db.url, "--redis", redis, "watch", "--metrics-listen", "localhost"], 2,
         "--metrics-listen"),
        (["--database-url", db.url, "--redis", redis, "watch", "--metrics-listen", f"127.0.0.1:{busy}"], 2,
         "cannot listen"),
        (["--database-url", db.url, "--redis", redis, "--dry-run", "watch"], 2, "--dry-run"),
        (["--redis", redis, "watch"], 2, "no database"),
        (["--database-url", db.url, "--redis", f"redis://127.0.0.1:{free_port()}/0", "watch"], 4, "Redis"),
        (["--database-url", db.url + "x", "--redis", redis, "watch"], 3, "cannot connect"),
    ]
    try:
        for args, code, text in cases:
            p = subprocess.run([str(SYNC), *args], capture_output=True, text=True, timeout=60,
                               env={"PATH": "/usr/bin:/bin"})
            assert p.returncode == code and text in p.stderr, (args, p.returncode, p.stderr)
            assert "Traceback" not in p.stderr, p.stderr
    finally:
        holder.close()
    assert not rds.client.exists("sync:heartbeat")


def test_redis_unreachable_for_a_while_is_retried(db, tmp_path, watches):
    port = free_port()
    r = Redis(tmp_path, port=port).start()
    org = db.add_org([SEC])
    team = db.add_team(org)
    run(db, r, "install")
    w = watches(tmp_path, db.url, port)
    wait_for(lambda: r.client.exists("sync:heartbeat"), "the first heartbeat")
    r.stop()
    asset = db.add_asset(team, content_location="while/redis/down", created_at=None)
    time.sleep(1.5)
    assert w.proc.poll() is None and queued(db) >= 1
    r = Redis(tmp_path, port=port).start()                    # empty: no heartbeat, so a backfill
    wait_for(lambda: r.client.hget(f"asset:{asset}", "location") == "while/redis/down", "the change", timeout=20)
    wait_for(lambda: queued(db) == 0, "the queue to empty")
    assert f"org:{org}" in records(r)
    assert w.stop() == 0
    assert "Redis" in w.stderr() and "retrying with backoff" in w.stderr()
    r.stop()


def test_sync_stale_follows_the_running_sync(db, make_stack, watches, tmp_path):
    # The whole chain of DESIGN 4: the sync's heartbeat, the gate's asset_gate_sync_max_age.
    # A stopped sync turns public links to sync_stale (a 404) while purpose tokens keep
    # working; a sync started again clears it, without a reload.
    s = make_stack(cache_valid="30s", http_extra="asset_gate_sync_max_age 3s;")
    org = db.add_org([SEC], allow_public=True)
    team = db.add_team(org)
    run(db, s.redis, "install")
    w = watches(tmp_path, db.url, s.redis.port, "--content-root", str(s.root))
    asset = db.add_asset(team, "image/png", content_location=None, content=b"\x89PNG heartbeat",
                         created_at=None)
    wait_for(lambda: s.redis.client.exists(f"asset:{asset}"), "the record")
    name = f"/exporter/{s.redis.client.hget(f'asset:{asset}', 'filename')}"
    wait_for(lambda: s.content(asset, name=name).status == 200, "a public 200 while the sync runs")
    assert w.stop() == 0
    stopped = time.monotonic()
    wait_for(lambda: s.content(asset, name=name).header("X-Reason") == "sync_stale",
             "sync_stale after the sync stopped", timeout=10)
    assert time.monotonic() - stopped >= 1.5, "stale before max_age could have passed"
    assert s.content(asset, name=name).status == 404
    r = s.content(asset, "subscription_delivery", name=name)
    assert r.status == 200 and r.body == b"\x89PNG heartbeat"
    again = watches(tmp_path, db.url, s.redis.port, "--content-root", str(s.root), name="again")
    wait_for(lambda: s.content(asset, name=name).status == 200, "sync_stale to clear", timeout=10)
    assert again.stop() == 0

