#!/usr/bin/python3
"""asset_gate's benchmark: real nginx (2 workers) and redis-server on loopback, driven by wrk.

Prints one table: requests per second, p50/p99 latency, nginx worker CPU per request, and
the ratio of each to plain static nginx (`root`, no `try_files`) serving the same bytes in
the same run: one file for the one-link rows, the same --assets files in turn for the
rotating rows. Then worker memory before and after at least --memory-requests requests.

    scripts/bench.py [--duration 5] [--rounds 5] [--connections 64] [--assets 20000]
                     [--memory-requests 1000000] [--only TEXT] [--pin]

On two shared cores wrk and nginx compete, so requests per second swing between runs; the
workers' CPU time per request is the steadier figure (read from /proc/PID/stat). --pin
runs one worker on the last core, wrk (one thread) and Redis on the others: steadier, for
telling apart changes of a few percent.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "t" / "integration"))
from gate import free_port, wait_port  # noqa: E402  (the integration tests' own helpers)

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "build" / "ngx_http_asset_gate_module.so"
NGINX = "/usr/sbin/nginx"
KEY = "bench-current-signing-key-0123456789abcdef"
NAME = "export-weekly-report-2026-05-27-101010.png"
CLK_TCK = os.sysconf("SC_CLK_TCK")


FIRST_MANY = 10000  # the rotating workloads' asset ids start here


def name(asset):
    return f"export-weekly-report-2026-05-27-{asset}.png"


def location(asset):
    return f"exports/png/team-1/task-{asset}/blob"


def rotation(work, label, paths):
    """A wrk script that requests `paths` in turn, each wrk thread from its own starting point."""
    listing = work / f"{label}.txt"
    listing.write_text("".join(p + "\n" for p in paths))
    script = work / f"{label}.lua"
    script.write_text(f"""
local paths = {{}}
for line in io.lines("{listing}") do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
    i = i % #paths + 1
    return wrk.format("GET", paths[i])
end
""")
    return ("lua", script)


def mint(asset_id, purpose=None, exp_in=86400):
    claims = {"id": asset_id, "exp": int(time.time()) + exp_in, "aud": "posthog:exported_asset"}
    if purpose:
        claims["purpose"] = purpose
    return jwt.encode(claims, KEY, algorithm="HS256")


class Nginx:
    """One nginx instance (master + 2 workers, or 1 with --pin) with one server block."""

    workers_conf = "worker_processes 2;"

    def __init__(self, workdir, name, http, location, module=True):
        self.dir = workdir / name
        self.dir.mkdir()
        self.dir.chmod(0o755)
        self.port = free_port()
        load = f"load_module {MODULE};" if module else ""
        (self.dir / "nginx.conf").write_text(f"""
{load}
daemon off;
{self.workers_conf}
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


WRK = ["wrk", "-t2"]
OTHER_CORES = []  # --pin: taskset to the cores the nginx worker is not on


def wrk(url, duration, connections, script=None):
    args = [*WRK, f"-c{connections}", f"-d{duration}s", "--latency"]
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


