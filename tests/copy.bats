#!/usr/bin/env bats
# What must clone: every way a program moves a whole file's bytes becomes
# exactly one clone ioctl, identical bytes, shared extents (issue: core).

load helpers

SZ=$((5 * 1024 * 1024 + 1234))   # unaligned tail on purpose

# clones_whole FS OP...: a complete copy by OP... clones once and shares all.
# umem=1 clones_whole ...: OP... has the shim read the program's memory with
# process_vm_readv (an iovec array, an offset pointer, a buffer another
# thread read into). qemu-user does not implement it (ENOSYS) and without it
# the shim declines such a copy, as designed: under qemu (make check-aarch64,
# SHIM_QEMU_USER=1) these may make no clone; the contract is checked as ever.
clones_whole() {
	local fs=$1; shift
	local d; d=$(testdir "$fs")
	mksrc "$d/src" $SZ
	differential "$d" "$d/src" open=w "$@" close
	[ "${umem:-0}" = 1 ] && [ "${SHIM_QEMU_USER:-0}" = 1 ] && [ "$clones" -eq 0 ] && return 0
	[ "$clones" -eq 1 ] || { echo "$fs $*: $clones clone ioctls, want 1"; return 1; }
	local shared; shared=$(shared_bytes "$d/shim")
	[ "$shared" -eq $SZ ] || { echo "$fs $*: $shared of $SZ bytes shared"; return 1; }
}

@test "read/write loops of every chunk size clone once" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		for chunk in 512 4k 8k 64k 128k 1m 2m 16m; do
			clones_whole "$fs" copy=$chunk
		done
	done
}

@test "one read of the whole file and one write clone once" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		clones_whole "$fs" whole
	done
}

@test "pread/pwrite, readv/writev, preadv/pwritev clone once" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		clones_whole "$fs" pcopy=64k
		umem=1 clones_whole "$fs" vcopy=128k
		umem=1 clones_whole "$fs" pvcopy=8k
	done
}

@test "reads and writes on different threads clone once" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		umem=1 clones_whole "$fs" threads=64k
	done
}

@test "sendfile with and without an offset, in chunks or whole, clones once" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		clones_whole "$fs" sendfile=16m         # busybox cp
		clones_whole "$fs" sendfile=1m          # chunks
		umem=1 clones_whole "$fs" sendfileoff=8m      # Python shutil: count >= size
		clones_whole "$fs" sendfile=0x7ffff000  # Java Files.copy
	done
}

@test "copy_file_range loops are coalesced into one clone" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		clones_whole "$fs" cfr=128k
		umem=1 clones_whole "$fs" cfroff=1m
		clones_whole "$fs" cfr=0x7fffffffc0000000   # cat
	done
}

@test "after a sendfile copy, later calls return 0 and offsets stay right" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		differential "$d" "$d/src" open=rw sendfile=16m sendfile=16m lseek=0:cur lseek=0:end fstat close
		[[ "$out" == *"sendfile=16m -> bytes=0 calls=1 spos=$SZ dpos=$SZ"* ]]
	done
}

@test "a source that is not read from offset 0 onwards is not a copy" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		differential "$d" "$d/src" open=w srcseek=4096 copy=64k close
		[ "$clones" -eq 0 ]
	done
}

@test "small sources are copied, not cloned (REFLINK_SHIM_MIN_SIZE)" {
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" 1000
		differential "$d" "$d/src" open=w copy=4k close
		[ "$clones" -eq 0 ]
		REFLINK_SHIM_MIN_SIZE=0 differential "$d" "$d/src" open=w copy=4k close
		[ "$clones" -eq 1 ]
	done
}

# One sendfile or copy_file_range that moves all of S clones from 16 KiB
# (nothing to verify); copies by read/write, or by transfers of part of S,
# from a threshold of D's filesystem: 128 KiB on XFS, 64 KiB on btrfs.
# REFLINK_SHIM_MIN_SIZE sets them all.
@test "the thresholds: 16 KiB for a transfer of the whole source, 128 KiB (XFS) or 64 KiB (btrfs) for other copies, REFLINK_SHIM_MIN_SIZE when set" {
	need_clone_fs
	local fs n rw
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		if [ "$fs" = "$T_XFS" ]; then rw=$((128 * 1024)); else rw=$((64 * 1024)); fi
		for n in 16383:0 16384:1 40000:1; do
			mksrc "$d/src" "${n%:*}"
			differential "$d" "$d/src" open=w sendfile=16m close
			[ "$clones" -eq "${n#*:}" ] || { echo "$fs: sendfile of ${n%:*} bytes: $clones clones"; return 1; }
			differential "$d" "$d/src" open=w cfr=16m cfr=16m close
			[ "$clones" -eq "${n#*:}" ] || { echo "$fs: copy_file_range of ${n%:*} bytes: $clones clones"; return 1; }
		done
		for n in $((rw - 1)):0 $rw:1; do
			mksrc "$d/src" "${n%:*}"
			differential "$d" "$d/src" open=w copy=64k close
			[ "$clones" -eq "${n#*:}" ] || { echo "$fs: read/write of ${n%:*} bytes: $clones clones"; return 1; }
			differential "$d" "$d/src" open=w sendfile=16k close
			[ "$clones" -eq "${n#*:}" ] || { echo "$fs: sendfile of ${n%:*} bytes in 16 KiB calls: $clones clones"; return 1; }
		done
		mksrc "$d/src" 40000
		REFLINK_SHIM_MIN_SIZE=64K differential "$d" "$d/src" open=w sendfile=16m close
		[ "$clones" -eq 0 ] || { echo "$fs: MIN_SIZE=64K, sendfile of 40000 bytes: $clones clones"; return 1; }
		REFLINK_SHIM_MIN_SIZE=1 differential "$d" "$d/src" open=w copy=64k close
		[ "$clones" -eq 1 ] || { echo "$fs: MIN_SIZE=1, read/write of 40000 bytes: $clones clones"; return 1; }
	done
}
