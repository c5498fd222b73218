#!/usr/bin/python3
"""asset_gate's benchmark: real nginx (2 workers) and redis-server on loopback, driven by wrk.

Prints one table: requests per second, p50/p99 latency, nginx worker CPU per request, and
the ratio of each to bare nginx serving the same file in the same run; then worker memory
before and after a run of at least --memory-requests requests.

    scripts/bench.py [--duration 10] [--connections 64] [--memory-requests 1000000]

On two shared cores wrk and nginx compete, so requests per second swing between runs; the
workers' CPU time per request is the steadier figure (read from /proc/PID/stat).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "t" / "integration"))
from gate import free_port  # noqa: E402  (ports no other service or client source port takes)

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "build" / "ngx_http_asset_gate_module.so"
NGINX = "/usr/sbin/nginx"
KEY = "bench-current-signing-key-0123456789abcdef"
NAME = "export-weekly-report-2026-05-27-101010.png"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def mint(asset_id, purpose=None, exp_in=86400):
    claims = {"id": asset_id, "exp": int(time.time()) + exp_in, "aud": "posthog:exported_asset"}
    if purpose:
        claims["purpose"] = purpose
    return jwt.encode(claims, KEY, algorithm="HS256")


class Nginx:
    """One nginx instance (master + 2 workers) with one server block."""

    def __init__(self, workdir, name, http, location, module=True):
        self.dir = workdir / name
        self.dir.mkdir()
        self.dir.chmod(0o755)
        self.port = free_port()
        load = f"load_module {MODULE};" if module else ""
        (self.dir / "nginx.conf").write_text(f"""
{load}
daemon off;
worker_processes 2;
error_log {self.dir}/error.log warn;
pid {self.dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    {http}
    server {{
        listen 127.0.0.1:{self.port};
        {location}
    }}
}}
""")
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        time.sleep(0.2)

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def cpu_seconds(self):
        total = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLK_TCK

    def rss_kib(self):
        total = 0
        for pid in self.workers():
            m = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
            total += int(m.group(1))
        return total

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wrk(url, duration, connections, script=None):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        args += ["-s", str(script)]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    def grab(pattern, conv=float):
        m = re.search(pattern, out)
        return conv(m.group(1)) if m else None
    def ms(text):
        m = re.match(r"([\d.]+)(us|ms|s|m)$", text or "")
        if m is None:
            raise RuntimeError(f"cannot read wrk's latency {text!r} from:\n{out}")
        value, unit = m.groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
    return {
        "requests": grab(r"(\d+) requests in", int),
        "rps": grab(r"Requests/sec:\s+([\d.]+)"),
        "p50": ms(grab(r"(?m)^\s+50%\s+(\S+)", str)),
        "p99": ms(grab(r"(?m)^\s+99%\s+(\S+)", str)),
        "non2xx": grab(r"Non-2xx or 3xx responses: (\d+)", int) or 0,
        "errors": sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)),
    }


def measure(server, path, args):
    script = None
    if isinstance(path, tuple):  # ("lua", script): the script makes the requests
        script, path = path[1], "/"
    cpu0 = server.cpu_seconds()
    r = wrk(f"http://127.0.0.1:{server.port}{path}", args.duration, args.connections, script)
    r["cpu_us"] = (server.cpu_seconds() - cpu0) / r["requests"] * 1e6
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds over all scenarios, interleaved; the table shows medians")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--memory-requests", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--only", help="run only the scenarios whose label contains this text "
                    "(bare nginx always runs: it is the ratio's base)")
    args = ap.parse_args()
    if not MODULE.exists():
        sys.exit(f"build the module first: {MODULE} is missing")

    work = Path(tempfile.mkdtemp(prefix="asset-gate-bench-"))
    work.chmod(0o755)
    www = work / "www"
    blob = www / "exports/png/team-1/task-101/blob"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(os.urandom(2048))  # a 2 KiB asset, as in the reference measurements
    for p in [www, *www.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (work / "keys").write_text(KEY + "\n")

    redis_port = free_port()
    rds = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", str(work)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(redis_port)
    rc = redis.Redis(port=redis_port)
    rc.hset("asset:101", mapping={"org": "org-1", "format": "image/png",
                                  "location": "exports/png/team-1/task-101/blob",
                                  "filename": "export-weekly-report.png"})
    rc.hset("org:org-1", mapping={"security_settings": "1", "allow_public": "1"})

    gate_http = f"asset_gate_redis 127.0.0.1:{redis_port};"
    cache = "asset_gate_cache_zone bench:10m;"
    gate = f"""asset_gate on; asset_gate_key_file {work}/keys;
               asset_gate_render @render;"""
    content_named = f"""
        location ^~ /exporter {{ {gate} asset_gate_content @content; }}
        location @content {{ root {www}; try_files /$asset_gate_location =404; }}
        location @render {{ return 200 "render page for asset $asset_gate_id\\n"; }}"""
    content_inline = f"""
        location ^~ /exporter {{ {gate} asset_gate_content inline;
                                 root {www}; try_files /$asset_gate_location =404; }}
        location @render {{ return 200 "render page for asset $asset_gate_id\\n"; }}"""
    bare_location = f"""
        location ^~ /exporter {{ root {www}; default_type image/png;
                                 try_files /exports/png/team-1/task-101/blob =404; }}"""

    servers = {}
    try:
        servers["bare"] = Nginx(work, "bare", "", bare_location, module=False)
        servers["named"] = Nginx(work, "named", gate_http + cache, content_named)
        servers["inline"] = Nginx(work, "inline", gate_http + cache, content_inline)
        servers["nocache"] = Nginx(work, "nocache", gate_http, content_named)

        token = mint(101)
        content = f"/exporter/{NAME}?token={token}"
        bad_sig = f"/exporter/{NAME}?token={token[:-2]}{'AA' if token[-2:] != 'AA' else 'BB'}"
        # Distinct tokens (more than the per-worker verified-token cache holds): each request
        # pays for the HMAC and the claims parse.
        tokens = work / "tokens.txt"
        now = int(time.time())
        tokens.write_text("".join(
            jwt.encode({"id": 101, "exp": now + 86400 + i, "aud": "posthog:exported_asset"}, KEY,
                       algorithm="HS256") + "\n" for i in range(20000)))
        rotate = work / "rotate.lua"
        rotate.write_text(f"""
