"""scripts/asset-gate-sync against a real PostgreSQL server (PostHog-shaped schema,
t/integration/posthog_schema.sql) and a real redis-server; one end-to-end test with nginx."""

import datetime as dt
import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import time

import pytest

from gate import REPO, Redis, free_port, mint

SYNC = REPO / "scripts" / "asset-gate-sync"
SEC = {"key": "organization_security_settings", "name": "Organization security settings"}
OTHER = {"key": "advanced_permissions", "name": "Advanced permissions"}
SUMMARY = re.compile(r"written=(\d+) unchanged=(\d+) removed=(\d+) published=(\d+)")

try:
    import psycopg2  # noqa: F401
    from pg import PostgresServer, find_bindir
    HAVE_PG = find_bindir() is not None
except ImportError:
    HAVE_PG = False


@pytest.fixture(scope="session")
def pg_server():
    if not HAVE_PG:
        pytest.skip("PostgreSQL binaries or python3-psycopg2 not installed "
                    "(apt-get install -y postgresql python3-psycopg2)")
    server = PostgresServer(port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.cleanup()


@pytest.fixture
def db(pg_server):
    d = pg_server.create_database()
    yield d
    d.drop()


@pytest.fixture
def rds(tmp_path):
    r = Redis(tmp_path).start()
    yield r
    r.stop()


def run(db, rds, *args, check=True, prefix=None, channel=None, redis_url=None, db_url=None, env=None):
    cmd = [str(SYNC), "--database-url", db_url or db.url,
           "--redis", redis_url or f"redis://127.0.0.1:{rds.port}/0"]
    if prefix is not None:
        cmd += ["--prefix", prefix]
    if channel is not None:
        cmd += ["--publish-channel", channel]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env={**os.environ, **(env or {})})
    if check:
        assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p


def counts(p):
    m = SUMMARY.search(p.stderr)
    assert m, p.stderr
    return dict(zip(("written", "unchanged", "removed", "published"), map(int, m.groups())))


def records(rds, prefix=""):
    c = rds.client
    return {k: c.hgetall(k) for k in c.keys("*") if k.startswith(prefix) and c.type(k) == "hash"}


class Subscriber:
    def __init__(self, rds, channel):
        self.ps = rds.client.pubsub(ignore_subscribe_messages=True)
        self.ps.subscribe(channel)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:     # wait for the subscribe confirmation
            if self.ps.get_message(timeout=0.1) is None and self.ps.subscribed:
                break

    def drain(self, quiet=0.5):
        got = []
        deadline = time.monotonic() + quiet
        while time.monotonic() < deadline:
            m = self.ps.get_message(timeout=0.05)
            if m and m["type"] == "message":
                got.append(m["data"])
                deadline = time.monotonic() + quiet
        return got

    def close(self):
        self.ps.close()


def writes(rds):
    return {n: rds.commands(n) for n in ("hset", "del", "multi", "publish")}


# -- a world with every org flag combination and every filename source --------------------

@pytest.fixture
def world(db):
    w = {}
    w["org_on"] = db.add_org([SEC, OTHER], allow_public=True, name="on")       # feature, sharing on
    w["org_off"] = db.add_org([OTHER, SEC], allow_public=False, name="off")    # feature, sharing off
    w["org_nofeat_off"] = db.add_org([OTHER], allow_public=False, name="nf")   # no feature, off
    w["org_nofeat_on"] = db.add_org([], allow_public=True, name="nfon")        # no feature, on
    w["org_null"] = db.add_org(None, allow_public=False, name="null")          # NULL features
    w["team_on"] = t = db.add_team(w["org_on"])
    w["team_off"] = db.add_team(w["org_off"])
    w["team_null"] = db.add_team(w["org_null"])
    dash = db.add_dashboard(t, "Weekly Report: Q3!")
    ins_named = db.add_insight(t, name="Ünïcode  Funnel", derived_name="ignored")
    ins_derived = db.add_insight(t, name=None, derived_name="Pageviews by day")
    ins_blank = db.add_insight(t, name="", derived_name=None)
    dash_noname = db.add_dashboard(t, None)
    w["png"] = db.add_asset(t, "image/png", dashboard_id=dash, content_location="exports/png/team-1/a",
                            expires_after="2099-11-23 00:00:00+00")
    w["csv"] = db.add_asset(t, "text/csv", export_context={"filename": "My Export (final)", "path": "/x"},
                            content_location="exports/csv/team-1/b", created_at="2026-01-02 03:04:05.678+00")
    w["pdf"] = db.add_asset(t, "application/pdf", insight_id=ins_named, content_location="pdf/c")
    w["xlsx"] = db.add_asset(w["team_off"],
                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                             insight_id=ins_derived, content_location="xlsx/d")
    w["jsonl"] = db.add_asset(w["team_off"], "application/x-ndjson", insight_id=ins_blank,
                              content_location="jsonl/e")
    w["webm"] = db.add_asset(w["team_null"], "video/webm", dashboard_id=dash_noname,
                             insight_id=ins_derived, content_location="webm/f")
    w["jpeg"] = db.add_asset(w["team_null"], "image/jpeg", content_location="jpeg/g",
                            export_context={"filename": ""})
    w["nolocation"] = db.add_asset(t, "image/png", content_location=None, content=b"\x89PNG bytes",
                                   dashboard_id=dash)
    w["expired"] = db.add_asset(t, "image/png", expires_after="2020-01-01 00:00:00+00")
    return w


