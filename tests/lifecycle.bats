#!/usr/bin/env bats
# Robust in any process: threads, signals, every way a process forks, execs
# or ends, and fds closed or replaced behind the shim's back. Each scenario
# runs plain and under the shim (differential) on XFS and btrfs.

load helpers

SZ=$((5 * 1024 * 1024 + 1234))


@test "8 threads copying at once: every copy exact and cloned" {
	local fs
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		under_shim "$SHIM_PROGS/mtcopy" 8 64k "$d/src" "$d/dst"
		[ "$clones" -eq 8 ]
		for i in 0 1 2 3 4 5 6 7; do
			cmp "$d/src" "$d/dst.$i"
			[ "$(shared_bytes "$d/dst.$i")" -eq $SZ ]
		done
	done
}

@test "init from another library's constructor, on a non-main thread, in either order" {
	need_fs T_XFS
	[ "${SHIM_TSAN:-0}" = 1 ] && skip "the TSan build passes through calls made before its constructor"
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/src" $SZ
	local early=$SHIM_PROGS/early.so
	EARLY_SRC=$d/src EARLY_DST=$d/a under_shim env LD_PRELOAD="$SHIM_LIB:$early" "$scenario" "$d/src" "$d/x" return
	[ "$clones" -eq 1 ]
	cmp "$d/src" "$d/a"
	EARLY_SRC=$d/src EARLY_DST=$d/b under_shim env LD_PRELOAD="$early:$SHIM_LIB" "$scenario" "$d/src" "$d/x" return
	[ "$clones" -eq 1 ]
	cmp "$d/src" "$d/b"
}

# A handler installed in the middle of a copy, whose handler takes the
# copy's slow path, must never run inside one of our frames (gate.h). A
# gate that left signals unblocked until a sigaction wrapper saw a handler
# deadlocked here on the copy's lock when the wrappers did not tell it
# (docs/DESIGN.md, "Concurrency and signals").
@test "a signal handler installed mid-copy (sigaction, signal) that looks at D: no deadlock, exact" {
	export SHIM_NO_STRACE=1 SHIM_TEST_TIMEOUT=60
	want_clones= on_clone_fs open=w copy=4k:4 sigd=50 copy=4k fstat close
	on_clone_fs open=w copy=512:4 sigdsignal=50 copy=512 fstat close
	on_clone_fs open=w copy=64k:1 sigd=20 copy=4k close
}

@test "a signal handler doing read/write during a copy: no deadlock, no lost byte" {
	export SHIM_NO_STRACE=1
	on_clone_fs sigio=500 open=w copy=4k close
	on_clone_fs sigio=500 open=rw copy=512 fstat close
	local fs
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		REFLINK_SHIM_LOG=$d/log under_shim "$scenario" "$d/src" "$d/dst" sigio=200 open=w copy=512 close >/dev/null
		cmp "$d/src" "$d/dst"
		[ -s "$d/dst.log" ]
		grep -q "clone fd=" "$d/log"   # it did clone, with the handler firing
	done
}

@test "vfork children (exec, _exit, close) never act on the parent's copy" {
	on_clone_fs open=w copy=64k:2 vfork=close copy=64k close
	on_clone_fs open=w copy=64k:2 vfork=exec copy=64k close
	want_clones=1 on_clone_fs open=w copy=64k:2 vfork=exit copy=64k close
}

@test "_Fork children (no atfork handlers) never act on the parent's copy" {
	on_clone_fs open=w copy=64k:2 xfork=close copy=64k close
	on_clone_fs open=w copy=64k:2 xfork=exit copy=64k:1 close
}

@test "posix_spawn with file actions on D, system() and popen() mid-copy" {
	on_clone_fs open=w copy=64k:2 spawn copy=64k close
	on_clone_fs open=w copy=64k:2 system popen copy=64k close
}

@test "every exec form with a copy half done" {
	local kind
	for kind in execv execvp execve execl execlp execle fexecve execveat; do
		on_clone_fs open=w copy=64k:3 exec=$kind
	done
}

@test "_Exit and quick_exit with a copy half done" {
	on_clone_fs open=w copy=64k:3 _Exit
	on_clone_fs open=w copy=64k:3 quick_exit
}

@test "D closed behind the shim's back: fclose, syscall(SYS_close), closefrom, close_range" {
	on_clone_fs open=w copy=64k:2 fclose
	on_clone_fs open=w copy=64k:2 closeraw
	on_clone_fs open=w copy=64k:2 closefrom=3
	on_clone_fs open=w copy=64k:2 closerange=3
}

@test "a stale entry never causes a wrong clone or truncate: D's number reused by stdio" {
	local fs
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		"$scenario" "$d/src" "$d/plain" open=w copy=64k:2 fclose reuse="$d/reused.plain" copy=64k:1 \
			> "$d/out.plain"
		under_shim "$scenario" "$d/src" "$d/shim" open=w copy=64k:2 fclose reuse="$d/reused.shim" copy=64k:1 \
			> "$d/out.shim"
		diff <(sed 's/reused\.plain/R/' "$d/out.plain") <(sed 's/reused\.shim/R/' "$d/out.shim")
		grep -q "same-number=1" "$d/out.shim"
		same_file "$d/plain" "$d/shim"
		same_file "$d/reused.plain" "$d/reused.shim"
		[ "$(stat -c %s "$d/shim")" -eq 131072 ]
	done
}

@test "dup2 over D, and dup3, replace it without losing what was written" {
	on_clone_fs open=w copy=64k:2 dup2over copy=64k:1
	on_clone_fs open=w copy=64k:2 dup dup2over close copy=64k close
}

@test "a file read whole and closed, then not copied, leaves no fd behind" {
	need_fs T_XFS
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	run env LD_PRELOAD="$SHIM_LIB" python3 -c '
import os, sys
before = len(os.listdir("/proc/self/fd"))
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(b"not a copy")
print(len(os.listdir("/proc/self/fd")) - before)' "$d/S" "$d/other"
	[ "$status" -eq 0 ]
	# <= 0: a file Python read whole at startup may have been held (one
	# read-only fd) until this first write released it.
	[ "$output" -le 0 ]
}

@test "a script written on the number of a file read whole can be executed (no ETXTBSY)" {
	need_fs T_XFS
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	run env LD_PRELOAD="$SHIM_LIB" python3 -c '
import os, subprocess, sys
d = sys.argv[1]
with open(d + "/big", "wb") as f:
    f.write(os.urandom(200000))
for i in range(3):
    data = open(d + "/big", "rb").read()        # read whole, closed
    fd = os.open(d + "/script%d" % i, os.O_RDWR | os.O_CREAT, 0o700)
    os.write(fd, b"#!/bin/sh\nexit 7\n")
    os.close(fd)
    print(subprocess.call([d + "/script%d" % i]))' "$d"
	[ "$status" -eq 0 ]
	[ "$output" = "7
7
7" ]
}
