"""Shared fixtures: `stack` (one per module, healthy at teardown) and `make_stack` (per test)."""

import pytest

from faults import FakeRedis
from gate import MODULE, Stack


def pytest_sessionstart(session):
    assert MODULE.exists(), f"build the module first (make): {MODULE} is missing"


@pytest.fixture
def make_stack():
    """Builds stacks with custom settings; each is stopped, checked and removed afterwards."""
    made = []

    def make(start=True, **kw):
        s = Stack(**kw)
        made.append(s)
        return s.start() if start else s

    yield make
    for s in made:
        try:
            s.stop()
            s.assert_healthy()
        finally:
            s.cleanup()


def serve(s):
    """Yields a started stack, then stops it, checks its log and removes it (for fixtures)."""
    yield s
    try:
        s.stop()
        s.assert_healthy()
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def stack():
    s = Stack().start()
    s.put_org("org-on", security_settings=True, allow_public=True)
    s.put_org("org-off", security_settings=True, allow_public=False)
    s.put_org("org-nofeature", security_settings=False, allow_public=False)
    s.put_asset(101, org="org-on", filename="export-weekly-report.png")
    s.put_asset(102, org="org-off")
    s.put_asset(103, org="org-nofeature")
    s.put_asset(104, org="org-missing")
    yield from serve(s)


@pytest.fixture
def fake_redis():
    """Something that is not Redis on a loopback port (see faults.FakeRedis)."""
    made = []

    def make(mode, payload=b""):
        f = FakeRedis(mode, payload).start()
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()
