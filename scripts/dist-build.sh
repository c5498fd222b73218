#!/usr/bin/env bash
# Builds the module from this work tree inside a Debian release's root (scripts/dist-root.sh),
# loads it into that release's nginx, and runs the unit tests there:
#
#     scripts/dist-build.sh trixie   # Debian's recipe against trixie's nginx-dev (nginx 1.26)
#     scripts/dist-build.sh forky    # against forky's nginx-dev (1.30), and against nginx's
#                                    # upstream source --with-compat (scripts/dist-nginx-upstream.sh)
#
# Options: --no-unit (skip the unit tests), --leg NAME (one leg: trixie, forky,
# forky-upstream), --clean (build the leg from nothing, so every warning shows again). The work tree is bind-mounted at /src in the root; each leg builds into
# build/LEG/ of the work tree (so build/LEG/ngx_http_asset_gate_module.so), with make -k so
# one run shows every compile error; those and the warnings go to build/LEG/diagnostics.txt.
# Exits non-zero when a leg fails to build or load, or the unit tests fail.
set -euo pipefail
. "$(dirname "$0")/dist-lib.sh"
dist_init "${1:-}"
shift
UNIT=1
ONLY=
CLEAN=
while [ $# -gt 0 ]; do
    case "$1" in
        --no-unit) UNIT= ;;
        --clean) CLEAN=1 ;;
        --leg) ONLY=$2; shift ;;
        *) echo "dist-build: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
dist_require_root
dist_lock
dist_mount_system
dist_mount_repo

case "$DIST" in
    trixie) LEGS=(trixie) ;;
    forky) LEGS=(forky forky-upstream) ;;
esac
[ -z "$ONLY" ] || LEGS=("$ONLY")

failed=()
for leg in "${LEGS[@]}"; do
    case "$leg" in
        *-upstream)
            [ -f "$ROOT/opt/nginx-upstream/.built.stamp" ] ||
                { echo "dist-build: no upstream nginx in $ROOT: run scripts/dist-nginx-upstream.sh $DIST" >&2; exit 1; }
            ngx_src=/opt/nginx-upstream/src
            nginx="/opt/nginx-upstream/sbin/nginx /opt/nginx-upstream/sbin/nginx-debug"
            what="nginx $(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$ROOT$ngx_src/src/core/nginx.h") upstream source, --with-compat"
            ;;
        *)
            ngx_src=/usr/share/nginx/src
            nginx=/usr/sbin/nginx
            what="$DIST's nginx-dev $(dist_chroot dpkg-query -W -f='${Version}' nginx-dev)"
            ;;
    esac
    build=/src/build/$leg
    dist_step_start "module: $leg ($what)"
    [ -z "$CLEAN" ] || rm -rf "$ROOT$build"
    mkdir -p "$ROOT$build"
    if dist_chroot make -C /src -k BUILD="$build" NGX_SRC="$ngx_src" module > "$ROOT$build/build.log" 2>&1; then
        ok=1
    else
        ok=
    fi
    grep -E '(error|warning|note):' "$ROOT$build/build.log" > "$ROOT$build/diagnostics.txt" || true
    printf 'diagnostics: %s errors, %s warnings (build/%s/diagnostics.txt, log build/%s/build.log)\n' \
        "$(grep -c 'error:' "$ROOT$build/diagnostics.txt" || true)" \
        "$(grep -c 'warning:' "$ROOT$build/diagnostics.txt" || true)" "$leg" "$leg"
    if [ -n "$ok" ]; then
        for n in $nginx; do
            dist_chroot env NGINX_BIN="$n" /src/scripts/nginx-load-check.sh "$build/ngx_http_asset_gate_module.so" ||
                { ok=; echo "dist-build: $n does not load the module"; }
        done
    else
        grep -E 'error:' "$ROOT$build/diagnostics.txt" | head -40 || tail -30 "$ROOT$build/build.log"
    fi
    [ -n "$ok" ] || failed+=("$leg")
    dist_step_end
done

if [ -n "$UNIT" ]; then
    dist_step_start "unit tests ($DIST's g++ $(dist_chroot g++ -dumpfullversion), googletest $(dist_chroot dpkg-query -W -f='${Version}' googletest))"
    # In build/DIST, not build/LEG: the core does not include nginx, so forky and
    # forky-upstream (one root, one compiler) share one unit test binary, built once.
    build=/src/build/$DIST
    mkdir -p "$ROOT$build"
    if dist_chroot make -C /src BUILD="$build" unit > "$ROOT$build/unit.log" 2>&1; then
        grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$ROOT$build/unit.log" || true
    else
        grep -E '(error|warning):|^\[  (PASSED|FAILED|SKIPPED) |^\[  FAILED  \]' "$ROOT$build/unit.log" | head -60 ||
            tail -30 "$ROOT$build/unit.log"
        failed+=(unit)
    fi
    dist_step_end
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "dist-build: $DIST: failed: ${failed[*]}"
    exit 1
fi
echo "dist-build: $DIST: every leg built, loaded and passed"
