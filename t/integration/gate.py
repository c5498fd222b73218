"""Test fixtures for asset_gate: a real redis-server and a real nginx (master + 2 workers)
loading the built module, on loopback ports chosen at run time, in a private directory.

Every stack fails its test at teardown if the error log shows a crashed worker or an
[alert]/[emerg] line."""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import jwt
import redis

REPO = Path(__file__).resolve().parents[2]
NGINX = os.environ.get("ASSET_GATE_NGINX", "/usr/sbin/nginx")
REDIS_SERVER = os.environ.get("ASSET_GATE_REDIS_SERVER", "/usr/bin/redis-server")
MODULE = Path(os.environ.get("ASSET_GATE_MODULE", REPO / "build" / "ngx_http_asset_gate_module.so")).resolve()
AUDIENCE = "posthog:exported_asset"
KEY = "integration-current-signing-key-0123456789abcdef"
OLD_KEY = "integration-previous-signing-key-fedcba9876543210"
PNG = b"\x89PNG\r\n\x1a\n" + b"asset-gate-integration"
FILE = "/exporter/export-weekly-report-2026-05-27-101010.png"


def _port_range():
    """Ports below the kernel's ephemeral range: an outgoing connection's source port (a test
    client's, a worker's to Redis) can never take one between free_port() and the bind."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 2048)
    return max(1024, low - 12000), low


_PORTS_LOW, _PORTS_HIGH = _port_range()
_next_port = _PORTS_LOW + (os.getpid() * 7919) % (_PORTS_HIGH - _PORTS_LOW)


def free_port() -> int:
    """A loopback port nothing listens on, never the same one twice in a row: bind(0) can hand
    back the port it gave the previous caller, so two services set up together (a stack's nginx
    and its Redis) could be given one port. This walks the range instead, so a port comes back
    only after every other one has been handed out."""
    global _next_port
    for _ in range(_PORTS_HIGH - _PORTS_LOW):
        port = _next_port
        _next_port = _PORTS_LOW + (port + 1 - _PORTS_LOW) % (_PORTS_HIGH - _PORTS_LOW)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_PORTS_LOW}-{_PORTS_HIGH - 1}")


def wait_port(port, proc=None, what="service", timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


def mint(asset_id, purpose=None, key=KEY, exp_in=3600, aud=AUDIENCE, extra=None, headers=None,
         algorithm="HS256"):
    claims = {"id": asset_id, "exp": int(time.time()) + exp_in, "aud": aud}
    if purpose is not None:
        claims["purpose"] = purpose
    if extra:
        claims.update(extra)
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def header(self, name):
        return self.headers.get(name.lower())

    def all(self, name):
        return [v for k, v in self.raw if k.lower() == name.lower()]


class Redis:
    """A private redis-server on a free loopback port (or a unix socket)."""

    def __init__(self, directory: Path, password=None, port=None, unix=False):
        self.dir = directory
        self.port = port or free_port()
        self.password = password
        self.socket = str(directory / "redis.sock") if unix else None
        self.bind = ["127.0.0.1"]  # the test's own client connects to the first
        self.proc = None

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", *self.bind, "--save", "",
                "--appendonly", "no", "--dir", str(self.dir)]
        if self.password:
            args += ["--requirepass", self.password]
        if self.socket:
            args += ["--unixsocket", self.socket, "--unixsocketperm", "777"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "redis-server")
        self.client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                                  decode_responses=True)
        return self

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(timeout=10)

    def commands(self, name):
        """How many times Redis has run command `name` (INFO commandstats)."""
        stats = self.client.info("commandstats")
        return stats.get(f"cmdstat_{name.lower()}", {}).get("calls", 0)

    def total_lookups(self):
        return self.commands("hgetall")

    def log_every_command(self):
        """Has the server keep every command from now on, with its arguments, in its SLOWLOG
        (threshold 0). Unlike MONITOR, which Redis 8.0.2 and Valkey 8.1 do not feed with a
        command that CLIENT PAUSE held back, the SLOWLOG has each command once it has run."""
        self.client.config_set("slowlog-max-len", 100000)
        self.client.config_set("slowlog-log-slower-than", 0)
        self.client.slowlog_reset()

    def logged(self, command, key_prefix=""):
        """Top-level calls of `command` (not those scripts make) whose first argument starts
        with `key_prefix`, run since log_every_command()."""
        commands = [e["command"] for e in self.client.slowlog_get(100000)]
        # bytes even with decode_responses, in the redis-py versions tested
        args = [(c.decode() if isinstance(c, bytes) else c).split(" ") for c in commands]
        return sum(1 for a in args if a[0].upper() == command.upper()
                   and len(a) > 1 and a[1].startswith(key_prefix))


class Stack:
    """One redis-server and one nginx with a gate at /exporter.

    `location_extra`, `http_extra`, `server_extra` add configuration; `gate` replaces the
    gate location's directives wholesale when a test needs full control."""

    def __init__(self, keys=(KEY, OLD_KEY), http_extra="", server_extra="", location_extra="",
                 cache=True, cache_valid="5s", cache_negative="2s", redis_failure=None,
                 redis_timeout="300ms", workers=2, redis_addr=None, redis_password=None,
                 redis_unix=False, gate=None, start_redis=True, log_format=None):
        self.dir = Path(tempfile.mkdtemp(prefix="asset-gate-t-"))
        self.dir.chmod(0o755)
        self.root = self.dir / "www"
        self.root.mkdir()
        self.root.chmod(0o755)
        self.keys = keys
        self.http_extra = http_extra
        self.server_extra = server_extra
        self.location_extra = location_extra
        self.cache = cache
        self.cache_valid = cache_valid
        self.cache_negative = cache_negative
        self.redis_failure = redis_failure
        self.redis_timeout = redis_timeout
        self.workers = workers
        self.gate = gate
        self.log_format = log_format
        self.port = free_port()
        self.redis = Redis(self.dir, password=redis_password, unix=redis_unix)
        self.redis_addr = redis_addr
        self.redis_password = redis_password
        self.start_redis_first = start_redis
        self.nginx_proc = None
        self.keyfile = self.dir / "keys"

    # -- services -------------------------------------------------------------------
    def start(self):
        if self.start_redis_first:
            self.redis.start()
        self.write_config()
        self.nginx_proc = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "nginx.stderr", "w"))
        wait_port(self.port, self.nginx_proc, "nginx")
        # The listener is up before every worker has forked: tests that compare worker pids
        # (a replaced worker means a crash) need all of them first.
        deadline = time.monotonic() + 10
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self):
        if self.nginx_proc and self.nginx_proc.poll() is None:
            self.nginx_proc.send_signal(signal.SIGQUIT)
            try:
                self.nginx_proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.nginx_proc.kill()
                self.nginx_proc.wait()
                raise AssertionError("nginx did not exit within 15 s of SIGQUIT")
        self.redis.stop()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def reload(self):
        self.write_config()
        subprocess.run([NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-s", "reload"],
                       check=True, capture_output=True)

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.nginx_proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.dir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def assert_healthy(self):
        log = self.error_log()
        bad = [line for line in log.splitlines()
               if "exited on signal" in line or "[alert]" in line or "[emerg]" in line]
        assert not bad, "error log shows trouble:\n" + "\n".join(bad[:20])

    # -- configuration ----------------------------------------------------------------
    def write_keys(self):
        self.keyfile.write_text("".join(k + "\n" for k in self.keys))
        self.keyfile.chmod(0o600)

    def redis_directive(self):
        if self.redis_addr:
            return self.redis_addr
        if self.redis.socket:
            return f"unix:{self.redis.socket}"
        return f"127.0.0.1:{self.redis.port}"

    def config(self) -> str:
        self.write_keys()
        cache = ""
        if self.cache:
            cache = (f"asset_gate_cache_zone asset_gate_t:1m;\n"
                     f"    asset_gate_cache_valid {self.cache_valid};\n"
                     f"    asset_gate_cache_negative {self.cache_negative};")
        failure = f"asset_gate_redis_failure {self.redis_failure};" if self.redis_failure else ""
        password = f"asset_gate_redis_password {self.redis_password};" if self.redis_password else ""
        gate = self.gate if self.gate is not None else f"""
            asset_gate on;
            asset_gate_key_file {self.keyfile};
            asset_gate_render @render;
            asset_gate_content @content;
            add_header X-Reason $asset_gate_reason always;
            {self.location_extra}"""
        log_format = self.log_format or '$request $status reason=$asset_gate_reason id=$asset_gate_id purpose=$asset_gate_purpose surface=$asset_gate_surface org=$asset_gate_org format=$asset_gate_format location=$asset_gate_location filename=$asset_gate_filename'
        return f"""{self.preamble()}
http {{
    log_format gate '{log_format}';
    access_log {self.dir}/access.log gate;
    {self.temp_paths()}
    asset_gate_redis {self.redis_directive()};
    asset_gate_redis_timeout {self.redis_timeout};
    {password}
    {cache}
    {failure}
    {self.http_extra}
    server {{
        listen 127.0.0.1:{self.port};
        location ^~ /exporter {{
            {gate}
        }}
        location @render {{
            add_header X-Surface render;
            add_header X-Reason $asset_gate_reason always;
            return 200 "render page for asset $asset_gate_id purpose $asset_gate_purpose\\n";
        }}
        location @content {{
            root {self.root};
            add_header X-Reason $asset_gate_reason always;
            try_files /$asset_gate_location =404;
        }}
        location = /whoami {{
            return 200 "plain location\\n";
        }}
        {self.server_extra}
    }}
}}
"""

    def preamble(self) -> str:
        """The main context: the module loaded, the stack's workers, logs and pid file."""
        return f"""
load_module {MODULE};
daemon off;
master_process on;
worker_processes {self.workers};
error_log {self.dir}/error.log info;
pid {self.dir}/nginx.pid;
events {{ worker_connections 1024; }}"""

    def temp_paths(self) -> str:
        """The http context's temporary directories, inside the stack's own."""
        return "\n    ".join(f"{kind}_temp_path {self.dir}/{where};" for kind, where in (
            ("client_body", "client_body"), ("proxy", "proxy"), ("fastcgi", "fastcgi"),
            ("uwsgi", "uwsgi"), ("scgi", "scgi")))

    def write_config(self):
        (self.dir / "nginx.conf").write_text(self.config())

    def nginx_test(self, conf_text=None) -> subprocess.CompletedProcess:
        path = self.dir / "nginx.conf"
        if conf_text is not None:
            path.write_text(conf_text)
        return subprocess.run([NGINX, "-t", "-p", str(self.dir), "-c", str(path)],
                              capture_output=True, text=True)

    # -- data ---------------------------------------------------------------------------
    def put_asset(self, asset_id, org="org-1", fmt="image/png", location=None, filename=None,
                  expires_at=None, content=PNG, prefix=""):
        if location is None:
            location = f"exports/{fmt.split('/')[1]}/team-1/task-{asset_id}/blob"
        fields = {"org": org, "format": fmt, "location": location}
        if filename is not None:
            fields["filename"] = filename
        if expires_at is not None:
            fields["expires_at"] = str(expires_at)
        self.redis.client.delete(f"{prefix}asset:{asset_id}")
        self.redis.client.hset(f"{prefix}asset:{asset_id}", mapping=fields)
        if content is not None:
            path = self.root / location
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return location

    def put_org(self, org="org-1", security_settings=True, allow_public=True, prefix=""):
        self.redis.client.hset(f"{prefix}org:{org}", mapping={
            "security_settings": "1" if security_settings else "0",
            "allow_public": "1" if allow_public else "0",
        })

    # -- requests -------------------------------------------------------------------------
    def request(self, raw_path, method="GET", headers=None, timeout=10):
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, raw_path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            r = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body,
                         time.monotonic() - started)
            r.raw = resp.getheaders()
            return r
        finally:
            conn.close()

    def content(self, asset_id, purpose=None, name=None, **kw):
        return self.request(f"{name or FILE}?token={mint(asset_id, purpose, **kw)}")

    def render(self, asset_id, purpose=None, **kw):
        return self.request(f"/exporter?token={mint(asset_id, purpose, **kw)}")
