#!/usr/bin/env bash
# A pristine Debian root for tests that need another system's userland
# (make check-deb installs the package into one).
#
#   tests/mkroot.sh SUITE [PACKAGE...]
#
# Prints the path of a root made by `debootstrap --variant=minbase SUITE`
# with PACKAGEs added. It is made once and cached outside the repository
# (REFLINK_SHIM_ROOTS, default /var/cache/reflink-shim/roots), one root per
# suite and package set; later calls print the cached path at once. The
# cached root stays pristine: callers copy it (cp -a) and change the copy.
# Everything but the path goes to stderr. Root only.
#
#   REFLINK_SHIM_ROOTS    where roots are cached
#   REFLINK_SHIM_MIRROR   Debian mirror (default http://deb.debian.org/debian;
#                         releases that left it are on archive.debian.org)
set -euo pipefail

die() {
	echo "mkroot: $*" >&2
	exit 1
}

[ $# -ge 1 ] || die "usage: $0 SUITE [PACKAGE...]"
suite=$1
shift
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || die "not a suite name: $suite"
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
pkgs=()
if [ $# -gt 0 ]; then
	mapfile -t pkgs < <(printf '%s\n' "$@" | sort -u)
fi
for p in "${pkgs[@]}"; do
	[[ $p =~ ^[a-z0-9][a-z0-9+.-]*$ ]] || die "not a package name: $p"
done

cache=${REFLINK_SHIM_ROOTS:-/var/cache/reflink-shim/roots}
mirror=${REFLINK_SHIM_MIRROR:-http://deb.debian.org/debian}
# one root per suite and package set, named by both: bullseye+gcc+make
key=$suite
for p in "${pkgs[@]}"; do key+=+$p; done
root=$cache/$key

if [ -d "$root" ]; then
	echo "$root"
	exit 0
fi
mkdir -p "$cache"
command -v debootstrap >/dev/null 2>&1 ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2 ||
	die "cannot install debootstrap"

# Two runs asking for the same root: the second waits and reuses it.
exec 9> "$cache/.$key.lock"
flock 9
if [ -d "$root" ]; then
	echo "$root"
	exit 0
fi

# Built beside the cache entry and renamed into place when complete, so a
# failed or interrupted build is never mistaken for a root.
tmp=$cache/.$key.tmp
log=$cache/.$key.log
# Unmounts whatever debootstrap left mounted inside tmp; true when nothing
# is mounted there any more (only then may tmp be removed).
mounts_in() {
	findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1' | sort -r
}
unmount_all() {
	local m
	for m in $(mounts_in "$tmp"); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	[ -z "$(mounts_in "$tmp")" ]
}
cleanup() {
	if [ -d "$tmp" ]; then
		if unmount_all; then
			rm -rf "$tmp"
		else
			echo "mkroot: left $tmp: something is still mounted inside it" >&2
		fi
	fi
}
trap cleanup EXIT
unmount_all || die "$tmp: cannot unmount what an earlier build left mounted"
rm -rf "$tmp"

include=()
if [ ${#pkgs[@]} -gt 0 ]; then
	include=("--include=$(IFS=,; echo "${pkgs[*]}")")
fi
echo "mkroot: making the $key root (debootstrap, once; log: $log)" >&2
start=$SECONDS
debootstrap --variant=minbase "${include[@]}" "$suite" "$tmp" "$mirror" > "$log" 2>&1 ||
	{ tail -n 20 "$log" >&2; die "debootstrap $suite failed (log: $log)"; }
# the downloaded .debs are not part of the system
chroot "$tmp" apt-get clean
mv "$tmp" "$root"
echo "mkroot: $root made in $((SECONDS - start)) s" >&2
echo "$root"
