#!/usr/bin/env bats
# Every fallback path, by injection: tests/progs/faults.so, preloaded after
# the shim, is what the shim calls as ioctl and pread. Whatever fails, the
# program's output and files are exactly those of a plain run, and the
# shim's own errors never reach it.

load helpers

SZ=$((5 * 1024 * 1024 + 1234))
SCRIPTS=(
	"open=w copy=64k close"
	"open=rw copy=4k:300 fstat lseek=0:end copy=1m close"
	"open=w sendfile=16m close"
	"open=w copy=64k:3 close"
)

# injected VAR=VALUE...: every script, plain and shim+faults, same result.
# want_clones="N..." (one count for every script, or one per script in
# SCRIPTS' order): the clone ioctls each script makes on each filesystem.
injected() {
	local fs s c i want
	local -a wants
	read -ra wants <<< "${want_clones:-}"
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		i=0
		for s in "${SCRIPTS[@]}"; do
			want=${wants[$i]:-${wants[0]:-}}
			i=$((i + 1))
			local d; d=$(testdir "$fs")
			mksrc "$d/src" $SZ
			# shellcheck disable=SC2086
			env "$@" LD_PRELOAD="$SHIM_PROGS/faults.so" bash -c '
				source "$SHIM_TOP/tests/helpers.bash"
				differential "$1" "$1/src" ${@:2} || exit 1
				echo "$clones" > "$1/clones"' _ "$d" $s ||
				{ echo "$fs [$*]: $s"; return 1; }
			c=$(cat "$d/clones")
			if [ -n "$want" ] && [ "$c" -ne "$want" ]; then
				echo "$fs [$*]: $s: $c clone ioctls, want $want"
				return 1
			fi
		done
	done
}

@test "FICLONE failing with each errno: exactly the plain result, no clone" {
	local e
	for e in EOPNOTSUPP EXDEV EINVAL ENOSPC EIO EINTR ETXTBSY EPERM EBADF EDQUOT; do
		want_clones=0 injected FAULT_CLONE=$e
	done
}

@test "verification reads that fail or hit EOF: no clone, plain result" {
	# (sendfile is not verified, it reads nothing: it clones all the same)
	want_clones="0 0 1 0" injected FAULT_PREAD=eio
	want_clones="0 0 1 0" injected FAULT_PREAD=eof
}

@test "short and interrupted verification reads are retried: still one clone" {
	want_clones=1 injected FAULT_PREAD=short
	want_clones=1 injected FAULT_PREAD=eintr
}

@test "verification reads failing after the clone settle the copy: plain result" {
	injected FAULT_PREAD=eio FAULT_PREAD_AFTER=2
	injected FAULT_PREAD=eof FAULT_PREAD_AFTER=3
}

@test "a full filesystem: the program's own write meets ENOSPC, exactly as plain" {
	need_fs T_XFS2
	local d; d=$(testdir "$T_XFS2")
	mksrc "$d/src" $((64 * 1024 * 1024))
	# leave about 20 MiB free
	local free; free=$(df -B1 --output=avail "$T_XFS2" | tail -1)
	fallocate -l $((free - 20 * 1024 * 1024)) "$d/filler"
	sync
	"$scenario" "$d/src" "$d/plain" open=w copy=1m close > "$d/out.plain" 2>&1
	rm -f "$d/plain"
	sync
	FAULT_CLONE=ENOSPC LD_PRELOAD="$SHIM_PROGS/faults.so" under_shim \
		"$scenario" "$d/src" "$d/shim" open=w copy=1m close > "$d/out.shim" 2>&1
	cat "$d/out.shim"
	grep -q "No space left on device" "$d/out.shim"
	diff "$d/out.plain" "$d/out.shim"
}

# A clone that fails may leave the destination partly written (OpenZFS
# documents this for a failed block clone): FAULT_CLONE_PARTIAL=ERRNO makes
# faults.so write FAULT_CLONE_PARTIAL_LEN bytes of 0xAA (default 64 KiB, or
# "src": as many as the source has) at offset 0 of D, extending it, before
# FICLONE fails with ERRNO. Whatever it left, the program's file must be
# the plain run's: D proven empty again before the program's write goes on.

