#!/usr/bin/env bash
# Runs the test suite: make test calls this after building.
#
# As root it makes real filesystems on loop devices (XFS with reflink, btrfs,
# ext4) plus a tmpfs, installs what is missing with apt-get, and unmounts
# everything on exit. Without root, only the tests that need no filesystem
# of their own run; the others skip and say why.
#
#   tests/run.sh [BATS-FILE...]     (default: every tests/*.bats)
#   TEST_KEEP=1  leave the filesystems mounted for inspection
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have bats || need_pkgs+=(bats)
if [ "$(id -u)" = 0 ]; then
	have mkfs.xfs || need_pkgs+=(xfsprogs)
	have mkfs.btrfs || need_pkgs+=(btrfs-progs)
	have strace || need_pkgs+=(strace)
	have busybox || need_pkgs+=(busybox)
	have cpio || need_pkgs+=(cpio)
	have filefrag || need_pkgs+=(e2fsprogs)
	have perl || need_pkgs+=(perl)
	have python3 || need_pkgs+=(python3)
	have musl-gcc || need_pkgs+=(musl-tools)
	have fiu-run || need_pkgs+=(fiu-utils)
	[ -f /usr/lib/x86_64-linux-gnu/libeatmydata.so ] || need_pkgs+=(eatmydata)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && have apt-get; then
		echo "tests: installing ${need_pkgs[*]}" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null; }
	else
		echo "tests: missing ${need_pkgs[*]} (install them, or run as root)" >&2
		have bats || exit 1
	fi
fi

# SHIM_BUILD selects another build (make check-asan/check-tsan use
# build/asan, build/tsan); SHIM_PRELOAD_FIRST goes before the library in
# LD_PRELOAD (a sanitizer runtime must be loaded first).
build=$top/${SHIM_BUILD:-build}
export SHIM_TOP=$top
export SHIM_LIB=${SHIM_PRELOAD_FIRST:+$SHIM_PRELOAD_FIRST:}$build/libreflink-shim.so
export SHIM_WRAPPER=$build/reflink-shim
export SHIM_PROGS=$build/tests
export SHIM_EXAMPLES=$build/examples
# The musl build, when musl-gcc is there (tests/musl.bats skips otherwise).
if command -v musl-gcc >/dev/null 2>&1; then
	make -s -C "$top" musl >/dev/null
fi

work=$(mktemp -d /tmp/reflink-shim-test.XXXXXX)
mounts=()
cleanup() {
	[ "${TEST_KEEP:-0}" = 1 ] && { echo "tests: kept $work" >&2; return; }
	for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# mkfs_mount NAME SIZE MKFS-COMMAND...: a loop filesystem at $work/NAME.
mkfs_mount() {
	local name=$1 size=$2; shift 2
	truncate -s "$size" "$work/$name.img"
	"$@" "$work/$name.img" >/dev/null 2>&1 || return 1
	mkdir -p "$work/$name"
	mount -o loop "$work/$name.img" "$work/$name" || return 1
	mounts+=("$work/$name")
}

if [ "$(id -u)" = 0 ]; then
	mkfs_mount xfs 3G mkfs.xfs -q -f -m reflink=1 && export T_XFS=$work/xfs
	mkfs_mount xfs2 512M mkfs.xfs -q -f -m reflink=1 && export T_XFS2=$work/xfs2
	mkfs_mount btrfs 3G mkfs.btrfs -q -f && export T_BTRFS=$work/btrfs
	mkfs_mount ext4 512M mkfs.ext4 -q -F && export T_EXT4=$work/ext4
	mkdir -p "$work/tmpfs" && mount -t tmpfs -o size=512M tmpfs "$work/tmpfs" &&
		mounts+=("$work/tmpfs") && export T_TMPFS=$work/tmpfs
fi

if [ $# -eq 0 ]; then
	set -- tests/*.bats
fi
# TAP, summarised as the plain "N passed, N failed, N skipped" line CI reads.
rc=0
bats --tap "$@" | tee "$work/tap" || rc=$?
pass=$(grep -c '^ok ' "$work/tap" || true)
skip=$(grep -c '^ok .* # skip' "$work/tap" || true)
fail=$(grep -c '^not ok ' "$work/tap" || true)
echo "tests: $((pass - skip)) passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$rc" -eq 0 ]
