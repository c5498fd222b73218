#!/usr/bin/env bash
# Builds nginx from its pristine upstream source, the way nginx.org builds its packages
# (--with-compat), inside the forky root that scripts/dist-root.sh made:
#
#     scripts/dist-nginx-upstream.sh [forky]
#
# The source, the first of these that exists:
#
#   1. NGINX_UPSTREAM_TARBALL=/path/nginx-VERSION.tar.gz, a release tarball given by hand;
#   2. the upstream tarball that Debian's nginx source package in forky carries
#      (nginx_VERSION.orig.tar.gz, fetched with `apt-get source --download-only`, so checked
#      against the signed Sources index, and its upstream signature with the key Debian ships
#      in debian/upstream/signing-key.asc);
#   3. a tarball cached under build/dist/src/ (nginx-VERSION.tar.gz, the highest version; its
#      origin is whatever nginx-VERSION.tar.gz.origin beside it says).
#
# A tarball of the version forky's Sources index lists must have that index's sha256 (else
# it is refused). Debian's patched /usr/share/nginx/src is never used: it is not upstream.
# When none exists (the mirror answers 404 for forky's nginx source files), the script prints
# "forky-upstream: NOT RUN: ..." with what it tried and exits 77: nothing was built, and
# nothing failed that the module could fix.
# In the root:
#
#     /opt/nginx-VERSION/             the prefix: sbin/nginx, sbin/nginx-debug (the same
#                                     --with-debug, as nginx.org ships it), conf/, modules/
#     /opt/nginx-VERSION/src/         the upstream source, unpatched, plus conf_flags (the
#                                     configure flags nginx was built with, in the form of
#                                     Debian's nginx-dev), so `make NGX_SRC=...` builds the
#                                     module against it with the same flags
#     /opt/nginx-upstream             a link to the last one built
#
# A second run finds its stamp and returns at once.
set -euo pipefail
. "$(dirname "$0")/dist-lib.sh"
dist_init "${1:-forky}"
dist_require_root
dist_lock

dist_mount_system

LINK=$ROOT/opt/nginx-upstream
if [ -f "$LINK/.built.stamp" ] && [ -x "$LINK/sbin/nginx-debug" ] && [ -z "${NGINX_UPSTREAM_TARBALL:-}${DIST_REFRESH:-}" ]; then
    echo "dist-nginx-upstream: $(cat "$LINK/.built.stamp")"
    echo "(NGINX_UPSTREAM_TARBALL=... or DIST_REFRESH=1 builds again)"
    exit 0
fi

dist_step_start "the upstream source"
DL=/opt/nginx-dl
rm -rf "$ROOT$DL"
mkdir -p "$ROOT$DL"
CACHE=$REPO/build/dist/src
tried=()

