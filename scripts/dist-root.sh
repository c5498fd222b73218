#!/usr/bin/env bash
# Creates (idempotently) a build and test root of a Debian release with debootstrap, with
# Debian's own nginx, nginx-dev, hiredis, redis-server, valkey-server and the test tools:
#
#     scripts/dist-root.sh trixie     # Debian 13: nginx 1.26, hiredis 1.2, Redis 8, Valkey 8
#     scripts/dist-root.sh forky      # Debian testing (nginx 1.30)
#
# The root is build/dist/DIST of this work tree (DIST_ROOT_DIR
# overrides it). A second run finds its stamp and returns at once; DIST_REFRESH=1 runs
# apt-get update and upgrade in the root again. Packages come from the Debian mirror this
# machine's own apt sources name (DIST_MIRROR overrides it). Needs root.
set -euo pipefail
. "$(dirname "$0")/dist-lib.sh"
dist_init "${1:-}"

# Packages the module's build and tests need, then those wanted where the release has them.
PACKAGES=(
    build-essential g++ dpkg-dev pkg-config
    nginx nginx-dev libssl-dev libjansson-dev libhiredis-dev libpcre2-dev zlib1g-dev
    redis-server
    python3 python3-pytest python3-jwt python3-redis python3-requests
    libgtest-dev googletest openssl procps curl ca-certificates
)
OPTIONAL=(
    valkey-server clang redis-sentinel valkey-sentinel redis-tools
    python3-botocore python3-psycopg2 postgresql nghttp2-client nodejs caddy prometheus
    lintian
)

# --- the mirror: the Debian archive this machine's apt uses ------------------------------------
host_uris() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
    done
    return 0
}
MIRROR=${DIST_MIRROR:-$(host_uris | grep -E '/debian/?$' | head -1)}
SECURITY_MIRROR=${DIST_SECURITY_MIRROR:-$(host_uris | grep -E '/debian-security/?$' | head -1)}
MIRROR=${MIRROR%/}
SECURITY_MIRROR=${SECURITY_MIRROR%/}
[ -n "$MIRROR" ] || { echo "dist-root: no Debian mirror in /etc/apt/sources*; set DIST_MIRROR" >&2; exit 1; }

case "$DIST" in
    trixie) SCRIPT=/usr/share/debootstrap/scripts/trixie ;;
    # bookworm's debootstrap has no script for forky; sid's is the one for testing and unstable
    forky) SCRIPT=/usr/share/debootstrap/scripts/sid ;;
esac

stamp_of() { printf '%s\n' "$MIRROR" "$SECURITY_MIRROR" "${PACKAGES[@]}" "${OPTIONAL[@]}" | sha256sum | cut -c1-16; }
STAMP=$ROOT/.dist-root.stamp

dist_lock
if [ -f "$STAMP" ] && [ "$(head -1 "$STAMP")" = "$(stamp_of)" ] && [ -z "${DIST_REFRESH:-}" ]; then
    echo "dist-root: $ROOT is ready ($(sed -n 2p "$STAMP")); DIST_REFRESH=1 updates it"
    exit 0
fi

