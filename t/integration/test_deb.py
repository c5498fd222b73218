"""`make deb` builds libnginx-mod-http-asset-gate the way Debian builds its own nginx modules,
asset-gate-sync and asset-gate-credentials; lintian finds no error or warning in them;
installed on this machine, the packaged nginx loads the module through
modules-available/-enabled, the example configuration passes nginx -t, the tools run from PATH,
and the packages go again cleanly."""

import http.client
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import jwt
import pytest

from gate import AUDIENCE, FILE, KEY, PNG, REPO, Redis, free_port, mint, wait_port

PACKAGE = "libnginx-mod-http-asset-gate"
SNIPPET = Path("/usr/share/nginx/modules-available/mod-http-asset-gate.conf")
DOC = Path("/usr/share/doc") / PACKAGE
EXAMPLE = DOC / "examples" / "asset-gate.conf"


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def dpkg(*args):
    """dpkg ARGS, waiting (up to a minute) while another dpkg or apt holds its lock: this
    machine's other work installs packages too."""
    deadline = time.monotonic() + 60
    while True:
        result = run("dpkg", *args)
        if "lock" not in result.stderr or result.returncode == 0 or time.monotonic() > deadline:
            return result
        time.sleep(1)


def install(package, pattern):
    """Installs the one build/deb/PATTERN of `package`; yields it; purges it after, unless it
    was installed before."""
    debs = list((REPO / "build" / "deb").glob(pattern))
    assert len(debs) == 1, debs
    # Not `dpkg-query -W` alone: that also finds a package dpkg knows only as another's
    # Suggests or Recommends ("un"), as these two name each other.
    was_installed = run("dpkg-query", "-W", "-f", "${db:Status-Status}", package).stdout == "installed"
    result = dpkg("-i", str(debs[0]))
    assert result.returncode == 0, result.stdout + result.stderr
    yield debs[0]
    if not was_installed:
        purged = dpkg("--purge", package)
        assert purged.returncode == 0, purged.stdout + purged.stderr


@pytest.fixture(scope="module")
def installed():
    build = run("make", "-C", str(REPO), "deb")
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield from install(PACKAGE, f"{PACKAGE}_*.deb")


def field_list(value):
    """A Depends or Provides field as its package names ("a (>= 1) | b, c" -> [a, b, c])."""
    return [alt.split()[0] for dep in value.split(",") for alt in dep.split("|") if alt.strip()]


def test_package_depends_on_the_abi_of_the_nginx_installed_here(installed):
    depends = field_list(run("dpkg-deb", "-f", str(installed), "Depends").stdout)
    abis = [d for d in depends if d.startswith("nginx-abi-")]
    assert len(abis) == 1, depends
    nginx = run("dpkg-query", "-W", "-f", "${Version}\n${Provides}", "nginx").stdout.split("\n", 1)
    assert len(nginx) == 2, "nginx is not installed as a package"
    version, provides = nginx[0], field_list(nginx[1])
    # nginx-abi-UPSTREAM-N: this release's nginx (1.22.1 on bookworm, 1.26.3 on trixie, ...)
    upstream = version.split(":")[-1].rsplit("-", 1)[0]
    assert abis[0].startswith(f"nginx-abi-{upstream}-"), (abis[0], version)
    assert abis[0] in provides, (abis[0], version, provides)


def test_the_abi_is_the_one_nginx_dev_declares_for_modules(installed):
    """dh_nginx takes nginx:abi from nginx-dev's substvars: the headers the module was built with."""
    substvars = Path("/usr/share/nginx/src/debian/libnginx-mod.abisubstvars").read_text()
    abi = [line.split("=", 1)[1].strip() for line in substvars.splitlines() if line.startswith("nginx:abi=")]
    depends = field_list(run("dpkg-deb", "-f", str(installed), "Depends").stdout)
    assert abi and abi[0] in depends, (abi, depends)


def test_package_installs_the_module_and_its_load_snippet(installed):
    assert Path("/usr/lib/nginx/modules/ngx_http_asset_gate_module.so").exists()
    assert SNIPPET.read_text().strip() == "load_module modules/ngx_http_asset_gate_module.so;"
    enabled = Path("/etc/nginx/modules-enabled/50-mod-http-asset-gate.conf")
    assert enabled.is_symlink() and enabled.resolve() == SNIPPET


def test_packaged_nginx_loads_it_with_its_own_configuration(installed):
    result = run("/usr/sbin/nginx", "-t", "-q")
    assert result.returncode == 0, result.stderr


