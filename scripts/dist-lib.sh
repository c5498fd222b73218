# Shared by scripts/dist-*.sh (sourced, not run): where a Debian release's build/test root
# lives, one lock per root, the mounts a script makes in it (undone on exit, even on failure),
# running a command inside it, and timing each step.
#
# A root is build/dist/DIST of this work tree: a worktree's runs change their root (dpkg -i of
# the package, test processes), so worktrees do not share one. DIST_ROOT_DIR overrides the
# path (to reuse another tree's root: cp -a it, a root is about 2 GB).

DIST_SUITES=(trixie forky)

dist_usage() {
    echo "usage: $0 DIST    (DIST: ${DIST_SUITES[*]})" >&2
    exit 2
}

dist_init() {
    DIST=${1:-}
    local ok=
    for s in "${DIST_SUITES[@]}"; do [ "$DIST" = "$s" ] && ok=1; done
    [ -n "$ok" ] || dist_usage
    [ "$(id -u)" -eq 0 ] || { echo "$0: needs root (debootstrap, mount, chroot)" >&2; exit 1; }

    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    ROOT=${DIST_ROOT_DIR:-$REPO/build/dist/$DIST}
    mkdir -p "$(dirname "$ROOT")"
    DIST_T0=$(date +%s.%N)
    DIST_MOUNTS=()
    trap dist_cleanup EXIT
    trap 'exit 130' INT TERM HUP
}

# --- timing ----------------------------------------------------------------------------------
dist_elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

dist_step_start() {
    DIST_STEP=$1
    DIST_STEP_T0=$(date +%s.%N)
    printf '\n==> [%s] %s\n' "$DIST" "$DIST_STEP"
}

dist_step_end() {
    local t1
    t1=$(date +%s.%N)
    printf '==> [%s] %s: %s s\n' "$DIST" "$DIST_STEP" "$(dist_elapsed "$DIST_STEP_T0" "$t1")"
}

# --- one user of a root at a time --------------------------------------------------------------
# Everything that mounts into or changes a root holds its lock, so a mount found under the root
# (or a process running in it) while holding it is a leftover of a run that was killed, and
# can be undone. Commands run in the root do not inherit the lock (dist_chroot closes it), so
# one they leave behind cannot keep the next run waiting.
dist_lock() {
    exec {DIST_LOCK_FD}>"$ROOT.lock"
    if ! flock -n "$DIST_LOCK_FD"; then
        echo "[$DIST] waiting for $ROOT.lock (another dist script is using this root)"
        flock "$DIST_LOCK_FD"
    fi
    dist_kill_root_procs
    dist_umount_stale
}

dist_mounts_under() {
    # deepest first
    findmnt -rn -o TARGET | awk -v r="$ROOT/" 'index($0, r) == 1' | sort -r
}

dist_umount_stale() {
    local m
    while read -r m; do
        [ -n "$m" ] || continue
        echo "[$DIST] unmounting leftover $m"
        umount "$m" 2>/dev/null || umount -l "$m"
    done < <(dist_mounts_under)
}

# --- mounts made by this run, undone in reverse order on exit ----------------------------------
dist_mount() {   # dist_mount TARGET mount-args...
    local target=$1
    shift
    mkdir -p "$target"
    mount "$@" "$target"
    DIST_MOUNTS+=("$target")
}

dist_mount_system() {
    dist_mount "$ROOT/proc" -t proc proc
    dist_mount "$ROOT/sys" -t sysfs -o ro sysfs
    # /dev/null, /dev/urandom, ... and a /dev/shm of the root's own (Python's multiprocessing)
    dist_mount "$ROOT/dev" --bind /dev
    dist_mount "$ROOT/dev/pts" --bind /dev/pts
    dist_mount "$ROOT/dev/shm" -t tmpfs -o mode=1777,size=256m tmpfs
    # Name resolution for apt (the root's resolv.conf is a copy, taken each run)
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}

# The work tree at /src, and the contract's shared/ beside it (the unit tests' Wycheproof
# vectors, the conformance slice), read-only, at /shared = /src/../shared.
dist_mount_repo() {
    dist_mount "$ROOT/src" --bind "$REPO"
    if [ -d "$REPO/../shared" ]; then
        dist_mount "$ROOT/shared" --bind "$REPO/../shared"
        mount -o remount,bind,ro "$ROOT/shared"
    fi
}

# Processes still running inside the root (a test's nginx or redis-server left behind by a
# killed run): only those whose root directory is this root, never anything else.
dist_kill_root_procs() {
    local sig p pids
    for sig in TERM KILL; do
        pids=()
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && pids+=("${p#/proc/}")
        done
        [ ${#pids[@]} -gt 0 ] || return 0
        echo "[$DIST] SIG$sig to ${#pids[@]} processes left in $ROOT: ${pids[*]}" >&2
        kill -"$sig" "${pids[@]}" 2>/dev/null || true
        sleep 1
    done
}

dist_cleanup() {
    local rc=$? i m
    [ ${#DIST_MOUNTS[@]} -eq 0 ] || dist_kill_root_procs
    for ((i = ${#DIST_MOUNTS[@]} - 1; i >= 0; i--)); do
        m=${DIST_MOUNTS[i]}
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "[$DIST] could not unmount $m" >&2
    done
    DIST_MOUNTS=()
    if [ -n "${DIST_T0:-}" ]; then
        printf '\n==> [%s] %s: total %s s (exit %s)\n' "$DIST" "$(basename "$0")" \
            "$(dist_elapsed "$DIST_T0" "$(date +%s.%N)")" "$rc"
    fi
    exit "$rc"
}

# --- inside the root ----------------------------------------------------------------------------
dist_chroot() {
    chroot "$ROOT" /usr/bin/env -i \
        HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${CI:+CI=$CI} "$@" {DIST_LOCK_FD}>&-
}

dist_require_root() {
    [ -f "$ROOT/.dist-root.stamp" ] || {
        echo "[$DIST] no root at $ROOT: run scripts/dist-root.sh $DIST first" >&2
        exit 1
    }
}
