#!/usr/bin/env bash
# A running asset_gate: Redis and nginx on loopback with the module loaded, a sample organisation
# and PNG asset, and ready-to-curl links with the status each should get. Checks every link
# itself, then stays up until Ctrl-C (or exits at once with --check).
#   scripts/demo.sh [--check]        ports: DEMO_PORT (8080), DEMO_REDIS_PORT (6399)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PORT=${DEMO_PORT:-8080}
REDIS_PORT=${DEMO_REDIS_PORT:-6399}
DIR=$REPO/build/demo
PY=/usr/bin/python3

scripts/install-deps.sh >/dev/null
make --no-print-directory module >/dev/null

rm -rf "$DIR"
mkdir -p "$DIR/www/exports/png/team-1" "$DIR/logs"
chmod 755 "$DIR" "$DIR/www"
KEY=$(head -c 48 /dev/urandom | base64 | tr -d '/+=' | head -c 48)
printf '%s\n' "$KEY" > "$DIR/keys"
chmod 600 "$DIR/keys"

# A real 64x64 PNG, drawn here so the demo needs no image tools.
$PY - "$DIR/www/exports/png/team-1/weekly.png" <<'PYEOF'
import struct, sys, zlib
w = h = 64
rows = b"".join(b"\x00" + b"".join(
    bytes((40 + 3 * x, 90 + 2 * y, 200 if (x // 8 + y // 8) % 2 else 120)) for x in range(w))
    for y in range(h))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PYEOF

cat > "$DIR/nginx.conf" <<CONF
load_module $REPO/build/ngx_http_asset_gate_module.so;
daemon off;
worker_processes 2;
error_log $DIR/logs/error.log info;
pid $DIR/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    log_format gate '\$remote_addr "\$request" \$status reason=\$asset_gate_reason asset=\$asset_gate_id purpose=\$asset_gate_purpose';
    access_log $DIR/logs/access.log gate;
    client_body_temp_path $DIR/body;
    proxy_temp_path $DIR/proxy;
    fastcgi_temp_path $DIR/fastcgi;
    uwsgi_temp_path $DIR/uwsgi;
    scgi_temp_path $DIR/scgi;

    asset_gate_redis 127.0.0.1:$REDIS_PORT;
    asset_gate_cache_zone asset_gate:10m;

    server {
        listen 127.0.0.1:$PORT;
        location ^~ /exporter {
            asset_gate on;
            asset_gate_key_file $DIR/keys;
            asset_gate_render  @render;
            asset_gate_content @content;
        }
        location @render {
            default_type text/html;
            return 200 "<html><body>render page for asset \$asset_gate_id (\$asset_gate_purpose)</body></html>\n";
        }
        location @content {
            root $DIR/www;
            try_files /\$asset_gate_location =404;
        }
    }
}
CONF

cleanup() {
    [ -f "$DIR/nginx.pid" ] && kill -QUIT "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
    [ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" \
    >"$DIR/logs/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null

R="redis-cli -p $REDIS_PORT"
$R hset org:org-demo security_settings 1 allow_public 1 >/dev/null
$R hset org:org-private security_settings 1 allow_public 0 >/dev/null
$R hset asset:42 org org-demo format image/png location exports/png/team-1/weekly.png \
    filename export-weekly-report-2026-05-27.png >/dev/null
$R hset asset:43 org org-private format image/png location exports/png/team-1/weekly.png \
    filename export-private-2026-05-27.png >/dev/null

/usr/sbin/nginx -p "$DIR" -c "$DIR/nginx.conf" 2>>"$DIR/logs/error.log" &
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done

mint() {  # id [purpose] [seconds-to-expiry]
    $PY -c 'import sys, time, jwt
c = {"id": int(sys.argv[2]), "exp": int(time.time()) + int(sys.argv[4]), "aud": "posthog:exported_asset"}
if sys.argv[3]: c["purpose"] = sys.argv[3]
print(jwt.encode(c, sys.argv[1], algorithm="HS256"))' "$KEY" "$1" "${2:-}" "${3:-3600}"
}

BASE="http://127.0.0.1:$PORT"
NAME=export-weekly-report-2026-05-27.png
declare -a LINKS=(
    "200|public link to the PNG|$BASE/exporter/$NAME?token=$(mint 42)"
    "200|public link, as a download|$BASE/exporter/$NAME?token=$(mint 42)&download=true"
    "200|subscription delivery link (Slack, email)|$BASE/exporter/$NAME?token=$(mint 43 subscription_delivery)"
    "200|render link (the page the exporter screenshots)|$BASE/exporter?token=$(mint 42 render)"
    "404|expired token|$BASE/exporter/$NAME?token=$(mint 42 '' -60)"
    "404|public link, organisation disabled sharing|$BASE/exporter/$NAME?token=$(mint 43)"
    "404|render token on the content surface|$BASE/exporter/$NAME?token=$(mint 42 render)"
    "404|malformed path|$BASE/exporter/a/b.png?token=$(mint 42)"
)

echo "asset_gate demo: nginx on $BASE, Redis on 127.0.0.1:$REDIS_PORT, files in $DIR"
echo
failed=0
for entry in "${LINKS[@]}"; do
    IFS='|' read -r want what url <<<"$entry"
    got=$(curl -s -o /dev/null -w '%{http_code}' "$url")
    mark=ok; [ "$got" = "$want" ] || { mark="UNEXPECTED (got $got)"; failed=1; }
    printf '# %s: expect %s, %s\ncurl -i '\''%s'\''\n\n' "$what" "$want" "$mark" "$url"
done
echo "logs: $DIR/logs/access.log shows \$asset_gate_reason for each request"
[ "$failed" = 0 ] || { echo "demo: some links did not answer as expected" >&2; exit 1; }

if [ "${1:-}" = "--check" ]; then
    echo "demo: all links answered as expected"
    exit 0
fi
echo "Ctrl-C stops nginx and Redis."
wait