def expected(w):
    o = lambda s, a: {"security_settings": s, "allow_public": a}  # noqa: E731
    exp = {
        f"org:{w['org_on']}": o("1", "1"),
        f"org:{w['org_off']}": o("1", "0"),
        f"org:{w['org_nofeat_off']}": o("0", "0"),
        f"org:{w['org_nofeat_on']}": o("0", "1"),
        f"org:{w['org_null']}": o("0", "0"),
        f"asset:{w['png']}": {"org": w["org_on"], "format": "image/png", "location": "exports/png/team-1/a",
                              "filename": "export-weekly-report-q3-2026-05-27-101010.png",
                              "expires_at": str(int(dt.datetime(2099, 11, 23, tzinfo=dt.timezone.utc).timestamp()))},
        f"asset:{w['csv']}": {"org": w["org_on"], "format": "text/csv", "location": "exports/csv/team-1/b",
                              "filename": "my-export-final-2026-01-02-030405.csv"},
        f"asset:{w['pdf']}": {"org": w["org_on"], "format": "application/pdf", "location": "pdf/c",
                              "filename": "export-unicode-funnel-2026-05-27-101010.pdf"},
        f"asset:{w['xlsx']}": {"org": w["org_off"],
                               "format": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                               "location": "xlsx/d",
                               "filename": "export-pageviews-by-day-2026-05-27-101010.xlsx"},
        f"asset:{w['jsonl']}": {"org": w["org_off"], "format": "application/x-ndjson", "location": "jsonl/e",
                                "filename": "export-insight-2026-05-27-101010.jsonl"},
        # a dashboard without a name falls through to the insight, as in PostHog
        f"asset:{w['webm']}": {"org": w["org_null"], "format": "video/webm", "location": "webm/f",
                               "filename": "export-pageviews-by-day-2026-05-27-101010.webm"},
        f"asset:{w['jpeg']}": {"org": w["org_null"], "format": "image/jpeg", "location": "jpeg/g",
                               "filename": "export-2026-05-27-101010.jpeg"},
        f"asset:{w['nolocation']}": {"org": w["org_on"], "format": "image/png",
                                     "filename": "export-weekly-report-q3-2026-05-27-101010.png"},
    }
    return exp


# -- backfill ---------------------------------------------------------------------------------

def test_backfill_writes_exactly_the_expected_records(db, rds, world):
    p = run(db, rds, "backfill")
    assert records(rds) == expected(world)
    assert counts(p) == {"written": 13, "unchanged": 0, "removed": 0, "published": 0}
    assert "location" not in rds.client.hgetall(f"asset:{world['nolocation']}")
    assert not rds.client.exists(f"asset:{world['expired']}")


# Every export_format PostHog's ExportedAsset has (posthog/models/exported_asset.py,
# ExportFormat, image/jpeg added in October 2026): each syncs without a warning.
# The extension each is served under (DESIGN 2).
POSTHOG_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "application/pdf": "pdf",
                   "text/csv": "csv",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
                   "video/webm": "webm", "video/mp4": "mp4", "image/gif": "gif",
                   "application/json": "json", "application/x-ndjson": "jsonl"}


