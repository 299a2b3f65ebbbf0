#!/usr/bin/env bats
# Issue 9, "Invisible where it does nothing": programs that copy little or
# nothing must observe exactly what they observe without the shim. Each test
# runs tests/progs/invisible.c plain and under the shim, requires the same
# output line for line (every return value, errno, fd number, size, digest,
# child status), and compares the files it wrote.

load helpers

inv=$SHIM_PROGS/invisible

# The filesystems mounted for this run (the stash and the fd numbers do not
# depend on the filesystem; a clone does).
all_fs() {
	echo ${T_XFS:-} ${T_BTRFS:-} ${T_EXT4:-} ${T_TMPFS:-}
}

# run_inv NAME OUT CMD...: runs CMD plain (NAME=plain) or with the library
# preloaded (NAME=shim), every "{}" in its arguments replaced by NAME.
# Stdout goes through a pipe: a regular file as stdout would itself be a
# candidate destination for the shim. The exit status is the last line.
run_inv() {
	local name=$1 out=$2 named
	shift 2
	named_args "$name" "$@"
	local pre=()
	[ "$name" = shim ] && pre=(env LD_PRELOAD="$SHIM_LIB")
	{ timeout "${SHIM_TEST_TIMEOUT:-30}" "${pre[@]}" "${named[@]}"; echo "exit $?"; } 2>&1 | cat > "$out"
}

# inv_diff DIR ARGS...: `invisible ARGS...` (or `$inv_prog ARGS...`) plain
# and under the shim; the outputs must be identical.
inv_diff() {
	local dir=$1
	shift
	local prog=${inv_prog:-$inv}
	run_inv plain "$dir/out.plain" "$prog" "$@"
	run_inv shim "$dir/out.shim" "$prog" "$@"
	diff -u "$dir/out.plain" "$dir/out.shim" || { echo "program observed different values: invisible $*"; return 1; }
}

# A source of $2 bytes in directory $1 (the same bytes for both runs).
src_in() {
	mksrc "$1/S" "$2"
	echo "$1/S"
}

# inv_on "FS..." ARGS...: inv_diff on each filesystem with a fresh 1 MiB
# source; the argument S names it, D the destination of each run (D.plain,
# D.shim), and the two destinations must then be identical.
inv_on() {
	local fss=$1 fs d a cmpd
	shift
	for fs in $fss; do
		d=$(testdir "$fs")
		src_in "$d" 1M > /dev/null
		local args=()
		cmpd=0
		for a in "$@"; do
			case $a in
			S) args+=("$d/S") ;;
			D) args+=("$d/D.{}"); cmpd=1 ;;
			*) args+=("$a") ;;
			esac
		done
		inv_diff "$d" "${args[@]}" || { echo "on $fs"; return 1; }
		[ "$cmpd" = 0 ] || cmp "$d/D.plain" "$d/D.shim" || { echo "on $fs"; return 1; }
	done
}

# ---- 1. the stash: a file read whole and closed stays open ----

@test "stash: a flock taken before closing a file read whole is released by the close" {
	need_fs T_XFS
	inv_on "$(all_fs)" flock S
}

@test "stash: an OFD lock taken before closing a file read whole is released by the close" {
	need_fs T_XFS
	inv_on "$(all_fs)" ofd S
}

@test "stash: a write lease can be taken on a file read whole and closed" {
	need_fs T_XFS
	[ "$(cat /proc/sys/fs/leases-enable 2>/dev/null || echo 1)" = 1 ] || skip "leases disabled"
	inv_on "$(all_fs)" lease S
}

@test "stash: closing a file read whole sends IN_CLOSE_NOWRITE at once" {
	need_fs T_XFS
	inv_on "$(all_fs)" inotify S
}

# mount_small MNT SIZE: a tmpfs of its own, so that the test can unmount it
# or fill it.
mount_small() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2" tmpfs "$1"
}

@test "stash: the filesystem of a file read whole and closed can be unmounted" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount"
	local m="$BATS_TEST_TMPDIR/mnt" src="$BATS_TEST_TMPDIR/src"
	mksrc "$src" 600K
	for name in plain shim; do
		mount_small "$m" 2M
		cp "$src" "$m/S"
		run_inv $name "$BATS_TEST_TMPDIR/out.$name" "$inv" umount "$m/S" "$m"
		if mountpoint -q "$m"; then
			echo "mounted after $name run" >> "$BATS_TEST_TMPDIR/out.$name"
			umount "$m"
		fi
	done
	diff -u "$BATS_TEST_TMPDIR/out.plain" "$BATS_TEST_TMPDIR/out.shim"
}

