#!/usr/bin/env bash
# Runs the test suite: make test calls this after building.
#
# As root it makes real filesystems on loop devices (XFS with reflink, twice,
# btrfs, ext4) plus a tmpfs, installs what is missing with apt-get, and
# unmounts everything on exit; if it cannot make one of them, that is an
# error, not a reason to skip. Without root, only the tests that need no
# filesystem of their own run; the others skip and say why.
#
#   tests/run.sh [BATS-FILE...]     (default: every tests/*.bats)
#   TEST_KEEP=1  leave the filesystems mounted for inspection
#
# Ends with the line "tests: N passed, N failed, N skipped", and exits
# non-zero if any test failed or bats did not report every test.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

die() {
	echo "tests: $*" >&2
	exit 1
}

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
# The musl build is for tests/musl.bats alone (make check-oldglibc runs
# others in a root without musl).
musl_wanted=0
[ $# -eq 0 ] && musl_wanted=1
for f in "$@"; do [ "${f##*/}" = musl.bats ] && musl_wanted=1; done
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
	[ "$musl_wanted" = 0 ] || have musl-gcc || need_pkgs+=(musl-tools)
	have fiu-run || need_pkgs+=(fiu-utils)
	have fuse-overlayfs || need_pkgs+=(fuse-overlayfs)
	[ -f /usr/lib/x86_64-linux-gnu/libeatmydata.so ] || need_pkgs+=(eatmydata)
	have dpkg-shlibdeps || need_pkgs+=(dpkg-dev)   # make deb (docs.bats)
	if [ "${SHIM_CHECK_DEB:-0}" = 1 ]; then
		have debootstrap || need_pkgs+=(debootstrap)
		have lintian || need_pkgs+=(lintian)
	fi
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && have apt-get; then
		echo "tests: installing ${need_pkgs[*]}" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null; } ||
			die "cannot install ${need_pkgs[*]}"
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
if [ "$musl_wanted" = 1 ] && command -v musl-gcc >/dev/null 2>&1; then
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

# mkfs_mount NAME SIZE MKFS-COMMAND...: a loop filesystem at $work/NAME, or
# the run ends here with the reason.
mkfs_mount() {
	local name=$1 size=$2 out; shift 2
	truncate -s "$size" "$work/$name.img"
	out=$("$@" "$work/$name.img" 2>&1) ||
		die "cannot make the $name test filesystem: $* $work/$name.img: ${out:-failed}"
	mkdir -p "$work/$name"
	out=$(mount -o loop "$work/$name.img" "$work/$name" 2>&1) ||
		die "cannot mount the $name test filesystem: mount -o loop $work/$name.img: ${out:-failed}"
	mounts+=("$work/$name")
}

# can_clone DIR: a clone works in DIR (what the XFS and btrfs tests rely on).
can_clone() {
	local out
	head -c 65536 /dev/urandom > "$1/.probe"
	out=$(cp --reflink=always "$1/.probe" "$1/.probe.clone" 2>&1) ||
		die "$1 cannot clone: cp --reflink=always: ${out:-failed}"
	rm -f "$1/.probe" "$1/.probe.clone"
}

# As root the suite promises all five filesystems: failing to make one fails
# the run (its tests would otherwise skip and the run would look green).
if [ "$(id -u)" = 0 ]; then
	mkfs_mount xfs 3G mkfs.xfs -q -f -m reflink=1
	mkfs_mount xfs2 512M mkfs.xfs -q -f -m reflink=1
	mkfs_mount btrfs 3G mkfs.btrfs -q -f
	mkfs_mount ext4 512M mkfs.ext4 -q -F
	mkdir -p "$work/tmpfs"
	out=$(mount -t tmpfs -o size=512M tmpfs "$work/tmpfs" 2>&1) ||
		die "cannot mount the tmpfs test filesystem: ${out:-failed}"
	mounts+=("$work/tmpfs")
	can_clone "$work/xfs"
	can_clone "$work/xfs2"
	can_clone "$work/btrfs"
	export T_XFS=$work/xfs T_XFS2=$work/xfs2 T_BTRFS=$work/btrfs T_EXT4=$work/ext4 T_TMPFS=$work/tmpfs
else
	echo "tests: not root: no test filesystems (loop XFS, btrfs, ext4, tmpfs); the tests that need one skip" >&2
fi

# make check-asan, check-tsan (SHIM_SANITIZER=1): every sanitizer report goes
# to a file in $SHIM_SAN_LOGS, and the test that was running fails with it
# (teardown in helpers.bash), whatever the process's exit status and output
# became. The processes do not symbolize their reports (symbolize=0): the
# in-process symbolizer opens files through our open() wrapper, and under
# TSan that runs instrumented code inside the report, which deadlocks (the
# process then hangs until under_shim's timeout, reporting nothing). The
# frames are printed as "(MODULE+OFFSET)" and symbolized by the harness.
if [ "${SHIM_SANITIZER:-0}" = 1 ]; then
	export SHIM_SAN_LOGS=$work/san
	mkdir -p "$SHIM_SAN_LOGS/seen"
	san="log_path=$SHIM_SAN_LOGS/report:symbolize=0:stack_trace_format=\"    #%n %p (%m+%o)\""
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}$san
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}$san
	export TSAN_OPTIONS=${TSAN_OPTIONS:+$TSAN_OPTIONS:}$san
fi

if [ $# -eq 0 ]; then
	set -- tests/*.bats
fi
# TAP, summarised as the plain "N passed, N failed, N skipped" line CI reads.
# SHIM_RUNNER, if set, runs bats (make check-aarch64: tests/aarch64.sh).
rc=0
${SHIM_RUNNER:+"$SHIM_RUNNER"} bats --tap "$@" | tee "$work/tap" || rc=$?
pass=$(grep -c '^ok ' "$work/tap" || true)
skip=$(grep -c '^ok .* # skip' "$work/tap" || true)
fail=$(grep -c '^not ok ' "$work/tap" || true)
plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$work/tap" | head -1)
if [ "$((pass + fail))" -ne "${plan:-0}" ]; then
	echo "tests: bats reported $((pass + fail)) of ${plan:-?} tests; the others count as failed" >&2
	[ "${plan:-0}" -gt "$((pass + fail))" ] && fail=$((plan - pass))
	rc=1
fi
# Sanitizer reports no test's teardown claimed (a test file with its own
# teardown, or a process still running after its test).
if [ -n "${SHIM_SAN_LOGS:-}" ] && compgen -G "$SHIM_SAN_LOGS/report.*" >/dev/null; then
	bash -c 'source tests/helpers.bash; san_reports' >&2 || true
	echo "tests: sanitizer reports outside any test (above)" >&2
	rc=1
fi
echo "tests: $((pass - skip)) passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$rc" -eq 0 ]
