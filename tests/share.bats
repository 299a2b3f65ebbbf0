#!/usr/bin/env bats
# Issue 13: copies whose bytes cross a pipe between two processes, with
# REFLINK_SHIM_SHARE=1 (off by default: see docs/DESIGN.md, "Copies across
# processes"). Each test runs the pipeline plain and under the shim (every
# process of it), and compares: same bytes, sizes and holes; under the
# shim, every destination shared (FIEMAP) and one FICLONE per file
# (strace -f). The shim's index of sources (shim/share.h) lives in a
# directory of the test's own (XDG_RUNTIME_DIR), so tests never see each
# other's entries.

load helpers

SZ=$((3 * 1024 * 1024 + 1234))

setup() {
	export REFLINK_SHIM_SHARE=1
	export XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
	mkdir -p -m 700 "$XDG_RUNTIME_DIR"
}

# mktree DIR: three files of 1-4 MiB, one of them in a subdirectory
mktree13() {
	mkdir -p "$1/sub"
	mksrc "$1/a" $((1024 * 1024 + 17))
	mksrc "$1/b" $((4 * 1024 * 1024))
	mksrc "$1/sub/c" $((2 * 1024 * 1024 + 4095))
}

# trees_same PLAIN SHIM: every file identical, and (with want_shared=1)
# every file of SHIM fully shared
trees_same() {
	diff -r "$1" "$2" || { echo "trees differ"; return 1; }
	local f
	for f in a b sub/c; do
		same_file "$1/$f" "$2/$f" || return 1
		if [ "${want_shared:-1}" = 1 ]; then
			local n; n=$(stat -c %s "$2/$f")
			[ "$(shared_bytes "$2/$f")" -eq "$n" ] || { echo "$2/$f: not shared"; return 1; }
		fi
	done
}

@test "cat S | dd of=D: D is S's clone, one FICLONE" {
	need_clone_fs
	local fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/S" $SZ
		cat "$d/S" | dd of="$d/plain" bs=128K status=none
		under_shim sh -c 'cat "$1" | dd of="$2" bs=128K status=none' sh "$d/S" "$d/shim"
		same_file "$d/plain" "$d/shim"
		[ "$clones" -eq 1 ] || { echo "$fs: $clones clones"; return 1; }
		[ "$(shared_bytes "$d/shim")" -eq $SZ ]
	done
}

# tree_through SCRIPT: SCRIPT (sh; $1 the source tree, $2 the new tree,
# made empty) plain and under the shim on each reflink filesystem: the same
# trees, every file shared, one FICLONE each
tree_through() {
	need_clone_fs
	local fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mktree13 "$d/src"
		mkdir "$d/plain" "$d/shim"
		sh -c "$1" sh "$d/src" "$d/plain"
		under_shim sh -c "$1" sh "$d/src" "$d/shim"
		trees_same "$d/plain" "$d/shim"
		[ "$clones" -eq 3 ] || { echo "$fs: $clones clones"; return 1; }
	done
}

@test "tar c | tar x: every file a clone, one FICLONE each" {
	tree_through 'tar -C "$1" -cf - . | tar -C "$2" -xf -'
}

@test "busybox tar c | busybox tar x: every file a clone" {
	need_cmd busybox
	tree_through '(cd "$1" && busybox tar cf - .) | (cd "$2" && busybox tar xf -)'
}

@test "rsync -a (local, whole-file): every file a clone, one FICLONE each" {
	need_cmd rsync
	tree_through 'rsync -a "$1/" "$2/"'
}

@test "rsync --inplace, --append and a delta update stay exact" {
	need_clone_fs
	need_cmd rsync
	local fs mode
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mktree13 "$d/src"
		for mode in --inplace --append --no-whole-file --sparse; do
			rm -rf "$d/plain" "$d/shim"
			# an older copy for the delta modes to work against
			mkdir -p "$d/plain/sub" "$d/shim/sub"
			head -c 100000 "$d/src/b" > "$d/plain/b"; cp "$d/plain/b" "$d/shim/b"
			rsync -a "$mode" "$d/src/" "$d/plain/"
			under_shim rsync -a "$mode" "$d/src/" "$d/shim/"
			want_shared=0 trees_same "$d/plain" "$d/shim" || { echo "$fs $mode"; return 1; }
		done
	done
}

@test "Python feeding a subprocess through a pipe: the child's copy is a clone" {
	need_clone_fs
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	local prog='
import subprocess, sys
p = subprocess.Popen(["dd", "of=" + sys.argv[2], "bs=64K", "status=none"], stdin=subprocess.PIPE)
with open(sys.argv[1], "rb") as s:
    while True:
        b = s.read(1 << 20)
        if not b:
            break
        p.stdin.write(b)
p.stdin.close()
sys.exit(p.wait())'
	python3 -c "$prog" "$d/S" "$d/plain"
	under_shim python3 -c "$prog" "$d/S" "$d/shim"
	same_file "$d/plain" "$d/shim"
	[ "$clones" -eq 1 ]
}