@test "stash: a file read whole, closed and unlinked frees its space" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount"
	local m="$BATS_TEST_TMPDIR/mnt" src="$BATS_TEST_TMPDIR/src"
	mksrc "$src" 600K
	for name in plain shim; do
		mount_small "$m" 1M
		cp "$src" "$m/S"
		run_inv $name "$BATS_TEST_TMPDIR/out.$name" "$inv" unlinkspace "$m/S" "$m" 600K
		umount "$m"
	done
	diff -u "$BATS_TEST_TMPDIR/out.plain" "$BATS_TEST_TMPDIR/out.shim"
}

@test "stash: a POSIX lock taken later on the file survives a copy of its bytes" {
	need_fs T_XFS
	inv_on "$(all_fs)" posixlock S D
}

@test "stash: no extra fd in /proc/self/fd, for fstat or in a vfork child" {
	need_fs T_XFS
	inv_on "$(all_fs)" fdlist S
}

@test "stash: CPython's close_fds tests (max fd lowered, pass_fds redirected)" {
	need_fs T_XFS
	need_cmd python3
	python3 -c 'import test.support, test.test_subprocess' 2>/dev/null || skip "CPython's test package is not installed"
	local d; d=$(testdir "$T_XFS")
	local tests=(-m test_close_fds_when_max_fd_is_lowered -m test_pass_fds_redirected)
	TMPDIR=$d timeout 120 python3 -m test test_subprocess "${tests[@]}" > "$d/py.plain" 2>&1 ||
		{ cat "$d/py.plain"; echo "fails even without the shim"; return 1; }
	TMPDIR=$d timeout 120 env LD_PRELOAD="$SHIM_LIB" python3 -m test test_subprocess -v "${tests[@]}" > "$d/py.shim" 2>&1 ||
		{ grep -E '^(FAIL|ERROR|AssertionError)|^(test_|Ran )' "$d/py.shim"; echo "fails under the shim"; return 1; }
}

# ---- 2. the shim's private fds are visible ----

@test "stash: a file read whole on another filesystem is not looked at again by name" {
	need_fs T_XFS T_XFS2 T_TMPFS
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	local fs s
	local copy='import sys; open(sys.argv[2], "wb").write(open(sys.argv[1], "rb").read())'
	local trace="strace -f -qq -e trace=%file,%desc -o"
	# Its name is walked again only where a clone could come from it: on
	# D's device. A walk elsewhere can block on a stopped FUSE server.
	for fs in "$T_XFS2" "$T_TMPFS"; do
		s=$(testdir "$fs")/S
		mksrc "$s" 1M
		$trace "$d/trace.plain" python3 -c "$copy" "$s" "$d/plain"
		SHIM_NO_STRACE=1 under_shim $trace "$d/trace.shim" python3 -c "$copy" "$s" "$d/shim"
		cmp "$s" "$d/plain"
		cmp "$s" "$d/shim"
		[ "$(grep -cF "$s" "$d/trace.plain")" = "$(grep -cF "$s" "$d/trace.shim")" ] || {
			grep -F "$s" "$d/trace.plain" "$d/trace.shim"
			return 1
		}
	done
}

@test "a thread with an fd table of its own: its POSIX lock on another file survives its copy" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" 1M
	head -c 100000 /dev/urandom > "$d/X"
	# The thread's fd numbers name other files in the main thread's table,
	# which is the one /proc/self shows.
	inv_diff "$d" ownfiles "$d/S" "$d/D.{}" "$d/X"
	cmp "$d/S" "$d/D.shim"
	grep -q "X locked" "$d/out.plain" || { cat "$d/out.plain"; return 1; }
}

@test "private fds: the shim's fd numbers are free and the program can open as many files" {
	need_fs T_XFS
	ulimit -Sn 1024  # the shim's fds start at 768 (bats runs each test in a process of its own)
	for fs in $(all_fs); do
		d=$(testdir "$fs")
		inv_diff "$d" privfd stash "$(src_in "$d" 1M)" || { echo "on $fs (stash)"; return 1; }
	done
	# While a copy is armed the shim holds one fd (a dup of D): every wrapped
	# call on it is EBADF and the program gets every number and slot, but
	# the kernel's fd table grows to hold it (FDSize in /proc/self/status)
	# and poll(), which is not wrapped, sees it open. DESIGN.md lists both;
	# only those two lines are left out of the comparison.
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		d=$(testdir "$fs")
		inv_diff "$d" privfd midcopy "$(src_in "$d" 1M)" "$d/D.{}" 2>/dev/null ||
			diff -u <(grep -v -e '^/proc/self/status FDSize' -e '^poll(768) revents' "$d/out.plain") \
				<(grep -v -e '^/proc/self/status FDSize' -e '^poll(768) revents' "$d/out.shim") ||
			{ echo "on $fs (mid-copy)"; return 1; }
		cmp "$d/D.plain" "$d/D.shim"
	done
}

