#!/usr/bin/env bash
# Debian's own test of a module build: the packaged nginx loads it and accepts a config.
set -euo pipefail
so=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/nginx.conf" <<CONF
load_module $so;
events {}
CONF
/usr/sbin/nginx -g "error_log /dev/null; pid $tmp/nginx.pid;" -t -q -p "$tmp" -c "$tmp/nginx.conf"
echo "nginx-load-check: /usr/sbin/nginx loads $so"
