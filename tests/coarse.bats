#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# Kernels and filesystems without fine-grained ctime (issue 10). The shim
# proves a source S unchanged since its clone by S's (size, ctime). With
# multigrain timestamps (Linux 6.13+ on XFS and btrfs, this machine) every
# change moves ctime; on older kernels ctime comes from a clock that ticks
# every few milliseconds, and a change in the same tick as the ctime the
# shim saw leaves it as it was.
#
# tests/progs/coarse.so, preloaded after the shim, simulates such a kernel:
# every timestamp and the wall clock the process sees are rounded down to a
# granule (COARSE_NS, 10 ms here). tests/progs/coarse_copy copies S to D in
# 128 KiB read/write chunks, N times, and plays another writer of S on the
# same thread, synchronously: at the start of a granule it changes S (at
# 3 MiB), copies the first chunk (the write the shim clones at), rewrites
# 16 bytes of S at 2 MiB + 100 right after that write returns, and copies
# the rest, reading the new bytes. Every byte written to D also goes to
# E.i on tmpfs, where no clone can reach: E.i is what the program wrote.
#
# Deterministic by design: both changes to S fall in one granule whenever
# the first chunk's write takes less than about 6 ms (coarse_copy reports
# how many did and how long the longest took), not by chance.

load helpers

N=20
SZ=$((4 * 1024 * 1024 + 1234))
coarse_copy=$SHIM_PROGS/coarse_copy
coarse_so=$SHIM_PROGS/coarse.so
export COARSE_NS=10000000

