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