def run(server, path, duration, connections):
    """wrk against `server`: `path` is a URL path, or ("lua", script) when a script makes the
    requests. Adds the workers' CPU time per request."""
    script = None
    if isinstance(path, tuple):
        script, path = path[1], "/"
    cpu0 = server.cpu_seconds()
    r = wrk(f"http://127.0.0.1:{server.port}{path}", duration, connections, script)
    r["cpu_us"] = (server.cpu_seconds() - cpu0) / max(1, r["requests"]) * 1e6
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds over all scenarios, interleaved; the table shows medians")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--memory-requests", type=int, default=1_000_000)
    ap.add_argument("--assets", type=int, default=20000,
                    help="distinct assets (and distinct new tokens) the rotating workloads use")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--only", help="run only the scenarios whose label contains this text "
                    "(bare nginx always runs: it is the ratio's base)")
    ap.add_argument("--pin", action="store_true", help="one nginx worker on the last core; "
                    "wrk (one thread) and Redis on the others")
    args = ap.parse_args()
    if args.pin:
        last = os.cpu_count() - 1
        Nginx.workers_conf = f"worker_processes 1; worker_cpu_affinity {1 << last:b};"
        # Redis shares wrk's cores too: a server on the worker's core would cost it switches.
        OTHER_CORES[:] = ["taskset", "-c", f"0-{last - 1}" if last > 1 else "0"]
        WRK[:] = [*OTHER_CORES, "wrk", "-t1"]
    if not MODULE.exists():
        sys.exit(f"build the module first: {MODULE} is missing")

    work = Path(tempfile.mkdtemp(prefix="asset-gate-bench-"))
    work.chmod(0o755)
    # The content root, laid out as PostHog's exports are (exports/FORMAT/team-N/task-M/blob):
    # the gate serves these files where the records say, and plain static nginx, the ceiling,
    # serves the very same files by their paths. (Served from one flat directory instead, the
    # ceiling skips the kernel's walk through 20,000 directories, about 5 us a request here.)
    www = work / "www"
    ids = range(FIRST_MANY, FIRST_MANY + args.assets)
    blob = os.urandom(2048)  # a 2 KiB asset, as in the reference measurements
    for asset in [101, *ids]:
        path = www / location(asset)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    for p in [work, *www.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (work / "keys").write_text(KEY + "\n")

    redis_port = free_port()
    rds = subprocess.Popen([*OTHER_CORES, "redis-server", "--port", str(redis_port),
                            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--dir", str(work)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(redis_port)
    rc = redis.Redis(port=redis_port)
    pipe = rc.pipeline(transaction=False)
    for asset in [101, *ids]:
        pipe.hset(f"asset:{asset}", mapping={"org": "org-1", "format": "image/png",
                                             "location": location(asset),
                                             "filename": "export-weekly-report.png"})
    pipe.hset("org:org-1", mapping={"security_settings": "1", "allow_public": "1"})
    pipe.execute()

    gate_http = f"asset_gate_redis 127.0.0.1:{redis_port};"
    cache = f"asset_gate_cache_zone bench:{max(10, args.assets // 1000)}m;"
    gate = f"""asset_gate on; asset_gate_key_file {work}/keys;
               asset_gate_render @render;"""
    render = 'location @render { return 200 "render page for asset $asset_gate_id\\n"; }'
    locations = {
        # What a user runs without a gate: the file where the URL says, no try_files.
        "plain": f"location ^~ /exports/ {{ root {www}; default_type image/png; }}",
        # Plain static nginx answering the gate's very request line, token and all (an exact
        # location aliased to the file): what a link in PostHog's form costs before any gate.
        "plain_link": f"""location = /exporter/{name(101)} {{ alias {www}/{location(101)};
                              default_type image/png; }}""",
        # The ceiling earlier figures used: try_files' own lookup costs a few microseconds.
        "try_files": f"""location ^~ /exporter/ {{ root {www}; default_type image/png;
                             try_files /{location(101)} =404; }}""",
        "named": f"""location ^~ /exporter {{ {gate} asset_gate_content @content; }}
                     location @content {{ root {www}; try_files /$asset_gate_location =404; }}
                     {render}""",
        "inline_try": f"""location ^~ /exporter {{ {gate} asset_gate_content inline;
                                 root {www}; try_files /$asset_gate_location =404; }}
                          {render}""",
        "inline": f"""location ^~ /exporter {{ {gate} asset_gate_content inline; root {www}; }}
                      {render}""",
    }
    servers = {}
    try:
        servers["plain"] = Nginx(work, "plain", "", locations["plain"], module=False)
        servers["try_files"] = Nginx(work, "try_files", "", locations["try_files"], module=False)
        servers["plain_link"] = Nginx(work, "plain_link", "", locations["plain_link"], module=False)
        for key in ("named", "inline_try", "inline"):
            servers[key] = Nginx(work, key, gate_http + cache, locations[key])
        # The rotating rows: a verified-token cache that holds every one of their links (about
        # 256 bytes each per worker), and local copies of every record (512 bytes each); the
        # one-link and new-token rows keep the defaults (1m each).
        tokens = f"asset_gate_token_cache {max(1, args.assets * 3 * 256 >> 20)}m;"
        local = f"asset_gate_cache_local {max(1, args.assets * 3 * 512 >> 20)}m;"
        servers["many"] = Nginx(work, "many", gate_http + cache + tokens + local, locations["inline"])
        # The same with records that outlive the run: how much of the rotating row is the
        # default 5 s lifetime sending each record back to Redis (1 request in 8 or so). (A
        # lifetime shorter than a round, 60 s say, ends between that row's runs, and each run
        # then starts by fetching every record again.)
        servers["many_long"] = Nginx(work, "many_long", gate_http + cache + tokens + local
                                     + "asset_gate_cache_valid 1d;", locations["inline"])
        servers["nocache"] = Nginx(work, "nocache", gate_http + tokens, locations["inline"])

        token = mint(101)
        content = f"/exporter/{name(101)}?token={token}"
        bad_sig = f"/exporter/{name(101)}?token={token[:-2]}{'AA' if token[-2:] != 'AA' else 'BB'}"
        now = int(time.time())
        # A new token each request: more distinct tokens than the per-worker verified-token
        # cache holds, so each request pays for the HMAC and the claims parse.
        new_tokens = rotation(work, "new_tokens", [
            f"/exporter/{name(101)}?token=" + jwt.encode(
                {"id": 101, "exp": now + 86400 + i, "aud": "posthog:exported_asset"}, KEY,
                algorithm="HS256") for i in range(args.assets)])
        many = rotation(work, "many", [f"/exporter/{name(a)}?token={mint(a)}" for a in ids])
        many_plain = rotation(work, "many_plain", [f"/{location(a)}" for a in ids])
        n = args.assets
        rows = [
            # (label, server, path, must succeed, the ceiling its ratio is against)
            ("plain static nginx, one file (ceiling)", "plain", f"/{location(101)}", True, None),
            (f"plain static nginx, {n} files in turn (ceiling)", "plain", many_plain, True, None),
            ("plain static, the link's request line", "plain_link", content, True, 0),
            ("static with try_files (old ceiling)", "try_files", f"/exporter/{name(101)}", True, 0),
            ("one link, warm (@content + try_files)", "named", content, True, 0),
            ("one link, warm (inline + try_files)", "inline_try", content, True, 0),
            ("one link, warm (inline, root)", "inline", content, True, 0),
            ("a new token each request (inline)", "inline", new_tokens, True, 0),
            (f"{n} assets in turn, warm (inline)", "many", many, True, 1),
            (f"{n} assets in turn, warm, records outlive run", "many_long", many, True, 1),
            (f"{n} assets in turn, no cache zone", "nocache", many, True, 1),
            ("render surface, warm", "named", f"/exporter?token={mint(101, 'render')}", True, 0),
            ("refused: bad signature", "named", bad_sig, False, 0),
            ("refused: malformed path", "named", f"/exporter/a/b.png?token={token}", False, 0),
        ]
        if args.only:
            rows = rows[:2] + [r for r in rows[2:] if args.only in r[0]]
        # Warm up: fill the caches (every asset, in each server that has one), fault in pages.
        for label, key, path, *_ in rows:
            run(servers[key], path, 2, 8)

        def measure(row):
            label, key, path, must_succeed, _base = row
            r = run(servers[key], path, args.duration, args.connections)
            if must_succeed and (r["non2xx"] or r["errors"]):
                print(f"warning: {label}: {r['non2xx']} non-2xx responses, {r['errors']} socket errors",
                      file=sys.stderr)
            if not must_succeed and r["non2xx"] != r["requests"]:
                print(f"warning: {label}: only {r['non2xx']} of {r['requests']} were refused",
                      file=sys.stderr)
            runs[row[0]].append(r)
            return r

        # Each scenario is measured right after its ceiling, and its ratios are the medians of
        # those pairs': on a shared machine a slow spell then lands on both sides of a ratio.
        # The order of the scenarios turns from round to round.
        runs = {label: [] for label, *_ in rows}
        pairs = {label: [] for label, *_ in rows}
        scenarios = rows[2:]
        for i in range(args.rounds):
            for row in scenarios[i % len(scenarios):] + scenarios[:i % len(scenarios)]:
                b = measure(rows[row[4]])
                r = measure(row)
                pairs[row[0]].append((b["cpu_us"] / r["cpu_us"], r["rps"] / b["rps"]))

        print(f"\n{' '.join(WRK)} -c{args.connections} -d{args.duration}s, {Nginx.workers_conf} "
              "2 KiB files, "
              f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; {args.rounds} rounds, each "
              "scenario right after its ceiling (the last column); figures are medians, the ratios "
              "medians of those pairs'")
        print(f"{'scenario':46} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} "
              f"{'rps ratio':>9} {'CPU ratio':>9}  ceiling")
        for label, key, path, must_succeed, base in rows:
            if not runs[label]:
                continue  # a ceiling no scenario of this run (--only) needed
            med = {k: statistics.median(r[k] for r in runs[label]) for k in ("rps", "p50", "p99", "cpu_us")}
            if base is None:
                ratios, ceiling = "     1.00      1.00", "-"
            else:
                cpu = statistics.median(c for c, _ in pairs[label])
                rps = statistics.median(q for _, q in pairs[label])
                ratios, ceiling = f"{rps:9.2f} {cpu:9.2f}", "one file" if base == 0 else f"{n} files"
            print(f"{label:46} {med['rps']:9.0f} {med['p50']:7.2f} {med['p99']:7.2f} "
                  f"{med['cpu_us']:10.2f} {ratios}  {ceiling}")

        # Memory: worker RSS before and after at least --memory-requests allowed requests.
        if args.memory_requests <= 0:
            return
        srv = servers["many"]
        before = srv.rss_kib()
        done = 0
        while done < args.memory_requests:
            done += run(srv, many, args.duration, args.connections)["requests"]
        after = srv.rss_kib()
        print(f"\nworker RSS (both workers, inline, {n} assets in turn): {before} KiB before, "
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
