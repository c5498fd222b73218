"""Helpers for the fleet tests (DESIGN.md sections 4-5: invalidation channel, Sentinel, reads
from replicas): a Redis master with a replica and three redis-sentinel processes, a mapping
from nginx worker pids to their Redis connections, and a traffic recorder.

Every wait here is bounded; every process started here is stopped by `Fleet.stop()`."""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from gate import REDIS_SERVER, free_port, wait_port

MASTER_NAME = "mymaster"
if os.path.exists("/usr/bin/redis-sentinel"):  # Debian's redis-sentinel package
    SENTINEL_CMD = ["/usr/bin/redis-sentinel"]
else:  # the same binary, in sentinel mode
    SENTINEL_CMD = [REDIS_SERVER]


def wait_until(fn, timeout, interval=0.05, what="condition"):
    """Calls fn() until it returns something truthy; raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (redis.RedisError, OSError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Server:
    """A redis-server (master or replica) on a free loopback port."""

    def __init__(self, directory: Path, name, replicaof=None, durable=False, timeout=5):
        self.dir = directory / name
        self.dir.mkdir()
        self.name = name
        self.port = free_port()
        self.replicaof = replicaof
        self.durable = durable  # acknowledged writes survive kill -9 (AOF, fsync always)
        self.timeout = timeout
        self.proc = None
        self.client = None

    def start(self, replicaof=None):
        if replicaof is not None:
            self.replicaof = replicaof
        aof = ["yes", "--appendfsync", "always"] if self.durable else ["no"]
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", *aof, "--dir", str(self.dir),
                "--logfile", str(self.dir / "redis.log"),
                # A replica syncs at once, not after the default 5 s wait for more replicas.
                "--repl-diskless-sync-delay", "0"]
        if self.replicaof:
            args += ["--replicaof", "127.0.0.1", str(self.replicaof)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, f"redis-server {self.name}")
        self.client = redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True,
                                  socket_timeout=self.timeout,
                                  socket_connect_timeout=min(self.timeout, 1))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def role(self):
        return self.client.info("replication")["role"]

    def calls(self, command):
        """INFO commandstats: how many times this server ran `command`."""
        stats = self.client.info("commandstats")
        return stats.get(f"cmdstat_{command.lower()}", {}).get("calls", 0)

    def clients(self):
        own = self.client.client_id()
        return [c for c in self.client.client_list() if int(c["id"]) != own]


class Sentinel:
    """A redis-sentinel process monitoring MASTER_NAME, with its own writable config file."""

    def __init__(self, directory: Path, index, master_port, down_after=1000, failover_timeout=3000):
        self.dir = directory / f"sentinel-{index}"
        self.dir.mkdir()
        self.port = free_port()
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(f"""port {self.port}
bind 127.0.0.1
daemonize no
dir {self.dir}
logfile {self.dir}/sentinel.log
sentinel resolve-hostnames no
sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2
sentinel down-after-milliseconds {MASTER_NAME} {down_after}
sentinel failover-timeout {MASTER_NAME} {failover_timeout}
sentinel parallel-syncs {MASTER_NAME} 1
""")
        self.conf.chmod(0o644)
        self.proc = None
        self.client = None

    def start(self):
        args = SENTINEL_CMD + [str(self.conf)]
        if SENTINEL_CMD[0] == REDIS_SERVER:
            args.append("--sentinel")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "redis-sentinel")
        self.client = redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True,
                                  socket_timeout=5)
        return self

    def master_addr(self):
        got = self.client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        return (got[0], int(got[1])) if got else None

    def master_state(self):
        flat = self.client.execute_command("SENTINEL", "master", MASTER_NAME)
        if isinstance(flat, dict):
            return flat
        return dict(zip(flat[::2], flat[1::2]))

    def log(self):
        path = self.dir / "sentinel.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Fleet:
    """A master, one replica of it and three sentinels (quorum 2), all on loopback."""

    def __init__(self, down_after=1000, failover_timeout=3000):
        self.dir = Path(tempfile.mkdtemp(prefix="asset-gate-fleet-"))
        self.down_after = down_after
        self.failover_timeout = failover_timeout
        self.master = None
        self.replica = None
        self.sentinels = []

    def start(self):
        # Each process is known to stop() before it starts: one that fails half-way through
        # start() is still stopped.
        self.master = Server(self.dir, "a")
        self.master.start()
        self.replica = Server(self.dir, "b", replicaof=self.master.port)
        self.replica.start()
        wait_until(lambda: self.replica.client.info("replication").get("master_link_status") == "up",
                   10, what="the replica to sync")
        for i in range(3):
            self.sentinels.append(Sentinel(self.dir, i, self.master.port, self.down_after,
                                           self.failover_timeout))
            self.sentinels[-1].start()
        self.wait_settled(self.master.port, 1)
        return self

    def wait_settled(self, master_port, replicas, timeout=20):
        """Every sentinel names `master_port`, knows `replicas` replicas (up) and the two
        other sentinels: the precondition of an unattended failover."""

        def settled():
            for s in self.sentinels:
                if s.master_addr() != ("127.0.0.1", master_port):
                    return False
                st = s.master_state()
                if int(st["num-other-sentinels"]) != len(self.sentinels) - 1:
                    return False
                if int(st["num-slaves"]) < replicas or "down" in st["flags"]:
                    return False
                ok = [r for r in self.replica_states(s)
                      if "down" not in r["flags"] and "disconnected" not in r["flags"]
                      and r.get("master-link-status") == "ok"]
                if len(ok) < replicas:
                    return False
            return True

        wait_until(settled, timeout, interval=0.1, what=f"sentinels to agree on {master_port}")

    @staticmethod
    def replica_states(sentinel):
        out = []
        for flat in sentinel.client.execute_command("SENTINEL", "replicas", MASTER_NAME):
            out.append(flat if isinstance(flat, dict) else dict(zip(flat[::2], flat[1::2])))
        return out

    def directive(self):
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"sentinel:{MASTER_NAME}@{hosts}"

    def masters_named(self):
        """What each sentinel says the master is."""
        out = []
        for s in self.sentinels:
            try:
                out.append(s.master_addr())
            except redis.RedisError as e:
                out.append(e)
        return out

    def server_on(self, port):
        return next(s for s in (self.master, self.replica) if s.port == port)

    def logs(self):
        return "\n".join(f"--- sentinel {s.port}\n{s.log()[-3000:]}" for s in self.sentinels)

    def stop(self):
        for s in self.sentinels:
            s.stop()
        for s in (self.replica, self.master):
            if s is not None:
                s.stop()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# -- which Redis connection belongs to which nginx worker -------------------------------------

def _tcp_table():
    """inode -> (local port, remote port) of the ESTABLISHED IPv4 loopback TCP sockets."""
    table = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
            if state != "01":
                continue
            table[inode] = (int(local.split(":")[1], 16), int(remote.split(":")[1], 16))
    return table


def worker_ports(pids, remote_port):
    """{pid: sorted local ports} of each process's connections to 127.0.0.1:remote_port."""
    table = _tcp_table()
    out = {}
    for pid in pids:
        ports = []
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            fds = []
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                entry = table.get(link[8:-1])
                if entry and entry[1] == remote_port:
                    ports.append(entry[0])
        out[pid] = sorted(ports)
    return out