# forky's nginx source package: its version and the orig tarball's sha256 in the signed index
SRCVER=$(dist_chroot apt-cache showsrc nginx 2>/dev/null | awk '/^Version:/ { print $2; exit }') || true
UPVER=${SRCVER#*:}
UPVER=${UPVER%-*}
INDEX_SHA=
if [ -n "$SRCVER" ]; then
    # (apt-cache showsrc takes no =VERSION: the first stanza is the Version read above)
    INDEX_SHA=$(dist_chroot apt-cache showsrc nginx | awk -v f="nginx_$UPVER.orig.tar.gz" '
        /^$/ { exit } /^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 } on && $3 == f { print $1; exit }')
fi
[ -z "$SRCVER" ] || echo "$DIST's Sources index: nginx $SRCVER, nginx_$UPVER.orig.tar.gz sha256 ${INDEX_SHA:-(none listed)}"
# tarball_version FILE: the NGINX_VERSION in its src/core/nginx.h, empty if it has none
tarball_version() {
    tar -xzOf "$1" --wildcards '*/src/core/nginx.h' 2>/dev/null |
        sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' | head -1
}
# check_index_sha FILE: refuses a tarball of forky's version whose sha256 is not the index's
check_index_sha() {
    local v sha
    v=$(tarball_version "$1")
    [ -n "$v" ] && [ "$v" = "$UPVER" ] && [ -n "$INDEX_SHA" ] || return 0
    sha=$(sha256sum "$1" | cut -d' ' -f1)
    if [ "$sha" != "$INDEX_SHA" ]; then
        echo "dist-nginx-upstream: $1 is nginx $v, but its sha256 $sha is not the $INDEX_SHA" \
             "that forky's Sources index lists for nginx_$UPVER.orig.tar.gz: refused" >&2
        exit 1
    fi
    SHA_NOTE="sha256 matches forky's Sources index for nginx_$UPVER.orig.tar.gz"
}
SHA_NOTE=
ORIG=
if [ -n "${NGINX_UPSTREAM_TARBALL:-}" ]; then
    [ -f "$NGINX_UPSTREAM_TARBALL" ] ||
        { echo "dist-nginx-upstream: NGINX_UPSTREAM_TARBALL=$NGINX_UPSTREAM_TARBALL: no such file" >&2; exit 1; }
    check_index_sha "$NGINX_UPSTREAM_TARBALL"
    cp "$NGINX_UPSTREAM_TARBALL" "$ROOT$DL/"
    ORIG=$DL/$(basename "$NGINX_UPSTREAM_TARBALL")
    FROM="$NGINX_UPSTREAM_TARBALL (given by NGINX_UPSTREAM_TARBALL)"
else
    tried+=("NGINX_UPSTREAM_TARBALL (unset)")
fi

if [ -z "$ORIG" ] && [ -z "$SRCVER" ]; then
    tried+=("apt-get source nginx (no nginx in $DIST's Sources index)")
elif [ -z "$ORIG" ]; then
    chown _apt:root "$ROOT$DL" 2>/dev/null || true
    # The checksums of what apt-get source fetches are those of the signed Sources index.
    if dist_chroot sh -c "cd $DL && apt-get source -q --download-only nginx=$SRCVER" > "$ROOT$DL.log" 2>&1 &&
        [ -f "$ROOT$DL/nginx_$UPVER.orig.tar.gz" ]; then
        tail -2 "$ROOT$DL.log"
        ORIG=$DL/nginx_$UPVER.orig.tar.gz
        FROM="nginx_$UPVER.orig.tar.gz of $DIST's source package nginx $SRCVER"
        SHA_NOTE="sha256 checked by apt against forky's signed Sources index"
        # Debian's packaging carries nginx's signing key: check the upstream signature too.
        if [ -f "$ROOT$ORIG.asc" ]; then
            tar -xJf "$ROOT$DL/nginx_${SRCVER#*:}.debian.tar.xz" -C "$ROOT$DL" debian/upstream/signing-key.asc
            dist_chroot sqv --keyring "$DL/debian/upstream/signing-key.asc" "$ORIG.asc" "$ORIG" >/dev/null
            FROM="$FROM, upstream signature good"
        fi
    else
        # apt's own words for each file: "404  Not Found [IP: ...]", a DNS failure, ...
        why=$(sed -n 's/^E: Failed to fetch .*\/\([^/ ]*\)  *\([0-9][0-9][0-9]\)  *\([^[]*[^[ ]\).*/\1: HTTP \2 \3/p;
                       s/^E: Failed to fetch .*\/\([^/ ]*\)  *\(.*\)/\1: \2/p' "$ROOT$DL.log" | sort -u | paste -sd',' - | sed 's/,/, /g')
        tail -4 "$ROOT$DL.log"
        tried+=("apt-get source nginx=$SRCVER from $DIST's mirror (${why:-failed, see $ROOT$DL.log})")
        rm -rf "${ROOT:?}$DL"/*
    fi
fi

if [ -z "$ORIG" ]; then
    cached=$(for f in "$CACHE"/nginx-[0-9]*.tar.gz; do if [ -f "$f" ]; then echo "$f"; fi; done | sort -V | tail -1)
    if [ -n "$cached" ]; then
        check_index_sha "$cached"
        cp "$cached" "$ROOT$DL/"
        ORIG=$DL/$(basename "$cached")
        origin="origin not recorded (no $(basename "$cached").origin beside it)"
        [ -f "$cached.origin" ] && origin=$(head -1 "$cached.origin")
        FROM="$cached, cached under build/dist/src: $origin"
    else
        tried+=("build/dist/src/nginx-*.tar.gz (none cached)")
    fi
fi

if [ -z "$ORIG" ]; then
    msg=$(printf '%s; ' "${tried[@]}")
    echo "forky-upstream: NOT RUN: no pristine nginx source reachable; tried: ${msg%; }"
    echo "(give one: NGINX_UPSTREAM_TARBALL=/path/nginx-${UPVER:-VERSION}.tar.gz, or cache it as build/dist/src/nginx-VERSION.tar.gz)"
    exit 77
fi
SHA=$(sha256sum "$ROOT$ORIG" | cut -d' ' -f1)
mkdir -p "$ROOT$DL/x"
tar -xzf "$ROOT$ORIG" -C "$ROOT$DL/x" --strip-components=1
VER=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$ROOT$DL/x/src/core/nginx.h")
[ -n "$VER" ] && [ -x "$ROOT$DL/x/configure" ] ||
    { echo "dist-nginx-upstream: $ORIG is not an nginx release tarball" >&2; exit 1; }
OPT=/opt/nginx-$VER
echo "nginx $VER from $FROM"
echo "sha256 $SHA${SHA_NOTE:+ ($SHA_NOTE)}"
[ "$VER" = "$UPVER" ] || echo "(nginx $VER, not forky's ${UPVER:-?}: no published checksum to compare it against)"
dist_step_end

# The flags nginx.org's packages are configured with (less the paths of a system install).
NGX_CONF_FLAGS=(
    --prefix="$OPT" --modules-path="$OPT/modules"
    --with-compat --with-file-aio --with-threads --with-pcre-jit
    --with-http_addition_module --with-http_auth_request_module --with-http_dav_module
    --with-http_flv_module --with-http_gunzip_module --with-http_gzip_static_module
    --with-http_mp4_module --with-http_random_index_module --with-http_realip_module
    --with-http_secure_link_module --with-http_slice_module --with-http_ssl_module
    --with-http_stub_status_module --with-http_sub_module --with-http_v2_module
    --with-http_v3_module
    --with-mail --with-mail_ssl_module
    --with-stream --with-stream_realip_module --with-stream_ssl_module
    --with-stream_ssl_preread_module
)

dist_step_start "build nginx $VER --with-compat into $OPT"
rm -rf "$ROOT$OPT"
mkdir -p "$ROOT$OPT"
mv "$ROOT$DL/x" "$ROOT$OPT/src"
{
    echo "# written by scripts/dist-nginx-upstream.sh: the flags $OPT/sbin/nginx was configured with"
    printf 'NGX_CONF_FLAGS=('
    printf ' %q' "${NGX_CONF_FLAGS[@]}"
    printf ' )\n'
} > "$ROOT$OPT/src/conf_flags"
dist_chroot bash -c "
    set -e
    cd $OPT/src
    . ./conf_flags
    ./configure --with-cc-opt=\"\$(dpkg-buildflags --get CFLAGS) -fPIC \$(dpkg-buildflags --get CPPFLAGS)\" \
        --with-ld-opt=\"\$(dpkg-buildflags --get LDFLAGS) -Wl,--as-needed -pie\" \
        \"\${NGX_CONF_FLAGS[@]}\" --builddir=$OPT/build > $OPT/configure.log 2>&1 ||
        { tail -30 $OPT/configure.log; exit 1; }
    make -j\$(nproc) -f $OPT/build/Makefile > $OPT/make.log 2>&1 || { tail -30 $OPT/make.log; exit 1; }
    make -f $OPT/build/Makefile install >> $OPT/make.log 2>&1
    # and, as nginx.org ships beside it, nginx-debug: the same --with-debug (the suite's
    # debug-log masking test needs debug lines); a module built against conf_flags loads
    # into both
    ./configure --with-cc-opt=\"\$(dpkg-buildflags --get CFLAGS) -fPIC \$(dpkg-buildflags --get CPPFLAGS)\" \
        --with-ld-opt=\"\$(dpkg-buildflags --get LDFLAGS) -Wl,--as-needed -pie\" \
        \"\${NGX_CONF_FLAGS[@]}\" --with-debug --builddir=$OPT/build-debug > $OPT/configure-debug.log 2>&1 ||
        { tail -30 $OPT/configure-debug.log; exit 1; }
    make -j\$(nproc) -f $OPT/build-debug/Makefile > $OPT/make-debug.log 2>&1 || { tail -30 $OPT/make-debug.log; exit 1; }
    install -m 755 $OPT/build-debug/nginx $OPT/sbin/nginx-debug
    mkdir -p $OPT/modules
    ln -sfn nginx-$VER /opt/nginx-upstream
    $OPT/sbin/nginx -V
    $OPT/sbin/nginx-debug -V 2>&1 | head -1
"
dist_step_end

echo "nginx $VER in $OPT (built $(date -u +%FT%TZ)) from $FROM, sha256 $SHA" > "$ROOT$OPT/.built.stamp"
echo "dist-nginx-upstream: $ROOT$OPT/sbin/nginx is nginx $VER"
