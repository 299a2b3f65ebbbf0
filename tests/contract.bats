#!/usr/bin/env bats
# The contract: with the shim, every file ends with exactly the bytes, size
# and holes it would have without it, and the program observes exactly the
# values it would have. Each scenario runs plain and under the shim on XFS
# and on btrfs; `differential` requires identical output and files.

load helpers

SZ=$((5 * 1024 * 1024 + 1234))


@test "a partial copy (head -c style) ends at exactly the size written" {
	want_clones=1 on_clone_fs open=w copy=64k:3 close
	on_clone_fs open=w copy=1000:1 close
	on_clone_fs open=w sendfile=1m:2 close
	on_clone_fs open=w cfr=128k:3 close
}

@test "fstat, lseek and reads of D in the middle of a copy see the written size" {
	want_clones=1 on_clone_fs open=rw copy=64k:3 fstat lseek=0:cur lseek=0:end lseek=-10:end lseek=0:cur \
		read=100 lseek=100:set read=4096 lseek=0:data lseek=4096:hole lseek=200000:data \
		pread=0:300000 pread=196600:100 lseek=196608:set copy=64k fstat close
}

@test "EOF right after the last written byte, then the copy goes on" {
	on_clone_fs open=rw copy=128k:1 read=10 lseek=0:cur copy=128k:1 read=10 fstat close
}

@test "stat of D's path and a second fd on D see what was written" {
	want_clones=1 on_clone_fs open=w copy=64k:2 stat statx open2 copy=64k:2 stat close2 open2 copy=1m close stat
}

@test "writes that deviate: a pwrite patch, transformed data, shifted bytes, a block twice" {
	on_clone_fs open=w copy=64k pwrite=1000:50:0x41 close
	on_clone_fs open=w copy=64k:2 pwrite=70000:10:0x42 copy=64k close
	on_clone_fs open=w copy=64k:2 copyx=64k:1 copy=64k close
	on_clone_fs open=w copy=64k:1 srcseek=0 copy=64k close
	on_clone_fs open=w copy=64k:2 dseek=65536 copy=64k close
	on_clone_fs open=w copy=64k:1 srcseek=4096 copy=64k close
}

# A whole-file transfer does not ask where D's offset is: moving it to S's
# size before the clone proves it was at 0. A D seeked elsewhere (or an S)
# must come out as the kernel's transfer leaves it, with nothing cloned.
@test "a whole-file transfer into a D seeked past 0, or from a seeked S: the kernel's holes, counts and offsets, no clone" {
	want_clones=0 on_clone_fs open=w dseek=4096 sendfile=16m sendfile=16m lseek=0:cur fstat close
	want_clones=0 on_clone_fs open=w dseek=4096 cfr=16m cfr=16m lseek=0:cur fstat close
	want_clones=0 on_clone_fs open=w dseek=4096 sendfileoff=16m sendfileoff=16m lseek=0:cur fstat close
	want_clones=0 on_clone_fs open=w srcseek=4096 sendfile=16m sendfile=16m lseek=0:cur fstat close
	want_clones=1 on_clone_fs open=w dseek=4096 dseek=0 sendfile=16m sendfile=16m lseek=0:cur fstat close
}

# After the clone, a chunked transfer moves S's offset, then D's; D's moved
# where no wrapper saw it (an inline lseek, as another process sharing the
# description could) must leave S's offset where the kernel's own call
# then starts from.
@test "a chunked transfer after the clone, D's offset moved unseen: both offsets as plain, the kernel's copy" {
	want_clones=1 on_clone_fs open=w sendfile=1m:2 rawdseek=4096 sendfile=1m:2 lseek=0:cur fstat close
	want_clones=1 on_clone_fs open=w cfr=1m:2 rawdseek=4096 cfr=1m:2 lseek=0:cur fstat close
}

# The open flags our open wrapper saw are trusted instead of F_GETFL only
# while nothing can have changed them: an F_SETFL here, or a child sharing
# the description (fork), must make the shim ask the kernel again. An
# O_DIRECT D refuses unaligned writes; sendfile from an O_DIRECT S answers
# in whole blocks first.
@test "open flags changed after the open (F_SETFL here, or by a child of fork or clone sharing the description) are the kernel's" {
	want_clones=0 on_clone_fs open=w setfl=direct copy=100000:2 fstat close
	want_clones=0 on_clone_fs open=w fork=direct copy=100000:2 fstat close
	want_clones=0 on_clone_fs open=w clone=direct copy=100000:2 fstat close
	want_clones=0 on_clone_fs open=w setfl=append copy=64k:2 lseek=0:cur fstat close
	on_clone_fs open=w srcsetfl=direct sendfile=16m sendfile=16m lseek=0:cur fstat close
	on_clone_fs open=w fork=srcdirect sendfile=16m sendfile=16m lseek=0:cur fstat close
}

# A vfork child shares our memory: the flags of what it opens are stored in
# our table, under the number the parent's next fd gets. The generation
# moves when the child ends, so a D the parent opens where no wrapper sees
# it (mkostemp with O_DIRECT, glibc's internal open) is asked about.
@test "flags stored by a vfork child's open are not trusted for the parent's fd of that number" {
	want_clones=0 on_clone_fs vfork=open open=tmpdirect copy=100000:2 fstat close
}

@test "ranges skipped with lseek read back as zeros, and stay holes" {
	on_clone_fs open=w copy=64k:2 gap=1m copy=64k close
	on_clone_fs open=w copy=64k:2 gap=1m copy=64k:1 close
	on_clone_fs open=w copy=1m gap=4096 close
}

@test "a trailer after the copy" {
	on_clone_fs open=w copy=128k write=100:0x7a close
	on_clone_fs open=w sendfile=16m write=4096:0 close
}

