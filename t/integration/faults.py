"""Fault-injection helpers for the integration tests: fake Redis peers on loopback, raw
client sockets, and a background request loop.

Everything here is bounded: servers stop on `close()`, loops stop on a flag or a count."""

import re
import socket
import threading
import time

from gate import free_port


class FakeRedis:
    """A TCP listener that impersonates a Redis server badly.

    mode:
      "blackhole"  accepts, reads whatever it is sent, never answers;
      "garbage"    sends `payload` (not RESP) on accept and after every read;
      "reply"      answers every chunk it reads with `payload` (a well-formed RESP reply of
                   the wrong shape, e.g. b":1\\r\\n");
      "unsolicited" sends `payload` on accept, before any command, then answers nothing.
    """

    def __init__(self, mode, payload=b""):
        self.mode = mode
        self.payload = payload
        self.port = free_port()
        self.accepted = 0
        self.received = bytearray()
        self._stop = threading.Event()
        self._conns = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._run, name=f"fake-redis-{mode}", daemon=True)

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self._thread.start()
        return self

    def _send(self, conn, data):
        try:
            conn.sendall(data)
        except OSError:
            pass

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                conn = None
            except OSError:
                break
            if conn is not None:
                conn.setblocking(False)
                with self._lock:
                    self._conns.append(conn)
                    self.accepted += 1
                if self.mode in ("garbage", "unsolicited"):
                    self._send(conn, self.payload)
            for c in list(self._conns):
                try:
                    data = c.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    with self._lock:
                        self._conns.remove(c)
                    c.close()
                    continue
                with self._lock:
                    self.received += data
                if self.mode in ("garbage", "reply"):
                    self._send(c, self.payload)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        with self._lock:
            for c in self._conns:
                c.close()
            self._conns.clear()


class Traffic:
    """Issues `fn()` in a loop on a thread until stopped (or `max_requests`/`max_seconds`),
    recording each outcome: a Response, or the exception it raised. No request limit by
    default: refusals come back in a fraction of a millisecond, and a limit reached early
    would leave the window a test watches without traffic."""

    def __init__(self, fn, max_requests=None, max_seconds=20.0, pause=0.0):
        self.fn = fn
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.pause = pause
        self.results = []  # (monotonic start, Response | Exception)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while (not self._stop.is_set()
               and (self.max_requests is None or len(self.results) < self.max_requests)
               and time.monotonic() < deadline):
            started = time.monotonic()
            try:
                outcome = self.fn()
            except Exception as e:  # noqa: BLE001 - recorded and asserted on by the test
                outcome = e
            self.results.append((started, outcome))
            if self.pause:
                time.sleep(self.pause)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "traffic thread is stuck"

    def errors(self):
        return [o for _, o in self.results if isinstance(o, Exception)]

    def responses(self):
        return [o for _, o in self.results if not isinstance(o, Exception)]


def raw_request(port, path, close_immediately=True):
    """Sends one GET on a raw socket; with close_immediately, closes it without reading."""
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    if close_immediately:
        s.close()
        return None
    return s


def poll(fn, timeout, interval=0.05):
    """Calls fn() until it returns a truthy value or `timeout` seconds pass; returns the last
    value and the time it took."""
    started = time.monotonic()
    value = fn()
    while not value and time.monotonic() - started < timeout:
        time.sleep(interval)
        value = fn()
    return value, time.monotonic() - started


class Monitor:
    """Counts the commands clients send to a redis-server, through MONITOR.

    Unlike INFO commandstats it sees each command's arguments, so a test can tell the asset
    reads from the org reads; commands run by scripts (`lua` source) are left out."""

    LINE = re.compile(rb'^\+\d+\.\d+ \[(\d+) ([^\]]+)\] "([^"]+)"')

    def __init__(self, port, password=None, host="127.0.0.1"):
        self.lines = []  # (db, source, COMMAND, raw line)
        self._buf = b""
        self._sock = socket.create_connection((host, port), timeout=5)
        if password:
            pw = password.encode()
            self._sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw))
            assert self._readline() == b"+OK"
        self._sock.sendall(b"MONITOR\r\n")
        assert self._readline() == b"+OK"
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="redis-monitor", daemon=True)
        self._thread.start()

    def _readline(self):
        while b"\r\n" not in self._buf:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("monitor connection closed")
            self._buf += data
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _run(self):
        while not self._stop.is_set():
            try:
                line = self._readline()
            except socket.timeout:
                continue
            except OSError:
                break
            m = self.LINE.match(line)
            if m:
                with self._lock:
                    self.lines.append((int(m.group(1)), m.group(2).decode(),
                                       m.group(3).decode().upper(), line))

    def sync(self, client, timeout=10.0):
        """Waits until the monitor has seen everything `client` could observe: sends a
        unique ECHO through it and waits for that to come through."""
        marker = f"monitor-sync-{time.monotonic_ns()}"
        client.echo(marker)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(marker.encode() in raw for *_, raw in self.lines):
                    return
            time.sleep(0.01)
        raise AssertionError("MONITOR did not catch up")

    def count_keys(self, command, key_prefix, client):
        """Top-level `command` calls whose first argument starts with `key_prefix`."""
        self.sync(client)
        want = f' "{key_prefix}'.encode()
        with self._lock:
            return sum(1 for _, src, cmd, raw in self.lines
                       if cmd == command.upper() and src != "lua"
                       and raw.split(b'"' + cmd.encode() + b'"', 1)[-1].startswith(want))

    def count(self, command, client):
        """Top-level `command` calls (not the ones scripts make), once the monitor has caught
        up with `client`."""
        self.sync(client)
        with self._lock:
            return sum(1 for _, src, cmd, _ in self.lines if cmd == command.upper() and src != "lua")

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
