#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# Containers: overlayfs over XFS, the way container images are stored
# (docs/DESIGN.md, "overlayfs"). Each test mounts its own overlays on the
# test XFS: DIR/lower is the image layer (filled before the mount, as an
# image is), DIR/upper the container's layer, DIR/merged what the container
# sees. Judged by the kernel: strace's FICLONE results, cmp, and FIEMAP of
# the files in the layers themselves.

load helpers

SZ=$((5 * 1024 * 1024 + 1234))
COPIERS=(dd cp python3 busybox)

# copier NAME S D: a real copier's command line, in $cmd.
copier() {
	case $1 in
	dd) cmd=(dd if="$2" of="$3" bs=128K status=none) ;;
	# coreutils 9.1: read/write, no FICLONE or copy_file_range of its own
	cp) cmd=(cp --reflink=never "$2" "$3") ;;
	# both copy with sendfile
	python3) cmd=(python3 -c 'import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])' "$2" "$3") ;;
	busybox) cmd=(busybox cp "$2" "$3") ;;
	*) echo "copier: no copier $1"; return 1 ;;
	esac
}

need_copiers() {
	need_fs T_XFS
	need_cmd python3
	need_cmd busybox
}

# ovl_mount DIR [OPTION]: an overlay at DIR/merged over DIR/lower (or
# $ovl_lower), DIR/upper and DIR/work, with an extra mount option if given;
# teardown unmounts it.
ovl_mount() {
	local d=$1 lower=${ovl_lower:-$1/lower}
	mkdir -p "$lower" "$d/upper" "$d/work" "$d/merged"
	mount -t overlay overlay -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work${2:+,$2}" "$d/merged"
	echo "$d/merged" >> "$BATS_TEST_TMPDIR/mounts"
}

# teardown: unmount what the test mounted (last first), even when it
# failed, then the common teardown (helpers.bash) removes its directories.
eval "helpers_$(declare -f teardown)"
teardown() {
	local m
	if [ -f "$BATS_TEST_TMPDIR/mounts" ]; then
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m"
		done < <(tac "$BATS_TEST_TMPDIR/mounts")
	fi
	helpers_teardown
}

# clones_in DIR NAME S D: copier NAME run in DIR under the shim copies S to
# D (relative to DIR) with one clone; D's bytes are S's and, in the layer
# that holds D (DIR/../upper), all its extents are shared.
clones_in() {
	local dir=$1 c=$2 s=$3 dst=$4
	copier "$c" "$s" "$dst" || return 1
	pushd "$dir" >/dev/null
	under_shim "${cmd[@]}" > "$BATS_TEST_TMPDIR/out" 2>&1 || { cat "$BATS_TEST_TMPDIR/out"; popd >/dev/null; return 1; }
	popd >/dev/null
	[ "$clones" -eq 1 ] || { echo "$c $s $dst: $clones clones, want 1"; return 1; }
	cmp "$dir/$s" "$dir/$dst" || { echo "$c $s $dst: bytes differ"; return 1; }
	local layer=$dir/../upper/$dst
	[ -f "$layer" ] || { echo "$c: $dst is not in the upper layer"; return 1; }
	local shared; shared=$(shared_bytes "$layer")
	[ "$shared" -eq "$(stat -c %s "$dir/$s")" ] || { echo "$c $s $dst: $shared bytes shared in the upper layer"; return 1; }
}

@test "overlay: a copy from the image layer into a new file of the merged mount clones (dd, cp, python3, busybox)" {
	need_copiers
	local c d; d=$(testdir "$T_XFS")
	mkdir -p "$d/lower"
	mksrc "$d/lower/S" $SZ
	cp --reflink=never "$d/lower/S" "$d/pristine"
	ovl_mount "$d"
	for c in "${COPIERS[@]}"; do
		clones_in "$d/merged" "$c" S "D.$c"
	done
	# S was only read: never copied up, the image layer unchanged
	[ ! -e "$d/upper/S" ]
	cmp "$d/lower/S" "$d/pristine"
	# the same copiers without the shim share nothing: the test can tell
	for c in "${COPIERS[@]}"; do
		copier "$c" S "plain.$c"
		(cd "$d/merged" && "${cmd[@]}")
		cmp "$d/merged/S" "$d/merged/plain.$c"
		[ "$(shared_bytes "$d/upper/plain.$c")" -eq 0 ]
	done
}

