"""contrib/: the Prometheus alert rules pass promtool's checks and their own unit tests, the
Grafana dashboard is well formed, and neither names a metric the module does not emit: every
name is looked up on the status page of a real nginx (with a real redis-server) after traffic
that makes each metric appear."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import serve
from gate import REPO, Stack
from test_sync_stale import beat

PROMETHEUS = REPO / "contrib" / "prometheus"
RULES = PROMETHEUS / "asset-gate.rules.yml"
RULE_TESTS = PROMETHEUS / "asset-gate.rules.test.yml"
DASHBOARD = REPO / "contrib" / "grafana" / "asset-gate.json"
METRICS = "location = /metrics { asset_gate_status; }"

# Series Prometheus makes itself, not the module.
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "offset", "bool", "inf", "nan"}


def promtool():
    """promtool (Debian's prometheus package), which scripts/install-deps.sh installs: in CI on
    the host its absence is a failure. Elsewhere (a developer's machine, a Debian leg's root,
    where the release may not have it) the tests that need it skip."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") and not Path("/.dist-root.stamp").exists():
            pytest.fail("promtool is missing: scripts/install-deps.sh installs it (prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def run(*args, cwd=None):
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=120)


def rule_exprs():
    """The expr of every rule, read without a YAML library: each `expr:` is a plain scalar
    or a `>-` block in the rules file."""
    exprs, lines = [], RULES.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        if m.group(2) not in (">-", ">", "|", "|-"):
            exprs.append(m.group(2))
            continue
        block, indent = [], len(m.group(1))
        for more in lines[i + 1:]:
            if more.strip() and len(more) - len(more.lstrip()) <= indent:
                break
            block.append(more.strip())
        exprs.append(" ".join(block))
    return exprs


def dashboard():
    return json.loads(DASHBOARD.read_text())


def panels(d):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def dashboard_exprs():
    return [t["expr"] for p in panels(dashboard()) for t in p.get("targets", [])]


def metric_names(expr):
    """The series names a PromQL expression selects: what is left once strings, label
    matchers, ranges, grouping clauses, function calls, keywords and numbers are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(", "(", expr)  # function calls
    expr = re.sub(r"\boffset\s+\d+[smhdwy]", " ", expr)
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    return {n for n in names if n.lower() not in PROMQL_WORDS}


@pytest.fixture(scope="module")
def live():
    """A stack where every metric has something to show: a cache zone, an invalidation
    channel, and a heartbeat the gate checks."""
    yield from serve(Stack(server_extra=METRICS, location_extra="asset_gate_sync_max_age 5s;",
                           http_extra="asset_gate_invalidation_channel changes;").start())


@pytest.fixture(scope="module")
def emitted(live):
    """The sample names its status page shows after decisions were made."""
    live.put_org("org-1")
    live.put_asset(101)
    beat(live)
    for _ in range(3):
        live.content(101)
    live.content(999)
    live.content(101, key="some-other-key-0000000000000000000000")
    r = live.request("/metrics")
    assert r.status == 200
    return {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            for line in r.body.decode().splitlines() if line and not line.startswith("#")}


# -- the alert rules ---------------------------------------------------------------------------

def test_promtool_accepts_the_rules():
    res = run(promtool(), "check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout, res.stdout


def test_each_alert_fires_and_stays_quiet_in_promtools_tests():
    res = run(promtool(), "test", "rules", RULE_TESTS.name, cwd=PROMETHEUS)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout, res.stdout


def test_every_alert_has_a_test_that_fires_it():
    alerts = set(re.findall(r"^\s*- alert:\s*(\w+)", RULES.read_text(), re.M))
    tested = RULE_TESTS.read_text()
    assert len(alerts) >= 8, alerts
    for alert in alerts:
        blocks = re.findall(rf"alertname: {alert}\n\s*exp_alerts:(.*?)(?=\n\s*- eval_time|\n  - name|\Z)",
                            tested, re.S)
        assert any("exp_labels" in b for b in blocks), f"{alert}: no test where it fires"
        assert any(b.strip() == "[]" for b in blocks), f"{alert}: no test where it stays quiet"


def test_every_alert_has_a_severity_summary_description_and_runbook():
    text = RULES.read_text()
    for rule in re.split(r"\n\s*- alert:", text)[1:]:
        name = rule.split()[0]
        for field in ("for:", "severity:", "summary:", "description:", "runbook_url:"):
            assert field in rule, f"{name} lacks {field}"
        anchor = re.search(r'runbook_url:\s*"README\.md#([a-z0-9-]+)"', rule)
        assert anchor, f"{name}: runbook_url is not a README section"
        assert anchor.group(1) in readme_anchors(), f"{name}: README has no #{anchor.group(1)}"


def readme_anchors():
    """GitHub's anchors of README.md's headings."""
    anchors = set()
    for line in (REPO / "README.md").read_text().splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", m.group(1).lower()).replace(" ", "-"))
    return anchors


def test_the_rules_name_only_metrics_the_module_emits(emitted):
    used = set().union(*(metric_names(e) for e in rule_exprs()))
    assert any(n.startswith("asset_gate_") for n in used), used
    assert used - PROMETHEUS_OWN <= emitted, sorted(used - PROMETHEUS_OWN - emitted)


# -- the dashboard -----------------------------------------------------------------------------

def test_the_dashboard_parses_with_a_prometheus_datasource_variable():
    d = dashboard()
    assert 36 <= d["schemaVersion"] <= 39
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for p in panels(d):
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]


def test_the_dashboards_panel_ids_are_unique_and_each_target_has_an_expr():
    d = dashboard()
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), ids
    shown = [p for p in panels(d) if p["type"] != "row"]
    assert len(shown) >= 10
    for p in shown:
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t.get("expr", "").strip(), (p["title"], t)
            assert t["datasource"]["uid"] == "${datasource}", (p["title"], t)


def test_the_dashboard_covers_the_brief():
    exprs = " ".join(dashboard_exprs())
    for name in ("asset_gate_decisions_total", "asset_gate_redis_up", "asset_gate_redis_errors_total",
                 "asset_gate_cache_lookups_total", "asset_gate_cache_bytes",
                 "asset_gate_sync_heartbeat_age_seconds", "asset_gate_build_info"):
        assert name in exprs, name


def test_the_dashboards_expressions_are_valid_promql(tmp_path):
    # promtool has no query checker of its own; each expression as a recording rule is one.
    exprs = [e.replace("$__rate_interval", "5m").replace("$instance", ".*")
             for e in dashboard_exprs()]
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for i, e in enumerate(exprs):
        rules += [f"      - record: dashboard:expr_{i}", f"        expr: {json.dumps(e)}"]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text("\n".join(rules) + "\n")
    res = run(promtool(), "check", "rules", str(path))
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_dashboard_names_only_metrics_the_module_emits(emitted):
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    assert len(used) >= 10, used
    assert used <= emitted, sorted(used - emitted)


def test_the_name_finder_finds_names_and_only_names():
    # The checks above are only as good as this: it must see every name, and nothing else.
    expr = ('sum by (job, instance) (rate(foo_total{reason="bar baz"}[5m])) / on (job) '
            'histogram_quantile(0.99, sum by (le) (rate(lat_bucket[1h] offset 5m))) > 0.5 '
            'unless up == 0 or abs(age) != age')
    assert metric_names(expr) == {"foo_total", "lat_bucket", "up", "age"}