# ---- 3. bad pointers fail with EFAULT, not SIGSEGV ----

# badptr_kinds KIND...: each kind in a run of its own, first and "later-"
# (in the middle of an armed copy); every difference is reported, then the
# test fails.
badptr_kinds() {
	local d fail=0 k
	for k in "$@"; do
		for k in "$k" "later-$k"; do
			d=$(testdir "$T_XFS")
			inv_diff "$d" badptr "$k" "$(src_in "$d" 1M)" "$d/D.{}" || { fail=1; continue; }
			cmp "$d/D.plain" "$d/D.shim" || fail=1
		done
	done
	return $fail
}

@test "bad pointers: readv/preadv with a NULL vector fail with EFAULT (files and pipes)" {
	need_fs T_XFS
	badptr_kinds readv-null readv-null-pipe preadv-null preadv2-null readv-bad read-bad
}

@test "bad pointers: writes from an invalid buffer or vector fail with EFAULT" {
	need_fs T_XFS
	badptr_kinds writev-null pwritev-null writev-null-pipe write-bad pwrite-bad writev-bad
}

@test "bad pointers: a write from a half-mapped buffer is short, not a crash" {
	need_fs T_XFS
	badptr_kinds write-half write-half-munmap writev-half
}

# The program's own buffers are read with process_vm_readv on every write:
# memory libc unmaps behind our wrappers (free) or a mapped file truncated
# since fault only where we compare in place (a read's span, DESIGN.md).
@test "bad pointers: a write from the program's own buffer after munmap, mprotect, free() or a truncate of its file fails with EFAULT" {
	need_fs T_XFS
	badptr_kinds own-munmap own-mprotect own-trunc own-free
}

@test "a child made without the fork handlers writing from its own buffer is compared with its own memory, not its parent's" {
	need_fs T_XFS
	badptr_kinds own-fork
}

@test "bad pointers: sendfile and copy_file_range with bad offset pointers fail with EFAULT" {
	need_fs T_XFS
	badptr_kinds sendfile-bad cfr-badin cfr-badout
}

# ---- 4. small stacks ----

# stack_case MODE: copies and reads on a 16 KiB thread stack or in a handler
# on an 8 KiB sigaltstack; each path alone, then all of them.
stack_case() {
	local d fail=0 w f
	for w in rw vec pvec sendfile reads all; do
		d=$(testdir "$T_XFS")
		mkdir "$d/out.plain.d" "$d/out.shim.d"
		inv_diff "$d" stack "$1" "$(src_in "$d" 1M)" "$d/out.{}.d" "$w" || { fail=1; continue; }
		for f in "$d"/out.plain.d/*; do
			[ -e "$f" ] || continue
			cmp "$f" "$d/out.shim.d/${f##*/}" || fail=1
		done
	done
	return $fail
}

@test "stack: copies and reads on a thread with a 16 KiB stack" {
	need_fs T_XFS
	stack_case thread
}

@test "stack: copies and reads in a signal handler on an 8 KiB sigaltstack" {
	need_fs T_XFS
	stack_case altstack
}

# ---- 5. seccomp ----

@test "seccomp: strict mode, a read/write copy into an empty file" {
	need_fs T_XFS
	d=$(testdir "$T_XFS")
	inv_diff "$d" seccomp strict "$(src_in "$d" 1M)" "$d/D.{}"
	cmp "$d/D.plain" "$d/D.shim"
}

@test "seccomp: strict mode, a line written to an empty file (no copy)" {
	need_fs T_XFS
	inv_on "$(all_fs)" seccomp strict-nocopy S D
}

@test "seccomp: a filter killing ioctl (prctl), then a read/write copy" {
	need_clone_fs
	inv_on "${clone_fs[*]}" seccomp filter S D
}

@test "seccomp: a filter killing ioctl (seccomp(2)), then a read/write copy" {
	need_clone_fs
	inv_on "${clone_fs[*]}" seccomp syscall S D
}

# ---- 6. children started in the middle of a copy ----

@test "children (system, posix_spawn, popen, vfork) see the size written so far" {
	need_clone_fs
	inv_on "${clone_fs[*]}" children S D
}

# ---- 7. errno, and programs that copy nothing ----

@test "errno is kept by successful calls around a copy" {
	need_fs T_XFS
	inv_on "$(all_fs)" errno S D
}

