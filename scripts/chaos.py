#!/usr/bin/python3
"""asset_gate under faults: a consistency run (`make chaos CHAOS_SECONDS=120`).

It starts its own Redis deployment (a master with AOF, one replica, three sentinels) and two
nginx instances with the gate (2 workers each, a cache zone each, the invalidation channel,
`asset_gate_redis sentinel:...`), drives a few hundred keep-alive requests per second at them
and, meanwhile, runs a seeded schedule of changes and faults:

  changes  org sharing switched (HSET org:ORG allow_public 0|1), assets deleted and
           recreated, expires_at moved (past, near future, cleared); each in one MULTI with
           its `PUBLISH <channel> <key>`, often in bursts (a second change to the same key
           0.5-40 ms after the first, so that invalidations meet lookups in flight)
  faults   Redis master killed (-9) and restarted, SENTINEL FAILOVER, kill -9 of the master
           (a failover the sentinels decide), CLIENT PAUSE ALL and CLIENT PAUSE WRITE,
           `nginx -s reload` of one instance every few seconds

Every answer is then judged against the driver's timeline of what the records said (see
`Oracle` for the rules and the allowances, which are printed). Anything else is a WRONG
answer; the exit status is 1 when there is any (or when a worker crashed), 0 otherwise.
Figures (propagation delays, 503s per fault, worker memory) are printed, never judged.

    scripts/chaos.py [--seconds 120] [--seed 7] [--rate 300] [--clients 8] [--window-ms 100]
"""

import argparse
import bisect
import collections
import hashlib
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jwt
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "t" / "integration"))
from fleet import MASTER_NAME, Sentinel, Server  # noqa: E402  (the test suite's sentinel process)
from gate import free_port, wait_port  # noqa: E402

MODULE = REPO / "build" / "ngx_http_asset_gate_module.so"
NGINX = "/usr/sbin/nginx"
REDIS_SERVER = "/usr/bin/redis-server"
KEY = "chaos-current-signing-key-0123456789abcdef"
AUDIENCE = "posthog:exported_asset"
CHANNEL = "asset_gate:invalidate"
INSTANCES = ("A", "B")
WORKERS = 2
SUBSCRIBERS = len(INSTANCES) * WORKERS  # one subscriber connection per worker

# The gate's settings in this run, and the constants of src/ngx/redis_connection.cpp and
# src/ngx/redis_sentinel.cpp that bound its recovery.
CACHE_VALID = 5.0  # asset_gate_cache_valid
CACHE_NEGATIVE = 2.0  # asset_gate_cache_negative
REDIS_TIMEOUT = 0.2  # asset_gate_redis_timeout (the default)
BACKOFF_MAX = 3.0  # kBackoffMax: the longest reconnect delay
SENTINEL_REQUERY = 1.0  # kSentinelRequeryGap: at most one re-query of the sentinels a second
SLACK = 0.5  # scheduling on two shared cores
GRACE = BACKOFF_MAX + REDIS_TIMEOUT + SLACK  # 503s allowed this long after Redis came back
GRACE_FAILOVER = GRACE + SENTINEL_REQUERY
STALE_MARGIN = 0.25  # nginx's cached clock and timer granularity, on top of cache_valid
DOWN_AFTER_MS = 2000  # sentinel down-after-milliseconds: longer than a kill-and-restart
FAILOVER_TIMEOUT_MS = 3000

ORGS = {  # org: (security_settings, initial allow_public)
    "org-a": ("1", "1"),
    "org-b": ("1", "1"),
    "org-c": ("1", "0"),
    "org-n": ("0", "0"),  # no security-settings feature: its switch changes nothing
}
ASSETS = {  # id: (org, format, extension)
    1001: ("org-a", "image/png", "png"),
    1002: ("org-a", "application/pdf", "pdf"),
    1003: ("org-b", "image/png", "png"),
    1004: ("org-b", "text/csv", "csv"),
    1005: ("org-c", "image/png", "png"),
    1006: ("org-c", "image/png", "png"),
    1007: ("org-n", "image/png", "png"),
    1008: ("org-n", "application/pdf", "pdf"),
}


def mono():
    return time.monotonic()


def mint(asset_id, purpose=None):
    claims = {"id": asset_id, "exp": int(time.time()) + 86400, "aud": AUDIENCE}
    if purpose:
        claims["purpose"] = purpose
    return jwt.encode(claims, KEY, algorithm="HS256")


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def ms(v):
    return "-" if v is None else f"{v * 1000:.1f}"


def frozen(d):
    return None if d is None else tuple(sorted(d.items()))


# -- processes -------------------------------------------------------------------------------

class RedisNode(Server):
    """A redis-server whose acknowledged writes survive kill -9 (AOF, fsync always), so that
    the driver's timeline stays what Redis holds across restarts and failovers."""

    def __init__(self, root: Path, name):
        super().__init__(root, name, durable=True, timeout=2)
        self.starts = 0

    def start(self, replicaof=None):
        self.replicaof = replicaof  # None: start as a master, whatever it was before
        super().start()
        self.starts += 1
        return self

    def ready(self):
        try:
            return self.client.ping() and self.client.info("persistence").get("loading") == 0
        except redis.RedisError:
            return False


class Gate:
    """One nginx instance (master + 2 workers) with the gate at /exporter."""

    def __init__(self, root: Path, name, redis_addr, www: Path, keyfile: Path):
        self.name = name
        self.dir = root / f"nginx-{name}"
        self.dir.mkdir()
        self.dir.chmod(0o755)
        self.port = free_port()
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(f"""
load_module {MODULE};
daemon off;
master_process on;
worker_processes {WORKERS};
error_log {self.dir}/error.log notice;
pid {self.dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    asset_gate_redis {redis_addr};
    asset_gate_redis_timeout {int(REDIS_TIMEOUT * 1000)}ms;
    asset_gate_invalidation_channel {CHANNEL};
    asset_gate_cache_zone chaos_{name}:4m;
    asset_gate_cache_valid {int(CACHE_VALID)}s;
    asset_gate_cache_negative {int(CACHE_NEGATIVE)}s;
    server {{
        listen 127.0.0.1:{self.port};
        location ^~ /exporter {{
            asset_gate on;
            asset_gate_key_file {keyfile};
            asset_gate_render @render;
            asset_gate_content @content;
            add_header X-Reason $asset_gate_reason always;
        }}
        location @render {{
            add_header X-Reason $asset_gate_reason always;
            return 200 "render page for asset $asset_gate_id\\n";
        }}
        location @content {{
            root {www};
            add_header X-Reason $asset_gate_reason always;
            try_files /$asset_gate_location =404;
        }}
    }}
}}
""")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "nginx.stderr", "w"))
        wait_port(self.port, self.proc, f"nginx {self.name}")
        return self

    def reload(self):
        subprocess.run([NGINX, "-p", str(self.dir), "-c", str(self.conf), "-s", "reload"],
                       check=True, capture_output=True, timeout=10)

    def children(self):
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def workers(self):
        """The current workers (not the ones a reload is shutting down)."""
        out = []
        for pid in self.children():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"shutting down" not in cmd:
                out.append(pid)
        return out

    def rss_kib(self):
        total = 0
        for pid in self.workers():
            try:
                m = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
            except OSError:
                continue
            total += int(m.group(1)) if m else 0
        return total

    def error_log(self):
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- what is requested -----------------------------------------------------------------------

