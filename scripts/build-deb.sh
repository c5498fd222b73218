#!/usr/bin/env bash
# Builds the Debian packages into build/deb/: libnginx-mod-http-asset-gate (the module, the way
# Debian builds its own libnginx-mod-* packages: dh with the nginx_mod build system from
# nginx-dev; and asset-gate-token) and asset-gate-sync. What each holds: README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=$REPO/build/deb

need=()
for p in dpkg-dev debhelper nginx-dev libssl-dev libjansson-dev libhiredis-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

rm -rf "$OUT"
mkdir -p "$OUT/src"
# The source as it is in the work tree (committed or not), without build products.
tar --exclude=./build --exclude=./.git --exclude='./t/s3/node_modules' --exclude='__pycache__' \
    -cf - . | tar -xf - -C "$OUT/src"
(cd "$OUT/src" && dpkg-checkbuilddeps && dpkg-buildpackage -us -uc -b) > "$OUT/build.log" 2>&1 ||
    { tail -40 "$OUT/build.log"; echo "build-deb: dpkg-buildpackage failed (log: $OUT/build.log)" >&2; exit 1; }
ls "$OUT"/*.deb
# The nginx ABI the package was built for (dh_nginx takes it from nginx-dev's substvars).
deb=$(ls "$OUT"/libnginx-mod-http-asset-gate_*.deb)
echo "build-deb: $(basename "$deb"): Depends $(dpkg-deb -f "$deb" Depends | grep -oE 'nginx-abi-[^ ,]+')" \
     "(nginx-dev $(dpkg-query -W -f='${Version}' nginx-dev))"
