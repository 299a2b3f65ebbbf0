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