# partial_on FS SRC-MAKER SCRIPT VAR=VALUE...: SCRIPT plain and under
# shim+faults.so with the variables, on a source made by SRC-MAKER FILE;
# same output and file, and D byte-identical to S (each script here copies
# S whole). No clone reaches the kernel.
partial_on() {
	local fs=$1 maker=$2 s=$3; shift 3
	local d; d=$(testdir "$fs")
	$maker "$d/src"
	# shellcheck disable=SC2086
	env "$@" LD_PRELOAD="$SHIM_PROGS/faults.so" bash -c '
		source "$SHIM_TOP/tests/helpers.bash"
		differential "$1" "$1/src" ${@:2} || exit 1
		echo "$clones" > "$1/clones"' _ "$d" $s ||
		{ echo "$fs [$*]: $s"; return 1; }
	cmp "$d/src" "$d/shim" || { echo "$fs [$*]: $s: D is not S"; return 1; }
	[ "$(cat "$d/clones")" -eq 0 ] || { echo "$fs [$*]: $s: $(cat "$d/clones") clone ioctls"; return 1; }
}

dense_src() {
	mksrc "$1" $SZ
}

# 4 KiB of data, 124 KiB of zeros (written, not a hole: the source is
# dense and cloneable), then data: a sparse-aware copier seeks over the
# zeros and leaves a hole in D, which reads as S's zeros.
zeros_src() {
	{ head -c 4096 /dev/urandom; head -c $((124 * 1024)) /dev/zero; head -c $SZ /dev/urandom; } > "$1"
}

@test "a failed FICLONE leaves 64 KiB of 0xAA in D: whole dense copies still end exactly as S, as plain" {
	need_clone_fs
	local fs e s
	for fs in "${clone_fs[@]}"; do
		for e in EIO EOPNOTSUPP; do
			for s in "open=w copy=128k close" "open=w copy=4k close" "open=w sendfile=16m close" \
				 "open=w whole close"; do
				partial_on "$fs" dense_src "$s" FAULT_CLONE_PARTIAL=$e
			done
		done
	done
}

@test "a failed FICLONE leaves 64 KiB of 0xAA in D: a sparse-aware copy (seeks over zeros) still ends exactly as S, as plain" {
	need_clone_fs
	local fs e
	for fs in "${clone_fs[@]}"; do
		for e in EIO EOPNOTSUPP; do
			partial_on "$fs" zeros_src "open=w copy=4k:1 gap=124k copy=128k close" FAULT_CLONE_PARTIAL=$e
		done
	done
}

@test "a failed FICLONE that got as far as S's size: every script, exactly the plain result" {
	want_clones=0 injected FAULT_CLONE_PARTIAL=EIO FAULT_CLONE_PARTIAL_LEN=src
	want_clones=0 injected FAULT_CLONE_PARTIAL=EOPNOTSUPP FAULT_CLONE_PARTIAL_LEN=src
}

# Which filesystems the shim clones on (shim/fsname.c, shim/clone.c), on
# the test XFS: faults.so's FAULT_FSTYPE makes fstatfs report XFS as
# another type, and a mount namespace of the copy's own puts a tmpfs on
# /sys/module holding zfs/version.