@test "overlay: a source already copied up (chmod: data and all; metacopy=on: metadata only) clones too" {
	need_copiers
	local opt c
	for opt in "" metacopy=on; do
		local d; d=$(testdir "$T_XFS")
		mkdir -p "$d/lower"
		mksrc "$d/lower/S" $SZ
		ovl_mount "$d" $opt
		chmod 600 "$d/merged/S"
		[ -f "$d/upper/S" ]
		if [ -n "$opt" ]; then
			[ "$(stat -c %b "$d/upper/S")" -eq 0 ]   # the data stays below
		else
			[ "$(stat -c %b "$d/upper/S")" -gt 0 ]
		fi
		for c in "${COPIERS[@]}"; do
			clones_in "$d/merged" "$c" S "D.$c"
		done
	done
}

@test "overlay: a file of the image layer overwritten in the merged mount (copied up, truncated) clones; the image layer keeps its bytes" {
	need_copiers
	local c d; d=$(testdir "$T_XFS")
	mkdir -p "$d/lower"
	mksrc "$d/lower/S" $SZ
	for c in "${COPIERS[@]}"; do
		mksrc "$d/lower/D.$c" 1M
		cp --reflink=never "$d/lower/D.$c" "$d/old.$c"
	done
	ovl_mount "$d"
	for c in "${COPIERS[@]}"; do
		clones_in "$d/merged" "$c" S "D.$c"
		cmp "$d/lower/D.$c" "$d/old.$c"
	done
}

# ovl_differential OP...: `scenario S D OP...` with S in the image layer,
# plain and under the shim, each in an overlay of its own over the same
# bytes: the same output and the same D. $SRCSZ bytes of source.
ovl_differential() {
	local d n; d=$(testdir "$T_XFS")
	mksrc "$d/S" "$SRCSZ"
	for n in plain shim; do
		mkdir -p "$d/$n/lower"
		cp --reflink=never "$d/S" "$d/$n/lower/S"
		ovl_mount "$d/$n"
	done
	"$scenario" "$d/plain/merged/S" "$d/plain/merged/D" "$@" > "$d/out.plain" 2>&1 || { cat "$d/out.plain"; return 1; }
	under_shim "$scenario" "$d/shim/merged/S" "$d/shim/merged/D" "$@" > "$d/out.shim" 2>&1 ||
		{ cat "$d/out.shim"; return 1; }
	diff -u "$d/out.plain" "$d/out.shim" || { echo "program observed different values: $*"; return 1; }
	same_file "$d/plain/merged/D" "$d/shim/merged/D" || { echo "$*"; return 1; }
	ovl_upper=$d/shim/upper
}

# Copy-up changes the file behind S's descriptor (reads go to the upper
# layer's copy from then on) while st_dev, st_ino and the size stay the
# same: only S's ctime tells the shim. srcpoke rewrites S from the program
# itself (a fork would settle the copy first), past the bytes compared so
# far: only the ctime check can catch it.
@test "overlay: the source copied up and rewritten during a copy: D gets what the program read" {
	need_fs T_XFS
	local s
	SRCSZ=$SZ
	for s in "copy=64k:2 srcpoke=3000000:5000:0x33 copy=64k" "sendfile=1m:1 srcpoke=3000000:100:0x34 sendfile=1m" \
		 "copy=64k:2 srcmod=1000000:5000:0x33 copy=64k" "whole srcpoke=0:1:0"; do
		# shellcheck disable=SC2086
		ovl_differential open=w $s close
		[ -f "$ovl_upper/S" ]
		[ "$clones" -eq 1 ]
	done
}

