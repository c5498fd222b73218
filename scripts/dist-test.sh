#!/usr/bin/env bash
# Runs the integration suite inside a Debian release's root (scripts/dist-root.sh) against a
# module that scripts/dist-build.sh built there, with that release's nginx and Redis or Valkey:
#
#     scripts/dist-test.sh trixie                        # redis-server, t/integration -q
#     scripts/dist-test.sh trixie --server valkey
#     scripts/dist-test.sh forky --leg forky-upstream    # nginx from upstream source
#     scripts/dist-test.sh trixie -- t/integration/test_smoke.py -x -q
#
# It does not build: it tests build/LEG/ngx_http_asset_gate_module.so as it is. Output also
# goes to build/LEG/integration-SERVER.log (--log NAME: build/LEG/NAME.log). DIST_TEST_TIMEOUT (seconds, default 3600) bounds
# the run; anything the tests leave running in the root is stopped on exit.
set -euo pipefail
. "$(dirname "$0")/dist-lib.sh"
dist_init "${1:-}"
shift
LEG=$DIST
SERVER=redis
LOG=
while [ $# -gt 0 ]; do
    case "$1" in
        --leg) LEG=$2; shift ;;
        --server) SERVER=$2; shift ;;
        --log) LOG=$2; shift ;;
        --) shift; break ;;
        *) echo "dist-test: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ $# -gt 0 ] || set -- t/integration -q
# The upstream leg runs nginx-debug (nginx.org's --with-debug twin), as Debian's nginx is
# --with-debug too; DIST_TEST_NGINX=/opt/nginx-upstream/sbin/nginx runs the other.
case "$LEG" in
    *-upstream) NGINX=${DIST_TEST_NGINX:-/opt/nginx-upstream/sbin/nginx-debug} ;;
    *) NGINX=${DIST_TEST_NGINX:-/usr/sbin/nginx} ;;
esac
case "$SERVER" in
    redis) SERVER_BIN=/usr/bin/redis-server ;;
    valkey) SERVER_BIN=/usr/bin/valkey-server ;;
    *) echo "dist-test: --server redis|valkey" >&2; exit 2 ;;
esac
MODULE=/src/build/$LEG/ngx_http_asset_gate_module.so
[ -f "$REPO/build/$LEG/ngx_http_asset_gate_module.so" ] ||
    { echo "dist-test: build/$LEG/ngx_http_asset_gate_module.so missing: scripts/dist-build.sh $DIST" >&2; exit 1; }
[ -x "$REPO/t/s3/node_modules/.bin/s3rver" ] ||
    echo "dist-test: t/s3/node_modules is missing, the S3 tests will fail (npm ci --prefix t/s3)" >&2

dist_require_root
dist_lock
dist_mount_system
dist_mount_repo
[ -x "$ROOT$SERVER_BIN" ] || { echo "dist-test: $SERVER_BIN is not in the $DIST root" >&2; exit 1; }

dist_step_start "integration: $LEG, $(dist_chroot "$NGINX" -v 2>&1 | sed 's/.*: //'), $(dist_chroot "$SERVER_BIN" --version | awk '{print $1, $3}'): $*"
set +e
dist_chroot env ASSET_GATE_MODULE="$MODULE" ASSET_GATE_NGINX="$NGINX" \
    ASSET_GATE_REDIS_SERVER="$SERVER_BIN" \
    timeout -k 30 "${DIST_TEST_TIMEOUT:-3600}" bash -c 'cd /src && exec /usr/bin/python3 -m pytest "$@"' pytest "$@" \
    2>&1 | tee "$REPO/build/$LEG/${LOG:-integration-$SERVER}.log"
rc=${PIPESTATUS[0]}
set -e
dist_step_end
exit "$rc"