@test "an existing longer D opened without O_TRUNC keeps its old tail" {
	init=mk_longer on_clone_fs open=keep copy=512 close
	init=mk_longer on_clone_fs open=keeprw copy=64k fstat close
}

mk_longer() {
	head -c $((SZ + 1048576)) /dev/zero | tr '\0' 'w' > "$1/plain.init"
}

@test "D pre-sized with ftruncate or fallocate before the writes" {
	on_clone_fs open=w ftruncate=$SZ copy=64k fstat close
	on_clone_fs open=w fallocate=$SZ copy=64k fstat close
	on_clone_fs open=w ftruncate=100 copy=64k close
}

@test "dup, dup2 and fcntl(F_DUPFD) of D in the middle of a copy" {
	on_clone_fs open=w copy=64k:2 dup copy=64k:2 close copy=64k fstat close
	on_clone_fs open=w copy=64k:2 dup2=9 copy=64k fstat close
	on_clone_fs open=w copy=64k:2 fdup copy=64k:3 close
}

@test "fork in the middle of a copy: the child closes D, execs, exits or writes" {
	on_clone_fs open=w copy=64k:2 fork=close copy=64k close
	on_clone_fs open=w copy=64k:2 fork=exec copy=64k close
	on_clone_fs open=w copy=64k:2 fork=exit copy=64k close
	on_clone_fs open=w copy=64k:2 fork=copy fstat close
}

@test "exec, _exit, exit and return from main with a copy half done" {
	on_clone_fs open=w copy=64k:3 exec
	on_clone_fs open=w copy=64k:3 _exit
	on_clone_fs open=w copy=64k:3 exit
	on_clone_fs open=w copy=64k:3 return
	on_clone_fs open=w copy=64k return
}

@test "mmap of D during and after the copy" {
	on_clone_fs open=rw copy=64k mmap close
	on_clone_fs open=rw copy=64k:3 mmap copy=64k close
}

@test "metadata set before close (cpio, tar) is never undone" {
	local fs
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		differential "$d" "$d/src" open=w copy=512 fchown fchmod=4755 futimens=1000000000 close
		[ "$clones" -eq 1 ]
		[ "$(stat -c '%a %Y' "$d/shim")" = "4755 1000000000" ]
		[ "$(stat -c '%a %Y' "$d/plain")" = "4755 1000000000" ]
		differential "$d" "$d/src" open=w copy=64k:3 futimens=1000000000 close
		[ "$(stat -c '%Y %s' "$d/shim")" = "1000000000 196608" ]
	done
}

@test "mtime after a clone is the time of the last write, not of the clone" {
	local fs
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		local before; before=$(date +%s)
		sleep 1.1
		under_shim "$scenario" "$d/src" "$d/shim" open=w copy=64k:1 srcmod=0:0:0 copy=64k close >/dev/null
		[ "$clones" -eq 1 ]
		[ "$(stat -c %Y "$d/shim")" -gt "$before" ]
	done
}

@test "the source rewritten between chunks: D gets what the program read" {
	on_clone_fs open=w copy=64k:2 srcmod=1000000:5000:0x33 copy=64k close
	on_clone_fs open=w copy=64k:2 srcmod=1000:10:0x33 copy=64k close
	on_clone_fs open=w sendfile=1m:1 srcmod=3000000:100:0x34 sendfile=1m close
	on_clone_fs open=w whole srcmod=0:1:0 close
	# srcmod forks, and a fork settles the copy first: srcpoke rewrites S
	# from the program itself, past the bytes compared so far, which only
	# the ctime check can see
	on_clone_fs open=w copy=64k:2 srcpoke=3000000:5000:0x33 copy=64k close
	on_clone_fs open=w sendfile=1m:1 srcpoke=3000000:100:0x34 sendfile=1m close
}

@test "a concurrent writer to the source never makes D differ from what was written" {
	local fs i
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		for i in 1 2 3; do
			local d; d=$(testdir "$fs")
			mksrc "$d/src" $((32 * 1024 * 1024))
			under_shim "$scenario" "$d/src" "$d/shim" shadow="$d/shadow" writer=3000 open=w copy=4k close \
				> "$d/out" 2>&1 || { cat "$d/out"; return 1; }
			cmp "$d/shim" "$d/shadow"
			under_shim "$scenario" "$d/src" "$d/shim2" shadow="$d/shadow2" writer=3000 open=w copy=1m close \
				> "$d/out" 2>&1 || { cat "$d/out"; return 1; }
			cmp "$d/shim2" "$d/shadow2"
		done
	done
}

@test "a busy interval timer (no SA_RESTART) during copies changes nothing" {
	export SHIM_NO_STRACE=1
	on_clone_fs timer=1000 open=w copy=4k close
	on_clone_fs timer=1000 open=rw copy=64k:3 fstat read=10 copy=512 close
	# Not sendfile: between regular files it goes through splice, which
	# returns short counts when a signal is pending, so even two plain runs
	# differ in their call counts.
}

@test "errno and return values: writes after close, to a closed dup" {
	on_clone_fs open=w copy=64k:1 close write=10:0 lseek=0:cur
	on_clone_fs open=w copy=64k:1 dup close copy=64k:1 close write=10:0
}

@test "a sparse source copied densely gives a dense file, holes as plain" {
	local fs
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" 1m
		truncate -s 3m "$d/src"
		head -c 1m /dev/urandom >> "$d/src"
		differential "$d" "$d/src" open=w copy=64k close
		[ "$("$fileinfo" map "$d/plain")" = "$("$fileinfo" map "$d/shim")" ]
		differential "$d" "$d/src" open=w sendfile=16m close
		[ "$("$fileinfo" map "$d/plain")" = "$("$fileinfo" map "$d/shim")" ]
	done
}
