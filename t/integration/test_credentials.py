"""S3 credentials that rotate without a reload (issue 15): the module re-reads its
credentials file when it changes and never signs past the file's aws_expiration, and
scripts/asset-gate-credentials keeps that file current from botocore's provider chain.

The AWS side is faked on loopback: an IMDSv2 server (token PUT, role listing, role
credentials), an STS answering AssumeRoleWithWebIdentity, an ECS container endpoint. The store
is test_s3's s3rver behind s3verify.Verifier, which knows each credential set's expiry and
answers S3's 400 ExpiredToken past it. s3rver knows only the access key id "S3RVER", so a
rotation keeps that id and changes the secret and the session token; the verifier tells the
sets apart by the token each request carries."""

import datetime as dt
import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import http.server

from gate import mint
from test_s3 import (ACCESS_KEY, build, extra_verifier, follow, gate_location, location_of,
                     s3_http, s3_location, start_module_stack)
from test_s3 import store  # noqa: F401  (the fixture: s3rver with test_s3's objects)

REPO = Path(__file__).resolve().parents[2]
COMPANION = REPO / "scripts" / "asset-gate-credentials"
SECRET_A = "rotA/9Xk+asset-gate-first-secret+0123456789/ABCDEFabcdef"
SECRET_B = "rotB/9Xk+asset-gate-second-secret+0123456789/ABCDEFabcde"
TOKEN_A = "IQoJb3JpZ2luX2VjEJr//////////first+session/token=="
TOKEN_B = "IQoJb3JpZ2luX2VjEJr//////////second+session/token="
ROLE = "asset-gate-role"


def iso(t):
    return dt.datetime.fromtimestamp(int(t), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def worker_group():
    """The group nginx's workers run as when the master is root and no `user` is set."""
    try:
        return grp.getgrnam("nogroup").gr_name
    except KeyError:
        return grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name


@pytest.fixture
def workdir(request):
    """A directory nginx's workers can read (tmp_path's parents are 0700)."""
    d = Path(tempfile.mkdtemp(prefix="asset-gate-creds-"))
    d.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def write_credentials(path, secret, token=None, expires=None, access_key=ACCESS_KEY):
    """Replaces `path` as the companion does (rename over it): a new version for the workers."""
    text = f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret}\n"
    if token:
        text += f"aws_session_token = {token}\n"
    if expires is not None:
        text += f"aws_expiration = {iso(expires)}\n"
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.rename(tmp, path)


# -- fake AWS services on loopback ---------------------------------------------------------------


class FakeService:
    """A threaded HTTP server on 127.0.0.1: `answer(method, path, headers, body)` returns
    (status, content type, body). Every request is kept in `requests`."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                service.requests.append((self.command, self.path, headers, body))
                status, ctype, data = service.answer(self.command, self.path, headers, body)
                data = data.encode() if isinstance(data, str) else data
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class FakeIMDS:
    """EC2 instance metadata, IMDSv2 only: a session token first (PUT), then the role and its
    credentials with that token. `set(...)` rotates; `failing` answers 500 to everything."""

    def __init__(self, secret, token, expires, access_key=ACCESS_KEY):
        self.lock = threading.Lock()
        self.failing = False
        self.tokens = set()
        self.set(secret, token, expires, access_key)
        self.service = FakeService(self.answer)
        self.url = self.service.url + "/"

    def set(self, secret, token, expires, access_key=ACCESS_KEY):
        with self.lock:
            self.creds = {"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                          "AccessKeyId": access_key, "SecretAccessKey": secret, "Token": token,
                          "Expiration": iso(expires)}

    def answer(self, method, path, headers, body):
        if self.failing:
            return 500, "text/plain", "unavailable"
        if method == "PUT" and path == "/latest/api/token":
            if "x-aws-ec2-metadata-token-ttl-seconds" not in headers:
                return 400, "text/plain", "missing ttl"
            token = uuid.uuid4().hex
            self.tokens.add(token)
            return 200, "text/plain", token
        if headers.get("x-aws-ec2-metadata-token") not in self.tokens:
            return 401, "text/plain", "IMDSv2 token required"
        if method == "GET" and path == "/latest/meta-data/iam/security-credentials/":
            return 200, "text/plain", ROLE
        if method == "GET" and path == f"/latest/meta-data/iam/security-credentials/{ROLE}":
            with self.lock:
                return 200, "application/json", json.dumps(self.creds)
        return 404, "text/plain", "not found"

    def credential_fetches(self):
        return sum(1 for m, p, _h, _b in self.service.requests if p.endswith("/" + ROLE))

    def stop(self):
        self.service.stop()


def sts_answer(access_key, secret, token, expires, seen):
    def answer(method, path, headers, body):
        form = parse_qs(body.decode())
        seen.append(form)
        if form.get("Action") != ["AssumeRoleWithWebIdentity"]:
            return 400, "text/xml", "<ErrorResponse/>"
        return 200, "text/xml", f"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:posthog:asset-gate</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/asset-gate/{form["RoleSessionName"][0]}</Arn>
      <AssumedRoleId>AROAEXAMPLE:{form["RoleSessionName"][0]}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{access_key}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{iso(expires)}</Expiration>
    </Credentials>
    <Provider>oidc.eks.example</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"""
    return answer


