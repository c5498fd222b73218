#!/usr/bin/env bash
# Debian's own test of a module build: the packaged nginx loads it and accepts a config.
# NGINX_BIN names another nginx binary (default: the packaged /usr/sbin/nginx; not NGINX,
# which nginx itself reads as a list of inherited sockets).
set -euo pipefail
nginx=${NGINX_BIN:-/usr/sbin/nginx}
so=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# an nginx built without --error-log-path opens PREFIX/logs/error.log before reading -g
mkdir -p "$tmp/logs"
cat > "$tmp/nginx.conf" <<CONF
load_module $so;
events {}
CONF
"$nginx" -g "error_log /dev/null; pid $tmp/nginx.pid;" -t -q -p "$tmp" -c "$tmp/nginx.conf"
echo "nginx-load-check: $nginx loads $so"
