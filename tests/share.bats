#!/usr/bin/env bats
# Issue 13: copies whose bytes cross a pipe between two processes (see
# docs/DESIGN.md, "Copies across processes"). Each test runs the pipeline
# plain and under the shim (every process of it), and compares: same
# bytes, sizes and holes; under the shim, every destination shared
# (FIEMAP) and one FICLONE per file (strace -f). The shim's index of
# sources (shim/share.h) is a System V segment per user and IPC namespace:
# each run under the shim gets a namespace of its own (unshare --ipc), so
# runs never see each other's entries.

load helpers

SZ=$((3 * 1024 * 1024 + 1234))
shmindex=$SHIM_PROGS/shmindex

setup() {
	need_cmd unshare
	unset REFLINK_SHIM_SHARE
}

# in_ns CMD...: under_shim, in an IPC namespace of its own
in_ns() {
	under_shim unshare --ipc "$@"
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

# through_dd D READER: D/S through READER (sh; $1 is S) into dd, plain to
# D/plain and under the shim to D/shim: the same bytes, D/shim all shared,
# one FICLONE
through_dd() {
	local d=$1 cmd="$2"' | dd of="$2" bs=128K status=none'
	sh -c "$cmd" sh "$d/S" "$d/plain"
	in_ns sh -c "$cmd" sh "$d/S" "$d/shim"
	same_file "$d/plain" "$d/shim"
	[ "$clones" -eq 1 ] || { echo "$clones clones"; return 1; }
	[ "$(shared_bytes "$d/shim")" -eq "$(stat -c %s "$d/S")" ] || { echo "not all shared"; return 1; }
}

@test "cat S | dd of=D: D is S's clone, one FICLONE" {
	need_clone_fs
	local fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/S" $SZ
		through_dd "$d" 'cat "$1"' || { echo "on $fs"; return 1; }
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
		in_ns sh -c "$1" sh "$d/src" "$d/shim"
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
			in_ns rsync -a "$mode" "$d/src/" "$d/shim/"
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
	in_ns python3 -c "$prog" "$d/S" "$d/shim"
	same_file "$d/plain" "$d/shim"
	[ "$clones" -eq 1 ]
}

@test "REFLINK_SHIM_SHARE=0: no copy crosses a process, and no index is made" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	REFLINK_SHIM_SHARE=0 in_ns sh -c 'cat "$1" | dd of="$2" bs=128K status=none; "$3" sum ours > "$4"' \
		sh "$d/S" "$d/D" "$shmindex" "$d/sum"
	cmp "$d/S" "$d/D"
	[ "$clones" -eq 0 ] || { echo "$clones clones"; return 1; }
	[ "$(cat "$d/sum")" = none ] || { echo "an index was made: $(cat "$d/sum")"; return 1; }
}

@test "a finite RLIMIT_FSIZE: the reader is unharmed and its copy still crosses" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	# The index is no file: a cat under ulimit -f 50 was killed by SIGXFSZ
	# when it was one.
	in_ns bash -c '(ulimit -f 50; cat "$1"; echo "cat: $?" > "$3") | dd of="$2" bs=128K status=none' \
		bash "$d/S" "$d/D" "$d/rc"
	[ "$(cat "$d/rc")" = "cat: 0" ] || { cat "$d/rc"; return 1; }
	cmp "$d/S" "$d/D"
	[ "$clones" -eq 1 ]
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
		in_ns sh -c 'python3 -c "
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

@test "a malformed or foreign index is refused and left as it was; a torn or unclaimed one is used" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	local size; size=$("$shmindex" size)
	local k make before after
	for k in garbage short long mode owner slots zero; do
		rm -f "$d/D"
		case $k in
		garbage) make="make ours $size 600 garbage" ;;  # not our header: another program's
		short) make="make ours 1000 600 garbage" ;;
		long) make="make ours $((size + 4096)) 600 zero" ;;
		mode) make="make ours $size 644 zero" ;;
		owner) make="make $("$shmindex" key) $size 600 zero" ;;  # made by nobody (root may use it)
		slots) make="make ours $size 600 slots" ;;  # our header, garbage slots
		zero) make="make ours $size 600 zero" ;;  # its creator died before the header
		esac
		local as=""
		[ $k = owner ] && as="setpriv --reuid=65534 --regid=65534 --clear-groups"
		in_ns sh -c '$1 "$2" $3 && "$2" sum ours > "$6.before" && cat "$4" | dd of="$5" bs=128K status=none &&
			"$2" sum ours > "$6.after"' sh "$as" "$shmindex" "$make" "$d/S" "$d/D" "$d/sum" ||
			{ echo "$k: failed"; return 1; }
		cmp "$d/S" "$d/D" || { echo "$k: D differs"; return 1; }
		before=$(cat "$d/sum.before") after=$(cat "$d/sum.after")
		case $k in
		slots|zero)
			[ "$clones" -eq 1 ] || { echo "$k: $clones clones (the index is ours and usable)"; return 1; }
			[ "$before" != "$after" ] || { echo "$k: nothing was published"; return 1; } ;;
		*)
			[ "$clones" -eq 0 ] || { echo "$k: $clones clones through an index we must refuse"; return 1; }
			[ "$before" = "$after" ] || { echo "$k: the segment was written to"; return 1; } ;;
		esac
	done
}

