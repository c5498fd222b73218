#!/usr/bin/env bash
# A shell (or one command) inside a Debian release's root, with this work tree at /src:
#
#     scripts/dist-shell.sh trixie                    # interactive
#     scripts/dist-shell.sh forky make -C /src unit   # one command
#
# The mounts it makes are undone when it returns; it holds the root's lock meanwhile.
set -euo pipefail
. "$(dirname "$0")/dist-lib.sh"
dist_init "${1:-}"
shift
dist_require_root
dist_lock
dist_mount_system
dist_mount_repo
if [ $# -eq 0 ]; then
    dist_chroot bash -c 'cd /src && exec bash -i'
else
    dist_chroot bash -c 'cd /src && exec "$@"' bash "$@"
fi
