"""`make deb` builds libnginx-mod-http-asset-gate the way Debian builds its own nginx modules;
installed on this machine, the packaged nginx loads it through modules-available/-enabled."""

import subprocess
from pathlib import Path

import pytest

from gate import REPO

PACKAGE = "libnginx-mod-http-asset-gate"
SNIPPET = Path("/usr/share/nginx/modules-available/mod-http-asset-gate.conf")


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def install(package, pattern):
    """Installs the one build/deb/PATTERN of `package`; yields it; purges it after, unless it
    was installed before."""
    debs = list((REPO / "build" / "deb").glob(pattern))
    assert len(debs) == 1, debs
    was_installed = run("dpkg-query", "-W", package).returncode == 0
    result = run("dpkg", "-i", str(debs[0]))
    assert result.returncode == 0, result.stdout + result.stderr
    yield debs[0]
    if not was_installed:
        run("dpkg", "--purge", package)


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


def test_the_installed_sync_runs_and_refuses_a_missing_database(sync_installed):
    assert run("/usr/bin/asset-gate-sync", "--help").returncode == 0
    r = run("/usr/bin/asset-gate-sync", "watch", env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "no database" in r.stderr, (r.returncode, r.stderr)
