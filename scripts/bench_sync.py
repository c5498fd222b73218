#!/usr/bin/python3
"""Benchmark of scripts/asset-gate-sync: a backfill of 1,000,000 assets (rows/s, peak RSS),
then `watch` following the change feed while changes commit at a fixed rate: the time from
COMMIT to the change visible in Redis (its key on the invalidation channel, published in the
same MULTI as the write) and to the first answer of a real nginx with the module that
reflects it, p50 and p99 per change kind.

Starts its own PostgreSQL 15 (t/integration/pg.py), redis-server and nginx (gate.py's stack,
the module from `make module`) on a unix socket and loopback ports; tears everything down.
Needs postgresql, python3-psycopg2, python3-redis, python3-jwt and redis-server (Debian).

    scripts/bench_sync.py [--assets 1000000] [--changes 1000] [--rate 100] [--no-nginx]
"""

import argparse
import http.client
import os
import queue
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "t" / "integration"))

from gate import MODULE, Stack, mint  # noqa: E402
from pg import PostgresServer  # noqa: E402
from gate import free_port  # noqa: E402

SYNC = Path(os.environ.get("ASSET_GATE_SYNC", REPO / "scripts" / "asset-gate-sync"))
CHANNEL = "asset_gate:invalidate"
SEC = '{"key": "organization_security_settings", "name": "Organization security settings"}'


def say(msg):
    print(msg, flush=True)


def fill(db, assets, orgs):
    """PostHog-shaped rows with generate_series: orgs with the security feature and sharing
    on, a team and a dashboard each, assets spread over the teams (a third named after
    their dashboard, half with an expiry, three formats)."""
    db.sql("INSERT INTO posthog_organization (id, name, available_product_features,"
           " allow_publicly_shared_resources) SELECT md5('org' || g)::uuid, 'org ' || g,"
           " ARRAY[%s::jsonb], true FROM generate_series(1, %s) g", (SEC, orgs))
    db.sql("INSERT INTO posthog_team (organization_id, name) SELECT id, 'team' FROM posthog_organization"
           " ORDER BY id")
    db.sql("INSERT INTO posthog_dashboard (team_id, name) SELECT id, 'Dashboard ' || id FROM posthog_team"
           " ORDER BY id")
    db.sql("INSERT INTO posthog_exportedasset (team_id, dashboard_id, export_format, content_location,"
           " created_at, expires_after) SELECT 1 + g %% %s, CASE WHEN g %% 3 = 0 THEN 1 + g %% %s END,"
           " (ARRAY['image/png', 'application/pdf', 'text/csv'])[1 + g %% 3], 'exports/bench/' || g,"
           " now() - g * interval '1 second', CASE WHEN g %% 2 = 0 THEN now() + interval '180 days' END"
           " FROM generate_series(1, %s) g", (orgs, orgs, assets))
    db.sql("VACUUM ANALYZE")


