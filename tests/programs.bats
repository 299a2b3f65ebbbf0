#!/usr/bin/env bats
# Real, unmodified programs: each copy becomes one clone ioctl, the bytes are
# identical and every extent of the destination is shared (FIEMAP), on XFS
# and on btrfs.

load helpers

SZ=$((20 * 1000 * 1000 + 3))

# real_copy NAME CMD...: run CMD (with S and D in the current directory)
# under the shim on each reflink filesystem and check the kernel's view.
real_copy() {
	local fs
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/S" $SZ
		pushd "$d" >/dev/null
		under_shim "$@" > "$d/out" 2>&1 || { cat "$d/out"; popd >/dev/null; return 1; }
		popd >/dev/null
		local c=$clones
		cmp "$d/S" "$d/D" || { echo "$fs $*: bytes differ"; return 1; }
		[ "$c" -eq 1 ] || { echo "$fs $*: $c clones"; return 1; }
		[ "$(shared_bytes "$d/D")" -eq $SZ ] || { echo "$fs $*: not all shared"; return 1; }
	done
}

@test "dd with of= and with shell redirection, bs=128K, 4k, 1M, 512" {
	need_cmd dd
	real_copy dd if=S of=D bs=128K status=none
	real_copy dd if=S of=D bs=4k status=none
	real_copy sh -c 'dd if=S bs=1M status=none > D'
	real_copy sh -c 'dd bs=512 status=none < S > D'
}

@test "python3: shutil.copyfile, copy2 and a 64 KiB read/write loop" {
	need_cmd python3
	real_copy python3 -c 'import shutil; shutil.copyfile("S", "D")'
	real_copy python3 -c 'import shutil; shutil.copy2("S", "D")'
	real_copy python3 -c '
with open("S", "rb") as s, open("D", "wb") as d:
    while True:
        b = s.read(65536)
        if not b:
            break
        d.write(b)'
}

@test "python3: whole-file read, source closed, then one write" {
	need_cmd python3
	real_copy python3 -c 'open("D", "wb").write(open("S", "rb").read())'
}

@test "node: copyFileSync (copy_file_range via syscall()) and writeFileSync(readFileSync)" {
	need_cmd node
	real_copy node -e 'require("fs").copyFileSync("S", "D")'
	real_copy node -e 'const fs = require("fs"); fs.writeFileSync("D", fs.readFileSync("S"))'
}

@test "perl File::Copy" {
	need_cmd perl
	real_copy perl -MFile::Copy -e 'copy("S", "D") or die "copy: $!"'
}

@test "busybox cp and busybox cat > D" {
	need_cmd busybox
	real_copy busybox cp S D
	real_copy sh -c 'busybox cat S > D'
}

@test "java Files.copy and InputStream.transferTo" {
	need_cmd java
	real_copy java "$SHIM_TOP/tests/programs/Copy.java" files S D
	real_copy java "$SHIM_TOP/tests/programs/Copy.java" stream S D
}

@test "node stream pipe (reads and writes on libuv threads)" {
	need_cmd node
	real_copy node -e 'const fs = require("fs"); fs.createReadStream("S").pipe(fs.createWriteStream("D"))'
}

@test "cpio -p (512-byte writes, D opened without O_TRUNC, metadata before close)" {
	need_cmd cpio
	real_copy sh -c 'mkdir out.d && echo S | cpio -p --quiet out.d && mv out.d/S D'
}

@test "a 1 GiB read/write copy adds under 1% of its size in new space" {
	need_fs T_XFS T_BTRFS
	local fs
	for fs in $T_XFS $T_BTRFS; do
		local d; d=$(testdir "$fs")
		head -c 1G /dev/urandom > "$d/S"
		sync
		local before after
		before=$(df -B1 --output=used "$fs" | tail -1)
		pushd "$d" >/dev/null
		under_shim dd if=S of=D bs=128K status=none
		popd >/dev/null
		sync
		after=$(df -B1 --output=used "$fs" | tail -1)
		cmp "$d/S" "$d/D"
		local grown=$((after - before))
		echo "$fs: 1 GiB copy used $grown new bytes" >&3
		[ "$clones" -eq 1 ]
		[ "$grown" -lt $(((1 << 30) / 100)) ]
		rm -f "$d/S" "$d/D"
	done
}
