"""The PostHog deployment recipes under contrib/posthog, run as they are shipped.

The hobby layout is PostHog's docker-compose.hobby.yml with the gate added: Caddy in front
(contrib/posthog/hobby/Caddyfile, imported unchanged), nginx with the gate behind it
(contrib/posthog/hobby/asset-gate.conf, with the compose service names replaced by this
run's loopback ports), PostHog's web service (a small HTTP server here that records what
reaches it) and object storage (s3rver behind the botocore-checking verifier, as in
test_s3). The S3 recipe (contrib/posthog/s3/asset-gate.conf) is the same gate against a
virtual-host, region-signed store.

What the recipes promise and these tests hold them to: the application never sees an
exporter request it did not ask to render, content comes from the store with a signed
request, the token goes nowhere but the gate, and the sharing switch and the sync heartbeat
apply as in the README."""

import http.server
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from gate import Stack, free_port, mint, wait_port
from test_s3 import (BUCKET, OBJECTS, SERVICE, extra_verifier, store,  # noqa: F401 (fixture)
                     tear_down_with)

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "contrib" / "posthog"
PREFIX = "asset_gate:"
CADDY = shutil.which("caddy")


class PostHogWeb:
    """Stands in for PostHog's web service: answers every request with a marker and keeps
    the request target, so the tests can tell what reached the application."""

    def __init__(self):
        self.port = free_port()
        self.seen = []
        web = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                web.seen.append((self.path, dict(self.headers)))
                body = f"posthog web: {self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def exporter_requests(self):
        return [p for p, _h in self.seen if "exporter" in p.lower()]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def substituted(text, replacements):
    """The recipe with each (old, new) replaced; every `old` must be there, so a recipe
    that drops or renames a setting fails here instead of being tested half-replaced."""
    for old, new in replacements:
        assert old in text, f"the recipe no longer contains {old!r}"
        text = text.replace(old, new)
    return text


class RecipeStack(Stack):
    """A Stack whose http block is a recipe file (its services pointed at this run's)."""

    def __init__(self, recipe, replacements_of):
        super().__init__(cache=False)
        self.recipe = recipe
        self.replacements_of = replacements_of

    def config(self):
        self.write_keys()
        conf = self.dir / "asset-gate.conf"
        conf.write_text(substituted(self.recipe.read_text(), self.replacements_of(self)))
        return f"""{self.preamble()}
http {{
    {self.temp_paths()}
    include {conf};
}}
"""


def load_records(s):
    s.put_org("org-1", security_settings=True, allow_public=True, prefix=PREFIX)
    for asset_id, (key, fmt, _content, filename) in OBJECTS.items():
        s.put_asset(asset_id, org="org-1", fmt=fmt, location=key, filename=filename,
                    content=None, prefix=PREFIX)
    s.redis.client.set(f"{PREFIX}sync:heartbeat", str(int(time.time())))


def start(request, s):
    tear_down_with(request, s)
    s.redis.start()
    load_records(s)          # the heartbeat is there before the workers first read it
    s.start_redis_first = False
    try:
        s.start()
    except RuntimeError as e:
        raise AssertionError(f"{e}:\n{(s.dir / 'nginx.stderr').read_text(errors='replace')}"
                             f"\n{s.error_log()[-3000:]}") from None
    return s


