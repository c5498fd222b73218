"""A private PostgreSQL server for the tests: initdb into a temporary directory and serve
on a unix socket only (no TCP). When the tests run as root the server runs as the
`postgres` system user (PostgreSQL refuses to run as root)."""

import glob
import itertools
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

SCHEMA = Path(__file__).resolve().parent / "posthog_schema.sql"


def find_bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return d
    found = shutil.which("initdb")
    return os.path.dirname(found) if found and shutil.which("pg_ctl") else None


class PostgresServer:
    def __init__(self, port=54329):
        self.bindir = find_bindir()
        if self.bindir is None:
            raise FileNotFoundError("initdb/pg_ctl not found (apt-get install postgresql)")
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="asset-gate-pg-"))
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "sock"
        self.socket_dir.mkdir()
        self.log = self.dir / "postgres.log"
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.dir, self.socket_dir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            self.dir.chmod(0o755)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.names = itertools.count(1)

    def _run(self, *args, timeout=60):
        return subprocess.run(self.as_user + [os.path.join(self.bindir, args[0]), *args[1:]],
                              capture_output=True, text=True, timeout=timeout, check=True)

    def start(self):
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        return self.resume()

    def resume(self):
        """Starts the server again after `stop()` (the data directory kept)."""
        opts = (f"-k {self.socket_dir} -p {self.port} -c listen_addresses='' -c fsync=off "
                f"-c full_page_writes=off -c synchronous_commit=off")
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts,
                      "-w", "-t", "30", "start", timeout=45)
        except subprocess.CalledProcessError as e:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"postgres did not start: {e.stderr}\n{log}") from e
        return self

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop",
                          timeout=45)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", timeout=20)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, dbname="postgres", user="postgres", password=None):
        auth = user + (f":{password}" if password else "")
        return f"postgresql://{auth}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def connect(self, dbname="postgres"):
        import psycopg2
        conn = psycopg2.connect(host=str(self.socket_dir), port=self.port, user="postgres",
                                dbname=dbname)
        conn.autocommit = True
        return conn

    def create_database(self):
        """A fresh database holding the PostHog schema; returns a `PostHogDB`."""
        name = f"posthog_t{next(self.names)}"
        admin = self.connect()
        with admin.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS {name}")
            c.execute(f"CREATE DATABASE {name}")
        admin.close()
        conn = self.connect(name)
        with conn.cursor() as c:
            c.execute(SCHEMA.read_text())
        return PostHogDB(self, name, conn)

    def open_database(self, name):
        """A new connection to a database `create_database` made (after a restart, say)."""
        return PostHogDB(self, name, self.connect(name))


SECURITY = {"key": "organization_security_settings", "name": "Organization security settings"}


class PostHogDB:
    """Writes PostHog-shaped rows the way the Django models would."""

    def __init__(self, server, name, conn):
        self.server = server
        self.name = name
        self.conn = conn
        self.url = server.url(name)

    def sql(self, query, args=None):
        with self.conn.cursor() as c:
            c.execute(query, args)
            return c.fetchall() if c.description else None

    def add_org(self, features=(), allow_public=True, org_id=None, name="org"):
        org_id = org_id or str(uuid.uuid4())
        feats = None if features is None else [json.dumps(f) for f in features]
        self.sql("INSERT INTO posthog_organization (id, name, available_product_features,"
                 " allow_publicly_shared_resources) VALUES (%s, %s, %s::jsonb[], %s)",
                 (org_id, name, feats, allow_public))
        return org_id

    def set_org(self, org_id, features=..., allow_public=...):
        if features is not ...:
            feats = None if features is None else [json.dumps(f) for f in features]
            self.sql("UPDATE posthog_organization SET available_product_features = %s::jsonb[],"
                     " updated_at = now() WHERE id = %s", (feats, org_id))
        if allow_public is not ...:
            self.sql("UPDATE posthog_organization SET allow_publicly_shared_resources = %s,"
                     " updated_at = now() WHERE id = %s", (allow_public, org_id))

    def add_team(self, org_id, name="Default project"):
        return self.sql("INSERT INTO posthog_team (organization_id, name) VALUES (%s, %s) RETURNING id",
                        (org_id, name))[0][0]

    def add_dashboard(self, team_id, name):
        return self.sql("INSERT INTO posthog_dashboard (team_id, name) VALUES (%s, %s) RETURNING id",
                        (team_id, name))[0][0]

    def add_insight(self, team_id, name=None, derived_name=None):
        return self.sql("INSERT INTO posthog_dashboarditem (team_id, name, derived_name)"
                        " VALUES (%s, %s, %s) RETURNING id", (team_id, name, derived_name))[0][0]

    def add_asset(self, team_id, export_format="image/png", content_location=..., content=None,
                  created_at="2026-05-27 10:10:10+00", expires_after=None, export_context=None,
                  dashboard_id=None, insight_id=None):
        if content_location is ...:
            content_location = f"exports/{export_format.split('/')[1]}/team-{team_id}/task-x/blob"
        asset_id = self.sql(
            "INSERT INTO posthog_exportedasset (team_id, export_format, content_location, content,"
            " created_at, expires_after, export_context, dashboard_id, insight_id)"
            " VALUES (%s, %s, %s, %s, COALESCE(%s::timestamptz, now()), %s, %s, %s, %s) RETURNING id",
            (team_id, export_format, content_location, content, created_at, expires_after,
             json.dumps(export_context) if export_context is not None else None,
             dashboard_id, insight_id))[0][0]
        return asset_id

    def close(self):
        self.conn.close()

    def drop(self):
        self.close()
        admin = self.server.connect()
        with admin.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        admin.close()