# written DIR EDIR: D.i in DIR holds exactly what the program wrote (E.i in
# EDIR), for every i; for the first copies that differ, prints where and
# how (0-based offset, the byte written, the byte in D) and the length of
# the differing run.
written() {
	local i bad=0 first
	for ((i = 0; i < N; i++)); do
		cmp -s "$1/D.$i" "$2/E.$i" && continue
		bad=$((bad + 1))
		[ "$bad" -le 3 ] || continue
		# cmp -l: 1-based offset, octal bytes
		first=$(cmp -l "$2/E.$i" "$1/D.$i" 2>/dev/null | awk '
			function oct(s,  v, k) { for (k = 1; k <= length(s); k++) v = v * 8 + substr(s, k, 1); return v }
			NR == 1 { o = $1; w = oct($2); g = oct($3) }
			{ n++ }
			END { if (n) printf "%d bytes differ, the first at %d: written 0x%02x, D has 0x%02x",
				n, o - 1, w, g }')
		echo "copy $i: D ($(stat -c %s "$1/D.$i") bytes) is not what the program wrote ($(stat -c %s "$2/E.$i") bytes): ${first:-$(cmp "$2/E.$i" "$1/D.$i" 2>&1)}"
	done
	[ "$bad" -eq 0 ] || { echo "$bad of $N copies differ from what the program wrote"; return 1; }
}

# hits ERRFILE: how many of coarse_copy's second changes of S fell in the
# granule of its first (its last stderr line).
hits() {
	sed -n 's/^coarse_copy: \([0-9]*\) of .*/\1/p' "$1" | tail -1
}

# fresh DIR: a source in DIR, and its pristine copy (coarse_copy changes it).
fresh() {
	mksrc "$1/src" "$SZ"
	cp --reflink=never "$1/src" "$1/src.pristine"
}

@test "coarse timestamps without the shim: S's second change is hidden in ctime, D is what the program wrote" {
	need_clone_fs
	need_fs T_TMPFS
	local fs
	for fs in "${clone_fs[@]}"; do
		local d e; d=$(testdir "$fs"); e=$(testdir "$T_TMPFS")
		fresh "$d"
		LD_PRELOAD=$coarse_so "$coarse_copy" "$d/src" "$d/D" "$e/E" $N > "$d/out" 2> "$d/err" ||
			{ cat "$d/err"; return 1; }
		echo "$fs: $(tail -1 "$d/err")"
		written "$d" "$e"
		rm -rf "$e"
		# the simulation works: the race lands inside one granule (not
		# one by luck: about every one)
		[ "$(hits "$d/err")" -ge $((N * 3 / 4)) ] || { echo "$fs: the race missed its granule too often"; return 1; }
	done
}

@test "coarse timestamps: S changed inside the granule of the clone, D is still what the program wrote" {
	# A sound rule (issue 10): trust a ctime only when it is older than
	# the coarse clock's current tick; wait out, or refuse, a source
	# changed within it. This test requires the clone to happen (every
	# copy clones with multigrain timestamps, see the next test): a fix
	# that waits the tick out passes as it is; one that refuses such a
	# source clones none of these copies and must say so here.
	need_clone_fs
	need_fs T_TMPFS
	local fs failed=0
	for fs in "${clone_fs[@]}"; do
		local d e; d=$(testdir "$fs"); e=$(testdir "$T_TMPFS")
		fresh "$d"
		# what the program writes, without the shim
		LD_PRELOAD=$coarse_so "$coarse_copy" "$d/src" "$d/P" "$e/P" $N > "$d/out.plain" 2> "$d/err.plain" ||
			{ cat "$d/err.plain"; return 1; }
		cp --reflink=never "$d/src.pristine" "$d/src"
		LD_PRELOAD=$coarse_so under_shim "$coarse_copy" "$d/src" "$d/D" "$e/E" $N > "$d/out" 2> "$d/err" ||
			{ cat "$d/err"; return 1; }
		echo "$fs, plain: $(tail -1 "$d/err.plain")"
		echo "$fs, shim:  $(tail -1 "$d/err"); $clones clone ioctls"
		# (every check on each filesystem, so that a failure shows all)
		diff -u "$d/out.plain" "$d/out" || { echo "$fs: the program wrote different bytes under the shim"; failed=1; }
		written "$d" "$e" || { echo "on $fs"; failed=1; }
		[ "$clones" -eq "$N" ] || { echo "$fs: $clones clone ioctls, want $N (one per copy)"; failed=1; }
		rm -rf "$e"  # tmpfs is small
	done
	[ "$failed" = 0 ]
}

@test "multigrain timestamps (no coarse.so): plain and shim write the same, every copy cloned, D is what was written" {
	need_clone_fs
	need_fs T_TMPFS
	local fs i
	for fs in "${clone_fs[@]}"; do
		local d e; d=$(testdir "$fs"); e=$(testdir "$T_TMPFS")
		fresh "$d"
		"$coarse_copy" "$d/src" "$d/P" "$e/P" $N > "$d/out.plain" 2> "$d/err.plain" ||
			{ cat "$d/err.plain"; return 1; }
		cp --reflink=never "$d/src.pristine" "$d/src"
		under_shim "$coarse_copy" "$d/src" "$d/D" "$e/E" $N > "$d/out" 2> "$d/err" ||
			{ cat "$d/err"; return 1; }
		echo "$fs, plain: $(tail -1 "$d/err.plain")"
		echo "$fs, shim:  $(tail -1 "$d/err"); $clones clone ioctls"
		diff -u "$d/out.plain" "$d/out" || { echo "$fs: the program wrote different bytes under the shim"; return 1; }
		for ((i = 0; i < N; i++)); do
			same_file "$d/P.$i" "$d/D.$i" || { echo "$fs: copy $i differs from the plain run's"; return 1; }
		done
		written "$d" "$e" || { echo "on $fs"; return 1; }
		[ "$clones" -eq "$N" ] || { echo "$fs: $clones clone ioctls, want $N (one per copy)"; return 1; }
		rm -rf "$e"
	done
}

@test "coarse.so rounds what the shim and the program see, and only that" {
	need_fs T_TMPFS
	local d; d=$(testdir "$T_TMPFS")
	echo x > "$d/f"
	touch -d '2030-01-02 03:04:05.123456789' "$d/f"
	# stat(1) calls statx (glibc), python os.stat fstatat; both rounded
	run env LD_PRELOAD=$coarse_so stat -c '%y' "$d/f"
	[ "$status" -eq 0 ]
	[[ $output == "2030-01-02 03:04:05.120000000 "* ]] || { echo "statx: $output"; return 1; }
	run env LD_PRELOAD="$SHIM_LIB:$coarse_so" python3 -c '
import os, sys, time
p = sys.argv[1]
fd = os.open(p, os.O_RDONLY)
print(os.stat(p).st_mtime_ns % 10**9, os.lstat(p).st_mtime_ns % 10**9, os.fstat(fd).st_mtime_ns % 10**9)
print(all(time.clock_gettime_ns(c) % 10**7 == 0 for c in (time.CLOCK_REALTIME, 5)))  # 5: CLOCK_REALTIME_COARSE
print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) % 10**7 != 0 or time.clock_gettime_ns(time.CLOCK_MONOTONIC) % 10**7 != 0)
' "$d/f"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "120000000 120000000 120000000" ] || { echo "stat/lstat/fstat: $output"; return 1; }
	[ "${lines[1]}" = True ] || { echo "CLOCK_REALTIME not rounded: $output"; return 1; }
	[ "${lines[2]}" = True ] || { echo "CLOCK_MONOTONIC rounded: $output"; return 1; }
	# without it, the real nanoseconds
	run stat -c '%y' "$d/f"
	[[ $output == "2030-01-02 03:04:05.123456789 "* ]]
}