class Target:
    """One kind of request: a token on a surface, and the records its answer depends on."""

    def __init__(self, idx, label, asset, purpose, path, keys, const=None, needs_redis=True):
        self.idx = idx
        self.label = label
        self.asset = asset
        self.purpose = purpose
        self.path = path
        self.request = f"GET {path} HTTP/1.1\r\nHost: chaos\r\n\r\n".encode()
        self.keys = keys  # ("asset:ID",) or ("asset:ID", "org:ORG")
        self.kind = label.rsplit(" ", 1)[0] if label[-1].isdigit() else label
        self.const = const  # an answer that holds whatever the records say
        self.needs_redis = needs_redis  # False: decided before any lookup (never a 503)


def build_targets():
    targets = []

    def add(*a, **kw):
        targets.append(Target(len(targets), *a, **kw))

    for aid, (org, _fmt, ext) in ASSETS.items():
        pub, sd, rnd = mint(aid), mint(aid, "subscription_delivery"), mint(aid, "render")
        name = f"/exporter/export-chaos-{aid}.{ext}"
        akey, okey = f"asset:{aid}", f"org:{org}"
        add(f"public render {aid}", aid, "public", f"/exporter?token={pub}", (akey, okey))
        add(f"public content {aid}", aid, "public", f"{name}?token={pub}", (akey, okey))
        add(f"subscription_delivery content {aid}", aid, "subscription_delivery",
            f"{name}?token={sd}", (akey,))
        add(f"render render {aid}", aid, "render", f"/exporter?token={rnd}", (akey,))
    # Answers that no record changes: refusals the gate decides with or without Redis.
    sd = mint(1001, "subscription_delivery")
    add("subscription_delivery on the render surface (purpose_surface)", 1001, "const",
        f"/exporter?token={sd}", (), const=404, needs_redis=False)
    pub = mint(1003)
    bad = pub[:-2] + ("AA" if pub[-2:] != "AA" else "BB")
    add("bad signature", 1003, "const", f"/exporter?token={bad}", (), const=404, needs_redis=False)
    add("public content with the wrong extension (extension_mismatch)", 1003, "const",
        f"/exporter/export-chaos-1003.pdf?token={pub}", (), const=404)
    return targets


def expected(target, asset, org, wall):
    """The gate's answer when the records are `asset` and `org` at unix time `wall`
    (DESIGN.md sections 3-4)."""
    if target.const is not None:
        return target.const
    if asset is None:
        return 404
    a = dict(asset)
    exp = int(a.get("expires_at", "0") or 0)
    if exp and exp <= wall:  # the gate: expires_at <= now (integer seconds)
        return 404
    if target.purpose == "public":
        if org is None:
            return 404
        o = dict(org)
        if o.get("security_settings") == "1" and o.get("allow_public", "1") == "0":
            return 404
    return 200


# -- the driver's record of what it changed --------------------------------------------------

class Version:
    """One value of one key: Redis held it from some instant in [t_start, t_commit] (the
    writer's call) until the next version's t_start..t_commit."""

    __slots__ = ("key", "t_start", "t_commit", "value", "kind", "receivers", "sub_down",
                 "why_down", "cid", "prev")

    def __init__(self, key, t_start, t_commit, value, kind, receivers, cid, prev):
        self.key = key
        self.t_start = t_start
        self.t_commit = t_commit
        self.value = value
        self.kind = kind
        self.receivers = receivers
        self.sub_down = False
        self.why_down = ""
        self.cid = cid
        self.prev = prev


class Timeline:
    def __init__(self):
        self.versions = collections.defaultdict(list)
        self.commits = collections.defaultdict(list)
        self.changes = []
        self.lock = threading.Lock()

    def initial(self, key, value):
        v = Version(key, float("-inf"), float("-inf"), frozen(value), "initial", None, -1, None)
        self.versions[key].append(v)
        self.commits[key].append(v.t_commit)

    def current(self, key):
        return self.versions[key][-1].value

    def record(self, key, t_start, t_commit, value, kind, receivers):
        with self.lock:
            prev = self.versions[key][-1]
            v = Version(key, t_start, t_commit, frozen(value), kind, receivers,
                        len(self.changes), prev)
            self.versions[key].append(v)
            self.commits[key].append(t_commit)
            self.changes.append(v)
            return v

    def possible(self, key, p):
        """The values Redis may have held for `key` at instant p."""
        vs = self.versions[key]
        i = bisect.bisect_right(self.commits[key], p) - 1
        out = {vs[i].value}
        for v in vs[i + 1:]:
            if v.t_start > p:
                break
            out.add(v.value)  # being written at p: old or new
        return out

    def points(self, key, a, b):
        """Instants in (a, b] where `key` may change."""
        out = []
        for v in self.versions[key][1:]:
            for t in (v.t_start, v.t_commit):
                if a < t <= b:
                    out.append(t)
        return out

    def values_between(self, key, a, b):
        vs = self.versions[key]
        i = bisect.bisect_right(self.commits[key], a) - 1
        out = [vs[i]]
        for v in vs[i + 1:]:
            if v.t_start > b:
                break
            out.append(v)
        return out

    def in_effect(self, key, t):
        i = bisect.bisect_right(self.commits[key], t) - 1
        return self.versions[key][i]


class Window:
    """A fault: from its onset until Redis was back (recovered), plus the grace in which 503s
    still count as the fault's (`outage`); or not an outage at all (CLIENT PAUSE WRITE, reload)."""

    def __init__(self, kind, onset, recovered, grace, outage, note=""):
        self.kind = kind
        self.onset = onset
        self.recovered = recovered
        self.grace = grace
        self.outage = outage
        self.note = note

    @property
    def end(self):
        return self.recovered + self.grace


# -- traffic ---------------------------------------------------------------------------------

class Answer:
    __slots__ = ("inst", "target", "t_send", "t_recv", "status", "reason")

    def __init__(self, inst, target, t_send, t_recv, status, reason):
        self.inst = inst
        self.target = target
        self.t_send = t_send
        self.t_recv = t_recv
        self.status = status
        self.reason = reason


class NoAnswer(Exception):
    pass


