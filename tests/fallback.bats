#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# Where a clone is impossible the shim must be invisible: the same output and
# files as without it, and no clone attempts where the filesystem already
# said it cannot.

load helpers

SZ=$((3 * 1024 * 1024 + 77))

SCRIPTS=(
	"open=w copy=64k close"
	"open=rw copy=4k:5 fstat lseek=0:end read=10 copy=1m fstat close"
	"open=w sendfile=16m close"
	"open=w cfr=128k close"
	"open=w copy=64k:2 pwrite=10:10:1 copy=64k close"
	"open=w whole close"
)

# fallback_on SRCDIR DSTDIR: every script, plain and shim alike, no clone.
fallback_on() {
	local s
	for s in "${SCRIPTS[@]}"; do
		local d; d=$(testdir "$2")
		local src; src=$(testdir "$1")/src
		mksrc "$src" $SZ
		# shellcheck disable=SC2086
		differential "$d" "$src" $s || { echo "script: $s"; return 1; }
		[ "$clones" -eq 0 ] || { echo "$clones clones for: $s"; return 1; }
	done
}

@test "ext4: no clone, exactly the plain result" {
	need_fs T_EXT4
	fallback_on "$T_EXT4" "$T_EXT4"
}

@test "tmpfs: no clone, exactly the plain result" {
	need_fs T_TMPFS
	fallback_on "$T_TMPFS" "$T_TMPFS"
}

@test "across filesystems (XFS to btrfs, XFS to another XFS): exactly the plain result" {
	need_fs T_XFS T_XFS2 T_BTRFS
	fallback_on "$T_XFS" "$T_BTRFS"
	fallback_on "$T_XFS" "$T_XFS2"
	fallback_on "$T_BTRFS" "$T_XFS"
}

@test "ext4 and tmpfs see no clone attempt at all" {
	need_fs T_EXT4 T_TMPFS
	local fs
	for fs in "$T_EXT4" "$T_TMPFS"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		strace -f -qq -y -e trace=ioctl,pread64 -o "$d/trace" env LD_PRELOAD="$SHIM_LIB" \
			"$scenario" "$d/src" "$d/dst" open=w copy=64k close >/dev/null
		run ! grep -q CLONE "$d/trace"
		# nor a read of the source of our own (a FUSE server would see it;
		# -y names each fd's file: ld.so's pread64 of libraries do not count)
		run ! grep -qE "pread64\([0-9]+<$d/src>" "$d/trace"
		cmp "$d/src" "$d/dst"
	done
}

@test "only --stats and the log read a source that cannot be cloned, to name the reason" {
	need_fs T_EXT4
	local d; d=$(testdir "$T_EXT4")
	mksrc "$d/src" $SZ
	: > "$d/stats"
	strace -f -qq -y -e trace=pread64 -o "$d/trace" env LD_PRELOAD="$SHIM_LIB" REFLINK_SHIM_STATS="$d/stats" \
		"$scenario" "$d/src" "$d/dst" open=w copy=64k close >/dev/null
	grep -qE "pread64\([0-9]+<$d/src>" "$d/trace"
	grep -q 'unsupported=ext4:1,' "$d/stats"
	cmp "$d/src" "$d/dst"
}

# Python makes several copies in one process: the answer "cannot" for a
# device pair is remembered, a failure of one pair is not.
copies_in_one_process() {
	python3 - "$@" <<'PY'
import shutil, sys
args = sys.argv[1:]
for i in range(0, len(args), 2):
    shutil.copyfile(args[i], args[i + 1])
PY
}

@test "across filesystems the clone is tried once per process, then remembered" {
	need_fs T_XFS T_XFS2
	need_cmd python3
	local a b; a=$(testdir "$T_XFS"); b=$(testdir "$T_XFS2")
	for i in 1 2 3 4; do mksrc "$a/s$i" $SZ; done
	strace -f -qq -e trace=ioctl -o "$b/trace" env LD_PRELOAD="$SHIM_LIB" python3 -c '
import shutil, sys
for i in range(1, 5):
    shutil.copyfile(sys.argv[1] + "/s%d" % i, sys.argv[2] + "/d%d" % i)
' "$a" "$b"
	[ "$(grep -c 'FICLONE' "$b/trace")" -eq 1 ]
	grep -q 'EXDEV' "$b/trace"
	for i in 1 2 3 4; do cmp "$a/s$i" "$b/d$i"; done
}

@test "btrfs NOCOW and COW files: EINVAL for that pair only, the next pair clones" {
	need_fs T_BTRFS
	need_cmd chattr
	need_cmd python3
	local d; d=$(testdir "$T_BTRFS")
	mkdir "$d/nocow"
	chattr +C "$d/nocow"
	mksrc "$d/src" $SZ
	mksrc "$d/src2" $SZ
	strace -f -qq -e trace=ioctl -o "$d/trace" env LD_PRELOAD="$SHIM_LIB" python3 -c '
import shutil, sys
d = sys.argv[1]
shutil.copyfile(d + "/src", d + "/nocow/dst")
shutil.copyfile(d + "/src2", d + "/dst2")
' "$d"
	grep -q 'FICLONE.*EINVAL' "$d/trace"
	[ "$(count_clones "$d/trace")" -eq 1 ]
	cmp "$d/src" "$d/nocow/dst"
	cmp "$d/src2" "$d/dst2"
	[ "$(shared_bytes "$d/dst2")" -eq $SZ ]
	[ "$(shared_bytes "$d/nocow/dst")" -eq 0 ]
}

@test "btrfs subvolumes (different st_dev) and bind mounts still clone" {
	need_fs T_BTRFS T_XFS
	local d; d=$(testdir "$T_BTRFS")
	btrfs subvolume create "$d/sub" >/dev/null
	mksrc "$d/src" $SZ
	[ "$(stat -c %d "$d/src")" != "$(stat -c %d "$d/sub")" ]
	under_shim "$scenario" "$d/src" "$d/sub/dst" open=w copy=64k close >/dev/null
	[ "$clones" -eq 1 ]
	cmp "$d/src" "$d/sub/dst"
	local x; x=$(testdir "$T_XFS")
	mkdir "$x/bind"
	mount --bind "$x" "$x/bind"
	mksrc "$x/src" $SZ
	under_shim "$scenario" "$x/src" "$x/bind/dst" open=w copy=64k close >/dev/null
	local c=$clones
	umount "$x/bind"
	[ "$c" -eq 1 ]
	cmp "$x/src" "$x/dst"
}

@test "REFLINK_SHIM_DISABLE=1 interposes nothing" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/src" $SZ
	REFLINK_SHIM_DISABLE=1 under_shim "$scenario" "$d/src" "$d/dst" open=w copy=64k close >/dev/null
	[ "$clones" -eq 0 ]
	cmp "$d/src" "$d/dst"
}
