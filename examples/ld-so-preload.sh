#!/usr/bin/env bash
# reflink-shim for every process of a machine, through /etc/ld.so.preload,
# tried safely: this script does it in a private mount namespace (an
# overlay on /etc that only its own processes see), runs a copy with no
# LD_PRELOAD and no wrapper, and shows that it became a clone.
#
#   examples/ld-so-preload.sh DIR      DIR on XFS/btrfs; root needed
#
# To do it for real (root), after `make install PREFIX=/usr/local`:
#   echo /usr/local/lib/reflink-shim/libreflink-shim.so >> /etc/ld.so.preload
# Caveats:
# - every dynamically linked process loads the library, setuid programs
#   included (the loader trusts this root-owned file); keep it on a root-owned
#   path, readable by all.
# - a missing or broken library makes the loader print an error in every
#   program ("cannot be preloaded ... ignored"); replace it atomically
#   (install to a temporary name, then rename), never in place.
# - REFLINK_SHIM_DISABLE=1 or REFLINK_SHIM_EXCLUDE=prog turns it off per
#   process; deleting the line turns it off for processes started later.
# - static binaries and Go programs are not affected.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=${REFLINK_SHIM_LIB:-$here/../build/libreflink-shim.so}
copier=${COPIER:-$here/../build/examples/cp-rw}
dir=${1:?usage: ld-so-preload.sh DIR}
[ "$(id -u)" = 0 ] || { echo "ld-so-preload.sh: needs root (mount namespace)" >&2; exit 1; }
lib=$(realpath "$lib")
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/upper" "$work/work"
head -c 8M /dev/urandom > "$dir/source"
rm -f "$dir/copy"
unshare -m bash -euc '
	mount --make-rprivate /
	mount -t overlay overlay -o lowerdir=/etc,upperdir="$1/upper",workdir="$1/work" /etc
	echo "$2" >> /etc/ld.so.preload
	echo "/etc/ld.so.preload (in this namespace only): $(cat /etc/ld.so.preload)"
	REFLINK_SHIM_LOG=/dev/stderr "$3" "$4/source" "$4/copy"
' - "$work" "$lib" "$copier" "$dir"
cmp "$dir/source" "$dir/copy" && echo "copy identical to its source"
