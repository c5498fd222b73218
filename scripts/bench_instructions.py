#!/usr/bin/python3
"""Instructions per request, counted by callgrind: plain static nginx against the gate.

Unlike requests per second on two shared cores, the count is repeatable: it measures the
user-space work nginx and the module do for one request (kernel networking is not counted).
Single-process nginx under valgrind, one keep-alive connection. Modes: plain static nginx
(`root`, the same file by its path), the same with the gate's token in the URL (which it
ignores: the longer request line's parse), static with try_files (the old ceiling),
the gate with one link and a warm cache (inline, `root`), the gate with 500 assets in turn
(warm: each link seen once before counting), the same 500 with no cache zone (a Redis round
trip each request), and the gate with a new token each request.

    scripts/bench_instructions.py [--requests 2000] [--annotate]
"""

import argparse
import http.client
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the same fixtures as the throughput benchmark)
import redis  # noqa: E402


ROTATING = 500  # the "many" mode's assets: within the default token cache and the zone


def count(mode, requests, annotate, keep=None):
    work = Path(tempfile.mkdtemp(prefix="asset-gate-cg-"))
    work.chmod(0o755)
    www = work / "www"
    rotating = mode in ("many", "nocache")
    ids = [101] + (list(range(1000, 1000 + ROTATING)) if rotating else [])
    for asset in ids:
        blob = www / f"exports/png/team-1/task-{asset}/blob"
        blob.parent.mkdir(parents=True)
        blob.write_bytes(os.urandom(2048))
    for p in [www, *www.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (work / "keys").write_text(bench.KEY + "\n")
    redis_port = bench.free_port()
    rds = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", str(work)],
                           stdout=subprocess.DEVNULL)
    vg = None
    try:
        bench.wait_port(redis_port)
        rc = redis.Redis(port=redis_port)
        for asset in ids:
            rc.hset(f"asset:{asset}", mapping={"org": "org-1", "format": "image/png",
                                               "location": f"exports/png/team-1/task-{asset}/blob"})
        rc.hset("org:org-1", mapping={"security_settings": "1", "allow_public": "1"})
        port = bench.free_port()
        if mode in ("plain", "plain_token"):  # the same file, by its path
            load, http_extra = "", ""
            location = f"location ^~ /exports/ {{ root {www}; default_type image/png; }}"
        elif mode == "try_files":
            load, http_extra = "", ""
            location = (f"location ^~ /exporter {{ root {www}; default_type image/png; "
                        f"try_files /exports/png/team-1/task-101/blob =404; }}")
        else:
            load = f"load_module {bench.MODULE};"
            http_extra = f"asset_gate_redis 127.0.0.1:{redis_port};"
            if mode != "nocache":
                http_extra += " asset_gate_cache_zone cg:1m;"
            location = (f"location ^~ /exporter {{ asset_gate on; asset_gate_key_file {work}/keys; "
                        f"asset_gate_content inline; root {www}; }}")
        (work / "nginx.conf").write_text(f"""{load}
daemon off; master_process off; error_log {work}/error.log warn; pid {work}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off; keepalive_requests 1000000;
    client_body_temp_path {work}/b; proxy_temp_path {work}/p; fastcgi_temp_path {work}/f;
    uwsgi_temp_path {work}/u; scgi_temp_path {work}/s;
    {http_extra}
    server {{ listen 127.0.0.1:{port}; {location} }}
}}
""")
        out = work / "callgrind.out"
        vg = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               bench.NGINX, "-p", str(work), "-c", str(work / "nginx.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bench.wait_port(port, timeout=60)
        if mode == "new_token":  # each request a token never seen: HMAC and claims parse
            now = int(time.time())
            paths = iter([f"/exporter/{bench.NAME}?token=" + bench.jwt.encode(
                {"id": 101, "exp": now + 86400 + i, "aud": "posthog:exported_asset"}, bench.KEY,
                algorithm="HS256") for i in range(requests + 50)])
        elif rotating:  # every link fetched before: the caches hold them all
            paths = itertools.cycle([f"/exporter/{bench.NAME}?token={bench.mint(a)}"
                                     for a in ids[1:]])
        else:
            token = "" if mode in ("plain", "try_files") else f"?token={bench.mint(101)}"
            # plain_token: plain static nginx asked with the gate's token too, which it ignores:
            # what parsing the longer request line costs, apart from the gate.
            where = ("/exports/png/team-1/task-101/blob" if mode.startswith("plain")
                     else f"/exporter/{bench.NAME}")
            paths = itertools.repeat(where + token)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def get():
            conn.request("GET", next(paths))
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"{mode}: status {r.status}")

        for _ in range(ROTATING + 50 if rotating else 50):  # warm: caches filled, pools grown
            get()
        subprocess.run(["callgrind_control", "--zero", str(vg.pid)], check=True,
                       capture_output=True)
        for _ in range(requests):
            get()
        subprocess.run(["callgrind_control", "--dump", str(vg.pid)], check=True,
                       capture_output=True)
        time.sleep(1)
        dumps = sorted(work.glob("callgrind.out*"), key=lambda p: p.stat().st_mtime)
        text = dumps[-1].read_text(errors="replace")
        total = int(re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M).group(1))
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(dumps[-1], keep / f"callgrind.{mode}")
        if annotate:
            report = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                                     str(dumps[-1])], capture_output=True, text=True).stdout
            rows = [m.groups() for m in (re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
                                         for line in report.splitlines()) if m]
            print(f"\n{mode}: top functions, instructions per request")
            for n, where in [r for r in rows if "main" not in r[1] and "libc-start" not in r[1]][:20]:
                print(f"  {int(n.replace(',', '')) // requests:7d}  {where[:110]}")
        return total / requests
    finally:
        if vg is not None:
            vg.terminate()
            vg.wait(30)
        rds.terminate()
        rds.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--annotate", action="store_true", help="print the top functions")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep each mode's callgrind dump in DIR (callgrind_annotate reads them)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    counts = {mode: count(mode, args.requests, args.annotate, args.keep)
              for mode in ("plain", "plain_token", "try_files", "warm", "many", "nocache",
                           "new_token")}
    plain = counts["plain"]
    print(f"\nuser-space instructions per request (callgrind, {args.requests} keep-alive requests, "
          "single-process nginx):")
    for mode, label in (("plain", "plain static nginx (root)"),
                        ("plain_token", "plain static, with the gate's token in the URL"),
                        ("try_files", "static with try_files (old ceiling)"),
                        ("warm", "the gate, one link, warm cache (inline, root)"),
                        ("many", f"the gate, {ROTATING} links in turn, warm"),
                        ("nocache", f"the gate, {ROTATING} links in turn, no cache zone"),
                        ("new_token", "the gate, a new token each request")):
        n = counts[mode]
        extra = "" if mode == "plain" else f"   {n - plain:+.0f} ({n / plain:.2f}x)"
        print(f"  {label:46} {n:9.0f}{extra}")

if __name__ == "__main__":
    main()