# as_type MAGIC [VERSION]: a copy (read/write) under the shim with XFS
# reported as MAGIC and, if VERSION is given, /sys/module/zfs/version
# holding it ("none": no such file). Output and D must be the plain run's.
# Leaves in $attempts the FICLONE calls the kernel saw, in $clones the
# successful ones, in $log the shim's log, in $dir the test directory.
as_type() {
	local magic=$1 v=${2:-} d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	"$scenario" "$d/S" "$d/plain" open=w copy=64k close > "$d/out.plain"
	local ns=()
	if [ -n "$v" ]; then
		ns=(unshare -m bash -euc '
			mount -t tmpfs none /sys/module
			if [ "$1" != none ]; then mkdir /sys/module/zfs; printf "%s\n" "$1" > /sys/module/zfs/version; fi
			shift
			exec "$@"' - "$v")
	fi
	FAULT_FSTYPE=$magic LD_PRELOAD="$SHIM_PROGS/faults.so" SHIM_TRACE=$d/trace REFLINK_SHIM_LOG=$d/log \
		under_shim "${ns[@]}" "$scenario" "$d/S" "$d/shim" open=w copy=64k close > "$d/out.shim"
	diff -u "$d/out.plain" "$d/out.shim"
	same_file "$d/plain" "$d/shim"
	attempts=$(grep -c FICLONE "$d/trace" || true)
	log=$(cat "$d/log" 2>/dev/null || true)
	dir=$d
}

@test "OpenZFS: a clone only where /sys/module/zfs/version says 2.2.2 or later; refused copies are exactly plain" {
	need_fs T_XFS
	need_cmd unshare
	local v
	for v in 2.2.2-1 2.2.3-1ubuntu1 2.2.10-1 2.3.0-1 2.2.99-365_g8f2f6cd2 3.0.0-rc1; do
		as_type 0x2fc12fc1 "$v"
		[ "$clones" -eq 1 ] || { echo "zfs $v: $clones clones"; return 1; }
		[ "$(shared_bytes "$dir/shim")" -eq $SZ ]
	done
	# 2.2.0 and 2.2.1 could corrupt clones (OpenZFS #15526); older ones
	# cannot clone; anything unparsable or missing is refused
	for v in 2.2.0-1 2.2.1-1 2.2.0-rc4 2.2.1-0ubuntu1~23.10 2.1.14-1 0.8.6-1 2.2 2..2 x2.2.2 2.2.-1 9999999.0.0 none; do
		as_type 0x2fc12fc1 "$v"
		[ "$attempts" -eq 0 ] || { echo "zfs $v: $attempts FICLONE calls"; return 1; }
		[[ "$log" == *"no-clone fd="*"zfs"*"clones refused"* ]] || { echo "zfs $v: log: $log"; return 1; }
	done
	[[ "$log" == *"zfs: /sys/module/zfs/version unreadable: clones refused"* ]]
}

@test "NFS, SMB, OCFS2 and unknown filesystem types: no clone attempted, exactly plain; bcachefs and overlayfs: attempted" {
	need_fs T_XFS
	local t
	for t in 0x6969:nfs 0xFF534D42:cifs 0xFE534D42:smb2 0x7461636f:ocfs2 0x12345678:unknown-fs; do
		as_type "${t%%:*}"
		[ "$attempts" -eq 0 ] || { echo "${t#*:}: $attempts FICLONE calls"; return 1; }
		[[ "$log" == *"no-clone fd="*" ${t#*:}: "* ]] || { echo "${t#*:}: log: $log"; return 1; }
	done
	for t in 0xca451a4e 0x794c7630; do
		as_type "$t"
		[ "$clones" -eq 1 ]
	done
}

# Another writer's bytes past S's end, landing between the shim's judging D
# empty and its clone (a thread, or another process), were truncated away
# when the clone failed (a differential race lost them 16 times in 20 on
# XFS). faults.so writes one 0xAA byte at 16 MiB just before failing the
# FICLONE, as that writer would: the program's own copy writes only [0, S's
# size), so the byte must stay. A sendfile copy (the whole file in one call)
# and a read/write copy (the clone at the first write).
@test "a failed clone leaves another writer's byte past S's end where it is (sendfile, read/write)" {
	need_clone_fs
	local fs d c
	for fs in "${clone_fs[@]}"; do
		for c in "busybox cp" "dd bs=128K status=none if"; do
			d=$(testdir "$fs")
			mksrc "$d/S" 1M
			if [ "$c" = "busybox cp" ]; then set -- busybox cp "$d/S" "$d/D"
			else set -- dd bs=128K status=none if="$d/S" of="$d/D"; fi
			env FAULT_CLONE_PARTIAL=EINVAL FAULT_CLONE_PARTIAL_AT=16777216 FAULT_CLONE_PARTIAL_LEN=1 \
				LD_PRELOAD="$SHIM_LIB:$SHIM_PROGS/faults.so" "$@"
			[ "$(stat -c %s "$d/D")" -eq $((16777216 + 1)) ] ||
				{ echo "$fs, $1: D is $(stat -c %s "$d/D") bytes"; return 1; }
			cmp -n 1048576 "$d/S" "$d/D"
			[ "$(od -An -tx1 -j 16777216 -N1 "$d/D" | tr -d ' ')" = aa ]
		done
	done
}
