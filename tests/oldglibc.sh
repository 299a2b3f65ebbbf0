#!/usr/bin/env bash
# make check-oldglibc: the library on Debian 11 (glibc 2.31), in a root
# made once by tests/mkroot.sh. The source is copied into the root (into
# this run's /tmp there) and built with its compiler and C library;
# tests/run.sh runs the tests
# there, making its loop filesystems (XFS, btrfs, ext4, tmpfs) inside the
# root, so that every program the tests run (dd, cp, python3, perl,
# busybox, cpio, strace, the test programs) is the root's. They run three
# times:
#   1. in the root, with the library built there;
#   2. in the root, with the library built on this host (make all), on its
#      newer glibc: what a user gets who copies it to an older system;
#   3. on this host, with the library built in the root.
#
# Root only (chroot, loop devices). Everything mounted in the root (/dev,
# /proc, /sys, and the test filesystems) lives in a private mount
# namespace, so it all goes away when the run ends, however it ends.
#
#   tests/oldglibc.sh [BATS-FILE...]   (default: the files below)
#   REFLINK_SHIM_ROOTS                  where the root is kept (tests/mkroot.sh)
#   SHIM_BUILD                          this host's build (build), with test-progs
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

die() {
	echo "oldglibc: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (chroot, loop filesystems)"
# Those that run the scenario programs and real programs, and those on the
# C library's names (every name called, the lookup, the exports): what
# differs with the C library (its stat and pthread entry points, symbol
# versions, stdio) is met there.
[ $# -gt 0 ] || set -- tests/copy.bats tests/contract.bats tests/fallback.bats tests/programs.bats \
	tests/lifecycle.bats tests/exact.bats tests/invisible.bats tests/coarse.bats tests/faults.bats \
	tests/everycall.bats tests/startup.bats tests/interface.bats tests/wrapper.bats
host_build=${SHIM_BUILD:-build}
{ [ -f "$host_build/libreflink-shim.so" ] && [ -x "$host_build/tests/scenario" ]; } ||
	die "build here first: make all test-progs"

# What tests/run.sh needs (it cannot install what is missing: the root is
# read-only to the run).
root=$(tests/mkroot.sh bullseye build-essential python3 strace xfsprogs btrfs-progs \
	e2fsprogs busybox cpio perl fiu-utils eatmydata fuse-overlayfs)

# Debian 11's bats (1.2.1) cannot run the suite (bats_require_minimum_version
# came with bats-core 1.7: tried): the host's bats-core goes in, bash
# scripts like the rest of the harness.
bats=$(readlink -f "$(command -v bats)") || die "bats is not installed"
bats_root=${bats%/*/*}
[ -d "$bats_root/libexec/bats-core" ] || die "cannot find bats-core's files under $bats_root"

# The cached root stays as tests/mkroot.sh made it: the run sees it
# through a read-only bind mount, with a directory of this run's on its
# /tmp (the source, the builds, bats, the test filesystems' images),
# removed at the end.
work=$(mktemp -d /tmp/reflink-shim-oldglibc.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
# Interrupted (^C reaches every process of the run): stop after the
# running step has cleaned up, rather than go on to the next.
trap 'exit 130' INT TERM
mkdir -p "$work/mnt" "$work/tmp/src" "$work/tmp/host" "$work/tmp/out"
tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$work/tmp/src" -xf -
mkdir -p "$work/tmp/bats/bin" "$work/tmp/bats/lib" "$work/tmp/bats/libexec"
cp -a "$bats" "$work/tmp/bats/bin/"
cp -a "$bats_root/lib/bats-core" "$work/tmp/bats/lib/"
cp -a "$bats_root/libexec/bats-core" "$work/tmp/bats/libexec/"

# The library as built on this host, for run 2.
cp "$host_build/libreflink-shim.so" "$work/tmp/host/"

# shellcheck disable=SC2016 # expanded in the root's shell
script='
set -e
trap "exit 130" INT TERM
cd /tmp/src
echo "oldglibc: $(ldd --version | head -1); $(cp --version | head -1); $(python3 --version); $(bats --version)"
make -s -j2 all test-progs
cp build/libreflink-shim.so /tmp/out/
rc=0
echo "oldglibc: 1. in the root, the library built there"
tests/run.sh "$@" || rc=1
# SHIM_BUILD: the test programs from build/, the library from build/host/,
# with a copy of the wrapper (which finds the library beside itself).
mkdir -p build/host
cp /tmp/host/libreflink-shim.so build/reflink-shim build/host/
ln -s ../tests ../examples build/host/
echo "oldglibc: 2. in the root, the library built on the host"
SHIM_BUILD=build/host tests/run.sh "$@" || rc=1
exit $rc
'
# shellcheck disable=SC2016 # expanded by the inner shell
unshare -m --propagation private bash -c '
	set -e
	root=$1 work=$2 script=$3
	shift 3
	m=$work/mnt
	mount --bind "$root" "$m"
	mount -o remount,bind,ro "$m"
	mount --bind "$work/tmp" "$m/tmp"
	mount --rbind /dev "$m/dev"
	mount -t proc proc "$m/proc"
	mount -t sysfs sysfs "$m/sys"
	exec chroot "$m" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
		PATH=/tmp/bats/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		bash -c "$script" oldglibc "$@"
' oldglibc "$root" "$work" "$script" "$@" && rc=0 || rc=1

# 3. The library built in the root, with this host's programs.
[ -f "$work/tmp/out/libreflink-shim.so" ] || die "the build in the root failed"
rb=$host_build/oldglibc
rm -rf "$rb"
mkdir -p "$rb"
cp "$work/tmp/out/libreflink-shim.so" "$host_build/reflink-shim" "$rb/"
ln -s ../tests ../examples "$rb/"
echo "oldglibc: 3. on this host, the library built in the root"
SHIM_BUILD=$rb tests/run.sh "$@" || rc=1
exit "$rc"