class Caddy:
    """Caddy running the recipe's Caddyfile, imported unchanged below the global options a
    test run needs (no admin endpoint, no certificates, state in the run's directory)."""

    def __init__(self, directory, env):
        self.dir = directory
        self.port = free_port()
        wrapper = directory / "Caddyfile"
        wrapper.write_text("{\n\tadmin off\n\tauto_https off\n}\n"
                           f"import {RECIPES / 'hobby' / 'Caddyfile'}\n")
        environment = dict(os.environ, HOME=str(directory), XDG_DATA_HOME=str(directory / "data"),
                           XDG_CONFIG_HOME=str(directory / "config"),
                           DOMAIN=f"http://127.0.0.1:{self.port}", **env)
        self.log = open(directory / "caddy.log", "w")
        self.proc = subprocess.Popen([CADDY, "run", "--config", str(wrapper), "--adapter", "caddyfile"],
                                     env=environment, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_port(self.port, self.proc, "caddy", timeout=20)
        except RuntimeError as e:
            self.stop()
            raise AssertionError(f"{e}:\n{(directory / 'caddy.log').read_text()}") from None

    def get(self, target, headers=None):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest("GET", target, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.endheaders()
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def hobby(store, request, tmp_path_factory):
    if CADDY is None:
        if os.environ.get("CI"):
            pytest.fail("caddy is not installed (scripts/install-deps.sh installs it)")
        pytest.skip("caddy is not installed (apt-get install caddy)")
    web = PostHogWeb()
    request.addfinalizer(web.stop)

    def replacements(s):
        return [("redis:6379", f"127.0.0.1:{s.redis.port}"),
                ("web:8000", f"127.0.0.1:{web.port}"),
                ("objectstorage:19000", f"127.0.0.1:{store.port}"),
                ("asset_gate_s3_bucket posthog;", f"asset_gate_s3_bucket {BUCKET};"),
                ("/etc/asset-gate/keys", str(s.keyfile)),
                ("/etc/asset-gate/s3-credentials", str(store.good)),
                ("/var/log/nginx/asset-gate.log", str(s.dir / "access.log")),
                ("listen 8081;", f"listen 127.0.0.1:{s.port};")]

    s = start(request, RecipeStack(RECIPES / "hobby" / "asset-gate.conf", replacements))
    caddy = Caddy(tmp_path_factory.mktemp("caddy"),
                  {"ASSET_GATE": f"127.0.0.1:{s.port}", "POSTHOG_WEB": f"127.0.0.1:{web.port}"})
    request.addfinalizer(caddy.stop)
    return s, caddy, web


def test_hobby_public_link_is_the_object_from_the_store_through_caddy(hobby, store):
    s, caddy, web = hobby
    mark = store.verifier.mark()
    token = mint(1)
    status, headers, body = caddy.get(f"/exporter/export-1.png?token={token}")
    assert status == 200, (status, body[:300], s.error_log()[-2000:])
    assert body == OBJECTS[1][2]
    assert headers["content-type"] == "image/png"
    records = [r for r in store.verifier.records[mark:]]
    assert [r.verdict for r in records] == ["verified"]
    assert token not in records[0].target and "token" not in records[0].target
    assert web.exporter_requests() == []


def test_hobby_subscription_link_and_download(hobby):
    s, caddy, web = hobby
    status, headers, body = caddy.get(f"/exporter/export-3.csv?token={mint(3, 'subscription_delivery')}&download=true")
    assert status == 200 and body == OBJECTS[3][2], (status, body[:300], s.access_log()[-1000:])
    assert headers["content-disposition"].startswith("attachment")
    assert web.exporter_requests() == []


def test_hobby_render_link_reaches_posthog_with_its_token_and_forwarded_headers(hobby):
    s, caddy, web = hobby
    token = mint(1, "render")
    status, _h, body = caddy.get(f"/exporter?token={token}")
    assert status == 200, (status, body[:300])
    assert body == f"posthog web: /exporter?token={token}\n".encode()
    path, headers = web.seen[-1]
    assert headers["Host"] == f"127.0.0.1:{caddy.port}"      # the client's, not nginx's
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-For"].startswith("127.0.0.1")


def test_hobby_the_application_keeps_its_other_paths(hobby):
    s, caddy, web = hobby
    status, _h, body = caddy.get("/api/projects/?x=1")
    assert status == 200 and body == b"posthog web: /api/projects/?x=1\n"
    status, _h, body = caddy.get("/exporterx")     # not the exporter's prefix
    assert status == 200 and body == b"posthog web: /exporterx\n"


@pytest.mark.parametrize("target, served", [
    ("/exporter/export-1.png", False),                      # no token
    ("/exporter/export-1.png?token=x.y.z", False),           # a bad one
    ("/exporter?token=x.y.z", False),
    ("/exporter/export-1.png?token={render}", False),       # a render token on content
    ("/EXPORTER/export-1.png?token={public}", False),       # Caddy's matcher ignores case
    ("/Exporter?token={render}", False),
    ("/exporter/", False),
    ("/exporter", False),
    ("/exporter/export-1.png?token={expired}", False),
    # Caddy matches the decoded, cleaned path and nginx decodes and normalises it the same
    # way: the same link, served by the gate from the store
    ("/exporter%2Fexport-1.png?token={public}", True),
    ("/exporter/../exporter/export-1.png?token={public}", True),
    ("/exporter/./export-1.png?token={public}", True),
])
def test_hobby_every_spelling_of_the_exporter_is_the_gates_never_the_applications(
        hobby, target, served):
    s, caddy, web = hobby
    target = target.format(public=mint(1), render=mint(1, "render"), expired=mint(1, exp_in=-60))
    before = len(web.seen)
    status, _h, body = caddy.get(target)
    assert (status, body) == (200, OBJECTS[1][2]) if served else status == 404, (target, status)
    assert web.seen[before:] == [], (target, web.seen[before:])


def public_stops_and_subscription_goes_on(caddy, why):
    """Within 5 s (the invalidation or the heartbeat's next read) the public link is a 404,
    while a subscription link to the same asset is still served."""
    public, subscription = mint(1), mint(1, "subscription_delivery")
    deadline = time.monotonic() + 5
    while caddy.get(f"/exporter/export-1.png?token={public}")[0] != 404:
        assert time.monotonic() < deadline, f"the public link still answers {why}"
        time.sleep(0.05)
    assert caddy.get(f"/exporter/export-1.png?token={subscription}")[0] == 200


def test_hobby_sharing_switch_and_sync_heartbeat(hobby):
    s, caddy, web = hobby
    channel = f"{PREFIX}invalidate"             # the recipe's asset_gate_invalidation_channel
    s.put_org("org-1", security_settings=True, allow_public=False, prefix=PREFIX)
    s.redis.client.publish(channel, f"{PREFIX}org:org-1")
    try:
        public_stops_and_subscription_goes_on(caddy, "after the switch")
    finally:
        s.put_org("org-1", security_settings=True, allow_public=True, prefix=PREFIX)
        s.redis.client.publish(channel, f"{PREFIX}org:org-1")
    # a sync stopped for longer than asset_gate_sync_max_age: public links stop, others work
    s.redis.client.set(f"{PREFIX}sync:heartbeat", str(int(time.time()) - 3600))
    try:
        public_stops_and_subscription_goes_on(caddy, "with a stale heartbeat")
    finally:
        s.redis.client.set(f"{PREFIX}sync:heartbeat", str(int(time.time())))
    assert "sync_stale" in s.access_log()


def test_hobby_status_and_health_are_local_only(hobby):
    s, caddy, web = hobby
    r = s.request("/_asset_gate/metrics")
    assert r.status == 200 and b"asset_gate_decisions_total" in r.body
    # each worker reads the heartbeat once a second: one an earlier test made stale heals
    deadline = time.monotonic() + 5
    while (r := s.request("/_asset_gate/health")).status != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (r.status, r.body) == (200, b"ok\n")
    assert caddy.get("/_asset_gate/health")[2] != b"ok\n"
    # through Caddy the status location is not routed to the gate at all
    status, _h, body = caddy.get("/_asset_gate/metrics")
    assert b"asset_gate_decisions_total" not in body


def test_hobby_access_log_has_the_reason_and_no_token(hobby):
    s, caddy, web = hobby
    token = mint(2, "subscription_delivery")
    caddy.get(f"/exporter/export-2.mp4?token={token}", headers={"Range": "bytes=0-99"})
    deadline = time.monotonic() + 5
    while "asset=2 purpose=subscription_delivery" not in s.access_log():
        assert time.monotonic() < deadline, s.access_log()[-1000:]
        time.sleep(0.05)
    log = s.access_log()
    assert token not in log and token.split(".")[2] not in log
    assert re.search(r'^127\.0\.0\.1 .* 206 100 reason=allowed asset=2', log, re.M), log[-1000:]


def test_s3_recipe_serves_from_a_virtual_host_region_signed_store(store, request):
    region = "eu-west-1"
    v = extra_verifier(store, request, region=region)

    def replacements(s):
        return [("redis.internal:6379", f"127.0.0.1:{s.redis.port}"),
                ("https://s3.eu-west-1.amazonaws.com", f"http://s3.{SERVICE}:{v.port}"),
                ("posthog-exports", BUCKET),
                ("server s3.eu-west-1.amazonaws.com:443", f"server 127.0.0.1:{v.port}"),
                ("proxy_pass https://", "proxy_pass http://"),
                ("posthog-web.internal:8000", "127.0.0.1:9"),
                ("/etc/asset-gate/keys", str(s.keyfile)),
                ("/run/asset-gate-credentials/s3-credentials", str(store.good)),
                ("/var/log/nginx/asset-gate.log", str(s.dir / "access.log")),
                ("listen 8081;", f"listen 127.0.0.1:{s.port};")]

    s = start(request, RecipeStack(RECIPES / "s3" / "asset-gate.conf", replacements))
    r = s.request(f"/exporter/export-4.png?token={mint(4)}")
    assert r.status == 200, (r.status, r.body[:300], v.records[-1:], s.access_log()[-2000:])
    assert r.body == OBJECTS[4][2]
    (rec,) = v.records
    assert rec.verdict == "verified" and rec.host == f"{BUCKET}.s3.{SERVICE}:{v.port}"
    assert f"/{region}/s3/aws4_request" in rec.headers["authorization"]
    # what reveals the store is not passed on
    assert r.header("x-amz-request-id") is None and r.header("server") != "AmazonS3"
    assert s.request("/_asset_gate/health").status == 200