# exact_copies S DIR N [RESULT]: each copier copies S into DIR, as
# DIR/plain.NAME and then under the shim as DIR/shim.NAME: the kernel sees
# N FICLONE calls, each answering RESULT (e.g. "-1 EXDEV"), and exit
# status, output and D are the plain run's.
exact_copies() {
	local s=$1 dir=$2 n=$3 result=${4:-} c t=$BATS_TEST_TMPDIR
	for c in "${COPIERS[@]}"; do
		local rc=0 prc=0
		copier "$c" "$s" "$dir/plain.$c"
		"${cmd[@]}" > "$t/out.plain" 2>&1 || prc=$?
		copier "$c" "$s" "$dir/shim.$c"
		SHIM_TRACE=$t/trace under_shim "${cmd[@]}" > "$t/out.shim" 2>&1 || rc=$?
		[ "$rc" -eq "$prc" ] || { echo "$c: exit $rc, plain $prc"; cat "$t/out.shim"; return 1; }
		diff "$t/out.plain" "$t/out.shim" || return 1
		[ "$(grep -c FICLONE "$t/trace")" -eq "$n" ] || { echo "$c: $(grep FICLONE "$t/trace")"; return 1; }
		[ "$n" -eq 0 ] || [ "$(count_clones "$t/trace" "$result")" -eq "$n" ] ||
			{ echo "$c: $(grep FICLONE "$t/trace")"; return 1; }
		cmp "$s" "$dir/shim.$c" || return 1
		same_file "$dir/plain.$c" "$dir/shim.$c" || return 1
	done
}

# exdev_exact S DIR: exact_copies with the shim's one FICLONE answering
# EXDEV, and nothing shared.
exdev_exact() {
	exact_copies "$1" "$2" 1 "-1 EXDEV" || return 1
	local c
	for c in "${COPIERS[@]}"; do
		[ "$(shared_bytes "$2/shim.$c")" -eq 0 ] || { echo "$c: shared"; return 1; }
	done
}

# Two overlay mounts are two superblocks: the kernel refuses FICLONE
# between them (EXDEV) before overlayfs sees it, wherever their layers live.
@test "two overlay mounts on one XFS: FICLONE answers EXDEV once; each copier's own copy goes through, exactly as plain" {
	need_copiers
	local d; d=$(testdir "$T_XFS")
	mkdir -p "$d/a/lower"
	mksrc "$d/a/lower/S" $SZ
	ovl_mount "$d/a"
	ovl_mount "$d/b"
	exdev_exact "$d/a/merged/S" "$d/b/merged"
}

# A container's root filesystem and a volume bind-mounted from the disk
# that holds its layers: the overlay and the XFS under it.
@test "an overlay and the XFS its layers are on (root filesystem and volume): EXDEV both ways, exactly as plain" {
	need_copiers
	local d; d=$(testdir "$T_XFS")
	mkdir -p "$d/lower" "$d/vol"
	mksrc "$d/lower/S" $SZ
	mksrc "$d/vol/V" $SZ
	ovl_mount "$d"
	exdev_exact "$d/merged/S" "$d/vol"
	exdev_exact "$d/vol/V" "$d/merged"
}

@test "two overlay mounts: the pair is tried once per process; a copy within one of them still clones" {
	need_fs T_XFS
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	mkdir -p "$d/a/lower"
	mksrc "$d/a/lower/S" $SZ
	ovl_mount "$d/a"
	ovl_mount "$d/b"
	local A=$d/a/merged B=$d/b/merged
	SHIM_TRACE=$d/trace under_shim python3 -c '
import shutil, sys
a, b = sys.argv[1:]
shutil.copyfile(a + "/S", b + "/D1")
shutil.copyfile(a + "/S", b + "/D2")
shutil.copyfile(a + "/S", a + "/D3")' "$A" "$B"
	[ "$clones" -eq 1 ]
	[ "$(count_clones "$d/trace" "-1 EXDEV")" -eq 1 ]
	[ "$(grep -c FICLONE "$d/trace")" -eq 2 ]
	cmp "$A/S" "$B/D1"
	cmp "$A/S" "$B/D2"
	cmp "$A/S" "$A/D3"
	[ "$(shared_bytes "$d/a/upper/D3")" -eq $SZ ]
}