def test_every_posthog_export_format_is_synced_without_a_warning(db, rds, world):
    ids = {fmt: db.add_asset(world["team_on"], fmt, content_location=f"exports/{i}")
           for i, fmt in enumerate(POSTHOG_FORMATS)}
    p = run(db, rds, "backfill")
    assert "no extension a link can name" not in p.stderr, p.stderr
    for fmt, asset in ids.items():
        assert rds.client.hget(f"asset:{asset}", "format") == fmt
        assert rds.client.hget(f"asset:{asset}", "filename").endswith("." + POSTHOG_FORMATS[fmt])


def test_an_unservable_format_is_synced_with_a_warning_and_refused_by_the_gate(db, rds, world):
    # No PostHog format is unservable (above); a later PostHog could add one whose subtype no
    # link can name, which svg+xml stands for here.
    asset = db.add_asset(world["team_on"], "image/svg+xml", content_location="svg/x")
    p = run(db, rds, "backfill")
    assert f"asset {asset}: format 'image/svg+xml' has no extension a link can name" in p.stderr
    assert rds.client.hget(f"asset:{asset}", "format") == "image/svg+xml"


# The core's table as the compiled core has it (format_extensions(), extension_for_format), not
# as a regex reads record.cpp: an entry clang-format wraps over two lines would slip past one.
CORE_FORMATS_MAIN = r"""
#include <iostream>
#include "core/record.hpp"
int main(int argc, char **argv) {
    for (const asset_gate::FormatExtension &e : asset_gate::format_extensions())
        std::cout << "table\t" << e.format << "\t" << e.ext << "\n";
    for (int i = 1; i < argc; ++i)
        std::cout << "ext\t" << argv[i] << "\t" << asset_gate::extension_for_format(argv[i]) << "\n";
}
"""

# Well-formed formats, mapped and not, with and without parameters (none holds a tab).
FORMAT_PROBES = ["text/csv; charset=utf-8", "text/csv;charset=utf-8", 'text/csv ; charset="utf-8"',
                 "application/x-ndjson; charset=utf-8", "image/webp", "image/jpeg", "image/svg+xml",
                 "application/vnd.ms-excel", "application/x-custom", "IMAGE/PNG", "Image/png",
                 "text/plain", "application/octet-stream"]


