#!/usr/bin/env bash
# A running asset_gate: Redis and nginx on loopback with the module loaded, a sample organisation
# and PNG asset, and ready-to-curl links minted with asset-gate-token, each with the status it
# should get. Checks every link itself, shows the status page's decisions, flips the
# organisation's sharing switch (the public link turns to 404, the subscription link keeps
# working) and back, then stays up until Ctrl-C (or exits at once with --check).
#   scripts/demo.sh [--check]        ports: DEMO_PORT (8080), DEMO_REDIS_PORT (6399)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PORT=${DEMO_PORT:-8080}
REDIS_PORT=${DEMO_REDIS_PORT:-6399}
DIR=$REPO/build/demo
PY=/usr/bin/python3

scripts/install-deps.sh >/dev/null
make --no-print-directory module build/asset-gate-token >/dev/null
TOKEN_TOOL=$REPO/scripts/asset-gate-token
CHANNEL=asset_gate:invalidate

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
    asset_gate_invalidation_channel $CHANNEL;

    server {
        listen 127.0.0.1:$PORT;
        location ^~ /exporter {
            asset_gate on;
            asset_gate_key_file $DIR/keys;
            asset_gate_render  @render;
            asset_gate_content inline;
            root $DIR/www;
        }
        location = /metrics {
            asset_gate_status;
            allow 127.0.0.1;
            deny all;
        }
        location @render {
            default_type text/html;
            return 200 "<html><body>render page for asset \$asset_gate_id (\$asset_gate_purpose)</body></html>\n";
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

mint() {  # id [purpose] [lifetime]: the operator's tool, which mints exactly as PostHog (PyJWT) does
    local args=(mint --key-file "$DIR/keys" --id "$1" --lifetime "${3:-1h}")
    [ -n "${2:-}" ] && args+=(--purpose "$2")
    "$TOKEN_TOOL" "${args[@]}"
}
expired() {  # id: a public token whose hour ran out a minute ago
    "$TOKEN_TOOL" mint --key-file "$DIR/keys" --id "$1" --lifetime 1h --now $(($(date +%s) - 3660))
}

BASE="http://127.0.0.1:$PORT"
NAME=export-weekly-report-2026-05-27.png
declare -a LINKS=(
    "200|public link to the PNG|$BASE/exporter/$NAME?token=$(mint 42)"
    "200|public link, as a download|$BASE/exporter/$NAME?token=$(mint 42)&download=true"
    "200|subscription delivery link (Slack, email)|$BASE/exporter/$NAME?token=$(mint 43 subscription_delivery)"
    "200|render link (the page the exporter screenshots)|$BASE/exporter?token=$(mint 42 render)"
    "404|expired token|$BASE/exporter/$NAME?token=$(expired 42)"
    "404|public link, organisation disabled sharing|$BASE/exporter/$NAME?token=$(mint 43)"
    "404|render token on the content surface|$BASE/exporter/$NAME?token=$(mint 42 render)"
    "404|malformed path|$BASE/exporter/a/b.png?token=$(mint 42)"
)

echo "asset_gate demo: nginx on $BASE, Redis on 127.0.0.1:$REDIS_PORT, files in $DIR"
echo
decisions() {  # the status page's decision counters, one line each
    curl -s "$BASE/metrics" | grep '^asset_gate_decisions_total' | sed 's/^asset_gate_decisions_total/  /'
}
blocked() {  # how many public links the status page counted as refused by the sharing switch
    curl -s "$BASE/metrics" | awk '/^asset_gate_decisions_total\{.*reason="org_blocked"\}/ { n += $2 } END { print n + 0 }'
}
echo "# the status page before any link: curl -s $BASE/metrics | grep ^asset_gate_decisions_total"
decisions || echo "  (no decisions yet)"
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

echo
echo "# what the gate decided for those links:"
decisions

expect() {  # want what url: the message reaches the workers in milliseconds; allow a loaded
            # machine two seconds (the cache's own 5 s lifetime would end it anyway)
    local got i
    for i in $(seq 20); do
        got=$(curl -s -o /dev/null -w '%{http_code}' "$3")
        [ "$got" = "$1" ] && break
        sleep 0.1
    done
    if [ "$got" = "$1" ]; then echo "  $2: $got, as expected"
    else echo "  $2: got $got, expected $1" >&2; failed=1; fi
}
PUBLIC=$BASE/exporter/$NAME?token=$(mint 42)
SUBSCRIPTION=$BASE/exporter/$NAME?token=$(mint 42 subscription_delivery)
echo
echo "# org-demo turns public sharing off; the sync would write this and publish it on $CHANNEL:"
echo "#   redis-cli -p $REDIS_PORT HSET org:org-demo allow_public 0"
echo "#   redis-cli -p $REDIS_PORT PUBLISH $CHANNEL org:org-demo"
before=$(blocked)
$R hset org:org-demo allow_public 0 >/dev/null
$R publish "$CHANNEL" org:org-demo >/dev/null
expect 404 "its public link" "$PUBLIC"
expect 200 "its subscription link (Slack, email)" "$SUBSCRIPTION"
echo "# and back on:"
$R hset org:org-demo allow_public 1 >/dev/null
$R publish "$CHANNEL" org:org-demo >/dev/null
expect 200 "its public link" "$PUBLIC"
echo
echo "# the counters after: org_blocked counted the refused public link"
decisions
if [ "$(blocked)" != $((before + 1)) ]; then
    echo "demo: org_blocked went from $before to $(blocked), expected one more" >&2
    failed=1
fi
echo
echo "# what a token says, without the gate: scripts/asset-gate-token inspect --key-file $DIR/keys TOKEN"
"$TOKEN_TOOL" inspect --key-file "$DIR/keys" "${SUBSCRIPTION#*token=}" | sed 's/^/  /' || true
[ "$failed" = 0 ] || { echo "demo: some links did not answer as expected" >&2; exit 1; }

if [ "${1:-}" = "--check" ]; then
    echo "demo: all links answered as expected"
    exit 0
fi
echo "Ctrl-C stops nginx and Redis."
wait
