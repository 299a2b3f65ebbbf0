#!/usr/bin/env bash
# Runs a command (make check-aarch64: bats, from tests/run.sh) where aarch64
# programs run as on an aarch64 host, under qemu-user. Root only.
#
#   tests/aarch64.sh CMD...       (SHIM_PROGS: the aarch64 test programs)
#
# The programs the tests run under the shim (tests/progs, cross-built) are
# aarch64; the harness around them (bash, bats, cp, cmp, stat, strace) stays
# native. So the kernel itself must start an aarch64 program whoever execs it
# (bats, env, strace, or the program itself), with LD_PRELOAD reaching it
# untouched: binfmt_misc hands it to qemu-aarch64-static, a static program
# that ignores LD_PRELOAD, which the emulated loader then reads. Wrapper
# scripts around qemu cannot do that: the shell running them would be a
# native program given the aarch64 library to preload.
#
# The registration is Debian's own (qemu-user-static's binfmt.d file), made
# in a binfmt_misc instance private to a user namespace (Linux 6.7 or later):
# nothing changes on the host. On an older kernel the host's registration is
# used if there is one. QEMU_LD_PREFIX points the emulated loader at the
# cross C library (libc6-arm64-cross). In a private mount namespace, an
# aarch64 program that exits 0 (tests/progs/true.c) stands in for /bin/true,
# which the scenarios exec.
#
# strace sees the emulator's system calls: qemu passes FICLONE and FIEMAP
# through as the same ioctls, so the clone counts (helpers.bash) are the
# kernel's, as natively. qemu does not implement process_vm_readv (ENOSYS):
# SHIM_QEMU_USER=1 tells the tests (tests/copy.bats: umem=1).
set -euo pipefail

die() {
	echo "tests/aarch64.sh: $*" >&2
	exit 1
}

conf=/usr/lib/binfmt.d/qemu-aarch64.conf
binfmt=/proc/sys/fs/binfmt_misc

if [ "${AARCH64_NS:-}" = "" ]; then
	[ "$(id -u)" = 0 ] || die "needs root"
	[ -r "$conf" ] || die "no $conf: apt-get install qemu-user-static"
	[ -x "${SHIM_PROGS:-}/true" ] || die "no aarch64 test programs in SHIM_PROGS='${SHIM_PROGS:-}'"
	# A user namespace mapping root to root: files and permissions as
	# outside; the loop filesystems tests/run.sh mounted stay visible.
	if unshare --map-root-user --mount sh -c "mount -t binfmt_misc binfmt_misc $binfmt" 2>/dev/null; then
		AARCH64_NS=private exec unshare --map-root-user --mount --propagation private "$0" "$@"
	fi
	[ -e "$binfmt/qemu-aarch64" ] ||
		die "this kernel has no private binfmt_misc (Linux 6.7+) and the host has no qemu-aarch64 registration"
	AARCH64_NS=host exec unshare --mount --propagation private "$0" "$@"
fi

if [ "$AARCH64_NS" = private ]; then
	mount -t binfmt_misc binfmt_misc "$binfmt"
	cat "$conf" > "$binfmt/register"
fi
grep -qx enabled "$binfmt/qemu-aarch64" || die "the qemu-aarch64 binfmt_misc entry is disabled"
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu SHIM_QEMU_USER=1
[ -e "$QEMU_LD_PREFIX/lib/ld-linux-aarch64.so.1" ] || die "no $QEMU_LD_PREFIX: apt-get install libc6-arm64-cross"
mount --bind "$SHIM_PROGS/true" /bin/true
/bin/true || die "cannot run an aarch64 program ($SHIM_PROGS/true as /bin/true)"
exec "$@"