@test "an index of the previous layout (a library before an upgrade) is left alone, and sharing goes on" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	# what a library of the previous layout made and claimed; it lasts
	# until reboot, and its processes may still be running
	in_ns sh -c '"$1" make previous $2 600 previous && "$1" sum previous > "$5.before" &&
		cat "$3" | dd of="$4" bs=128K status=none && "$1" sum previous > "$5.after"' \
		sh "$shmindex" "$("$shmindex" size)" "$d/S" "$d/D" "$d/sum"
	cmp "$d/S" "$d/D"
	[ "$clones" -eq 1 ] || { echo "$clones clones: sharing stopped"; return 1; }
	[ "$(cat "$d/sum.before")" = "$(cat "$d/sum.after")" ] || { echo "the previous layout's index was written to"; return 1; }
}

@test "an index refused at a first write leaves the write's errno as it was" {
	local d; d=$(testdir "${T_XFS:-$BATS_TEST_TMPDIR}")
	local size; size=$("$shmindex" size)
	# a segment of ours with the wrong mode: refused at the first look
	local cmd='"$1" make ours $2 644 zero; echo x | "$3" pipewrite 2>&1 > /dev/null'
	unshare --ipc sh -c "$cmd" sh "$shmindex" "$size" "$SHIM_PROGS/invisible" > "$d/plain"
	in_ns sh -c "$cmd" sh "$shmindex" "$size" "$SHIM_PROGS/invisible" > "$d/shim"
	diff "$d/plain" "$d/shim"
}

@test "a forged entry naming a file with the same first bytes: D is exact" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	# F starts as S does and differs after 1 MiB
	{ head -c 1048576 "$d/S"; head -c $((SZ - 1048576)) /dev/urandom; } > "$d/F"
	# publish F (a process reads it from its start), then copy S through a pipe
	in_ns sh -c 'cat "$1" > /dev/null; cat "$2" | dd of="$3" bs=128K status=none' sh "$d/F" "$d/S" "$d/D"
	cmp "$d/S" "$d/D"
}

@test "--stats says how many clones came from a file another process read" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	run unshare --ipc "$SHIM_WRAPPER" --stats sh -c 'cat "$1" | dd of="$2" bs=128K status=none' sh "$d/S" "$d/D"
	[ "$status" -eq 0 ]
	[ "$output" = "reflink-shim: 1 file cloned (3.0 MiB shared; 1 from a file another process read)" ] ||
		{ echo "$output"; return 1; }
	cmp "$d/S" "$d/D"
}