@test "without REFLINK_SHIM_SHARE=1 (or with 0) no copy crosses a process, and no index is made" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	local v
	for v in unset 0; do
		rm -f "$d/D"
		if [ $v = unset ]; then unset REFLINK_SHIM_SHARE; else export REFLINK_SHIM_SHARE=$v; fi
		under_shim sh -c 'cat "$1" | dd of="$2" bs=128K status=none' sh "$d/S" "$d/D"
		cmp "$d/S" "$d/D"
		[ "$clones" -eq 0 ] || { echo "$v: $clones clones"; return 1; }
		[ -z "$(ls "$XDG_RUNTIME_DIR")" ] || { echo "$v: an index was made"; return 1; }
	done
}

@test "a finite RLIMIT_FSIZE: a reader is not sent SIGXFSZ by the index, and nothing is published" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	run under_shim bash -c 'ulimit -f 50; cat "$1" > /dev/null; echo rc=$?' bash "$d/S"
	[ "$status" -eq 0 ]
	[ "$output" = rc=0 ]
	[ -z "$(ls "$XDG_RUNTIME_DIR")" ] || { ls -la "$XDG_RUNTIME_DIR"; return 1; }
}

@test "S written between the reader's read and the writer's clone: D holds what was written" {
	need_clone_fs
	need_cmd python3
	local fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/S" $SZ
		cp "$d/S" "$d/want"
		# The reader reads S whole (publishing it) and keeps the bytes; S
		# then changes in the middle; the reader then feeds the old bytes
		# to dd, whose copy must hold them, not S's new ones.
		under_shim sh -c 'python3 -c "
import os, sys
b = open(sys.argv[1], \"rb\").read()
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b\"XXXXXXXX\", 2000000)
os.close(fd)
sys.stdout.buffer.write(b)" "$1" | dd of="$2" bs=128K status=none' sh "$d/S" "$d/D"
		cmp "$d/want" "$d/D" || { echo "$fs: D differs from what was written"; return 1; }
		if cmp -s "$d/S" "$d/D"; then echo "$fs: S did not change"; return 1; fi
	done
}

@test "a malformed index: garbage, wrong size, wrong mode, a symlink, another owner" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	local idx="$XDG_RUNTIME_DIR/reflink-shim-index-v1-$(id -u)" k
	for k in garbage short mode symlink owner dir; do
		rm -rf "$idx" "$d/D" "$d/elsewhere"
		case $k in
		garbage) head -c $((512 * 1024)) /dev/urandom > "$idx"; chmod 600 "$idx" ;;
		short) head -c 1000 /dev/urandom > "$idx"; chmod 600 "$idx" ;;
		mode) : > "$idx"; chmod 644 "$idx" ;;
		symlink) ln -s "$d/elsewhere" "$idx" ;;
		owner) : > "$idx"; chmod 600 "$idx"; chown nobody "$idx" ;;
		dir) mkdir "$idx" ;;
		esac
		under_shim sh -c 'cat "$1" | dd of="$2" bs=128K status=none' sh "$d/S" "$d/D" || { echo "$k: failed"; return 1; }
		cmp "$d/S" "$d/D" || { echo "$k: D differs"; return 1; }
		[ ! -e "$d/elsewhere" ] || { echo "$k: followed the symlink"; return 1; }
		case $k in
		garbage) [ "$clones" -eq 1 ] || { echo "garbage: $clones clones (the index is usable: entries are rewritten)"; return 1; } ;;
		*) [ "$clones" -eq 0 ] || { echo "$k: $clones clones through an index we must refuse"; return 1; } ;;
		esac
	done
}

@test "a forged entry naming a file with the same first bytes: D is exact" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	# F starts as S does and differs after 1 MiB
	{ head -c 1048576 "$d/S"; head -c $((SZ - 1048576)) /dev/urandom; } > "$d/F"
	# publish F (a process reads it from its start), then copy S through a pipe
	under_shim sh -c 'cat "$1" > /dev/null; cat "$2" | dd of="$3" bs=128K status=none' sh "$d/F" "$d/S" "$d/D"
	cmp "$d/S" "$d/D"
}

@test "--stats says how many clones came from a file another process read" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	run "$SHIM_WRAPPER" --stats sh -c 'cat "$1" | dd of="$2" bs=128K status=none' sh "$d/S" "$d/D"
	[ "$status" -eq 0 ]
	[ "$output" = "reflink-shim: 1 file cloned (3.0 MiB shared; 1 from a file another process read)" ] ||
		{ echo "$output"; return 1; }
	cmp "$d/S" "$d/D"
}
