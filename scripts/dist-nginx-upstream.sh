#!/usr/bin/env bash
# Builds nginx from its pristine upstream source, the way nginx.org builds its packages
# (--with-compat), inside the forky root that scripts/dist-root.sh made:
#
#     scripts/dist-nginx-upstream.sh [forky]
#
# The source is the upstream tarball that Debian's nginx source package in forky carries
# (nginx_VERSION.orig.tar.gz, fetched with `apt-get source --download-only`, its checksum
# checked against the signed Sources index, and its upstream signature with the key Debian
# ships in debian/upstream/signing-key.asc); where the mirror does not serve that source
# package, NGINX_UPSTREAM_TARBALL=/path/nginx-VERSION.tar.gz gives a release tarball instead.
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
if [ -n "${NGINX_UPSTREAM_TARBALL:-}" ]; then
    # A release tarball given by hand (nginx-VERSION.tar.gz as nginx.org publishes it), for a
    # mirror that does not serve forky's source package.
    cp "$NGINX_UPSTREAM_TARBALL" "$ROOT$DL/"
    ORIG=$DL/$(basename "$NGINX_UPSTREAM_TARBALL")
    FROM="$NGINX_UPSTREAM_TARBALL (given by NGINX_UPSTREAM_TARBALL)"
else
    SRCVER=$(dist_chroot apt-cache showsrc nginx | awk '/^Version:/ { print $2; exit }')
    [ -n "$SRCVER" ] || { echo "dist-nginx-upstream: no nginx source package (deb-src) in $DIST" >&2; exit 1; }
    UPVER=${SRCVER#*:}
    UPVER=${UPVER%-*}
    chown _apt:root "$ROOT$DL" 2>/dev/null || true
    # The checksums of what apt-get source fetches are those of the signed Sources index.
    dist_chroot sh -c "cd $DL && apt-get source -q --download-only nginx=$SRCVER" | tail -2 || {
        echo "dist-nginx-upstream: the mirror does not serve nginx $SRCVER's source package;" \
             "give nginx's release tarball with NGINX_UPSTREAM_TARBALL=/path/nginx-$UPVER.tar.gz" >&2
        exit 1
    }
    ORIG=$DL/nginx_$UPVER.orig.tar.gz
    [ -f "$ROOT$ORIG" ] || { echo "dist-nginx-upstream: $ORIG missing" >&2; ls "$ROOT$DL" >&2; exit 1; }
    FROM="nginx_$UPVER.orig.tar.gz of $DIST's source package nginx $SRCVER"
    # Debian's packaging carries nginx's signing key: check the upstream signature too.
    if [ -f "$ROOT$ORIG.asc" ]; then
        tar -xJf "$ROOT$DL/nginx_${SRCVER#*:}.debian.tar.xz" -C "$ROOT$DL" debian/upstream/signing-key.asc
        dist_chroot sqv --keyring "$DL/debian/upstream/signing-key.asc" "$ORIG.asc" "$ORIG" >/dev/null
        FROM="$FROM, upstream signature good"
    fi
fi
SHA=$(sha256sum "$ROOT$ORIG" | cut -d' ' -f1)
mkdir -p "$ROOT$DL/x"
tar -xzf "$ROOT$ORIG" -C "$ROOT$DL/x" --strip-components=1
VER=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$ROOT$DL/x/src/core/nginx.h")
[ -n "$VER" ] && [ -x "$ROOT$DL/x/configure" ] ||
    { echo "dist-nginx-upstream: $ORIG is not an nginx release tarball" >&2; exit 1; }
OPT=/opt/nginx-$VER
echo "nginx $VER from $FROM"
echo "sha256 $SHA"
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