# --- host: debootstrap ------------------------------------------------------------------------
dist_step_start "host: debootstrap"
if ! command -v debootstrap >/dev/null 2>&1 || [ ! -f "$SCRIPT" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
fi
[ -f "$SCRIPT" ] || { echo "dist-root: $SCRIPT missing" >&2; exit 1; }
echo "debootstrap $(dpkg-query -W -f='${Version}' debootstrap), mirror $MIRROR"
dist_step_end

# --- the base system ------------------------------------------------------------------------
dist_step_start "debootstrap --variant=minbase $DIST"
if [ ! -f "$ROOT/.debootstrap.stamp" ]; then
    if [ -e "$ROOT" ]; then
        # A half-made root from an interrupted run: start it again (nothing may be mounted in
        # it now, dist_lock has undone leftovers; --one-file-system guards the rest).
        if [ -n "$(dist_mounts_under)" ]; then
            echo "dist-root: mounts remain under $ROOT; not removing it" >&2
            exit 1
        fi
        echo "removing the unfinished root $ROOT"
        rm -rf --one-file-system "$ROOT"
    fi
    debootstrap --variant=minbase --components=main "$DIST" "$ROOT" "$MIRROR" "$SCRIPT" \
        > "$ROOT.debootstrap.log" 2>&1 || {
        tail -30 "$ROOT.debootstrap.log"
        [ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -30 "$ROOT/debootstrap/debootstrap.log"
        echo "dist-root: debootstrap failed (log: $ROOT.debootstrap.log)" >&2
        exit 1
    }
    date -u +%FT%TZ > "$ROOT/.debootstrap.stamp"
else
    echo "already there (since $(cat "$ROOT/.debootstrap.stamp"))"
fi
dist_step_end

# --- apt sources and settings -----------------------------------------------------------------
dist_step_start "apt sources, apt-get update"
rm -f "$ROOT/etc/apt/sources.list"
{
    case "$DIST" in
        trixie)
            printf 'Types: deb\nURIs: %s\nSuites: trixie trixie-updates\nComponents: main\n' "$MIRROR"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
            if [ -n "$SECURITY_MIRROR" ]; then
                printf '\nTypes: deb\nURIs: %s\nSuites: trixie-security\nComponents: main\n' "$SECURITY_MIRROR"
                printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
            fi
            ;;
        forky)
            # deb-src: the nginx source package carries nginx's pristine upstream tarball
            # (scripts/dist-nginx-upstream.sh builds nginx from it).
            printf 'Types: deb deb-src\nURIs: %s\nSuites: forky\nComponents: main\n' "$MIRROR"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
            ;;
    esac
} > "$ROOT/etc/apt/sources.list.d/debian.sources"
cat > "$ROOT/etc/apt/apt.conf.d/90dist-root" <<'CONF'
// written by scripts/dist-root.sh: a build root, not a system
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
// testing's Release files expire within a week; a root kept under build/ outlives that
Acquire::Check-Valid-Until "false";
Dpkg::Use-Pty "false";
CONF
# Installing nginx or redis-server must not try to start them.
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
dist_mount_system
dist_chroot apt-get update -q -o Acquire::Check-Valid-Until=false | tail -3
dist_step_end

# --- packages ---------------------------------------------------------------------------------
dist_step_start "apt-get install (${#PACKAGES[@]} packages + those of ${#OPTIONAL[@]} optional that $DIST has)"
install=("${PACKAGES[@]}")
for p in "${OPTIONAL[@]}"; do
    cand=$(dist_chroot apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
        install+=("$p")
    else
        echo "dist-root: $p: not in $DIST, skipped"
    fi
done
[ -n "${DIST_REFRESH:-}" ] && dist_chroot apt-get -y -q upgrade | tail -3
dist_chroot apt-get install -y -q "${install[@]}" > "$ROOT.install.log" 2>&1 || {
    tail -40 "$ROOT.install.log"
    echo "dist-root: apt-get install failed (log: $ROOT.install.log)" >&2
    exit 1
}
tail -1 "$ROOT.install.log"
dist_chroot apt-get clean
dist_step_end

# --- what the root has ------------------------------------------------------------------------
dist_step_start "versions"
versions=$(dist_chroot dpkg-query -W -f='${Package}=${Version}\n' \
    nginx nginx-dev libhiredis-dev redis-server valkey-server g++ clang libssl-dev \
    libjansson-dev python3-pytest googletest 2>/dev/null || true)
echo "$versions"
dist_step_end

{
    stamp_of
    echo "made $(date -u +%FT%TZ): $(echo "$versions" | grep -E '^(nginx|libhiredis-dev|redis-server|valkey-server)=' | tr '\n' ' ')"
} > "$STAMP"
echo "dist-root: $ROOT is ready"