@pytest.fixture(scope="module")
def core_formats(tmp_path_factory):
    """Runs a program built from the core: (its table, {format: extension_for_format})."""
    d = tmp_path_factory.mktemp("core_formats")
    (d / "main.cpp").write_text(CORE_FORMATS_MAIN)
    exe = d / "core_formats"
    build = subprocess.run(["c++", "-std=c++17", "-I", str(REPO / "src"), "-o", str(exe), str(d / "main.cpp"),
                            str(REPO / "src" / "core" / "record.cpp"), str(REPO / "src" / "core" / "path.cpp")],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    table = [(f, e) for _, f, e in (line.split("\t") for line in subprocess.run(
        [str(exe)], capture_output=True, text=True, check=True).stdout.splitlines())]
    probes = [f for f, _ in table] + [f + "; charset=utf-8" for f, _ in table] + FORMAT_PROBES
    out = subprocess.run([str(exe), *probes], capture_output=True, text=True, check=True).stdout
    exts = {f: e for kind, f, e in (line.split("\t") for line in out.splitlines()) if kind == "ext"}
    assert set(exts) == set(probes), out
    return table, exts


@pytest.fixture(scope="module")
def sync_module():
    """The sync tool loaded as a module, so its tables are read as Python reads them."""
    loader = importlib.machinery.SourceFileLoader("asset_gate_sync", str(SYNC))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_format_table_is_the_gates_own(core_formats, sync_module):
    """The sync tool's MIME -> extension table equals the core's format_extensions()."""
    table, _ = core_formats
    assert len(table) >= 9
    assert len(dict(table)) == len(table), table
    assert sync_module.EXTENSIONS == dict(table)


def test_format_extension_is_the_gates_own(core_formats, sync_module):
    """Every format maps to the extension the gate derives: table, parameters, subtypes."""
    _, exts = core_formats
    assert {f: sync_module.extension(f) for f in exts} == exts


def test_backfill_in_small_batches(db, rds, world):
    team = world["team_on"]
    many = [db.add_asset(team, "text/csv", content_location=f"csv/{i}",
                         created_at=f"2026-03-01 00:00:{i:02d}+00") for i in range(23)]
    for k in (f"asset:{i}" for i in (99990, 99991)):         # stale records of unknown assets
        rds.client.hset(k, mapping={"org": "x", "format": "image/png"})
    run(db, rds, "--batch-size", "3", "backfill")
    got = records(rds)
    exp = expected(world)
    for i, a in enumerate(many):
        exp[f"asset:{a}"] = {"org": world["org_on"], "format": "text/csv", "location": f"csv/{i}",
                             "filename": f"export-2026-03-01-0000{i:02d}.csv"}
    assert got == exp


def test_backfill_replaces_stale_fields_and_removes_unknown_records(db, rds, world):
    png = f"asset:{world['png']}"
    rds.client.hset(png, mapping={"bogus": "1", "org": "other"})
    rds.client.hset("asset:424242", mapping={"org": world["org_on"], "format": "image/png"})
    rds.client.hset("org:00000000-0000-0000-0000-000000000000", mapping={"allow_public": "1"})
    rds.client.set(f"asset:{world['csv']}", "a string, not a hash")
    rds.client.hset("asset:not-a-number", "org", "kept")           # not ours: left alone
    rds.client.hset("org:not-a-uuid", "allow_public", "1")          # not ours: left alone
    rds.client.set("unrelated", "x")
    p = run(db, rds, "backfill")
    exp = expected(world)
    for k, v in exp.items():
        assert rds.client.hgetall(k) == v, k
    assert not rds.client.exists("asset:424242", "org:00000000-0000-0000-0000-000000000000")
    assert rds.client.hgetall("asset:not-a-number") == {"org": "kept"}
    assert rds.client.exists("org:not-a-uuid", "unrelated") == 2
    assert counts(p)["removed"] == 2


def test_unchanged_records_are_not_rewritten(db, rds, world, tmp_path):
    state = tmp_path / "state.json"
    run(db, rds, "refresh", "--state-file", str(state))       # first run: everything
    assert records(rds) == expected(world)
    sub = Subscriber(rds, "asset-gate")
    rds.client.config_resetstat()
    for args in (["backfill"], ["refresh", "--state-file", str(state)],
                 ["refresh", "--since", "2000-01-01T00:00:00Z"]):
        p = run(db, rds, *args, channel="asset-gate")
        assert counts(p) == {"written": 0, "unchanged": 13, "removed": 0, "published": 0}, args
    assert writes(rds) == {"hset": 0, "del": 0, "multi": 0, "publish": 0}
    assert sub.drain() == []
    sub.close()


# -- refresh ---------------------------------------------------------------------------------

def test_refresh_picks_up_new_assets_and_org_changes(db, rds, world, tmp_path):
    state = tmp_path / "state.json"
    run(db, rds, "backfill")
    run(db, rds, "refresh", "--state-file", str(state))
    assert json.loads(state.read_text())["since"].startswith("2026-05-27T10:10:10")
    sub = Subscriber(rds, "chan")
    new = db.add_asset(world["team_off"], "image/gif", created_at=None, content_location="gif/new")
    db.set_org(world["org_on"], allow_public=False)            # flipped flag
    db.set_org(world["org_off"], features=[OTHER])             # feature removed
    db.set_org(world["org_nofeat_on"], features=[SEC])         # feature added
    p = run(db, rds, "refresh", "--state-file", str(state), channel="chan")
    assert counts(p) == {"written": 4, "unchanged": 10, "removed": 0, "published": 4}
    rec = rds.client.hgetall(f"asset:{new}")
    assert rec["org"] == world["org_off"] and rec["format"] == "image/gif"
    assert rec["location"] == "gif/new" and re.fullmatch(r"export-\d{4}-\d\d-\d\d-\d{6}\.gif", rec["filename"])
    assert rds.client.hgetall(f"org:{world['org_on']}") == {"security_settings": "1", "allow_public": "0"}
    assert rds.client.hgetall(f"org:{world['org_off']}") == {"security_settings": "0", "allow_public": "0"}
    assert rds.client.hgetall(f"org:{world['org_nofeat_on']}") == {"security_settings": "1", "allow_public": "1"}
    assert sorted(sub.drain()) == sorted([f"asset:{new}", f"org:{world['org_on']}",
                                          f"org:{world['org_off']}", f"org:{world['org_nofeat_on']}"])
    sub.close()
    since = json.loads(state.read_text())["since"]
    assert since > "2026-05-28"                                  # watermark moved to the new asset


def test_refresh_sees_changes_to_assets_already_synced(db, rds, world):
    run(db, rds, "backfill")
    db.sql("UPDATE posthog_exportedasset SET content_location = 'late/location' WHERE id = %s",
           (world["nolocation"],))                              # the export finished later
    db.sql("UPDATE posthog_exportedasset SET expires_after = NULL WHERE id = %s", (world["png"],))
    p = run(db, rds, "refresh", "--since", "2030-01-01")        # nothing new by creation time
    assert counts(p)["written"] == 2
    assert rds.client.hget(f"asset:{world['nolocation']}", "location") == "late/location"
    assert "expires_at" not in rds.client.hgetall(f"asset:{world['png']}")


def test_refresh_since_only_adds_newer_assets(db, rds, world):
    p = run(db, rds, "refresh", "--since", "2026-05-01T00:00:00+00:00")
    got = records(rds)
    assert f"asset:{world['csv']}" not in got                   # created 2026-01-02
    assert f"asset:{world['png']}" in got and f"asset:{world['pdf']}" in got
    assert counts(p)["written"] == 12                            # 5 orgs + 7 assets
    unix = str(int(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()))
    run(db, rds, "refresh", "--since", unix)
    assert records(rds) == expected(world)


def test_deleted_and_expired_assets_and_deleted_orgs_are_removed(db, rds, world, tmp_path):
    state = tmp_path / "state"
    run(db, rds, "refresh", "--state-file", str(state))
    assert records(rds) == expected(world)
    sub = Subscriber(rds, "chan")
    db.sql("DELETE FROM posthog_exportedasset WHERE id = %s", (world["pdf"],))
    db.sql("UPDATE posthog_exportedasset SET expires_after = now() - interval '1 second'"
           " WHERE id = %s", (world["csv"],))
    db.sql("DELETE FROM posthog_organization WHERE id = %s", (world["org_nofeat_off"],))
    p = run(db, rds, "refresh", "--state-file", str(state), channel="chan")
    assert counts(p) == {"written": 0, "unchanged": 10, "removed": 3, "published": 3}
    exp = expected(world)
    for k in (f"asset:{world['pdf']}", f"asset:{world['csv']}", f"org:{world['org_nofeat_off']}"):
        del exp[k]
    assert records(rds) == exp
    assert sorted(sub.drain()) == sorted([f"asset:{world['pdf']}", f"asset:{world['csv']}",
                                          f"org:{world['org_nofeat_off']}"])
    sub.close()


def test_refresh_without_a_watermark_is_a_usage_error(db, rds):
    p = run(db, rds, "refresh", check=False)
    assert p.returncode == 2 and "--state-file" in p.stderr


# -- prefix, publish, dry run -----------------------------------------------------------------

def test_prefix_applies_to_keys_and_messages(db, rds, world):
    prefix = "ag[1]*:"                                  # glob characters must not confuse SCAN
    rds.client.hset("asset:1", mapping={"org": "unprefixed", "format": "image/png"})
    rds.client.hset(f"{prefix}asset:777777", mapping={"org": "gone", "format": "image/png"})
    rds.client.hset("ag1x:asset:777777", mapping={"org": "other prefix", "format": "image/png"})
    sub = Subscriber(rds, "evict")
    p = run(db, rds, "backfill", prefix=prefix, channel="evict")
    got = records(rds, prefix)
    exp = {prefix + k: v for k, v in expected(world).items()}
    assert {k: v for k, v in got.items() if k.startswith(prefix)} == exp
    assert rds.client.hgetall("asset:1") == {"org": "unprefixed", "format": "image/png"}
    assert rds.client.hgetall("ag1x:asset:777777")["org"] == "other prefix"
    msgs = sub.drain()
    assert sorted(msgs) == sorted(list(exp) + [f"{prefix}asset:777777"])
    assert counts(p) == {"written": 13, "unchanged": 0, "removed": 1, "published": 14}
    sub.close()


def test_publish_channel_announces_each_change(db, rds, world):
    sub = Subscriber(rds, "asset-gate:evict")
    other = Subscriber(rds, "another-channel")
    run(db, rds, "backfill", channel="asset-gate:evict")
    assert sorted(sub.drain()) == sorted(expected(world))
    db.set_org(world["org_off"], allow_public=True)
    db.sql("UPDATE posthog_exportedasset SET export_format = 'image/gif' WHERE id = %s", (world["jpeg"],))
    p = run(db, rds, "backfill", "--publish-channel", "asset-gate:evict")
    assert sorted(sub.drain()) == sorted([f"org:{world['org_off']}", f"asset:{world['jpeg']}"])
    assert counts(p)["published"] == 2
    run(db, rds, "backfill")                              # no channel: nothing published
    assert other.drain(0.2) == [] and sub.drain(0.2) == []
    sub.close()
    other.close()


def test_dry_run_writes_nothing(db, rds, world):
    sub = Subscriber(rds, "chan")
    rds.client.config_resetstat()
    p = run(db, rds, "--dry-run", "-v", "backfill", channel="chan")
    assert rds.client.dbsize() == 0
    assert counts(p) == {"written": 13, "unchanged": 0, "removed": 0, "published": 13}
    assert "dry run" in p.stderr and "would write" in p.stderr
    run(db, rds, "backfill")
    db.sql("DELETE FROM posthog_exportedasset WHERE id = %s", (world["png"],))
    db.set_org(world["org_on"], allow_public=False)
    before = records(rds)
    rds.client.config_resetstat()
    p = run(db, rds, "backfill", "--dry-run", channel="chan")
    assert counts(p) == {"written": 1, "unchanged": 11, "removed": 1, "published": 2}
    assert records(rds) == before
    assert writes(rds) == {"hset": 0, "del": 0, "multi": 0, "publish": 0}
    assert sub.drain(0.3) == []
    sub.close()


def test_state_file_is_not_advanced_by_a_dry_run(db, rds, world, tmp_path):
    state = tmp_path / "s.json"
    run(db, rds, "refresh", "--state-file", str(state), "--dry-run")
    assert not state.exists()


# -- connections and failures -------------------------------------------------------------------

def test_unix_socket_redis_and_environment_variables(db, tmp_path, world):
    r = Redis(tmp_path, unix=True).start()
    try:
        p = subprocess.run([str(SYNC), "--redis", f"unix:{r.socket}", "backfill"], capture_output=True,
                           text=True, timeout=60, env={**os.environ, "DATABASE_URL": db.url})
        assert p.returncode == 0, p.stderr
        assert records(r) == expected(world)
        r.client.flushall()
        p = subprocess.run([str(SYNC), "backfill"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "DATABASE_URL": db.url,
                                "REDIS_URL": f"unix://{r.socket}?db=3"})
        assert p.returncode == 0, p.stderr
        assert r.client.dbsize() == 0
        r3 = type(r.client)(unix_socket_path=r.socket, db=3, decode_responses=True)
        assert r3.dbsize() == 13
    finally:
        r.stop()


def test_bad_database_url_fails_clearly_without_the_password(rds):
    port = free_port()
    for url in (f"postgres://alice:Sup3rS3cretPw@127.0.0.1:{port}/posthog",
                f"postgresql://alice:Sup3rS3cretPw@/posthog?host=/nonexistent/dir&port={port}",
                f"host=127.0.0.1 port={port} user=alice password=Sup3rS3cretPw dbname=posthog"):
        p = subprocess.run([str(SYNC), "--database-url", url, "--redis",
                            f"redis://127.0.0.1:{rds.port}/0", "backfill"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 3, p.stderr
        assert "PostgreSQL" in p.stderr and "cannot connect" in p.stderr, p.stderr
        assert "Sup3rS3cretPw" not in p.stderr + p.stdout
        assert "Traceback" not in p.stderr
    assert rds.client.dbsize() == 0


def test_missing_schema_fails_clearly(pg_server, rds):
    p = subprocess.run([str(SYNC), "--database-url", pg_server.url("postgres", password="pw-hidden"),
                        "--redis", f"redis://127.0.0.1:{rds.port}/0", "backfill"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 3 and "posthog_organization" in p.stderr, p.stderr
    assert "pw-hidden" not in p.stderr and "Traceback" not in p.stderr


def test_unreachable_redis_fails_clearly_without_the_password(db):
    port = free_port()
    p = subprocess.run([str(SYNC), "--database-url", db.url,
                        "--redis", f"redis://:R3disS3cretPw@127.0.0.1:{port}/0", "backfill"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 4, p.stderr
    assert "Redis" in p.stderr and "R3disS3cretPw" not in p.stderr and "Traceback" not in p.stderr
    assert "redis://:***@127.0.0.1" in p.stderr


def test_wrong_redis_password_fails_clearly(db, tmp_path):
    r = Redis(tmp_path, password="right-password").start()
    try:
        p = subprocess.run([str(SYNC), "--database-url", db.url,
                            "--redis", f"redis://:Wr0ngPassw0rd@127.0.0.1:{r.port}/0", "backfill"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 4 and "Wr0ngPassw0rd" not in p.stderr, p.stderr
        p = subprocess.run([str(SYNC), "--database-url", db.url,
                            "--redis", f"redis://:right-password@127.0.0.1:{r.port}/0", "backfill"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "right-password" not in p.stderr, p.stderr
    finally:
        r.stop()


# -- features column as a plain jsonb list (the description of the column) ------------

def test_features_column_as_plain_jsonb(db, rds, world):
    db.sql("ALTER TABLE posthog_organization ALTER COLUMN available_product_features"
           " TYPE jsonb USING to_jsonb(available_product_features)")
    run(db, rds, "backfill")
    assert records(rds) == expected(world)


# -- watch --------------------------------------------------------------------------------------

def test_watch_keeps_redis_in_sync(db, rds, world):
    """watch follows the change feed (install first): it backfills an empty Redis, then
    applies each change as it commits; SIGTERM ends it with status 0."""
    run(db, rds, "install")
    proc = subprocess.Popen([str(SYNC), "--database-url", db.url, "--redis",
                             f"redis://127.0.0.1:{rds.port}/0", "watch", "--reconcile-rate", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def wait(cond, what):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if cond():
                    return
                time.sleep(0.05)
            raise AssertionError(f"watch did not {what}")
        wait(lambda: records(rds) == expected(world), "backfill")
        new = db.add_asset(world["team_on"], "image/png", created_at=None, content_location="n")
        db.set_org(world["org_on"], allow_public=False)
        db.sql("DELETE FROM posthog_exportedasset WHERE id = %s", (world["png"],))
        wait(lambda: rds.client.hget(f"asset:{new}", "location") == "n"
             and rds.client.hget(f"org:{world['org_on']}", "allow_public") == "0"
             and not rds.client.exists(f"asset:{world['png']}"), "pick up changes")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "backfill: written=13" in err
    assert db.sql("SELECT count(*) FROM asset_gate_sync_queue") == [(0,)]


# -- end to end with the gate --------------------------------------------------------------------

def test_gate_follows_postgres_through_sync(db, make_stack):
    s = make_stack(cache_valid="1s", cache_negative="1s")
    org = db.add_org([SEC], allow_public=True)
    team = db.add_team(org)
    dash = db.add_dashboard(team, "Weekly report")
    asset = db.add_asset(team, "image/png", dashboard_id=dash, content_location="exports/png/e2e/blob",
                         expires_after=(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat())
    (s.root / "exports/png/e2e").mkdir(parents=True)
    (s.root / "exports/png/e2e/blob").write_bytes(b"\x89PNG e2e")
    redis_url = f"redis://127.0.0.1:{s.redis.port}/0"
    run(db, s.redis, "backfill", redis_url=redis_url)
    filename = s.redis.client.hget(f"asset:{asset}", "filename")
    assert filename == "export-weekly-report-2026-05-27-101010.png"

    r = s.content(asset, name=f"/exporter/{filename}")
    assert r.status == 200 and r.body == b"\x89PNG e2e", (r.status, r.headers)
    assert s.render(asset).status == 200

    db.set_org(org, allow_public=False)
    run(db, s.redis, "refresh", "--since", "2100-01-01", redis_url=redis_url)
    time.sleep(1.3)                                         # cache_valid 1s
    r = s.content(asset, name=f"/exporter/{filename}")
    assert r.status == 404 and r.header("X-Reason") == "org_blocked"
    assert s.content(asset, "subscription_delivery", name=f"/exporter/{filename}").status == 200

    db.sql("DELETE FROM posthog_exportedasset WHERE id = %s", (asset,))
    run(db, s.redis, "refresh", "--since", "2100-01-01", redis_url=redis_url)
    time.sleep(1.3)
    r = s.content(asset, "subscription_delivery", name=f"/exporter/{filename}")
    assert r.status == 404 and r.header("X-Reason") == "asset_unknown"
