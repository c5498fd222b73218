#!/usr/bin/env bash
# Installs what asset_gate needs to build, test and run, from Debian's packages only.
# Idempotent: packages already present are not touched. Needs root (apt-get).
set -euo pipefail

PACKAGES=(
    build-essential dpkg-dev pkg-config
    nginx nginx-dev libssl-dev libjansson-dev libhiredis-dev redis-server redis-sentinel
    libgtest-dev libbenchmark-dev clang libclang-rt-14-dev clang-tidy cppcheck
    python3 python3-pytest python3-jwt python3-redis python3-requests python3-botocore
    python3-psycopg2 postgresql
    debhelper lintian wrk curl procps valgrind nghttp2-client openssl binutils caddy
    debootstrap prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# Node.js runs s3rver, the object store behind the S3 tests' verifier; any node >= 18 will do.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

install_s3rver() {
    if [ ! -x t/s3/node_modules/.bin/s3rver ]; then
        echo "install-deps: s3rver (npm ci --prefix t/s3)"
        npm ci --prefix t/s3 --no-audit --no-fund --loglevel=error
    fi
}

cd "$(dirname "$0")/.."
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    install_s3rver
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Installing the nginx package may try to start the distro service; keep it from binding :80.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_s3rver
