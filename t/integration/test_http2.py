"""HTTP/2: many streams on one connection, each waiting for its own Redis lookup, are woken
and answered; refusals and log masking behave as on HTTP/1.1. Driven by h2load (nghttp2)."""

import re
import shutil
import subprocess

import pytest

from gate import FILE, mint

pytestmark = pytest.mark.skipif(shutil.which("h2load") is None,
                                reason="h2load (Debian's nghttp2-client) is not installed")


def h2_stack(make_stack, **kw):
    s = make_stack(start=False, **kw)
    s.redis.start()
    conf = s.config().replace(f"listen 127.0.0.1:{s.port};", f"listen 127.0.0.1:{s.port} http2;")
    s.write_config = lambda: (s.dir / "nginx.conf").write_text(conf)
    s.start_redis_first = False
    s.start()
    s.put_org("org-1")
    s.put_asset(101)
    return s


def h2load(stack, path, requests, clients=4, streams=20):
    out = subprocess.run(["h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams),
                          f"http://127.0.0.1:{stack.port}{path}"],
                         capture_output=True, text=True, timeout=60).stdout
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    assert codes and done, out
    return {"2xx": int(codes.group(1)), "4xx": int(codes.group(3)), "5xx": int(codes.group(4)),
            "done": int(done.group(1))}


@pytest.mark.parametrize("cache", [False, True], ids=["redis-every-request", "cached"])
def test_multiplexed_streams_waiting_on_redis_are_all_answered(make_stack, cache):
    s = h2_stack(make_stack, cache=cache)
    result = h2load(s, f"{FILE}?token={mint(101)}", 2000)
    assert result == {"2xx": 2000, "4xx": 0, "5xx": 0, "done": 2000}


def test_refusals_on_http2_are_404_and_their_logs_are_masked(make_stack):
    s = h2_stack(make_stack)
    token = mint(999)
    result = h2load(s, f"{FILE}?token={token}", 200)
    assert result == {"2xx": 0, "4xx": 200, "5xx": 0, "done": 200}
    log = s.error_log()
    assert "asset_gate: refused asset 999: asset_unknown" in log
    assert "HTTP/2.0" in log
    assert token.split(".")[2] not in log + s.access_log()


def test_redis_down_on_http2_answers_503_on_every_stream(make_stack):
    s = h2_stack(make_stack, cache=False)
    s.redis.stop()
    result = h2load(s, f"{FILE}?token={mint(101)}", 400)
    assert result == {"2xx": 0, "4xx": 0, "5xx": 400, "done": 400}
