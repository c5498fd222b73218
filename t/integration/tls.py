"""TLS fixtures: certificate authorities and server certificates made with the openssl command
(valid, expired, for the wrong name, from another CA), and a redis-server (or valkey-server)
that speaks only TLS on its port."""

import re
import subprocess
from pathlib import Path

import redis

from gate import MODULE, Redis, wait_port

NAME = "redis.test"  # the DNS name in the good certificates


def hiredis_major(include="/usr/include/hiredis/hiredis.h"):
    """The major version of the hiredis the module was built against on this system."""
    text = Path(include).read_text()
    return int(re.search(r"#define HIREDIS_MAJOR (\d+)", text).group(1))


def module_links_hiredis_ssl(module=MODULE):
    """Whether the built module links libhiredis_ssl (its ELF NEEDED entries)."""
    out = subprocess.run(["objdump", "-p", str(module)], capture_output=True, text=True,
                         check=True).stdout
    return any("libhiredis_ssl" in line for line in out.splitlines() if "NEEDED" in line)


def _openssl(*args, cwd):
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, f"openssl {' '.join(args)}: {res.stderr}"


class Authority:
    """A certificate authority in its own directory, signing with `openssl ca` (which, unlike
    `openssl x509 -req` in OpenSSL 3.0, sets any validity period, past ones included)."""

    def __init__(self, directory: Path, name):
        self.dir = directory / name
        (self.dir / "db").mkdir(parents=True)
        (self.dir / "db" / "index").write_text("")
        (self.dir / "db" / "serial").write_text("1000\n")
        self.key = self.dir / "ca.key"
        self.cert = self.dir / "ca.crt"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", str(self.key), "-out", str(self.cert), "-days", "30",
                 "-subj", f"/CN=asset_gate test CA {name}", cwd=self.dir)

    def issue(self, name, dns=(NAME,), ips=("127.0.0.1",), start=None, end=None, days=30):
        """A server certificate and its key: (cert, key). `start`/`end` are openssl's
        YYYYMMDDHHMMSSZ; without them the certificate is valid from now for `days`."""
        sans = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
        conf = self.dir / f"{name}.cnf"
        conf.write_text(f"""[ca]
default_ca = here
[here]
database = {self.dir}/db/index
new_certs_dir = {self.dir}/db
serial = {self.dir}/db/serial
default_md = sha256
policy = any
unique_subject = no
x509_extensions = leaf
[any]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = {sans}
""")
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        cert = self.dir / f"{name}.crt"
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}", cwd=self.dir)
        period = ["-startdate", start, "-enddate", end] if start else ["-days", str(days)]
        _openssl("ca", "-batch", "-config", str(conf), "-cert", str(self.cert), "-keyfile",
                 str(self.key), "-in", str(csr), "-out", str(cert), *period, cwd=self.dir)
        key.chmod(0o644)  # redis-server may run as another user in some setups; tests only
        return cert, key


class TlsRedis(Redis):
    """A redis-server whose one port speaks TLS only (--port 0 --tls-port P), with `cert`
    and `key` as its certificate; clients are not asked for one."""

    def __init__(self, directory: Path, authority: Authority, cert, key, password=None):
        super().__init__(directory, password=password)
        self.authority = authority
        self.cert = cert
        self.key = key

    def tls_args(self):
        return ["--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
                "--tls-ca-cert-file", str(self.authority.cert), "--tls-auth-clients", "no"]

    def start(self):
        from gate import REDIS_SERVER
        args = [REDIS_SERVER, "--port", "0", "--tls-port", str(self.port), "--bind", *self.bind,
                "--save", "", "--appendonly", "no", "--dir", str(self.dir), *self.tls_args()]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "redis-tls.log", "w"))
        wait_port(self.port, self.proc, "redis-server (TLS)")
        # The test's own client: encrypted, not verifying (the gate is what is tested).
        self.client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                                  ssl=True, ssl_cert_reqs="none", decode_responses=True)
        return self
