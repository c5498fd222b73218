#!/usr/bin/env bash
# Installs what asset_gate needs to build, test and run, from Debian's packages only.
# Idempotent: packages already present are not touched. Needs root (apt-get).
set -euo pipefail

PACKAGES=(
    build-essential dpkg-dev pkg-config
    nginx nginx-dev libssl-dev libjansson-dev libhiredis-dev redis-server
    libgtest-dev libbenchmark-dev clang libclang-rt-14-dev
    python3 python3-pytest python3-jwt python3-redis python3-requests python3-botocore
    wrk curl procps
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
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