def test_a_gate_configured_through_the_snippet_passes_nginx_t(installed, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("deb-test-signing-key-0123456789abcdef0123\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
include {SNIPPET};
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    asset_gate_redis 127.0.0.1:6379;
    server {{
        listen 127.0.0.1:8089;
        location ^~ /exporter {{
            asset_gate on;
            asset_gate_key_file {keys};
            asset_gate_content @content;
        }}
        location @content {{ root {tmp_path}; try_files /$asset_gate_location =404; }}
    }}
}}
""")
    # The snippet names the module relative to nginx's own prefix, as Debian's do.
    result = run("/usr/sbin/nginx", "-t", "-c", str(conf))
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


SYNC_PACKAGE = "asset-gate-sync"


@pytest.fixture(scope="module")
def sync_installed(installed):
    yield from install(SYNC_PACKAGE, f"{SYNC_PACKAGE}_*_all.deb")


def test_the_sync_package_installs_the_follower_and_its_unit_not_started(sync_installed):
    files = run("dpkg", "-L", SYNC_PACKAGE).stdout.splitlines()
    unit = next(Path(f) for f in files if f.endswith("/systemd/system/asset-gate-sync.service"))
    text = unit.read_text()
    assert "ExecStart=/usr/bin/asset-gate-sync watch" in text
    assert "EnvironmentFile=/etc/default/asset-gate-sync" in text
    # it needs a database URL first: neither enabled nor started by the package
    wants = Path("/etc/systemd/system/multi-user.target.wants/asset-gate-sync.service")
    assert not wants.exists()
    default = Path("/etc/default/asset-gate-sync")
    assert default.stat().st_mode & 0o777 == 0o600  # URLs with passwords
    assert "DATABASE_URL=" in default.read_text()
    depends = field_list(run("dpkg-deb", "-f", str(sync_installed), "Depends").stdout)
    assert {"python3-psycopg2", "python3-redis"} <= set(depends), depends


CREDENTIALS_PACKAGE = "asset-gate-credentials"


@pytest.fixture(scope="module")
def credentials_installed(installed):
    yield from install(CREDENTIALS_PACKAGE, f"{CREDENTIALS_PACKAGE}_*_all.deb")


def test_the_credentials_package_installs_the_companion_and_its_unit_not_started(
        credentials_installed):
    files = set(run("dpkg", "-L", CREDENTIALS_PACKAGE).stdout.splitlines())
    doc = Path("/usr/share/doc") / CREDENTIALS_PACKAGE
    for f in ("/usr/bin/asset-gate-credentials", "/usr/share/man/man1/asset-gate-credentials.1.gz",
              str(doc / "copyright"), "/etc/default/asset-gate-credentials"):
        assert f in files, (f, sorted(files))
    unit = next(Path(f) for f in files if f.endswith("/systemd/system/asset-gate-credentials.service"))
    text = unit.read_text()
    assert "ExecStart=/usr/bin/asset-gate-credentials $ASSET_GATE_CREDENTIALS_ARGS" in text
    assert "EnvironmentFile=/etc/default/asset-gate-credentials" in text
    assert not Path("/etc/systemd/system/multi-user.target.wants/asset-gate-credentials.service").exists()
    depends = field_list(run("dpkg-deb", "-f", str(credentials_installed), "Depends").stdout)
    assert "python3-botocore" in depends, depends


def test_the_installed_companion_writes_a_file_the_installed_module_reads(
        credentials_installed, tmp_path):
    assert run("/usr/bin/asset-gate-credentials", "--help").returncode == 0
    target = tmp_path / "s3-credentials"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "AKIDPACKAGETEST",
           "AWS_SECRET_ACCESS_KEY": "package-test-secret", "AWS_EC2_METADATA_DISABLED": "true"}
    r = run("/usr/bin/asset-gate-credentials", "--once", "--file", str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert "package-test-secret" not in r.stdout + r.stderr      # never logged
    assert target.stat().st_mode & 0o777 == 0o640
    assert "aws_access_key_id = AKIDPACKAGETEST" in target.read_text()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""include /etc/nginx/modules-enabled/*.conf;
events {{}}
http {{
    asset_gate_s3_endpoint http://127.0.0.1:9;
    asset_gate_s3_bucket b;
    asset_gate_s3_credentials_file {target};
}}
""")
    result = run("/usr/sbin/nginx", "-t", "-c", str(conf))
    assert result.returncode == 0, result.stderr