def read_response(sock):
    """(status, X-Reason, connection closes) of one HTTP/1.1 response on `sock`."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(len(buf))
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if b"content-length" in headers:
        n = int(headers[b"content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError(len(buf))
            rest += chunk
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError(len(buf))
            rest += chunk
    close = headers.get(b"connection", b"").lower() == b"close"
    return status, headers.get(b"x-reason", b"").decode(), close


class Client(threading.Thread):
    """One keep-alive connection to one instance, paced to `rate` requests a second. A request
    that meets a keep-alive connection the server just closed (a reload) is sent again on a
    new connection, once, as any HTTP client does for an idempotent GET."""

    def __init__(self, i, inst, port, targets, rate, seed, hot, stop):
        super().__init__(name=f"client-{i}", daemon=True)
        self.inst = inst
        self.port = port
        self.targets = targets
        self.interval = 1.0 / rate
        self.rng = random.Random(seed * 1009 + i)
        self.hot = hot
        self.stop_ev = stop
        self.answers = []
        self.retries = 0
        self.errors = collections.Counter()
        self.sock = None

    def pick(self):
        """Half the requests go to the links the latest changes affect (while they are fresh,
        or around the instant an expires_at passes): propagation is then measured to within
        a few milliseconds, and lookups are in flight when the next change comes."""
        now = mono()
        hot = [e[2] for e in self.hot[-4:] if e[0] <= now < e[1]]
        if hot and self.rng.random() < 0.5:
            return self.targets[self.rng.choice(hot[self.rng.randrange(len(hot))])]
        return self.targets[self.rng.randrange(len(self.targets))]

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def one(self, target):
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                try:
                    self.connect()
                except OSError as e:
                    raise NoAnswer(f"connect: {e}") from e
            t_send = mono()
            try:
                self.sock.sendall(target.request)
                status, reason, close = read_response(self.sock)
            except socket.timeout as e:
                self.close()
                raise NoAnswer(f"no answer within 5 s (sent at {t_send:.3f})") from e
            except (EOFError, ConnectionError, BrokenPipeError) as e:
                self.close()
                nothing_read = isinstance(e, EOFError) and e.args and e.args[0] == 0
                if attempt == 0 and not fresh and (nothing_read or not isinstance(e, EOFError)):
                    self.retries += 1
                    continue
                raise NoAnswer(f"{type(e).__name__}: {e}") from e
            t_recv = mono()
            if close:
                self.close()
            return Answer(self.inst, target.idx, t_send, t_recv, status, reason)
        raise NoAnswer("unreachable")

    def run(self):
        next_at = mono()
        while not self.stop_ev.is_set():
            target = self.pick()
            t0 = mono()
            try:
                self.answers.append(self.one(target))
            except NoAnswer as e:
                self.errors[str(e)[:80]] += 1
                self.answers.append(Answer(self.inst, target.idx, t0, mono(), None, str(e)))
            next_at += self.interval
            delay = next_at - mono()
            if delay > 0:
                self.stop_ev.wait(delay)
            elif delay < -1.0:
                next_at = mono()  # fell behind (a slow answer): do not burst to catch up
        self.close()


# -- the schedule ----------------------------------------------------------------------------

FAULT_KINDS = ("redis_restart", "failover_clean", "failover_kill9", "pause_all", "pause_write")


def burst_gap(rng):
    """The second change of a burst: a third come at once (0.5-2 ms, while the lookups the
    first one's invalidation caused may still be in flight), the rest 5-40 ms later."""
    return rng.uniform(0.0005, 0.002) if rng.random() < 1 / 3 else rng.uniform(0.005, 0.04)


def build_schedule(seed, seconds, kinds=FAULT_KINDS, reload=True):
    """[(t, action, params)]: changes every 0.25-0.9 s (a third of them in bursts of two),
    a Redis fault every 9-13 s (each kind in turn, shuffled), from a seeded generator, so
    that a seed always produces the same sequence of changes and faults."""
    rng = random.Random(seed)
    events = []
    allow = {o: a for o, (_s, a) in ORGS.items()}
    deleted = {a: False for a in ASSETS}
    expiring = {a: False for a in ASSETS}
    t = 1.0
    while t < seconds - 3.0:
        r = rng.random()
        if r < 0.45:
            o = rng.choice(sorted(ORGS))
            allow[o] = "0" if allow[o] == "1" else "1"
            events.append((t, "org", (o, allow[o])))
            if rng.random() < 0.35:  # switched back at once
                allow[o] = "0" if allow[o] == "1" else "1"
                events.append((t + burst_gap(rng), "org", (o, allow[o])))
        elif r < 0.75:
            a = rng.choice(sorted(ASSETS))
            if deleted[a]:
                events.append((t, "recreate", (a,)))
                deleted[a] = expiring[a] = False
            else:
                events.append((t, "delete", (a,)))
                deleted[a] = True
                if rng.random() < 0.5:  # deleted and recreated at once
                    events.append((t + burst_gap(rng), "recreate", (a,)))
                    deleted[a] = expiring[a] = False
        else:
            live = [a for a in sorted(ASSETS) if not deleted[a]]
            if live:
                a = rng.choice(live)
                if expiring[a]:
                    events.append((t, "expires", (a, None)))  # cleared
                    expiring[a] = False
                else:
                    delta = -3600 if rng.random() < 0.3 else rng.choice((2, 3, 4))
                    events.append((t, "expires", (a, delta)))
                    expiring[a] = True
                    if rng.random() < 0.25:  # moved again at once
                        events.append((t + burst_gap(rng), "expires",
                                       (a, rng.choice((2, 3, 4, -3600)))))
        t += rng.uniform(0.25, 0.9)

    faults = []
    t = 6.0
    while t < seconds - 8.0:
        if not faults or len(faults) % len(kinds) == 0:
            cycle = list(kinds)
            rng.shuffle(cycle)
        kind = cycle[len(faults) % len(kinds)]
        if kind == "redis_restart":
            params = (round(rng.uniform(0.2, 0.6), 3),)  # seconds down
        elif kind == "pause_all":
            params = (int(rng.uniform(200, 600)),)  # ms
        elif kind == "pause_write":  # reads go on: no need to keep it short
            params = (int(rng.uniform(1000, 2500)),)
        else:
            params = ()
        faults.append((t, "fault", (kind,) + params))
        t += rng.uniform(9.0, 13.0)
    events += faults
    events.sort(key=lambda e: e[0])

    reloads = []
    t = rng.uniform(2.0, 4.0)
    inst = rng.randrange(len(INSTANCES))
    while reload and t < seconds - 1.0:
        reloads.append((t, INSTANCES[inst]))
        inst = (inst + 1) % len(INSTANCES)
        t += rng.uniform(3.0, 6.0)
    return events, reloads


# -- the run ---------------------------------------------------------------------------------

class Chaos:
    def __init__(self, args):
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="asset-gate-chaos-"))
        self.root.chmod(0o755)
        self.www = self.root / "www"
        self.nodes = []
        self.sentinels = []
        self.gates = {}
        self.master = None
        self.timeline = Timeline()
        self.windows = []
        self.reload_windows = collections.defaultdict(list)  # instance -> [(issued, old gone)]
        self.log_lines = []
        self.hot = []  # (from, until, target indices): links to favour
        self.stop_traffic = threading.Event()
        self.stop_chaos = threading.Event()
        self.skipped = collections.Counter()
        self.late = []
        self.t0 = None
        self.problems = []

    def log(self, text):
        t = mono() - self.t0 if self.t0 else 0.0
        line = f"  [{t:7.3f}] {text}"
        self.log_lines.append(line)
        if self.args.verbose:
            print(line, flush=True)

    def rel(self, t):
        return t - self.t0

    # -- set-up -----------------------------------------------------------------------------
    def start(self):
        for aid, (_org, _fmt, ext) in ASSETS.items():
            p = self.www / f"exports/{ext}/{aid}/blob"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"chaos asset %d\n" % aid)
        for p in [self.www, *self.www.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        keyfile = self.root / "keys"
        keyfile.write_text(KEY + "\n")
        keyfile.chmod(0o644)

        # Each process joins the teardown lists before it starts: one that fails half-way
        # through start() is still stopped.
        a, b = RedisNode(self.root, "redis-1"), RedisNode(self.root, "redis-2")
        self.nodes = [a, b]
        a.start()
        b.start(replicaof=a.port)
        self.master = a
        deadline = mono() + 10
        while b.client.info("replication").get("master_link_status") != "up":
            if mono() > deadline:
                raise RuntimeError("the replica did not sync")
            time.sleep(0.05)
        for i in range(3):
            self.sentinels.append(Sentinel(self.root, i, a.port, DOWN_AFTER_MS, FAILOVER_TIMEOUT_MS))
            self.sentinels[-1].start()
        if not self.wait_replica_ready(20):
            raise RuntimeError("the sentinels did not settle")

        for key, value in self.initial_records().items():
            a.client.hset(key, mapping=value)
            self.timeline.initial(key, value)
        a.client.wait(1, 2000)

        addr = "sentinel:%s@%s" % (MASTER_NAME, ",".join(f"127.0.0.1:{s.port}"
                                                         for s in self.sentinels))
        self.redis_addr = addr
        for name in INSTANCES:
            self.gates[name] = Gate(self.root, name, addr, self.www, keyfile)
            self.gates[name].start()
        deadline = mono() + 10
        while a.client.execute_command("PUBSUB", "NUMSUB", CHANNEL)[1] < SUBSCRIBERS:
            if mono() > deadline:
                raise RuntimeError("the workers did not subscribe to the invalidation channel")
            time.sleep(0.05)

    @staticmethod
    def asset_record(aid):
        org, fmt, ext = ASSETS[aid]
        return {"org": org, "format": fmt, "location": f"exports/{ext}/{aid}/blob",
                "filename": f"export-chaos-{aid}.{ext}"}

    def initial_records(self):
        out = {}
        for o, (sec, allow) in ORGS.items():
            out[f"org:{o}"] = {"security_settings": sec, "allow_public": allow}
        for aid in ASSETS:
            out[f"asset:{aid}"] = self.asset_record(aid)
        return out

    def stop(self):
        for g in self.gates.values():
            g.stop()
        for s in self.sentinels:
            s.stop()
        for n in self.nodes:
            n.stop()

    # -- Redis as the sentinels see it ------------------------------------------------------
    def node_on(self, port):
        return next((n for n in self.nodes if n.port == port), None)

    def other(self, node):
        return next(n for n in self.nodes if n is not node)

    def named_master(self):
        """The node every sentinel names, when they agree and it says it is a master."""
        ports = set()
        for s in self.sentinels:
            try:
                addr = s.master_addr()
            except redis.RedisError:
                return None
            if addr is None:
                return None
            ports.add(addr[1])
        if len(ports) != 1:
            return None
        node = self.node_on(ports.pop())
        try:
            if node is not None and node.alive() and node.ready() and node.role() == "master":
                return node
        except redis.RedisError:
            pass
        return None

    def wait_master(self, timeout, want=None):
        deadline = mono() + timeout
        while mono() < deadline and not self.stop_chaos.is_set():
            node = self.named_master()
            if node is not None and (want is None or node is want):
                return node
            time.sleep(0.05)
        return None

    def wait_replica_ready(self, timeout):
        """The master's replica is linked and every sentinel knows it: a failover can work."""
        deadline = mono() + timeout
        while mono() < deadline and not self.stop_chaos.is_set():
            try:
                rep = self.other(self.master)
                ok = (rep.alive() and rep.client.info("replication").get("master_link_status") == "up")
                for s in self.sentinels if ok else ():
                    st = s.master_state()
                    if (s.master_addr() != ("127.0.0.1", self.master.port)
                            or int(st["num-other-sentinels"]) != len(self.sentinels) - 1):
                        ok = False
                        break
                    reps = s.client.execute_command("SENTINEL", "replicas", MASTER_NAME)
                    reps = [r if isinstance(r, dict) else dict(zip(r[::2], r[1::2])) for r in reps]
                    if not any(int(r["port"]) == rep.port and "down" not in r["flags"]
                               and "disconnected" not in r["flags"]
                               and r.get("master-link-status") == "ok" for r in reps):
                        ok = False
                        break
                if ok:
                    return True
            except (redis.RedisError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        return False

    # -- changes ----------------------------------------------------------------------------
    def write(self, key, kind, new_value, fields=None):
        """Applies one change with its PUBLISH in one MULTI on the master; records it in the
        timeline with the call's start and return (its commit)."""
        if new_value is None:
            cmds = [("DEL", key)]
        elif fields is not None:
            cmds = [("HSET", key, *sum(fields.items(), ()))]
        else:  # the whole record, as the application writes a new one
            cmds = [("DEL", key), ("HSET", key, *sum(new_value.items(), ()))]
        for attempt in range(3):
            client = self.master.client
            pipe = client.pipeline(transaction=True)
            for c in cmds:
                pipe.execute_command(*c)
            pipe.execute_command("PUBLISH", CHANNEL, key)
            t_start = mono()
            try:
                res = pipe.execute()
                t_commit = mono()
            except redis.RedisError as e:
                # Unknown outcome: find the master again and read back what it holds; the
                # change happened somewhere in [t_start, now].
                self.log(f"write {key} failed ({e}); reading it back")
                node = self.wait_master(20)
                if node is None:
                    raise RuntimeError("no master after a failed write")
                self.master = node
                held = node.client.hgetall(key) or None
                if held == new_value:
                    v = self.timeline.record(key, t_start, mono(), held, kind, None)
                    v.sub_down, v.why_down = True, "the write's outcome was unknown"
                    return v
                if attempt == 2:
                    raise
                continue
            v = self.timeline.record(key, t_start, t_commit, new_value, kind, res[-1])
            acked = client.wait(1, 1000)
            if acked < 1:
                self.log(f"write {key}: the replica did not acknowledge within 1 s")
            return v
        return None

    def change(self, action, params):
        if action == "org":
            org, allow = params
            key = f"org:{org}"
            value = dict(self.timeline.current(key))
            value["allow_public"] = allow
            kind = f"org allow_public={allow}" + ("" if ORGS[org][0] == "1" else " (no feature)")
            v = self.write(key, kind, value, fields={"allow_public": allow})
            affected = [t.idx for t in self.targets if key in t.keys]
        elif action in ("delete", "recreate"):
            (aid,) = params
            key = f"asset:{aid}"
            value = None if action == "delete" else self.asset_record(aid)
            v = self.write(key, "asset deleted" if value is None else "asset recreated", value)
            affected = [t.idx for t in self.targets if key in t.keys]
        else:
            aid, delta = params
            key = f"asset:{aid}"
            cur = self.timeline.current(key)
            if cur is None:
                self.skipped["expires on a deleted asset"] += 1
                return
            value = dict(cur)
            exp = "0" if delta is None else str(int(time.time()) + delta)
            value["expires_at"] = exp
            kind = ("expires_at cleared" if delta is None else
                    "expires_at in the past" if delta < 0 else "expires_at in the near future")
            v = self.write(key, kind, value, fields={"expires_at": exp})
            affected = [t.idx for t in self.targets if key in t.keys]
        if v is not None:
            now = mono()
            self.hot.append((now, now + 1.5, affected))
            if action == "expires" and params[1] is not None and params[1] > 0:
                at = int(value["expires_at"]) - (time.time() - now)  # monotonic instant
                self.hot.append((at - 0.3, at + 1.0, affected))
                self.hot.sort(key=lambda e: e[0])

    # -- faults -----------------------------------------------------------------------------
    def fault(self, kind, *params):
        if kind == "redis_restart":
            m = self.master
            down = params[0]
            t0 = mono()
            m.kill9()
            time.sleep(down)
            m.start()
            deadline = mono() + 10
            while not m.ready() and mono() < deadline:
                time.sleep(0.02)
            node = self.wait_master(30)
            t_rec = mono()
            note = f"down {down:.3f} s"
            if node is None:
                raise RuntimeError("no master after a restart")
            if node is not m:
                note += "; the sentinels failed over meanwhile"
            self.master = node
            self.windows.append(Window(kind, t0, t_rec, GRACE, True, note))
            self.log(f"redis_restart: {m.name} killed and restarted ({note}); "
                     f"back after {t_rec - t0:.3f} s")
        elif kind in ("failover_clean", "failover_kill9"):
            if not self.wait_replica_ready(15):
                self.skipped[f"{kind}: the replica was not ready"] += 1
                self.log(f"{kind}: skipped, the replica was not ready")
                return
            old = self.master
            new = self.other(old)
            t0 = mono()
            if kind == "failover_clean":
                try:
                    self.sentinels[0].client.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
                except redis.RedisError as e:
                    self.skipped[f"{kind}: {e}"] += 1
                    self.log(f"{kind}: refused by the sentinel: {e}")
                    return
            else:
                old.kill9()
            node = self.wait_master(40, want=new)
            t_rec = mono()
            if node is None:
                raise RuntimeError(f"{kind}: the sentinels did not promote {new.name}")
            self.master = new
            if kind == "failover_kill9":
                old.start(replicaof=new.port)
            self.windows.append(Window(kind, t0, t_rec, GRACE_FAILOVER, True,
                                       f"{old.name} -> {new.name}"))
            self.log(f"{kind}: {old.name} -> {new.name} after {t_rec - t0:.3f} s")
        else:
            duration = params[0] / 1000.0
            mode = "ALL" if kind == "pause_all" else "WRITE"
            t0 = mono()
            self.master.client.execute_command("CLIENT", "PAUSE", params[0], mode)
            end = mono() + duration
            # CLIENT PAUSE WRITE holds no read: a read-only gate must not notice it.
            self.windows.append(Window(kind, t0, end, GRACE, kind == "pause_all",
                                       f"{params[0]} ms"))
            self.log(f"{kind}: CLIENT PAUSE {params[0]} {mode}")
            while mono() < end + 0.05:
                time.sleep(0.01)

    def chaos_loop(self, events):
        try:
            for t, action, params in events:
                while not self.stop_chaos.is_set() and mono() < self.t0 + t:
                    time.sleep(min(0.005, max(0.0, self.t0 + t - mono())))
                if self.stop_chaos.is_set():
                    return
                self.late.append(mono() - (self.t0 + t))
                if action == "fault":
                    self.fault(*params)
                else:
                    self.change(action, params)
        except Exception as e:  # noqa: BLE001 - reported; the run is then not trusted
            self.problems.append(f"the chaos thread stopped: {type(e).__name__}: {e}")
            self.log(self.problems[-1])

    def reload_loop(self, reloads):
        try:
            for t, name in reloads:
                while not self.stop_chaos.is_set() and mono() < self.t0 + t:
                    time.sleep(min(0.01, max(0.0, self.t0 + t - mono())))
                if self.stop_chaos.is_set():
                    return
                g = self.gates[name]
                old = set(g.children())
                issued = mono()
                g.reload()
                deadline = mono() + 10
                while set(g.children()) & old and mono() < deadline:
                    time.sleep(0.005)
                gone = mono()
                self.reload_windows[name].append((issued, gone))
                self.windows.append(Window("reload", issued, gone, 1.0, False, name))
        except Exception as e:  # noqa: BLE001
            self.problems.append(f"the reload thread stopped: {type(e).__name__}: {e}")

    def run(self):
        args = self.args
        self.targets = build_targets()
        kinds = tuple(k for k in args.faults.split(",") if k)
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise SystemExit(f"unknown fault kinds: {', '.join(sorted(unknown))}")
        events, reloads = build_schedule(args.seed, args.seconds, kinds or FAULT_KINDS,
                                         not args.no_reload)
        self.start()
        self.wall_offset = time.time() - mono()

        clients = []
        for i in range(args.clients):
            name = INSTANCES[i % len(INSTANCES)]
            clients.append(Client(i, name, self.gates[name].port, self.targets,
                                  args.rate / args.clients, args.seed, self.hot, self.stop_traffic))
        for c in clients:
            c.start()
        time.sleep(2.0)  # warm: workers have met every target once
        rss_start = {n: g.rss_kib() for n, g in self.gates.items()}
        self.t0 = mono()
        threads = [threading.Thread(target=self.chaos_loop, args=(events,), daemon=True),
                   threading.Thread(target=self.reload_loop, args=(reloads,), daemon=True)]
        for t in threads:
            t.start()
        deadline = self.t0 + args.seconds
        while mono() < deadline:
            time.sleep(0.1)
        self.stop_chaos.set()
        for t in threads:
            t.join(timeout=60)
            if t.is_alive():
                self.problems.append(f"{t.name} did not stop within 60 s")
        self.t_end = mono()
        time.sleep(0.5)
        self.stop_traffic.set()
        for c in clients:
            c.join(timeout=15)
        rss_end = {n: g.rss_kib() for n, g in self.gates.items()}
        self.wall_drift = (time.time() - mono()) - self.wall_offset
        logs = {n: g.error_log() for n, g in self.gates.items()}
        return Report(self, clients, events, reloads, rss_start, rss_end, logs).print()


# -- judging the answers ---------------------------------------------------------------------

class Oracle:
    """The rules an answer is judged by; each request knows its send and receive times.

    - 200 / 404: acceptable when the records gave that answer at some instant in
      [send - L, recv], where L is W (the propagation allowance, --window-ms, 100 ms by
      default) unless the answer may legitimately come from a stale cache entry: when a
      change to one of the request's records was committed in [send - cache_valid -
      STALE_MARGIN, recv] while the invalidation could have been missed (its PUBLISH reached
      fewer than every worker's subscription, or a reload of an instance was under way, or
      the write's outcome was unknown), L is cache_valid + STALE_MARGIN.
    - A write is a MULTI (the change and its PUBLISH) on the master: Redis held the new value
      from an instant in [call start, call return]; in between either value is acceptable.
    - expires_at is compared with the wall clock: the instant an expires_at passes is one
      more instant where the answer changes.
    - 503: acceptable only for a request that needs Redis (not a refusal decided before the
      lookup) and whose [send, recv] meets a Redis outage: from a kill, a failover's start or
      CLIENT PAUSE ALL until the driver saw Redis answer again (the sentinels agreeing on a
      master that says it is one, or the pause's end), plus a grace: the gate's longest
      reconnect delay (3 s) + its command timeout (0.2 s) + 0.5 s slack; + 1 s (the
      sentinel re-query gap) after a failover. CLIENT PAUSE WRITE is not an outage: the
      gate only reads. A reload is not an outage either.
    - No answer (a timeout after 5 s, a connection refused or reset twice) is always wrong."""

    def __init__(self, chaos, window):
        self.c = chaos
        self.tl = chaos.timeline
        self.W = window
        self.off = chaos.wall_offset
        self.outages = sorted((w for w in chaos.windows if w.outage), key=lambda w: w.onset)
        self.reloads = [iv for ivs in chaos.reload_windows.values() for iv in ivs]
        self.mark_subscription()

    def mark_subscription(self):
        for v in self.tl.changes:
            if v.sub_down:
                continue
            if v.receivers is not None and v.receivers < SUBSCRIBERS:
                v.sub_down, v.why_down = True, f"its PUBLISH reached {v.receivers} of {SUBSCRIBERS}"
            elif any(a <= v.t_commit + self.W and v.t_start <= b for a, b in self.reloads):
                v.sub_down, v.why_down = True, "a reload was under way"

    def stale_change(self, keys, s, e):
        lo = s - CACHE_VALID - STALE_MARGIN
        for k in keys:
            for v in self.tl.values_between(k, lo, e):
                if v.sub_down and lo <= v.t_commit <= e:
                    return v
        return None

    def outage(self, s, e):
        for w in self.outages:
            if w.onset <= e and s <= w.end:
                return w
        return None

    def judge(self, target, s, e):
        """(acceptable statuses, the lookback applied, the change that called for a longer
        one, the outage window that allows a 503)."""
        if target.const is not None:
            ok = {target.const}
            w = self.outage(s, e) if target.needs_redis else None
            if w is not None:
                ok.add(503)
            return ok, self.W, None, w
        stale = self.stale_change(target.keys, s, e)
        lookback = CACHE_VALID + STALE_MARGIN if stale else self.W
        a = s - lookback
        pts = {a}
        for k in target.keys:
            pts.update(self.tl.points(k, a, e))
            for v in self.tl.values_between(k, a, e):
                if v.value is not None and k.startswith("asset:"):
                    exp = int(dict(v.value).get("expires_at", "0") or 0)
                    if exp and a < exp - self.off <= e:
                        pts.add(exp - self.off)
        akey = target.keys[0]
        okey = target.keys[1] if len(target.keys) > 1 else None
        ok = set()
        for p in pts:
            wall = p + self.off
            orgs = self.tl.possible(okey, p) if okey else {None}
            for av in self.tl.possible(akey, p):
                for ov in orgs:
                    ok.add(expected(target, av, ov, wall))
        w = self.outage(s, e)
        if w is not None:
            ok.add(503)
        return ok, lookback, stale, w


class Report:
    def __init__(self, chaos, clients, events, reloads, rss_start, rss_end, logs):
        self.c = chaos
        self.clients = clients
        self.events = events
        self.reloads = reloads
        self.rss_start = rss_start
        self.rss_end = rss_end
        self.logs = logs
        self.answers = sorted((a for c in clients for a in c.answers), key=lambda a: a.t_send)
        self.oracle = Oracle(chaos, chaos.args.window_ms / 1000.0)

    def describe_state(self, target, t):
        c = self.c
        out = []
        for k in target.keys:
            v = c.timeline.in_effect(k, t)
            val = "absent" if v.value is None else ",".join(
                f"{f}={x}" for f, x in v.value if f in ("allow_public", "expires_at", "security_settings"))
            if v.cid < 0:
                out.append(f"{k} {val or 'present'} (initial)")
            else:
                rec = "?" if v.receivers is None else v.receivers
                before = ("initial" if v.prev.cid < 0 else
                          f"{v.prev.kind} +{c.rel(v.prev.t_commit):.3f}")
                out.append(f"{k} {val or 'present'} since +{c.rel(v.t_commit):.3f} "
                           f"({v.kind}, {t - v.t_commit:.3f} s before send, publish reached {rec}; "
                           f"before: {before})")
        return "; ".join(out)

    def near(self, s, e):
        c = self.c
        out = []
        for w in c.windows:
            if w.onset - 1.0 <= e and s <= w.end + 1.0:
                out.append(f"{w.kind} {w.note} +{c.rel(w.onset):.3f}..+{c.rel(w.recovered):.3f}")
        return "; ".join(out[:3]) or "no fault nearby"

    def print(self):
        c, args, oracle = self.c, self.c.args, self.oracle
        targets = c.targets
        statuses = collections.Counter()
        wrong = []
        by_allowance = collections.Counter()
        five03 = collections.defaultdict(lambda: [0, 0])  # fault kind -> [accepted, wrong]
        for a in self.answers:
            statuses[a.status if a.status is not None else "no answer"] += 1
            t = targets[a.target]
            if a.status is None:
                wrong.append((a, set(), oracle.W, None, None))
                continue
            ok, lookback, stale, w = oracle.judge(t, a.t_send, a.t_recv)
            by_allowance["stale (cache_valid)" if stale else "W"] += 1
            if a.status == 503:
                win = w
                if win is None:  # not an outage: a Redis fault before a reload nearby
                    near = [x for x in c.windows if x.onset <= a.t_recv and a.t_send <= x.end]
                    win = min(near, key=lambda x: (x.kind == "reload", x.onset), default=None)
                five03[win.kind if win else "none"][0 if a.status in ok else 1] += 1
            if a.status not in ok:
                wrong.append((a, ok, lookback, stale, w))

        print()
        print(f"asset_gate chaos run: seed {args.seed} (rerun: make chaos CHAOS_SEED={args.seed} "
              f"CHAOS_SECONDS={args.seconds}), {args.seconds} s of faults after 2 s of warm-up")
        print(f"  Redis: a master and a replica (AOF, appendfsync always), 3 sentinels "
              f"(down-after {DOWN_AFTER_MS} ms, quorum 2); each write is a MULTI with its PUBLISH, "
              f"then WAIT 1 (so no failover loses it)")
        print(f"  nginx: {len(INSTANCES)} instances x {WORKERS} workers, asset_gate_redis "
              f"sentinel:{MASTER_NAME}@<3 sentinels>, cache_valid {CACHE_VALID:g}s, cache_negative "
              f"{CACHE_NEGATIVE:g}s, redis_timeout {REDIS_TIMEOUT * 1000:g}ms, "
              f"invalidation channel {CHANNEL}")
        print(f"  traffic: {args.clients} keep-alive clients, {args.rate} req/s target, "
              f"{len(targets)} request kinds ({len(ASSETS)} assets x public render/content, "
              f"subscription_delivery content, render; 3 fixed refusals), {len(ORGS)} orgs")
        print()
        print("allowances:")
        print(f"  W = {oracle.W * 1000:g} ms: an answer may reflect the records up to W before "
              f"its request was sent (invalidation on)")
        print(f"  stale = cache_valid {CACHE_VALID:g} s + {STALE_MARGIN * 1000:g} ms: instead of W "
              f"when a change to the request's records may have missed an instance's "
              f"subscription (PUBLISH reached < {SUBSCRIBERS} subscribers, a reload under way, "
              f"or an unknown write outcome) and was committed within that long before the send")
        print(f"  503 grace after Redis is back: {GRACE:g} s (longest reconnect delay "
              f"{BACKOFF_MAX:g} s + command timeout {REDIS_TIMEOUT:g} s + {SLACK:g} s slack); "
              f"{GRACE_FAILOVER:g} s after a failover (+ sentinel re-query gap "
              f"{SENTINEL_REQUERY:g} s). CLIENT PAUSE WRITE and reloads are no outage: a 503 there "
              f"is wrong")
        subdown = collections.Counter(v.why_down for v in c.timeline.changes if v.sub_down)
        print(f"  changes that called for the stale allowance: {sum(subdown.values())} of "
              f"{len(c.timeline.changes)}"
              + "".join(f"; {n} {why}" for why, n in subdown.most_common()))
        for v in c.timeline.changes:
            if v.sub_down:
                print(f"    +{c.rel(v.t_commit):8.3f} {v.key:12} {v.kind}: {v.why_down}")
        print(f"  answers judged with W: {by_allowance['W']}, with the stale allowance: "
              f"{by_allowance['stale (cache_valid)']}")

        print()
        digest = hashlib.sha1(repr((self.events, self.reloads)).encode()).hexdigest()[:12]
        print(f"schedule (seed {args.seed}, digest {digest}: the same seed and length give the "
              f"same changes and faults in the same order; their timing follows the machine):")
        kinds = collections.Counter(v.kind for v in c.timeline.changes)
        print(f"  changes made: {len(c.timeline.changes)} ("
              + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")")
        fk = collections.Counter(w.kind for w in c.windows)
        print("  faults: " + ", ".join(f"{n} {k}" for k, n in sorted(fk.items())))
        for w in sorted(c.windows, key=lambda w: w.onset):
            if w.kind != "reload":
                print(f"    +{c.rel(w.onset):8.3f} {w.kind:15} {w.note:28} Redis back after "
                      f"{w.recovered - w.onset:6.3f} s")
        if c.skipped:
            print("  skipped: " + ", ".join(f"{n} {k}" for k, n in c.skipped.items()))
        late = [x for x in c.late if x > 0.05]
        print(f"  actions run late (> 50 ms, mostly queued behind a fault): {len(late)} of "
              f"{len(c.late)}, max {max(c.late, default=0):.3f} s")
        print(f"  wall clock drift against the monotonic clock over the run: "
              f"{self.c.wall_drift * 1000:+.1f} ms")

        print()
        sent = len(self.answers)
        dur = max(a.t_recv for a in self.answers) - min(a.t_send for a in self.answers) if sent else 1
        print(f"requests sent: {sent} ({sent / dur:.0f}/s), re-sent after a keep-alive close: "
              f"{sum(cl.retries for cl in self.clients)}")
        print("answers by status: " + ", ".join(f"{k}: {n}" for k, n in
                                                sorted(statuses.items(), key=lambda x: str(x[0]))))
        lat = [a.t_recv - a.t_send for a in self.answers if a.status is not None]
        print(f"latency: p50 {ms(pct(lat, 50))} ms, p99 {ms(pct(lat, 99))} ms, "
              f"max {ms(max(lat, default=None))} ms")

        print()
        print("503 answers by fault (a 503 counts for the fault whose window, grace included, "
              "it falls in; a Redis fault before a reload):")
        print(f"  {'fault':16} {'times':>5} {'503 accepted':>13} {'503 wrong':>10}")
        for kind in FAULT_KINDS + ("reload", "none"):
            acc, bad = five03.get(kind, (0, 0))
            print(f"  {kind:16} {fk.get(kind, 0):5} {acc:13} {bad:10}")

        self.print_propagation()

        print()
        print("worker RSS (sum over the current workers, VmRSS): "
              + ", ".join(f"{n} {self.rss_start[n]} KiB -> {self.rss_end[n]} KiB "
                          f"({self.rss_end[n] - self.rss_start[n]:+d})" for n in INSTANCES)
              + f"; total {sum(self.rss_start.values())} -> {sum(self.rss_end.values())} KiB "
              f"(the workers at the end are not those at the start: every reload replaces them)")

        bad_logs = []
        for n, text in self.logs.items():
            for line in text.splitlines():
                if "exited on signal" in line or "[alert]" in line or "[emerg]" in line:
                    bad_logs.append(f"{n}: {line}")
            timeouts = text.count("a command timed out")
            switches = text.count("+switch-master")
            print(f"error log {n}: {timeouts} 'a command timed out', {switches} '+switch-master', "
                  f"{text.count('[crit]')} [crit]")
        for line in bad_logs[:20]:
            print(f"  {line}")

        print()
        self.print_wrong(wrong)
        problems = list(c.problems)
        if bad_logs:
            problems.append(f"{len(bad_logs)} crash/alert lines in the error logs")
        for p in problems:
            print(f"PROBLEM: {p}")
        if c.log_lines and (args.verbose or problems):
            print("driver log:")
            for line in c.log_lines:
                print(line)
        return 1 if wrong or problems else 0

    def print_propagation(self):
        """From a change's commit (or the instant an expires_at passed) to the first answer, on
        each instance, that reflects it, over the requests whose answer the change alters;
        and the last answer there still reflecting the old records although it was sent
        after the commit."""
        c, targets = self.c, self.c.targets
        by_inst = collections.defaultdict(list)
        for a in self.answers:
            if a.status in (200, 404):
                by_inst[a.inst].append(a)
        for lst in by_inst.values():
            lst.sort(key=lambda a: a.t_recv)
        recvs = {i: [a.t_recv for a in lst] for i, lst in by_inst.items()}

        tl, off = c.timeline, self.oracle.off

        def expiry(v):
            """The monotonic instant the asset value `v` expires, or None."""
            if v.value is None or not v.key.startswith("asset:"):
                return None
            exp = int(dict(v.value).get("expires_at", "0") or 0)
            return exp - off if exp else None

        def horizon(t, after):
            """The first instant after `after` at which something else may change the answer
            for target t: the next change of any of its records, or its asset expiring."""
            h = c.t_end
            for k in t.keys:
                n = next((x for x in tl.versions[k][1:] if x.t_start > after), None)
                if n is not None:
                    h = min(h, n.t_start)
            m = expiry(tl.in_effect(t.keys[0], after))
            if m is not None and m > after:
                h = min(h, m)
            return h

        def one_value(key, p):
            s = tl.possible(key, p)
            return next(iter(s)) if len(s) == 1 else False

        events = []  # (kind, instant, t_start, {target: (old answer, new answer, horizon)})
        for v in tl.changes:
            affected = {}
            wall = v.t_commit + off
            for t in targets:
                if v.key not in t.keys:
                    continue
                other = [k for k in t.keys if k != v.key]
                ov = one_value(other[0], v.t_commit) if other else None
                if ov is False:
                    continue
                if v.key.startswith("asset:"):
                    old, new = expected(t, v.prev.value, ov, wall), expected(t, v.value, ov, wall)
                else:
                    old, new = expected(t, ov, v.prev.value, wall), expected(t, ov, v.value, wall)
                if old != new:
                    affected[t.idx] = (old, new, horizon(t, v.t_commit))
            if affected:
                events.append((v.kind, v.t_commit, v.t_start, affected, v.sub_down))
            # The instant this value's expires_at passes, if no change comes first.
            m = expiry(v)
            nxt = next((x for x in tl.versions[v.key] if x.cid > v.cid), None)
            if m is not None and v.t_commit < m < c.t_end and (nxt is None or m < nxt.t_start):
                aff = {}
                for t in targets:
                    if not t.keys or t.keys[0] != v.key:
                        continue
                    ov = one_value(t.keys[1], m) if len(t.keys) > 1 else None
                    if ov is not False and expected(t, v.value, ov, m - 0.001 + off) == 200:
                        aff[t.idx] = (200, 404, horizon(t, m))
                if aff:
                    events.append(("expires_at reached", m, m, aff, False))
        first = collections.defaultdict(list)
        last_old = collections.defaultdict(list)
        unseen = collections.Counter()
        for kind, t_commit, t_start, affected, sub_down in events:
            # Staleness beyond cache_valid is a wrong answer anyway: no need to look further.
            stop_at = min(max(h for _, _, h in affected.values()), t_commit + CACHE_VALID + 2.0)
            for inst, lst in by_inst.items():
                i = bisect.bisect_right(recvs[inst], t_start)
                best = None
                worst_old = None
                for a in lst[i:]:
                    if a.t_send > stop_at:
                        break
                    if a.target not in affected:
                        continue
                    old, new, h = affected[a.target]
                    if a.t_send >= h:
                        continue
                    if a.status == new and best is None:
                        best = max(0.0, a.t_recv - t_commit)
                    if a.status == old and a.t_send > t_commit:
                        worst_old = a.t_recv - t_commit
                if best is None:
                    unseen[kind] += 1
                else:
                    first[kind].append(best)

                if not sub_down:  # not after a change the stale allowance covers
                    last_old[kind].append(worst_old or 0.0)
        print()
        print("propagation, per change and instance: commit -> first answer reflecting it "
              "(ms); 'old, max': the latest answer still reflecting the old records among those "
              "sent after the commit (ms after the commit; changes whose PUBLISH reached every "
              "subscriber)")
        print(f"  {'change':38} {'n':>4} {'p50':>7} {'p99':>7} {'max':>7} {'old, max':>9} {'unseen':>6}")
        for kind in sorted(set(first) | set(unseen)):
            f = first.get(kind, [])
            print(f"  {kind:38} {len(f):4} {ms(pct(f, 50)):>7} {ms(pct(f, 99)):>7} "
                  f"{ms(max(f, default=None)):>7} {ms(max(last_old[kind], default=None)):>9} "
                  f"{unseen[kind]:6}")
        print("  (unseen: no request for an affected link reached that instance before the "
              "records changed again; the first answer also waits for the next request, "
              "about every 10-40 ms per instance for the links a change affects)")

    def print_wrong(self, wrong):
        c, targets = self.c, self.c.targets
        print(f"WRONG answers: {len(wrong)}")
        limit = c.args.max_wrong_lines
        for n, (a, ok, lookback, stale, w) in enumerate(wrong):
            if limit and n >= limit:
                print(f"  ... {len(wrong) - limit} more (--max-wrong-lines {limit})")
                break
            t = targets[a.target]
            got = "no answer" if a.status is None else f"{a.status} ({a.reason})"
            allowed = ",".join(str(x) for x in sorted(ok)) or "an answer"
            allowance = (f"stale {lookback * 1000:.0f} ms" if stale else f"W {lookback * 1000:.0f} ms")
            print(f"  +{c.rel(a.t_send):8.3f} {a.inst} {t.label}: got {got}, acceptable "
                  f"{{{allowed}}} [{allowance}], answered in {(a.t_recv - a.t_send) * 1000:.1f} ms | "
                  f"{self.describe_state(t, a.t_send) or 'no records'} | {self.near(a.t_send, a.t_recv)}")
        if not wrong:
            return
        # Incidents: runs of wrong answers for the same records on one instance.
        groups = collections.OrderedDict()
        for a, ok, *_ in wrong:
            t = targets[a.target]
            key = (a.inst, t.keys, a.status,
                   tuple(c.timeline.in_effect(k, a.t_send).cid for k in t.keys))
            g = groups.setdefault(key, [a.t_send, a.t_send, 0, set()])
            g[1] = a.t_send
            g[2] += 1
            g[3].add(t.kind)
        print(f"  in {len(groups)} incidents (same instance, records and wrong status):")
        kinds = collections.Counter()
        for (inst, keys, status, cids), (t_first, t_last, n, labels) in groups.items():
            change = max((c.timeline.changes[i] for i in cids if i >= 0),
                         key=lambda v: v.t_commit, default=None)
            what = (f"after {change.kind} on {change.key} committed +{c.rel(change.t_commit):.3f}"
                    if change else "records unchanged since the start" if keys else
                    "an answer no record changes")
            if status is None:
                kinds["no answer"] += n
            elif change is not None and status in (200, 404):
                kinds[f"{status} stale after {change.kind}"] += n
            else:
                kinds[f"{status}"] += n
            print(f"    {inst} {'/'.join(keys) or '-'}: {n} x {status} from +{c.rel(t_first):.3f} "
                  f"to +{c.rel(t_last):.3f} ({t_last - t_first:.3f} s), {what} "
                  f"[{', '.join(sorted(labels))}]")
        print("  by kind: " + ", ".join(f"{n} {k}" for k, n in kinds.most_common()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=120, help="length of the fault schedule")
    ap.add_argument("--seed", type=int, default=7, help="seeds the schedule and the clients")
    ap.add_argument("--rate", type=int, default=300, help="requests per second, all clients")
    ap.add_argument("--clients", type=int, default=8, help="keep-alive clients (threads)")
    ap.add_argument("--window-ms", type=float, default=100.0,
                    help="W, the propagation allowance with invalidation on")
    ap.add_argument("--max-wrong-lines", type=int, default=0,
                    help="print at most this many wrong answers one by one (0: all)")
    ap.add_argument("--faults", default=",".join(FAULT_KINDS),
                    help="the Redis fault kinds to schedule, comma-separated (all by default)")
    ap.add_argument("--no-reload", action="store_true", help="no nginx -s reload")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--verbose", action="store_true", help="print the driver's log as it runs")
    args = ap.parse_args()
    if not MODULE.exists():
        sys.exit(f"build the module first (make module): {MODULE} is missing")
    chaos = Chaos(args)

    def on_signal(signum, _frame):
        chaos.stop()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    rc = 2
    try:
        rc = chaos.run()
    finally:
        chaos.stop()
        if args.keep:
            print(f"work directory kept: {chaos.root}")
        else:
            shutil.rmtree(chaos.root, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