@test "two overlay mounts: copy_file_range goes through after the shim's EXDEV, and the kernel clones it" {
	need_fs T_XFS
	local d; d=$(testdir "$T_XFS")
	mkdir -p "$d/a/lower"
	mksrc "$d/a/lower/S" $SZ
	ovl_mount "$d/a"
	ovl_mount "$d/b"
	SHIM_TRACE=$d/trace under_shim "$SHIM_EXAMPLES/cp-cfr" "$d/a/merged/S" "$d/b/merged/D"
	[ "$clones" -eq 0 ]
	[ "$(count_clones "$d/trace" "-1 EXDEV")" -eq 1 ]
	cmp "$d/a/merged/S" "$d/b/merged/D"
	# overlayfs hands copy_file_range to XFS on the layers' files
	[ "$(shared_bytes "$d/b/upper/D")" -eq $SZ ]
}

@test "one overlay mounted twice (a bind mount of merged: one superblock): clones" {
	need_copiers
	local c d; d=$(testdir "$T_XFS")
	mkdir -p "$d/lower" "$d/bind"
	mksrc "$d/lower/S" $SZ
	ovl_mount "$d"
	mount --bind "$d/merged" "$d/bind"
	echo "$d/bind" >> "$BATS_TEST_TMPDIR/mounts"
	for c in "${COPIERS[@]}"; do
		copier "$c" "$d/merged/S" "$d/bind/D.$c"
		under_shim "${cmd[@]}"
		[ "$clones" -eq 1 ]
		cmp "$d/merged/S" "$d/merged/D.$c"
		[ "$(shared_bytes "$d/upper/D.$c")" -eq $SZ ]
	done
}

@test "overlay with its image layer on another filesystem: EXDEV for those files, exact fallback; the upper layer's files still clone" {
	need_fs T_XFS T_XFS2
	need_cmd python3
	local d l; d=$(testdir "$T_XFS"); l=$(testdir "$T_XFS2")
	mksrc "$l/S" $SZ
	ovl_lower=$l ovl_mount "$d"
	mksrc "$d/merged/U" $SZ
	(cd "$d/merged" && SHIM_TRACE=$d/trace under_shim python3 -c '
import shutil
shutil.copyfile("S", "D1")
shutil.copyfile("U", "D2")
shutil.copyfile("S", "D3")')
	[ "$(count_clones "$d/trace" "-1 EXDEV")" -eq 1 ]
	[ "$(count_clones "$d/trace")" -eq 1 ]
	cmp "$d/merged/S" "$d/merged/D1"
	cmp "$d/merged/U" "$d/merged/D2"
	cmp "$d/merged/S" "$d/merged/D3"
	[ "$(shared_bytes "$d/upper/D1")" -eq 0 ]
	[ "$(shared_bytes "$d/upper/D2")" -eq $SZ ]
}

# Rootless Podman's overlay: a FUSE filesystem, which cannot clone
# (FICLONE answers EOPNOTSUPP, measured): the shim never tries.
@test "fuse-overlayfs: no clone attempted, each copier exactly as plain; a program's own copy_file_range goes through" {
	need_copiers
	need_cmd fuse-overlayfs
	local d; d=$(testdir "$T_XFS")
	mkdir -p "$d/lower" "$d/upper" "$d/work" "$d/merged"
	mksrc "$d/lower/S" $SZ
	fuse-overlayfs -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/merged"
	echo "$d/merged" >> "$BATS_TEST_TMPDIR/mounts"
	[ "$(stat -f -c %t "$d/merged")" = 65735546 ]
	exact_copies "$d/merged/S" "$d/merged" 0
	"$SHIM_EXAMPLES/cp-cfr" "$d/merged/S" "$d/merged/cfr.plain"
	SHIM_TRACE=$d/trace under_shim "$SHIM_EXAMPLES/cp-cfr" "$d/merged/S" "$d/merged/cfr.shim"
	[ "$(grep -c FICLONE "$d/trace")" -eq 0 ]
	cmp "$d/merged/S" "$d/merged/cfr.shim"
	# fuse-overlayfs hands copy_file_range to XFS, which clones: as plain
	[ "$(shared_bytes "$d/upper/cfr.shim")" -eq "$(shared_bytes "$d/upper/cfr.plain")" ]
}