@test "a POSIX lock the writer took before exec'ing dd stays held while dd's copy crosses" {
	need_fs T_XFS
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	# dd inherits a lock on S across exec (our count of locks starts at
	# the exec); another process asks whether S is locked once dd wrote
	# its first 64 KiB, before the rest is sent.
	local script='
		( head -c 65536 "$1"; while [ ! -e "$3.go" ]; do sleep 0.05; done; tail -c +65537 "$1" ) |
			python3 -c "import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.set_inheritable(fd, True)  # a close-on-exec fd would drop the lock at exec
fcntl.lockf(fd, fcntl.LOCK_EX)
os.execvp(\"dd\", [\"dd\", \"of=\" + sys.argv[2], \"bs=64k\", \"status=none\"])" "$1" "$2" &
		while [ "$(stat -c %s "$2" 2>/dev/null || echo 0)" -lt 65536 ]; do sleep 0.05; done
		python3 -c "import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print(\"S unlocked\")
except OSError:
    print(\"S locked\")" "$1" > "$3.lock"
		touch "$3.go"
		wait'
	# Also in a pid namespace whose /proc is not its own (unshare -p without
	# --mount-proc): /proc/locks names dd by another pid than getpid's.
	local ns
	for ns in "" "unshare -p -f"; do
		rm -f "$d/plain" "$d/shim" "$d"/[ps].*
		$ns sh -c "$script" sh "$d/S" "$d/plain" "$d/p"
		in_ns $ns sh -c "$script" sh "$d/S" "$d/shim" "$d/s"
		[ "$(cat "$d/p.lock")" = "S locked" ]
		[ "$(cat "$d/s.lock")" = "S locked" ] || { echo "${ns:-no pid namespace}: $(cat "$d/s.lock")"; return 1; }
		cmp "$d/S" "$d/shim"
	done
}

@test "S's atime stays where a reader with O_NOATIME left it" {
	need_clone_fs
	local fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/S" $SZ
		touch -d 2020-01-01 "$d/S"  # atime before ctime: relatime would stamp a read
		local before; before=$(stat -c %X "$d/S")
		through_dd "$d" 'dd if="$1" iflag=noatime bs=64k status=none' || { echo "on $fs"; return 1; }
		[ "$(stat -c %X "$d/S")" = "$before" ] || { echo "$fs: S's atime moved"; return 1; }
	done
}

@test "a change of effective user detaches the index: nothing is published to the old user's, nor to the new one's" {
	need_fs T_XFS
	need_cmd python3
	[ "$(id -u)" = 0 ] || skip "needs root (setuid)"
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $SZ
	local prog='
import os, subprocess, sys
def first_read(p):
    fd = os.open(p, os.O_RDONLY)
    os.read(fd, 65536)
    os.close(fd)
first_read(sys.argv[1])
subprocess.run([sys.argv[3], "sum", "ours"], stdout=open(sys.argv[4], "w"), check=True)
os.setuid(65534)
print("SYSV mappings after setuid:", sum("SYSV" in l for l in open("/proc/self/maps")))
first_read(sys.argv[2])'
	python3 -c "$prog" "$d/S" "$(command -v bash)" "$shmindex" "$d/plain.sum" > "$d/plain.out"
	in_ns sh -c 'python3 -c "$1" "$2" "$3" "$4" "$5" > "$6"; "$4" sum ours > "$7"; "$4" sum "$8" > "$9"' \
		sh "$prog" "$d/S" "$(command -v bash)" "$shmindex" "$d/shim.sum" "$d/shim.out" "$d/after.sum" \
		"$("$shmindex" key 65534)" "$d/nobody.sum"
	diff "$d/plain.out" "$d/shim.out"
	[ "$(cat "$d/shim.sum")" != none ] || { echo "nothing was published before setuid"; return 1; }
	[ "$(cat "$d/shim.sum")" = "$(cat "$d/after.sum")" ] || { echo "root's index written after setuid"; return 1; }
	[ "$(cat "$d/nobody.sum")" = none ] || { echo "an index for nobody was made"; return 1; }
}

@test "a source on another filesystem is never looked at by name: only D's device, or btrfs's subvolumes" {
	need_fs T_XFS T_XFS2 T_TMPFS
	local d; d=$(testdir "$T_XFS")
	local fs
	# A walk of a name on another filesystem can only find a source no
	# clone can come from, and can block (a stopped FUSE server) or wake a
	# network server. tmpfs never clones: nothing there is published;
	# another XFS is: its entries are passed over by D's device.
	for fs in "$T_XFS2" "$T_TMPFS"; do
		local s; s=$(testdir "$fs")/S
		mksrc "$s" $SZ
		rm -f "$d/D" "$d/trace"
		SHIM_NO_STRACE=1 in_ns sh -c 'cat "$1" > /dev/null; cat "$1" |
			strace -f -qq -e trace=%file,%desc -o "$3" dd of="$2" bs=128K status=none' sh "$s" "$d/D" "$d/trace"
		cmp "$s" "$d/D"
		if grep -F "$s" "$d/trace"; then
			echo "$fs: the writer looked at S's name"
			return 1
		fi
	done
}

@test "btrfs: a source in another subvolume (another st_dev) is still a clone's" {
	need_fs T_BTRFS
	need_cmd btrfs
	local d; d=$(testdir "$T_BTRFS")
	btrfs -q subvolume create "$d/a"
	btrfs -q subvolume create "$d/b"
	mksrc "$d/a/S" $SZ
	[ "$(stat -c %d "$d/a")" != "$(stat -c %d "$d/b")" ] || skip "subvolumes share st_dev here"
	in_ns sh -c 'cat "$1" | dd of="$2" bs=128K status=none' sh "$d/a/S" "$d/b/D"
	cmp "$d/a/S" "$d/b/D"
	[ "$clones" -eq 1 ] || { echo "$clones clones"; return 1; }
}

@test "S's name swapped with a FIFO's over and over: the FIFO is never opened" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	# S's bytes come from yes through a pipe, which publishes nothing: S is
	# the only entry with its key, looked at and opened by name for the
	# first write and for each 1 MiB window after.
	yes 0123456789abcdef | head -c 32M > "$d/S"
	mkfifo "$d/F"
	# A writer blocked opening F for writing goes on once anyone opens it
	# for reading; another process swaps S and F meanwhile.
	local script='
		cat "$1/S" > /dev/null
		env -u LD_PRELOAD "$2" fifowait "$1/F" > "$1/victim" &
		v=$!
		# blocked opening the FIFO before any swap: else it may open S
		i=0
		while [ "$(cat /proc/$v/wchan 2> /dev/null)" != wait_for_partner ]; do
			i=$((i + 1))
			[ $i -lt 500 ] || { echo "fifowait never blocked" >> "$1/victim"; break; }
			sleep 0.01
		done
		env -u LD_PRELOAD "$2" exchange "$1/S" "$1/F" "$1/stop" &
		x=$!
		for i in $(seq 40); do
			yes 0123456789abcdef | head -c 32M | cat > "$1/D"
		done
		touch "$1/stop"
		wait $x
		kill $v 2> /dev/null
		wait $v 2> /dev/null
		exit 0'
	SHIM_NO_STRACE=1 in_ns sh -c "$script" sh "$d" "$SHIM_PROGS/invisible"
	if [ -s "$d/victim" ]; then
		cat "$d/victim"
		return 1
	fi
	cmp "$d/S" "$d/D"
}