@test "tar, gzip and cpio -o of files of 64 KiB and more leave the same archives" {
	need_fs T_XFS
	need_cmd gzip
	need_cmd cpio
	d=$(testdir "$T_XFS")
	mkdir "$d/in"
	mksrc "$d/in/a" 65536
	mksrc "$d/in/b" 200K
	mksrc "$d/in/c" 1M
	touch -d 2020-01-01 "$d/in"/*
	for name in plain shim; do
		pre=()
		[ $name = shim ] && pre=(env LD_PRELOAD="$SHIM_LIB")
		(cd "$d/in" && "${pre[@]}" tar cf "$d/tar.$name" a b c)
		(cd "$d/in" && "${pre[@]}" tar cf - a b c > "$d/tarout.$name")
		"${pre[@]}" gzip -c "$d/in/b" > "$d/gz.$name"
		"${pre[@]}" gzip -c < "$d/in/c" > "$d/gzin.$name"
		(cd "$d/in" && printf '%s\n' a b c | "${pre[@]}" cpio -o --quiet > "$d/cpio.$name")
	done
	for f in tar tarout gz gzin cpio; do
		cmp "$d/$f.plain" "$d/$f.shim"
	done
}

# ---- 8. the shim's own fd bookkeeping under fork, vfork and threads ----

fdrace=$SHIM_PROGS/fdrace

@test "private fds: a fork child after a copy keeps fd 0; a vfork child's dups leave the parent's copy exact" {
	need_clone_fs
	inv_prog=$fdrace inv_on "${clone_fs[*]} ${T_TMPFS:-}" forkstdin S D < /dev/null
	inv_prog=$fdrace inv_on "${clone_fs[*]}" vforkdup S D
}

@test "private fds: dup2 onto the shim's numbers while another thread arms copies" {
	need_fs T_XFS
	ulimit -Sn 1024  # the shim's fds start at 768
	d=$(testdir "$T_XFS")
	src_in "$d" 1M > /dev/null
	run_inv plain "$d/out.plain" "$fdrace" dup2race "$d/S" "$d/D.{}"
	run_inv shim "$d/out.shim" "$fdrace" dup2race "$d/S" "$d/D.{}"
	diff -u "$d/out.plain" "$d/out.shim"
}

@test "sharing: a thread opening files while another reads large ones from their start sees the same fd numbers, never EMFILE" {
	need_fs T_XFS
	# Each first read from the start publishes the file for other
	# processes (share.h); one free number is left under RLIMIT_NOFILE.
	# When the index was a file opened for each use, the opening thread
	# got EMFILE in 2 runs of 8.
	local d i
	d=$(testdir "$T_XFS")
	src_in "$d" 1M > /dev/null
	for i in $(seq 10); do
		inv_diff "$d" readers "$d/S" 200 || { echo "run $i"; return 1; }
	done
}

@test "sharing: the index is attached where the program never mapped: its MAP_FIXED and second munmap of its own range stay its own" {
	need_fs T_XFS
	# The index, attached wherever the kernel chose, once landed in the
	# range the program had just unmapped: the program's MAP_FIXED data
	# there was overwritten by a publish (3 runs of 6), or its second
	# munmap took the index and the next publish faulted (6 of 6).
	local d i
	d=$(testdir "$T_XFS")
	mksrc "$d/S1" 100000
	mksrc "$d/S2" 100000
	for i in 1 2 3 4 5; do
		inv_diff "$d" remap "$d/S1" "$d/S2" || { echo "remap, run $i"; return 1; }
		inv_diff "$d" unmap2 "$d/S1" "$d/S2" || { echo "unmap2, run $i"; return 1; }
	done
}

@test "sharing: attaching the index takes nothing from RLIMIT_AS, nor from RLIMIT_MEMLOCK under mlockall(MCL_FUTURE)" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	# Unprivileged (root's CAP_IPC_LOCK has no lock limit), reading a file
	# anyone may read: the interpreter of this test.
	local src; src=$(command -v bash)
	inv_prog=setpriv inv_diff "$d" --reuid=65534 --regid=65534 --clear-groups "$inv" memlimit "$src" as
	inv_prog=setpriv inv_diff "$d" --reuid=65534 --regid=65534 --clear-groups "$inv" memlimit "$src" memlock
}

@test "sharing: a write from a MAP_SHARED buffer whose file was truncated fails with EFAULT, in a process fed by a pipe" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" 100000
	# A is made again before each run: the first truncates it.
	head -c 65536 /dev/zero > "$d/A"
	echo x | run_inv plain "$d/out.plain" "$inv" busmap "$d/A" "$d/S" "$d/D.plain"
	head -c 65536 /dev/zero > "$d/A"
	echo x | run_inv shim "$d/out.shim" "$inv" busmap "$d/A" "$d/S" "$d/D.shim"
	diff -u "$d/out.plain" "$d/out.shim"
}

@test "sharing: a setuid on one thread while another attaches the index leaves no child with root's index" {
	need_fs T_XFS
	[ "$(id -u)" = 0 ] || skip "needs root (setuid)"
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" 100000
	chmod 644 "$d/S"
	# 400 children: the attach and the setuid raced 3 times in 400 when the
	# attach did not look again at its user.
	inv_diff "$d" setuidrace "$d/S" 400
}