def nginx_clients(stack, server_client, redis_port):
    """{worker pid: [CLIENT LIST entries]} of this nginx's connections to that Redis server."""
    by_port = {}
    for c in server_client.client_list():
        host, _, port = c["addr"].rpartition(":")
        by_port[int(port)] = c
    mapping = worker_ports(stack.worker_pids(), redis_port)
    return {pid: [by_port[p] for p in ports if p in by_port] for pid, ports in mapping.items()}


def is_subscriber(client):
    return "P" in client["flags"] or int(client.get("sub", 0)) > 0


# -- traffic ----------------------------------------------------------------------------------

class Recorder:
    """Requests `fn()` on a thread (a new connection each time), recording
    (start, end, status or None, reason or exception text), until stopped or `max_seconds`."""

    def __init__(self, fn, pause=0.01, max_seconds=40.0):
        self.fn = fn
        self.pause = pause
        self.max_seconds = max_seconds
        self.results = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-traffic", daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                r = self.fn()
                rec = (t0, time.monotonic(), r.status, r.header("x-reason"))
            except Exception as e:  # noqa: BLE001 - recorded, asserted on by the test
                rec = (t0, time.monotonic(), None, f"{type(e).__name__}: {e}")
            self.results.append(rec)
            time.sleep(self.pause)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "traffic thread is stuck"

    def since(self, t):
        return [r for r in list(self.results) if r[0] >= t]

    def wait_ok_after(self, t, timeout):
        """Waits until a request that started after `t` was allowed; returns it or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = [r for r in self.since(t) if r[2] == 200]
            if ok:
                return ok[0]
            time.sleep(0.02)
        return None

    def gap(self, results):
        """(first failure, first 200 after the last failure, the gap in seconds) of `results`;
        (None, None, 0.0) when nothing failed."""
        failed = [r for r in results if r[2] != 200]
        if not failed:
            return None, None, 0.0
        after = [r for r in results if r[0] > failed[-1][0] and r[2] == 200]
        if not after:
            return failed[0], None, float("inf")
        return failed[0], after[0], after[0][1] - failed[0][0]