# -- the companion -------------------------------------------------------------------------------


def companion_env(home, **settings):
    """Nothing from this machine's AWS setup: no files, no variables, IMDS off unless given."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "AWS_CONFIG_FILE": str(home / "no-aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    if "AWS_EC2_METADATA_SERVICE_ENDPOINT" in settings:
        env.pop("AWS_EC2_METADATA_DISABLED")
    env.update(settings)
    return env


def run_once(home, out, *args, **settings):
    return subprocess.run([str(COMPANION), "--once", "--file", str(out), *args],
                          env=companion_env(home, **settings), capture_output=True, text=True,
                          timeout=60)


def start_daemon(request, home, out, *args, **settings):
    log = open(home / "companion.log", "w")
    proc = subprocess.Popen([str(COMPANION), "--file", str(out), *args],
                            env=companion_env(home, **settings), stdout=log,
                            stderr=subprocess.STDOUT)

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    request.addfinalizer(stop)
    proc.log = home / "companion.log"
    return proc


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def parsed(path):
    return dict(re.findall(r"^(\w+) = (.*)$", path.read_text(), re.M))


def assert_no_secret(text, *secrets):
    for s in secrets:
        assert s not in text, "a secret reached the output"


def test_companion_writes_environment_credentials_with_their_expiry_mode_0640(workdir):
    out = workdir / "s3-credentials"
    expires = int(time.time()) + 3600
    res = run_once(workdir, out, "--group", worker_group(), AWS_ACCESS_KEY_ID="AKIDENVIRONMENT",
                   AWS_SECRET_ACCESS_KEY=SECRET_A, AWS_SESSION_TOKEN=TOKEN_A,
                   AWS_CREDENTIAL_EXPIRATION=iso(expires))
    assert res.returncode == 0, res.stderr
    assert parsed(out) == {"aws_access_key_id": "AKIDENVIRONMENT", "aws_secret_access_key": SECRET_A,
                           "aws_session_token": TOKEN_A, "aws_expiration": iso(expires)}
    st = out.stat()
    assert st.st_mode & 0o777 == 0o640
    assert st.st_gid == grp.getgrnam(worker_group()).gr_gid
    assert "env" in res.stderr and "AKIDENVIRONMENT" in res.stderr
    assert_no_secret(res.stdout + res.stderr, SECRET_A, TOKEN_A)
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_companion_reads_a_profile_of_the_shared_credentials_file(workdir):
    shared = workdir / "aws-credentials"
    shared.write_text("[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = x\n"
                      f"[exports]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = {SECRET_B}\n")
    out = workdir / "s3-credentials"
    res = run_once(workdir, out, "--profile", "exports", AWS_SHARED_CREDENTIALS_FILE=str(shared))
    assert res.returncode == 0, res.stderr
    # long-term credentials: no token, no expiry line
    assert parsed(out) == {"aws_access_key_id": "AKIDPROFILE", "aws_secret_access_key": SECRET_B}
    assert_no_secret(res.stderr, SECRET_B)


def test_companion_without_credentials_exits_1_and_leaves_the_old_file(workdir):
    out = workdir / "s3-credentials"
    out.write_text("the old file\n")
    res = run_once(workdir, out)
    assert res.returncode == 1
    assert "found no credentials" in res.stderr, res.stderr
    assert out.read_text() == "the old file\n"


def test_companion_fetches_instance_metadata_credentials_through_imdsv2(workdir, request):
    expires = int(time.time()) + 6 * 3600
    imds = FakeIMDS(SECRET_A, TOKEN_A, expires)
    request.addfinalizer(imds.stop)
    out = workdir / "s3-credentials"
    res = run_once(workdir, out, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    assert res.returncode == 0, res.stderr
    assert parsed(out) == {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_A,
                           "aws_session_token": TOKEN_A, "aws_expiration": iso(expires)}
    assert imds.service.requests[0][:2] == ("PUT", "/latest/api/token")
    assert "iam-role" in res.stderr
    assert_no_secret(res.stderr, SECRET_A, TOKEN_A)


def test_companion_assumes_a_role_with_web_identity_through_sts(workdir, request):
    expires = int(time.time()) + 3600
    seen = []
    sts = FakeService(sts_answer("ASIAWEBIDENTITY", SECRET_B, TOKEN_B, expires, seen))
    request.addfinalizer(sts.stop)
    token_file = workdir / "web-identity-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.service-account.jwt")
    out = workdir / "s3-credentials"
    res = run_once(workdir, out, "--sts-endpoint", sts.url, "--region", "eu-west-1",
                   AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
                   AWS_ROLE_ARN="arn:aws:iam::123456789012:role/asset-gate",
                   AWS_ROLE_SESSION_NAME="asset-gate-test")
    assert res.returncode == 0, res.stderr
    assert parsed(out) == {"aws_access_key_id": "ASIAWEBIDENTITY", "aws_secret_access_key": SECRET_B,
                           "aws_session_token": TOKEN_B, "aws_expiration": iso(expires)}
    (form,) = seen
    assert form["RoleArn"] == ["arn:aws:iam::123456789012:role/asset-gate"]
    assert form["WebIdentityToken"] == ["eyJhbGciOiJSUzI1NiJ9.service-account.jwt"]
    assert form["RoleSessionName"] == ["asset-gate-test"]
    assert_no_secret(res.stderr, SECRET_B, TOKEN_B)


def test_companion_fetches_container_credentials_from_the_ecs_endpoint(workdir, request):
    expires = int(time.time()) + 3600

    def answer(method, path, headers, body):
        if path != "/v2/credentials/task" or headers.get("authorization") != "ecs-auth-token":
            return 403, "application/json", "{}"
        return 200, "application/json", json.dumps({
            "AccessKeyId": "ASIACONTAINER", "SecretAccessKey": SECRET_A, "Token": TOKEN_A,
            "Expiration": iso(expires), "RoleArn": "arn:aws:iam::123456789012:role/task"})

    ecs = FakeService(answer)
    request.addfinalizer(ecs.stop)
    out = workdir / "s3-credentials"
    res = run_once(workdir, out, AWS_CONTAINER_CREDENTIALS_FULL_URI=ecs.url + "/v2/credentials/task",
                   AWS_CONTAINER_AUTHORIZATION_TOKEN="ecs-auth-token")
    assert res.returncode == 0, res.stderr
    assert parsed(out)["aws_access_key_id"] == "ASIACONTAINER"
    assert parsed(out)["aws_expiration"] == iso(expires)
    assert "container-role" in res.stderr


def test_companion_daemon_keeps_the_file_through_metadata_outages_and_stops_on_sigterm(
        workdir, request):
    imds = FakeIMDS(SECRET_A, TOKEN_A, time.time() + 3600)
    request.addfinalizer(imds.stop)
    out = workdir / "s3-credentials"
    proc = start_daemon(request, workdir, out, "--interval", "0.5", "--max-backoff", "1",
                        AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    wait_for(out.exists, 20, "the first file")
    first = out.read_text()
    imds.failing = True
    fetches = len(imds.service.requests)
    wait_for(lambda: len(imds.service.requests) >= fetches + 3, 20, "retries")
    assert out.read_text() == first  # the old file stays while the source fails
    imds.failing = False
    imds.set(SECRET_B, TOKEN_B, time.time() + 3600)
    wait_for(lambda: SECRET_B in out.read_text(), 20, "the rotated file")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    log = proc.log.read_text()
    assert "retrying in" in log and "stopping" in log
    assert_no_secret(log, SECRET_A, SECRET_B, TOKEN_A, TOKEN_B)


def test_companion_fetches_temporary_credentials_again_before_they_expire(workdir, request):
    """No --interval: the expiry alone schedules the next fetch (at most half the lifetime
    before it), so a set that lives 10 s is replaced before it ends."""
    expires_a = int(time.time()) + 10
    imds = FakeIMDS(SECRET_A, TOKEN_A, expires_a)
    request.addfinalizer(imds.stop)
    out = workdir / "s3-credentials"
    start_daemon(request, workdir, out, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    wait_for(out.exists, 20, "the first file")
    fetched = imds.credential_fetches()
    imds.set(SECRET_B, TOKEN_B, time.time() + 3600)
    wait_for(lambda: SECRET_B in out.read_text(), 15, "the second set")
    assert time.time() < expires_a, "the file still held the first set at its expiry"
    assert imds.credential_fetches() - fetched <= 6  # asked again, not in a loop


def test_companion_help_documents_every_option():
    res = subprocess.run([str(COMPANION), "--help"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0
    for option in ("--file", "--profile", "--group", "--once", "--interval", "--refresh-margin",
                   "--max-backoff", "--sts-endpoint", "--region"):
        assert option in res.stdout, option


# -- the module: re-reading, expiry, rotation -----------------------------------------------------


def s3_stack(request, verifier, credfile, workers=2):
    """The gate at /exporter proxies to @s3 (the recipe); /presigned redirects to a presigned
    URL. Both sign with `credfile`, for `verifier`."""

    def server_extra(s):
        return (s3_location("@s3", verifier.port)
                + gate_location("/presigned", s.keyfile, None, "asset_gate_s3_redirect on;"))

    s = build(s3_http(verifier.port, credfile), server_extra)
    s.workers = workers
    return start_module_stack(request, s)


@pytest.fixture
def verifier(store, request):  # noqa: F811
    """A verifier of its own in front of test_s3's store; the test gives its credentials."""
    return extra_verifier(store, request, credentials={})