def percentile(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


class Arrivals(threading.Thread):
    """Every message on the invalidation channel, with the time it arrived."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.ps = client.pubsub(ignore_subscribe_messages=True)
        self.ps.subscribe(CHANNEL)
        self.seen = {}
        self.running = True

    def run(self):
        while self.running:
            m = self.ps.get_message(timeout=0.05)
            if m and m["type"] == "message":
                self.seen.setdefault(m["data"], []).append(time.monotonic())

    def first_after(self, key, t0):
        return next((t for t in self.seen.get(key, ()) if t >= t0), None)


class Poller(threading.Thread):
    """Asks nginx about each change until its answer reflects it (one keep-alive connection,
    round-robin over the changes still pending)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.todo = queue.Queue()
        self.done = {}
        self.running = True
        self.requests = 0

    def ask(self, conn, path):
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        self.requests += 1
        return r.status

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        pending = []
        while self.running or pending:
            try:
                while True:
                    pending.append(self.todo.get(block=not pending, timeout=0.05))
            except queue.Empty:
                pass
            for item in list(pending):
                key, path, want, t0, deadline = item
                try:
                    status = self.ask(conn, path)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    continue
                now = time.monotonic()
                if status == want:
                    self.done[key] = now - t0
                    pending.remove(item)
                elif now > deadline:
                    pending.remove(item)
            if not self.running and not pending:
                break
            time.sleep(0.001)        # a round a millisecond: the machine's two cores are shared


def measure(kind, changes, rate, conn, arrivals, poller, make_change):
    """Runs `changes` changes at `rate` a second; make_change(i, cursor) does one change inside
    an open transaction and returns (key, nginx path, status that shows it)."""
    starts = {}
    began = time.monotonic()
    with conn.cursor() as c:
        for i in range(changes):
            due = began + i / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            key, path, want = make_change(i, c)
            t0 = time.monotonic()
            conn.commit()
            starts[key] = t0
            if poller is not None:
                poller.todo.put((key, path, want, t0, t0 + 10))
    elapsed = time.monotonic() - began
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(arrivals.first_after(k, t) is None for k, t in starts.items()):
        time.sleep(0.05)
    if poller is not None:
        while time.monotonic() < deadline and (poller.todo.qsize() or
                                               any(k not in poller.done for k in starts)):
            time.sleep(0.05)
    redis_ms = [1000 * (arrivals.first_after(k, t) - t) for k, t in starts.items()
                if arrivals.first_after(k, t) is not None]
    missing = changes - len(redis_ms)
    line = (f"  {kind:<22} {changes} changes in {elapsed:.1f} s ({changes / elapsed:.0f}/s);"
            f" COMMIT -> Redis: p50 {percentile(redis_ms, 50):.1f} ms, p99 {percentile(redis_ms, 99):.1f} ms,"
            f" max {max(redis_ms):.1f} ms" + (f", {missing} never arrived" if missing else ""))
    if poller is not None:
        ng = [1000 * poller.done[k] for k in starts if k in poller.done]
        line += (f"; COMMIT -> nginx answer: p50 {percentile(ng, 50):.1f} ms, p99 {percentile(ng, 99):.1f} ms"
                 + (f", {changes - len(ng)} never seen" if len(ng) < changes else ""))
    say(line)
    return redis_ms


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", type=int, default=1_000_000)
    ap.add_argument("--orgs", type=int, default=2000)
    ap.add_argument("--changes", type=int, default=1000, help="changes per kind (default 1000)")
    ap.add_argument("--rate", type=float, default=100.0, help="changes a second (default 100)")
    ap.add_argument("--no-nginx", action="store_true", help="measure to Redis only")
    args = ap.parse_args()
    if args.changes > args.orgs or args.changes > args.assets:
        ap.error("--changes must not exceed --orgs or --assets")
    use_nginx = not args.no_nginx and MODULE.exists()
    if not args.no_nginx and not use_nginx:
        say(f"(no {MODULE}: run `make module` to measure through nginx; Redis only)")

    pg = PostgresServer(port=free_port())
    stack = Stack(cache_valid="5s", cache_negative="2s",
                  http_extra=f"asset_gate_invalidation_channel {CHANNEL};")
    watch = None
    try:
        pg.start()
        if use_nginx:
            stack.start()
        else:
            stack.redis.start()
        rds = stack.redis.client
        redis_url = f"redis://127.0.0.1:{stack.redis.port}/0"
        db = pg.create_database()
        t = time.monotonic()
        fill(db, args.assets, args.orgs)
        say(f"asset-gate-sync benchmark: PostgreSQL {db.sql('SHOW server_version')[0][0]},"
            f" {args.assets:,} assets over {args.orgs:,} organisations, made in {time.monotonic() - t:.1f} s")
        base = [str(SYNC), "--database-url", db.url, "--redis", redis_url]
        subprocess.run(base + ["install"], check=True, capture_output=True)

        # -- backfill ------------------------------------------------------------------
        t = time.monotonic()
        proc = subprocess.Popen(base + ["backfill"], stderr=subprocess.PIPE, text=True)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        took = time.monotonic() - t
        if proc.returncode != 0:
            raise SystemExit(f"backfill failed ({proc.returncode}): {err}")
        say(f"backfill: {args.assets:,} assets + {args.orgs:,} organisations in {took:.1f} s ="
            f" {args.assets / took:,.0f} assets/s; peak RSS {usage.ru_maxrss / 1024:.0f} MiB;"
            f" CPU {usage.ru_utime + usage.ru_stime:.1f} s")
        say("  " + err.strip().splitlines()[-1])
        assert rds.dbsize() == args.assets + args.orgs, rds.dbsize()

        # -- following the feed -----------------------------------------------------------
        # the backfill just ran: tell watch Redis is whole (else it backfills once more)
        rds.set("sync:heartbeat", str(int(time.time())))
        watch = subprocess.Popen(base + ["--publish-channel", CHANNEL, "watch"],
                                 stderr=open(pg.dir / "watch.stderr", "w"))
        deadline = time.monotonic() + 30
        while int(rds.get("sync:heartbeat")) < int(time.time()) - 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        arrivals = Arrivals(stack.redis.client)
        arrivals.start()
        poller = None
        if use_nginx:
            poller = Poller(stack.port)
            poller.start()
        conn = pg.connect(db.name)
        conn.autocommit = False
        say(f"watch (reconciliation at its default 500 rows/s), {args.changes} changes per kind at"
            f" {args.rate:g}/s{', each asked of nginx until it answers the change' if use_nginx else ''}:")

        orgs = [r[0] for r in db.sql("SELECT id::text FROM posthog_organization ORDER BY id LIMIT %s",
                                     (args.changes,))]
        org_asset = dict(db.sql("SELECT DISTINCT ON (t.organization_id) t.organization_id::text, a.id"
                                " FROM posthog_exportedasset a JOIN posthog_team t ON t.id = a.team_id"
                                " WHERE t.organization_id::text = ANY(%s) ORDER BY t.organization_id, a.id",
                                (orgs,)))
        doomed = [r[0] for r in db.sql("SELECT id FROM posthog_exportedasset ORDER BY id DESC LIMIT %s",
                                       (args.changes,))]
        next_id = db.sql("SELECT last_value + 1 FROM posthog_exportedasset_id_seq")[0][0]
        tokens = {a: mint(a) for a in list(org_asset.values()) + doomed +
                  list(range(next_id, next_id + args.changes))}

        def created(i, c):
            c.execute("INSERT INTO posthog_exportedasset (team_id, export_format, content_location)"
                      " VALUES (1, 'image/png', 'exports/bench/new') RETURNING id")
            a = c.fetchone()[0]
            tokens.setdefault(a, mint(a))
            return f"asset:{a}", f"/exporter?token={tokens[a]}", 200

        def switched_off(i, c):
            c.execute("UPDATE posthog_organization SET allow_publicly_shared_resources = false,"
                      " updated_at = now() WHERE id = %s", (orgs[i],))
            return f"org:{orgs[i]}", f"/exporter?token={tokens[org_asset[orgs[i]]]}", 404

        def deleted(i, c):
            c.execute("DELETE FROM posthog_exportedasset WHERE id = %s", (doomed[i],))
            return f"asset:{doomed[i]}", f"/exporter?token={tokens[doomed[i]]}", 404

        if use_nginx:   # warm the gate's cache with what is about to change
            h = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
            for a in list(org_asset.values()) + doomed:
                h.request("GET", f"/exporter?token={tokens[a]}")
                r = h.getresponse()
                r.read()
                assert r.status == 200, (a, r.status)
            h.close()
        results = {}
        results["asset created"] = measure("(a) asset created", args.changes, args.rate, conn, arrivals,
                                           poller, created)
        results["sharing off"] = measure("(b) sharing switch off", args.changes, args.rate, conn, arrivals,
                                         poller, switched_off)
        results["asset deleted"] = measure("(c) asset deleted", args.changes, args.rate, conn, arrivals,
                                           poller, deleted)
        everything = [v for vs in results.values() for v in vs]
        say(f"  all kinds: COMMIT -> Redis p50 {percentile(everything, 50):.1f} ms,"
            f" p99 {percentile(everything, 99):.1f} ms (target p99 < 100 ms)")
        # what Redis holds afterwards
        assert all(rds.hget(f"org:{o}", "allow_public") == "0" for o in orgs)
        assert not any(rds.exists(f"asset:{a}") for a in doomed)
        say(f"  watch peak RSS {rss_kib(watch.pid) / 1024:.0f} MiB; queue left:"
            f" {db.sql('SELECT count(*) FROM asset_gate_sync_queue')[0][0]} rows"
            + (f"; nginx requests {poller.requests:,}" if poller else ""))
        arrivals.running = False
        if poller:
            poller.running = False
        watch.terminate()
        code = watch.wait(timeout=15)
        say(f"  watch exit status after SIGTERM: {code}")
        conn.close()
        db.close()
    finally:
        if watch is not None and watch.poll() is None:
            watch.kill()
            watch.wait()
        try:
            stack.stop()
        finally:
            stack.cleanup()
            pg.stop()
            pg.cleanup()


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    main()