def test_the_installed_sync_runs_and_refuses_a_missing_database(sync_installed):
    assert run("/usr/bin/asset-gate-sync", "--help").returncode == 0
    r = run("/usr/bin/asset-gate-sync", "watch", env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "no database" in r.stderr, (r.returncode, r.stderr)


# --- what the packages hold, and lintian's verdict on them -------------------------------------

def test_lintian_finds_no_error_or_warning_in_the_packages(installed):
    """On the .changes, so every .deb of the build (the -dbgsym one too) and the .buildinfo."""
    assert shutil.which("lintian"), "lintian is missing: scripts/install-deps.sh installs it"
    changes = list((REPO / "build" / "deb").glob("asset-gate_*.changes"))
    assert len(changes) == 1, changes
    listed = changes[0].read_text()
    assert all(f"{p}_" in listed for p in (PACKAGE, SYNC_PACKAGE, CREDENTIALS_PACKAGE)), listed
    result = run("lintian", "--fail-on", "error,warning", str(changes[0]))
    tags = [line for line in result.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert tags == [] and result.returncode == 0, result.stdout + result.stderr


def test_the_module_package_holds_the_token_tool_docs_and_licence(installed):
    files = set(run("dpkg", "-L", PACKAGE).stdout.splitlines())
    for f in ("/usr/bin/asset-gate-token", "/usr/share/man/man1/asset-gate-token.1.gz",
              str(EXAMPLE), str(DOC / "README.md.gz"), str(DOC / "README.Debian"),
              str(DOC / "copyright"), str(SNIPPET)):
        assert f in files, (f, sorted(files))
    # the compiled tool itself, not the repository's wrapper script
    assert Path("/usr/bin/asset-gate-token").read_bytes()[:4] == b"\x7fELF"


def test_the_packaged_copyright_is_dep5_with_the_licence_text_of_LICENSE(installed):
    copyright = (DOC / "copyright").read_text()
    assert copyright.startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/")
    assert "License: BSD-2-clause" in copyright and "proprietary" not in copyright
    # The licence's text in DEP-5 form: indented by one space, blank lines as " .".
    body = (REPO / "LICENSE").read_text().split("\n\n", 1)[1].rstrip("\n")
    dep5 = "\n".join(" " + line if line else " ." for line in body.split("\n"))
    assert dep5 in copyright


def test_the_installed_token_tool_mints_what_pyjwt_verifies_and_inspects_it(installed, tmp_path):
    tool = shutil.which("asset-gate-token", path="/usr/bin:/bin")
    assert tool == "/usr/bin/asset-gate-token"
    assert run(tool, "--help").returncode == 0
    key = "deb-test-signing-key-0123456789abcdef0123"
    keys = tmp_path / "keys"
    keys.write_text(key + "\n")
    minted = run(tool, "mint", "--key-file", str(keys), "--id", "42", "--purpose", "render")
    assert minted.returncode == 0, minted.stderr
    claims = jwt.decode(minted.stdout.strip(), key, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["id"] == 42 and claims["purpose"] == "render"
    inspected = run(tool, "inspect", "--key-file", str(keys), minted.stdout.strip())
    assert inspected.returncode == 0, inspected.stdout + inspected.stderr
    keys.write_text("another-key-that-did-not-sign-it-0123456789\n")
    refused = run(tool, "inspect", "--key-file", str(keys), minted.stdout.strip())
    assert refused.returncode == 1 and "bad_signature" in refused.stdout, refused.stdout


def example_config(directory, keys, **replace):
    """The installed example in DIRECTORY/nginx.conf, loading the module through the
    modules-available snippet, with only what must exist or be free here changed: the key
    file, the log directory, the listen addresses (ports returned: the gate's, the status
    page's) and REPLACE's strings, each of which must be in the example."""
    example = EXAMPLE.read_text()
    replace = {"/etc/asset_gate/keys": str(keys), "/var/log/nginx/": f"{directory}/", **replace}
    for needed in (*replace, "asset_gate_cache_zone ", "asset_gate_redis ", "asset_gate_status;",
                   "asset_gate_content @"):
        assert needed in example, needed
    for old, new in replace.items():
        example = example.replace(old, new)
    ports = []

    def listen(m):
        ports.append(free_port())
        return f"{m.group(1)}listen 127.0.0.1:{ports[-1]};"

    example = re.sub(r"^(\s*)listen [^;]+;", listen, example, flags=re.M)
    assert len(ports) == 2, ports
    (directory / "asset-gate.conf").write_text(example)
    temp = "\n".join(f"    {kind}_temp_path {directory}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = directory / "nginx.conf"
    conf.write_text(f"""
include {SNIPPET};
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{}}
http {{
{temp}
    include {directory}/asset-gate.conf;
}}
""")
    return conf, ports


def test_the_example_configuration_passes_nginx_t_with_the_installed_module(installed, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("deb-test-signing-key-0123456789abcdef0123\n")
    conf, _ = example_config(tmp_path, keys)
    result = run("/usr/sbin/nginx", "-t", "-c", str(conf))
    assert result.returncode == 0 and "syntax is ok" in result.stderr, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_the_example_configuration_gates_content_from_redis_records(installed):
    """Run as it is (Redis and content root moved to this test's): a subscription delivery's
    link serves the record's file, a link without a token is the plain 404, the status page
    counts both."""
    directory = Path(tempfile.mkdtemp(prefix="asset-gate-deb-"))
    directory.chmod(0o755)  # the workers read the content below it
    redis = Redis(directory)
    nginx = None
    try:
        redis.start()
        content = directory / "content"
        (content / "exports").mkdir(parents=True)
        (content / "exports" / "42.png").write_bytes(PNG)
        redis.client.hset("asset:42", mapping={"org": "org-1", "format": "image/png",
                                               "location": "exports/42.png"})
        keys = directory / "keys"
        keys.write_text(KEY + "\n")
        conf, (port, status_port) = example_config(
            directory, keys, **{"asset_gate_redis 127.0.0.1:6379;": f"asset_gate_redis 127.0.0.1:{redis.port};",
                                "root /var/lib/asset-gate/content;": f"root {content};"})
        nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", str(conf)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, nginx, "nginx")
        wait_port(status_port, nginx, "nginx")

        def get(p, path):
            conn = http.client.HTTPConnection("127.0.0.1", p, timeout=10)
            try:
                conn.request("GET", path, headers={"Host": "posthog.example.org"})
                r = conn.getresponse()
                return r.status, r.read()
            finally:
                conn.close()

        token = mint(42, purpose="subscription_delivery")
        assert get(port, f"{FILE}?token={token}") == (200, PNG)
        assert get(port, FILE)[0] == 404
        status, metrics = get(status_port, "/metrics")
        assert status == 200, metrics
        assert b'asset_gate_decisions_total{surface="content",purpose="subscription_delivery",reason="allowed"} 1' \
            in metrics, metrics.decode()
        assert re.search(rb'asset_gate_decisions_total\{surface="content",[^}]*reason="no_token"\} 1', metrics)
        # both in the example's access log, with their reasons
        log = (directory / "asset-gate.log").read_text()
        assert re.search(r'" 200 \d+ allowed asset=42 purpose=subscription_delivery', log), log
        assert re.search(r'" 404 \d+ no_token ', log), log
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=15)
        redis.stop()
    errors = (directory / "error.log").read_text()
    assert not re.search(r"\[(alert|emerg|crit)\]|exited on signal", errors), errors
    shutil.rmtree(directory, ignore_errors=True)


def test_the_sync_package_holds_its_man_page_docs_and_licence(sync_installed):
    files = set(run("dpkg", "-L", SYNC_PACKAGE).stdout.splitlines())
    doc = Path("/usr/share/doc") / SYNC_PACKAGE
    for f in ("/usr/bin/asset-gate-sync", "/usr/share/man/man1/asset-gate-sync.1.gz",
              str(doc / "copyright"), str(doc / "README.md.gz"), "/etc/default/asset-gate-sync"):
        assert f in files, (f, sorted(files))
    assert shutil.which("asset-gate-sync", path="/usr/bin:/bin") == "/usr/bin/asset-gate-sync"


def test_systemd_analyze_verify_accepts_the_installed_units(installed, sync_installed,
                                                           credentials_installed):
    units = [f for p in (PACKAGE, SYNC_PACKAGE, CREDENTIALS_PACKAGE)
             for f in run("dpkg", "-L", p).stdout.splitlines()
             if re.search(r"/systemd/system/[^/]+\.(service|timer|socket|path)$", f)]
    assert any(u.endswith("/asset-gate-sync.service") for u in units), units
    assert any(u.endswith("/asset-gate-credentials.service") for u in units), units
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    result = run("systemd-analyze", "verify", *units)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_packages_remove_cleanly_and_purge_takes_the_settings(installed, sync_installed,
                                                                 credentials_installed):
    """Last in the file: removes them, then installs them again for the fixtures' teardown."""
    removed = dpkg("-r", SYNC_PACKAGE, CREDENTIALS_PACKAGE, PACKAGE)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    for gone in ("/usr/bin/asset-gate-token", "/usr/bin/asset-gate-sync",
                 "/usr/bin/asset-gate-credentials", str(EXAMPLE),
                 "/usr/lib/nginx/modules/ngx_http_asset_gate_module.so", str(SNIPPET)):
        assert not Path(gone).exists(), gone
    assert not Path("/etc/nginx/modules-enabled/50-mod-http-asset-gate.conf").is_symlink()
    # the packaged nginx still starts without the module
    assert run("/usr/sbin/nginx", "-t", "-q").returncode == 0
    # removed, a conffile stays (the settings may hold the operator's URLs); purged, it goes
    assert Path("/etc/default/asset-gate-sync").exists()
    purged = dpkg("--purge", SYNC_PACKAGE, CREDENTIALS_PACKAGE)
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert not Path("/etc/default/asset-gate-sync").exists()
    assert not Path("/etc/default/asset-gate-credentials").exists()
    again = dpkg("-i", str(installed), str(sync_installed), str(credentials_installed))
    assert again.returncode == 0, again.stdout + again.stderr