def proxied(s):
    return s.request(f"/exporter/export.png?token={mint(1)}")


def presigned(s):
    """The redirect, followed through the verifier: (status of the redirect, of the object)."""
    r = s.request(f"/presigned/export.png?token={mint(1)}")
    if r.status != 302:
        return r.status, None
    loc, _, _ = location_of(r)
    return 302, follow(loc)[0]


def error_lines(s, needle):
    return [line for line in s.error_log().splitlines() if needle in line]


def test_credentials_rotate_mid_traffic_without_a_reload_and_never_sign_expired(
        verifier, workdir, request):
    """Headline: the companion follows a fake IMDS; the role's credentials rotate under load.
    Every request succeeds, none is signed with a set past its expiry, no reload happens."""
    expires_a = int(time.time()) + 22
    imds = FakeIMDS(SECRET_A, TOKEN_A, expires_a)
    request.addfinalizer(imds.stop)
    verifier.credentials = {ACCESS_KEY: [(SECRET_A, TOKEN_A, expires_a)]}
    credfile = workdir / "s3-credentials"
    companion = start_daemon(request, workdir, credfile, "--interval", "1",
                             "--group", worker_group(),
                             AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    wait_for(credfile.exists, 20, "the companion's first file")
    assert parsed(credfile)["aws_expiration"] == iso(expires_a)
    s = s3_stack(request, verifier, credfile)
    master = s.nginx_proc.pid
    pid_file = (s.dir / "nginx.pid").read_text().strip()
    workers = sorted(s.worker_pids())

    results = []
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            results.append(("proxy", time.time(), proxied(s).status))
            results.append(("presigned", time.time(), presigned(s)))
            time.sleep(0.02)

    threads = [threading.Thread(target=traffic) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(4)
        # The role's new set: valid at once at the store, served by IMDS from now on.
        expires_b = int(time.time()) + 3600
        verifier.credentials = {ACCESS_KEY: [(SECRET_A, TOKEN_A, expires_a),
                                             (SECRET_B, TOKEN_B, expires_b)]}
        imds.set(SECRET_B, TOKEN_B, expires_b)
        rotated_at = time.time()
        wait_for(lambda: SECRET_B in credfile.read_text(), 10, "the companion's rewrite")
        # Past the first set's expiry the store knows only the second.
        wait_for(lambda: time.time() > expires_a + 1, 30, "the first set's expiry")
        verifier.credentials = {ACCESS_KEY: [(SECRET_B, TOKEN_B, expires_b)]}
        time.sleep(3)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)

    assert results, "no traffic"
    failed = [r for r in results
              if (r[0] == "proxy" and r[2] != 200) or (r[0] == "presigned" and r[2] != (302, 200))]
    assert failed == [], failed[:10]
    records = verifier.since(0)
    assert records and all(r.verdict == "verified" for r in records), \
        [(r.code, r.message) for r in records if r.verdict != "verified"][:5]
    used_a = [r for r in records if r.token == TOKEN_A]
    used_b = [r for r in records if r.token == TOKEN_B]
    assert used_a and used_b and len(used_a) + len(used_b) == len(records)
    assert max(r.at for r in used_a) < expires_a       # nothing signed with A after its expiry
    assert min(r.at for r in used_b) >= rotated_at - 0.5
    # both modes changed sets: header-signed (proxy) and presigned (redirect) requests
    assert {r.auth for r in used_a} == {r.auth for r in used_b} == {"header", "query"}
    # no reload, no crash
    assert s.nginx_proc.pid == master and s.nginx_proc.poll() is None
    assert (s.dir / "nginx.pid").read_text().strip() == pid_file
    assert sorted(s.worker_pids()) == workers
    log = s.error_log()
    assert "reconfiguring" not in log
    assert error_lines(s, "S3 credentials re-read from") != []
    assert_no_secret(log, SECRET_A, SECRET_B, TOKEN_A, TOKEN_B)
    assert companion.poll() is None


def test_an_expired_credentials_file_answers_503_and_the_store_is_not_asked(
        verifier, workdir, request):
    credfile = workdir / "s3-credentials"
    write_credentials(credfile, SECRET_A, TOKEN_A, expires=time.time() - 60)
    verifier.credentials = {ACCESS_KEY: [(SECRET_A, TOKEN_A, None), (SECRET_B, TOKEN_B, None)]}
    s = s3_stack(request, verifier, credfile)
    mark = verifier.mark()
    r = proxied(s)
    assert r.status == 503 and r.header("Retry-After") == "1", (r.status, r.body[:200])
    assert presigned(s) == (503, None)
    for _ in range(6):
        assert proxied(s).status == 503
    assert verifier.since(mark) == []  # nothing was signed with the expired set
    lines = [line for line in error_lines(s, "expired at") if "[error]" in line]
    # one line per worker that refused, not one per request
    assert 1 <= len(lines) <= len(s.worker_pids()), lines
    assert all(str(credfile) in line for line in lines)
    # The file rewritten, no reload: signing resumes within a second or two.
    write_credentials(credfile, SECRET_B, TOKEN_B, expires=time.time() + 3600)
    wait_for(lambda: proxied(s).status == 200, 10, "signing with the rewritten file")
    assert presigned(s) == (302, 200)
    assert {r.token for r in verifier.since(mark)} == {TOKEN_B}


def test_presigned_urls_expire_with_their_credentials(verifier, workdir, request):
    credfile = workdir / "s3-credentials"
    expires = int(time.time()) + 120
    write_credentials(credfile, SECRET_A, TOKEN_A, expires=expires)
    verifier.credentials = {ACCESS_KEY: (SECRET_A, TOKEN_A, expires)}
    s = s3_stack(request, verifier, credfile, workers=1)
    r = s.request(f"/presigned/export.png?token={mint(1)}")
    _, _, q = location_of(r)
    lifetime = int(q["X-Amz-Expires"])
    assert 100 <= lifetime <= 120, lifetime  # not the default 3600 s
    assert int(q["X-Amz-Expires"]) + int(dt.datetime.strptime(
        q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc).timestamp()) <= expires


def test_a_broken_rewrite_keeps_the_last_good_set_and_is_logged_once(
        verifier, workdir, request):
    credfile = workdir / "s3-credentials"
    write_credentials(credfile, SECRET_A, TOKEN_A)
    verifier.credentials = {ACCESS_KEY: [(SECRET_A, TOKEN_A, None), (SECRET_B, TOKEN_B, None)]}
    s = s3_stack(request, verifier, credfile, workers=1)
    assert proxied(s).status == 200
    mark = verifier.mark()
    tmp = credfile.with_name("broken")
    tmp.write_text(f"[default]\naws_access_key_id = {ACCESS_KEY}\n{SECRET_B}\n")
    tmp.chmod(0o644)
    os.rename(tmp, credfile)
    deadline = time.time() + 3.5  # several checks of the same bad version
    while time.time() < deadline:
        assert proxied(s).status == 200
        assert presigned(s) == (302, 200)
        time.sleep(0.1)
    assert {r.token for r in verifier.since(mark)} == {TOKEN_A}
    lines = error_lines(s, "invalid S3 credentials file")
    assert len(lines) == 1, lines
    assert "[error]" in lines[0] and str(credfile) in lines[0] and "line 3" in lines[0]
    assert "still signing with the credentials read before" in lines[0]
    assert_no_secret(s.error_log(), SECRET_A, SECRET_B, TOKEN_A)
    # A good version after it is taken at once.
    write_credentials(credfile, SECRET_B, TOKEN_B)
    wait_for(lambda: proxied(s).status == 200 and verifier.since(0)[-1].token == TOKEN_B, 10,
             "the good rewrite")
    assert len(error_lines(s, "invalid S3 credentials file")) == 1


def test_nginx_t_refuses_a_file_with_a_bad_expiry_naming_file_and_line(verifier, workdir, request):
    credfile = workdir / "s3-credentials"
    write_credentials(credfile, SECRET_A, TOKEN_A)
    s = s3_stack(request, verifier, credfile, workers=1)
    bad = workdir / "bad-expiry"
    bad.write_text(f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = x\n"
                   "aws_expiration = next tuesday\n")
    text = s.config().replace(f"asset_gate_s3_credentials_file {credfile};",
                              f"asset_gate_s3_credentials_file {bad};")
    res = s.nginx_test(text)
    assert res.returncode != 0
    assert "[emerg]" in res.stderr and str(bad) in res.stderr
    assert "line 4: invalid expiration" in res.stderr
    assert re.search(r"nginx\.conf:\d+", res.stderr), res.stderr
    s.write_config()  # the running stack's own configuration back for the teardown


def test_a_removed_file_keeps_the_last_good_set_and_is_logged_once(verifier, workdir, request):
    credfile = workdir / "s3-credentials"
    write_credentials(credfile, SECRET_A, TOKEN_A)
    verifier.credentials = {ACCESS_KEY: [(SECRET_A, TOKEN_A, None), (SECRET_B, TOKEN_B, None)]}
    s = s3_stack(request, verifier, credfile, workers=1)
    assert proxied(s).status == 200
    mark = verifier.mark()
    credfile.unlink()
    deadline = time.time() + 3.5  # several checks while it is gone
    while time.time() < deadline:
        assert proxied(s).status == 200
        time.sleep(0.1)
    assert {r.token for r in verifier.since(mark)} == {TOKEN_A}
    lines = error_lines(s, "cannot stat the S3 credentials file")
    assert len(lines) == 1, lines
    assert "[error]" in lines[0] and str(credfile) in lines[0]
    # Back, with another set: taken at once, and the removal is not logged again.
    write_credentials(credfile, SECRET_B, TOKEN_B)
    wait_for(lambda: proxied(s).status == 200 and verifier.since(0)[-1].token == TOKEN_B, 10,
             "the file back")
    assert len(error_lines(s, "cannot stat the S3 credentials file")) == 1