local tokens = {{}}
for line in io.lines("{tokens}") do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
    i = i % #tokens + 1
    return wrk.format("GET", "/exporter/{NAME}?token=" .. tokens[i])
end
""")
        rows = [
            ("bare nginx, same file (ceiling)", "bare", content, True),
            ("content, warm cache (@content)", "named", content, True),
            ("content, warm cache (inline)", "inline", content, True),
            ("content, inline, a new token each time", "inline", ("lua", rotate), True),
            ("content, no cache (Redis each time)", "nocache", content, True),
            ("render surface, warm cache", "named", f"/exporter?token={mint(101, 'render')}", True),
            ("refused: bad signature", "named", bad_sig, False),
            ("refused: malformed path", "named", f"/exporter/a/b.png?token={token}", False),
        ]
        # Warm up: fill the caches, fault in the pages.
        for key in ("named", "inline", "nocache"):
            wrk(f"http://127.0.0.1:{servers[key].port}{content}", 1, 8)

        if args.only:
            rows = [rows[0]] + [r for r in rows[1:] if args.only in r[0]]
        runs = {label: [] for label, *_ in rows}
        for _ in range(args.rounds):
            # Interleaved rounds: a slow spell of the machine does not land on one scenario.
            for label, key, path, must_succeed in rows:
                r = measure(servers[key], path, args)
                if must_succeed and (r["non2xx"] or r["errors"]):
                    print(f"warning: {label}: {r['non2xx']} non-2xx responses, {r['errors']} socket errors",
                          file=sys.stderr)
                if not must_succeed and r["non2xx"] != r["requests"]:
                    print(f"warning: {label}: only {r['non2xx']} of {r['requests']} were refused",
                          file=sys.stderr)
                runs[label].append(r)
        results = []
        for label, *_ in rows:
            med = {k: statistics.median(r[k] for r in runs[label])
                   for k in ("rps", "p50", "p99", "cpu_us")}
            results.append((label, med))

        base = results[0][1]
        print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s, nginx 2 workers, 2 KiB file, "
              f"{os.cpu_count()} cores; medians of {args.rounds} interleaved rounds")
        print(f"{'scenario':38} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} "
              f"{'rps/bare':>8} {'bare CPU/CPU':>12}")
        for label, r in results:
            print(f"{label:38} {r['rps']:9.0f} {r['p50']:7.2f} {r['p99']:7.2f} {r['cpu_us']:10.2f} "
                  f"{r['rps'] / base['rps']:8.2f} {base['cpu_us'] / r['cpu_us']:12.2f}")

        # Memory: worker RSS before and after at least --memory-requests allowed requests.
        if args.memory_requests <= 0:
            return
        srv = servers["inline"]
        before = srv.rss_kib()
        done = 0
        while done < args.memory_requests:
            done += wrk(f"http://127.0.0.1:{srv.port}{content}", args.duration, args.connections)["requests"]
        after = srv.rss_kib()
        print(f"\nworker RSS (both workers, inline content, warm cache): {before} KiB before, "
              f"{after} KiB after {done} requests: {after - before:+d} KiB")
    finally:
        for s in servers.values():
            s.stop()
        rds.terminate()
        rds.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
