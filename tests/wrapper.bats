#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# The reflink-shim wrapper and the library's exported interface.

load helpers

@test "--help starts with a usage line and exits 0" {
	run "$SHIM_WRAPPER" --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: reflink-shim "* ]]
	[[ "$output" == *REFLINK_SHIM_DISABLE* ]]
}

@test "--version prints the version" {
	run "$SHIM_WRAPPER" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^reflink-shim\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "no command, or an unknown option: usage error 125" {
	run "$SHIM_WRAPPER"
	[ "$status" -eq 125 ]
	[[ "$output" == *"no command given"* ]]
	run "$SHIM_WRAPPER" --bogus true
	[ "$status" -eq 125 ]
	[[ "$output" == *"unknown option or missing argument: '--bogus'"* ]]
}

@test "the command's exit status is passed through; 127 when it cannot run" {
	run "$SHIM_WRAPPER" sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run "$SHIM_WRAPPER" -- sh -c 'exit 0'
	[ "$status" -eq 0 ]
	run -127 "$SHIM_WRAPPER" /nonexistent/command
	[ "$status" -eq 127 ]
	[[ "$output" == *"/nonexistent/command"* ]]
}

@test "LD_PRELOAD is prepended once, existing entries kept" {
	run env -u LD_PRELOAD "$SHIM_WRAPPER" sh -c 'echo "$LD_PRELOAD"'
	[ "$output" = "$SHIM_LIB" ]
	run env LD_PRELOAD=libc.so.6 "$SHIM_WRAPPER" sh -c 'echo "$LD_PRELOAD"'
	[ "$output" = "$SHIM_LIB:libc.so.6" ]
	run env LD_PRELOAD=libc.so.6 "$SHIM_WRAPPER" "$SHIM_WRAPPER" sh -c 'echo "$LD_PRELOAD"'
	[ "$output" = "$SHIM_LIB:libc.so.6" ]
}

@test "a missing library is a clear error" {
	local d; d=$(mktemp -d)
	cp "$SHIM_WRAPPER" "$d/reflink-shim"
	run -127 "$d/reflink-shim" true
	rm -rf "$d"
	[ "$status" -eq 127 ]
	[[ "$output" == *"cannot find libreflink-shim.so"* ]]
}

@test "programs run unchanged under the shim (no root needed)" {
	run "$SHIM_WRAPPER" sh -c 'echo hello | cat; printf "%s\n" a b | sort -r'
	[ "$status" -eq 0 ]
	[ "$output" = "hello
b
a" ]
}

@test "--probe: supported on XFS and btrfs, the reason elsewhere, nothing left behind" {
	need_fs T_XFS T_BTRFS T_EXT4 T_TMPFS
	local d
	for fs in "$T_XFS:xfs" "$T_BTRFS:btrfs"; do
		d=$(testdir "${fs%%:*}")
		run "$SHIM_WRAPPER" --probe "$d"
		[ "$status" -eq 0 ]
		[ "$output" = "reflink supported (${fs#*:})" ]
		[ -z "$(ls -A "$d")" ]
	done
	for fs in "$T_EXT4:ext4" "$T_TMPFS:tmpfs"; do
		d=$(testdir "${fs%%:*}")
		run "$SHIM_WRAPPER" --probe "$d"
		[ "$status" -eq 1 ]
		[[ "$output" == *"(${fs#*:}): reflink unsupported"* ]]
		[ -z "$(ls -A "$d")" ]
	done
	run "$SHIM_WRAPPER" --probe /nonexistent
	[ "$status" -eq 1 ]
	[[ "$output" == *"No such file or directory"* ]]
	run "$SHIM_WRAPPER" --probe /etc/hostname
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a directory"* ]]
}

@test "--probe: read-only filesystem and permission denied" {
	need_fs T_XFS2
	need_cmd setpriv
	local d; d=$(testdir "$T_XFS2")
	mount -o remount,ro "$T_XFS2"
	run "$SHIM_WRAPPER" --probe "$d"
	mount -o remount,rw "$T_XFS2"
	[ "$status" -eq 1 ]
	[[ "$output" == *"(xfs): cannot create a file: read-only filesystem"* ]]
	# nobody may reach d and the wrapper, not write in d
	local path=() p=$d
	while [ "$p" != / ]; do path+=("$p:$(stat -c %a "$p")"); p=$(dirname "$p"); done
	p=$SHIM_WRAPPER
	while [ "$p" != / ]; do path+=("$p:$(stat -c %a "$p")"); p=$(dirname "$p"); done
	for e in "${path[@]}"; do chmod o+rx "${e%:*}"; done
	chmod 755 "$d"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$SHIM_WRAPPER" --probe "$d"
	for e in "${path[@]}"; do chmod "${e##*:}" "${e%:*}"; done
	[ "$status" -eq 1 ]
	[[ "$output" == *"(xfs): cannot create a file: permission denied"* ]]
}

@test "--probe: where the kernel clones and the library does not (NFS, ZFS, a type it does not know), why, and exit 1" {
	need_fs T_XFS
	local d t magic name why; d=$(testdir "$T_XFS")
	# faults.so reports the test XFS as another filesystem type
	for t in "0x6969:nfs:ctime comes from the server" "0x2fc12fc1:zfs:no FIEMAP" \
		 "0x12345678:unknown-fs:a filesystem type reflink-shim does not know"; do
		IFS=: read -r magic name why <<< "$t"
		run env FAULT_FSTYPE="$magic" LD_PRELOAD="$SHIM_PROGS/faults.so" "$SHIM_WRAPPER" --probe "$d"
		[ "$status" -eq 1 ]
		[[ "$output" == "reflink supported in $d ($name), but reflink-shim does not clone there: $why"* ]]
		[ -z "$(ls -A "$d")" ]
	done
	run env FAULT_FSTYPE=0xca451a4e LD_PRELOAD="$SHIM_PROGS/faults.so" "$SHIM_WRAPPER" --probe "$d"
	[ "$status" -eq 0 ]
	[ "$output" = "reflink supported (bcachefs)" ]
}

@test "--stats: one summary over a process tree, by reason" {
	need_fs T_XFS T_XFS2 T_EXT4
	local a b e; a=$(testdir "$T_XFS"); b=$(testdir "$T_XFS2"); e=$(testdir "$T_EXT4")
	mksrc "$a/big" 1M; mksrc "$a/big2" 3M; mksrc "$e/big" 1M; mksrc "$a/small" 1000
	local cp=$SHIM_EXAMPLES/cp-rw
	# children in parallel, a grandchild, and an exec'd process
	run "$SHIM_WRAPPER" --stats sh -c "
		$cp $a/big $a/c1 & $cp $a/big2 $a/c2 & wait
		sh -c '$cp $e/big $e/c3; exec $cp $a/small $a/c4'
		$cp $a/big $b/c5
		exit 4"
	[ "$status" -eq 4 ]
	[ "$output" = "reflink-shim: 2 files cloned (4.0 MiB shared), 3 copies not cloned (1 ext4: reflink unsupported, 1 other filesystem, 1 too small)" ]
	cmp "$a/big" "$a/c1"; cmp "$a/big2" "$a/c2"; cmp "$e/big" "$e/c3"; cmp "$a/small" "$a/c4"; cmp "$a/big" "$b/c5"
	# the record file is gone
	[ -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'reflink-shim-stats.*' -newer "$a/big")" ]
}

@test "--stats: data that differs is counted, and a killed command still gets its summary" {
	need_fs T_XFS
	local a; a=$(testdir "$T_XFS")
	mksrc "$a/big" 1M
	run "$SHIM_WRAPPER" --stats "$scenario" "$a/big" "$a/d" open=w copy=65536:1 write=100:120 copy=65536
	[[ "$output" == *"0 files cloned (0 bytes shared), 1 copy not cloned (data differed)"* ]]
	run "$SHIM_WRAPPER" --stats sh -c "$SHIM_EXAMPLES/cp-rw $a/big $a/d2; kill -TERM \$\$"
	[ "$status" -eq 143 ]
	[[ "$output" == *"1 file cloned (1.0 MiB shared)"* ]]
}

@test "--log FILE and --verbose: one line per decision, with its reason" {
	need_fs T_XFS T_EXT4
	local a e; a=$(testdir "$T_XFS"); e=$(testdir "$T_EXT4")
	mksrc "$a/big" 1M; mksrc "$e/big" 1M
	(cd "$a" && "$SHIM_WRAPPER" --log rel.log sh -c "cd /; $SHIM_EXAMPLES/cp-rw $a/big $a/c1; $SHIM_EXAMPLES/cp-rw $e/big $e/c2")
	grep -q 'clone fd=[0-9]* 1048576$' "$a/rel.log"
	grep -q 'not-cloned .*ext4: filesystem cannot clone' "$a/rel.log"
	run "$SHIM_WRAPPER" --verbose "$SHIM_EXAMPLES/cp-rw" "$a/big" "$a/c3"
	[ "$status" -eq 0 ]
	[[ "$output" == *"clone fd="* ]]
	# stderr that is a pipe works too, and the command's own output is untouched
	out=$("$SHIM_WRAPPER" -v sh -c "$SHIM_EXAMPLES/cp-rw $a/big $a/c4; echo done" 2>"$a/err")
	[ "$out" = done ]
	grep -q 'clone fd=' "$a/err"
	run "$SHIM_WRAPPER" --log /nonexistent/dir/log true
	[ "$status" -eq 125 ]
}

@test "REFLINK_SHIM_EXCLUDE leaves the named programs alone, others still clone" {
	need_fs T_XFS
	local a; a=$(testdir "$T_XFS")
	mksrc "$a/big" 1M
	REFLINK_SHIM_EXCLUDE=cp-rw:foo under_shim "$SHIM_EXAMPLES/cp-rw" "$a/big" "$a/c1"
	[ "$clones" -eq 0 ]
	REFLINK_SHIM_EXCLUDE=foo,bar under_shim "$SHIM_EXAMPLES/cp-rw" "$a/big" "$a/c2"
	[ "$clones" -eq 1 ]
	REFLINK_SHIM_EXCLUDE=dd under_shim dd if="$a/big" of="$a/c3" bs=64K status=none
	[ "$clones" -eq 0 ]
	cmp "$a/big" "$a/c1"; cmp "$a/big" "$a/c2"; cmp "$a/big" "$a/c3"
}

@test "REFLINK_SHIM_MIN_SIZE and REFLINK_SHIM_MAX_EXTENTS choose copying" {
	need_fs T_XFS
	need_cmd python3
	local a; a=$(testdir "$T_XFS")
	mksrc "$a/big" 1M
	REFLINK_SHIM_MIN_SIZE=2M under_shim "$SHIM_EXAMPLES/cp-rw" "$a/big" "$a/c1"
	[ "$clones" -eq 0 ]
	REFLINK_SHIM_MIN_SIZE=1M under_shim "$SHIM_EXAMPLES/cp-rw" "$a/big" "$a/c2"
	[ "$clones" -eq 1 ]
	cmp "$a/big" "$a/c1"; cmp "$a/big" "$a/c2"
	# 1 MiB made of 256 extents (4 KiB blocks cloned alternately from two
	# files): over the default of one per 32 KiB, so copied
	mksrc "$a/x" 1M; mksrc "$a/y" 1M
	python3 - "$a/frag" "$a/x" "$a/y" <<'PY'
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
src = [os.open(p, os.O_RDONLY) for p in sys.argv[2:]]
for i in range(256):
    fcntl.ioctl(fd, 0x4020940d, struct.pack("qQQQ", src[i % 2], i * 4096, 4096, i * 4096))
PY
	[ "$("$fileinfo" extents "$a/frag")" -eq 256 ]
	under_shim "$SHIM_EXAMPLES/cp-rw" "$a/frag" "$a/c3"
	[ "$clones" -eq 0 ]
	REFLINK_SHIM_MAX_EXTENTS=0 under_shim "$SHIM_EXAMPLES/cp-rw" "$a/frag" "$a/c4"
	[ "$clones" -eq 1 ]
	REFLINK_SHIM_MAX_EXTENTS=300 under_shim "$SHIM_EXAMPLES/cp-rw" "$a/frag" "$a/c5"
	[ "$clones" -eq 1 ]
	cmp "$a/frag" "$a/c3"; cmp "$a/frag" "$a/c4"; cmp "$a/frag" "$a/c5"
}

@test "a statically linked or setuid command: one warning" {
	need_fs T_XFS
	local a; a=$(testdir "$T_XFS")
	printf 'int main(void){return 3;}\n' > "$a/s.c"
	cc -static -o "$a/static" "$a/s.c" 2>/dev/null || skip "no static libc"
	run "$SHIM_WRAPPER" "$a/static"
	[ "$status" -eq 3 ]
	[ "$(grep -c 'is statically linked' <<< "$output")" -eq 1 ]
	cp /bin/true "$a/suid"
	chown 65534 "$a/suid"
	chmod 4755 "$a/suid"
	run "$SHIM_WRAPPER" "$a/suid"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'setuid' <<< "$output")" -eq 1 ]
	run "$SHIM_WRAPPER" true
	[ -z "$output" ]
}

@test "make install and uninstall: the installed wrapper finds the installed library" {
	need_fs T_XFS
	local a; a=$(testdir "$T_XFS")
	make -s -C "$SHIM_TOP" install DESTDIR="$a/stage" PREFIX=/opt/rs B="${SHIM_LIB%/*}" >/dev/null
	[ -x "$a/stage/opt/rs/bin/reflink-shim" ]
	[ -f "$a/stage/opt/rs/lib/reflink-shim/libreflink-shim.so" ]
	[ -f "$a/stage/opt/rs/share/man/man1/reflink-shim.1" ]
	[ -f "$a/stage/opt/rs/share/doc/reflink-shim/README.md" ]
	if command -v man >/dev/null; then
		man -l "$a/stage/opt/rs/share/man/man1/reflink-shim.1" 2>/dev/null | grep -q 'EXIT STATUS'
	fi
	mksrc "$a/big" 1M
	run "$a/stage/opt/rs/bin/reflink-shim" --stats sh -c 'echo "$LD_PRELOAD"; '"$SHIM_EXAMPLES/cp-rw $a/big $a/c"
	[ "${lines[0]}" = "$a/stage/opt/rs/lib/reflink-shim/libreflink-shim.so" ]
	[ "${lines[1]}" = "reflink-shim: 1 file cloned (1.0 MiB shared)" ]
	make -s -C "$SHIM_TOP" uninstall DESTDIR="$a/stage" PREFIX=/opt/rs >/dev/null
	[ -z "$(find "$a/stage" -type f)" ]
}
