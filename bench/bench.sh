#!/usr/bin/env bash
# make bench: prints tables of what reflink-shim costs and saves, measured on
# loop XFS (reflink=1) and btrfs filesystems of its own. Plain and shimmed
# runs alternate; each cell is the median of BENCH_REPS runs. Not a test:
# nothing here passes or fails on timing.
#
# Tables (BENCH_TABLES, default "startup syscalls copy overhead tree scale"):
#   startup   what preloading costs a process that calls no wrapper
#             (/bin/true): callgrind instructions added, and
#             BENCH_SPAWNS=1000 posix_spawn()s timed (tests/progs/spawn.c),
#             plain, under the shim and under libeatmydata; each cell the
#             median of BENCH_STARTUP_REPS=11 interleaved runs
#   syscalls  system calls per file (strace -f -c) that the shim adds to
#             busybox cp -r, shutil.copytree, treecopy -j1 and cpio -p
#             copying BENCH_SYSCALL_FILES=2000 files of 128 KiB (cloned)
#             and of 1 KiB (below the threshold), by call name, and the
#             files FIEMAP shows shared afterwards
#   copy      1 GiB copied by dd bs=128K, dd bs=4k, cpio -p, a Python
#             read/write loop, busybox cp, shutil.copyfile; beside them the
#             read limit (dd of=/dev/null) and the clone limit
#             (cp --reflink=always); cache warm and cold; issue 12's targets
#   overhead  programs that copy nothing: small read/write calls, gzip, tar,
#             a gcc build, git status; callgrind instructions per call
#   tree      a tree of BENCH_TREE_FILES files / BENCH_TREE_BYTES bytes,
#             warm cache, the final sync timed: cp -r --reflink=always;
#             busybox cp -r, examples/treecopy -j4 and shutil.copytree plain
#             and under the shim; treecopy -j1/2 under the shim; issue 12's
#             targets; rsync -a and tar c | tar x, plain and under the shim
#             (copies across processes, issue 13)
#   scale     one size at a time, 1 byte to BENCH_SCALE_MAX: time per file
#             with the sync, and new space, plain, shimmed, and shimmed with
#             no size threshold (treecopy -j1, read/write; busybox cp -r,
#             one sendfile a file); then, for each, the size from which
#             cloning everything is not slower than plain
#
# Knobs: BENCH_FS="xfs btrfs" BENCH_REPS=3 BENCH_SIZE=1G BENCH_TREE_FILES=100000
#        BENCH_TREE_BYTES=1700M BENCH_SCALE_MAX=4G BENCH_SYSCALL_FILES=2000
#        BENCH_SCALE_FILES=2000 (most files per size) BENCH_DIR=/var/tmp
#        BENCH_QUICK=1 (tiny sizes, one rep: checks the script, measures nothing)
#
# Targets are printed beside the ratio they apply to; nothing compares them.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
lib=$top/build/libreflink-shim.so
fileinfo=$top/build/tests/fileinfo
treecopy=$top/build/examples/treecopy

if [ -n "${BENCH_QUICK:-}" ]; then
	: "${BENCH_REPS:=1}" "${BENCH_SIZE:=8M}" "${BENCH_TREE_FILES:=300}" \
	  "${BENCH_TREE_BYTES:=6M}" "${BENCH_SCALE_MAX:=4M}" "${BENCH_SMALL_CALLS:=20000}" \
	  "${BENCH_GIT_FILES:=300}" "${BENCH_SPAWNS:=100}" "${BENCH_STARTUP_REPS:=1}" \
	  "${BENCH_IR_GZIP:=65536}" "${BENCH_SYSCALL_FILES:=100}" "${BENCH_SCALE_FILES:=50}"
fi
FSES=${BENCH_FS:-xfs btrfs}
REPS=${BENCH_REPS:-3}
SIZE=${BENCH_SIZE:-1G}
TREE_FILES=${BENCH_TREE_FILES:-100000}
TREE_BYTES=${BENCH_TREE_BYTES:-1700M}
SCALE_MAX=${BENCH_SCALE_MAX:-4G}
SMALL_CALLS=${BENCH_SMALL_CALLS:-1000000}
GIT_FILES=${BENCH_GIT_FILES:-30000}
SYSCALL_FILES=${BENCH_SYSCALL_FILES:-2000}
SCALE_FILES=${BENCH_SCALE_FILES:-2000}
TABLES=${BENCH_TABLES:-startup syscalls copy overhead tree scale}
# Debian's own python3 when there is one: version managers' shims (pyenv)
# put a shell script in front of every start.
PY=${BENCH_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it mounts loop filesystems)"
for f in "$lib" "$fileinfo" "$treecopy"; do [ -x "$f" ] || [ -f "$f" ] || die "$f missing: run make"; done
need() {
	local missing=()
	for p in "$@"; do command -v "${p%%:*}" >/dev/null || missing+=("${p#*:}"); done
	[ ${#missing[@]} = 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
need mkfs.xfs:xfsprogs mkfs.btrfs:btrfs-progs busybox:busybox cpio:cpio strace:strace rsync:rsync \
	valgrind:valgrind git:git gcc:gcc python3:python3 bc:bc eatmydata:eatmydata filefrag:e2fsprogs

bytes() { numfmt --from=iec "$1"; }
SIZE_B=$(bytes "$SIZE")

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/reflink-shim-bench.XXXXXX")
cleanup() {
	cd /
	for m in "$work"/mnt-*; do umount "$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# ---- measuring ----

now() { date +%s%N; }
# secs CMD...: runs CMD, prints its wall time in seconds
secs() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	echo "scale=4; ($t1 - $t0) / 1000000000" | bc
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { [ "$(echo "$2 > 0" | bc)" = 1 ] && printf '%.2fx' "$(echo "scale=4; $1 / $2" | bc)" || echo "-"; }
fmt_s() { printf '%.3f' "$1"; }
iec() { numfmt --to=iec --suffix=B "$1"; }
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
warm() { sync; }
shim() { env LD_PRELOAD="$lib" "$@"; }
# clones CMD...: FICLONE calls CMD makes (strace, outside the timed runs)
clones() { strace -f -qq --seccomp-bpf -e trace=ioctl -o "$work/strace" "$@" >/dev/null 2>&1 || true; grep -c FICLONE "$work/strace" || true; }
newspace() { sync; find "$@" -type f -print0 | xargs -0r "$fileinfo" newspace | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# shared_files DIR: files under DIR with an extent FIEMAP flags shared (the
# kernel's view: a copier that did not clone shows here, whatever it called)
shared_files() {
	sync -f "$1"
	find "$1" -type f -print0 | xargs -0r filefrag -v 2>/dev/null |
		awk '/^File size of / { f++ } /^ *[0-9]+:.*shared/ && !seen[f]++ { n++ } END { print n + 0 }'
}

mkfs_mount() {  # FS -> prints mount point
	local fs=$1 img=$work/$1.img mnt=$work/mnt-$1
	local need=$(( SIZE_B * 4 + $(bytes "$TREE_BYTES") * 3 + $(bytes "$SCALE_MAX") * 3 +
		SYSCALL_FILES * (100 << 10) * 3 + (2 << 30) ))
	truncate -s "$need" "$img"
	case $fs in
	xfs) mkfs.xfs -q -m reflink=1 "$img" >/dev/null ;;
	btrfs) mkfs.btrfs -q "$img" >/dev/null ;;
	*) die "unknown filesystem $fs" ;;
	esac
	mkdir -p "$mnt"
	mount -o loop "$img" "$mnt"
	echo "$mnt"
}

# ---- table 1: one big file ----

# One script per copier (SRC DST), so they run under env, strace and the shim alike.
mkdir -p "$work/bin"
mkcopier() { printf '#!/bin/sh\nPY=%s\n%s\n' "$PY" "$2" > "$work/bin/$1"; chmod +x "$work/bin/$1"; }
mkcopier dd128 'exec dd if="$1" of="$2" bs=128K status=none'
mkcopier dd4k 'exec dd if="$1" of="$2" bs=4k status=none'
mkcopier cpio 'cd "$(dirname "$1")" && basename "$1" | exec cpio -p --quiet "$(dirname "$2")"'
mkcopier pyloop 'exec $PY -c "
import sys
s = open(sys.argv[1], \"rb\", buffering=0)
d = open(sys.argv[2], \"wb\", buffering=0)
while True:
    b = s.read(131072)
    if not b:
        break
    d.write(b)" "$1" "$2"'
mkcopier busybox 'exec busybox cp "$1" "$2"'
mkcopier copyfile 'exec $PY -c "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])" "$1" "$2"'
mkcopier copytree 'exec $PY -c "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])" "$1" "$2"'
copier() { local m=$1; shift; "$work/bin/$m" "$@"; }
label_of() {
	case $1 in
	dd128) echo "dd bs=128K" ;; dd4k) echo "dd bs=4k" ;; cpio) echo "cpio -p (512 B)" ;;
	pyloop) echo "Python read/write 128K" ;; busybox) echo "busybox cp (sendfile)" ;;
	copyfile) echo "shutil.copyfile (sendfile)" ;;
	esac
}
# the read each read/write copier cannot avoid: same chunk size
read_bs() { case $1 in dd4k) echo 4k ;; cpio) echo 512 ;; *) echo 128K ;; esac; }

# copy_run VAR CMD...: times CMD, then the sync that puts its data on disk;
# appends "copy:sync" seconds to the array VAR
copy_run() {
	local -n acc=$1
	shift
	local c y
	c=$(secs "$@")
	y=$(secs sync -f "$D")
	acc+=("$c:$y")
}
med_copy() { local v=(); for x in "$@"; do v+=("${x%:*}"); done; median "${v[@]}"; }
med_total() { local v=(); for x in "$@"; do v+=("$(echo "${x%:*} + ${x#*:}" | bc)"); done; median "${v[@]}"; }

table_copy() {
	local mnt=$1 fs=$2
	mkdir -p "$mnt/c/src" "$mnt/c/out"
	local S=$mnt/c/src/S
	D=$mnt/c/out/S
	head -c "$SIZE_B" /dev/urandom > "$S"
	sync
	for cache in warm cold; do
		echo
		echo "## $fs: copy of one $SIZE file, cache $cache (median of $REPS); '+sync': until the data is on disk;"
		echo "## shim/read: shim time / the read limit at the copier's chunk size; targets from issue 12"
		printf '%-27s %7s %7s %7s %10s %10s %7s %7s %7s %9s %9s %3s\n' copier plain shim shim/ \
			plain+sync shim+sync shim/ shim/ shim/ "new" "new" FI-
		printf '%-27s %7s %7s %7s %10s %10s %7s %7s %7s %9s %9s %3s  %s\n' "" "" "" plain \
			"" "" plain read clone plain shim CLONE target
		local rd=() cl=()
		declare -A readt
		# issue 12: a 128K read/write copy costs at most 1.5 reads; small
		# writes at most half the plain copy, its writeback included
		local -A target=([dd128]="≤ 1.5x shim/read" [pyloop]="≤ 1.5x shim/read" \
			[dd4k]="≤ 0.5x shim+sync/plain+sync" [cpio]="≤ 0.5x shim+sync/plain+sync")
		for bs in 128K 4k 512; do
			rd=()
			for ((i = 0; i < REPS; i++)); do
				$cache
				rd+=("$(secs dd if="$S" of=/dev/null bs=$bs status=none)")
			done
			readt[$bs]=$(median "${rd[@]}")
			printf '%-27s %7s\n' "read limit (dd bs=$bs)" "$(fmt_s "${readt[$bs]}")"
		done
		for ((i = 0; i < REPS; i++)); do
			rm -f "$D"; $cache
			copy_run cl cp --reflink=always "$S" "$D"
		done
		local clone_t
		clone_t=$(med_copy "${cl[@]}")
		printf '%-27s %7s %7s %7s %10s %10s %7s %7s %7s %9s %9s %3s\n' "clone limit (cp --reflink)" "" \
			"$(fmt_s "$clone_t")" "" "" "$(fmt_s "$(med_total "${cl[@]}")")" "" "" "" "" \
			"$(iec "$(newspace "$D")")" 1
		for m in dd128 dd4k cpio pyloop busybox copyfile; do
			local p=() s=() np ns
			for ((i = 0; i < REPS; i++)); do
				rm -f "$D"; $cache
				copy_run p "$work/bin/$m" "$S" "$D"
				[ $i = 0 ] && np=$(newspace "$D")
				rm -f "$D"; $cache
				copy_run s shim "$work/bin/$m" "$S" "$D"
				[ $i = 0 ] && { ns=$(newspace "$D"); cmp -s "$S" "$D" || die "$m: shimmed copy differs"; }
			done
			rm -f "$D"
			local n
			n=$(clones env LD_PRELOAD="$lib" "$work/bin/$m" "$S" "$D")
			local pm sm pt st
			pm=$(med_copy "${p[@]}"); sm=$(med_copy "${s[@]}")
			pt=$(med_total "${p[@]}"); st=$(med_total "${s[@]}")
			printf '%-27s %7s %7s %7s %10s %10s %7s %7s %7s %9s %9s %3s%s\n' "$(label_of $m)" \
				"$(fmt_s "$pm")" "$(fmt_s "$sm")" "$(ratio "$sm" "$pm")" \
				"$(fmt_s "$pt")" "$(fmt_s "$st")" "$(ratio "$st" "$pt")" \
				"$(ratio "$sm" "${readt[$(read_bs $m)]}")" "$(ratio "$sm" "$clone_t")" \
				"$(iec "$np")" "$(iec "$ns")" "$n" "${target[$m]:+  target ${target[$m]}}"
		done
		unset readt
	done
	rm -rf "$mnt/c"
}

# ---- table 2: programs that copy nothing ----

# instructions per intercepted call: (shim - plain) over 2*N calls, with the
# startup cost (N = 0) subtracted on both sides
callgrind_per_call() {
	local n=$1 ir=()
	for pre in "" "$lib"; do
		for count in 0 "$n"; do
			ir+=("$(LD_PRELOAD=$pre valgrind --tool=callgrind --callgrind-out-file=/dev/null \
				dd if=/dev/zero of=/dev/null bs=64 count="$count" status=none 2>&1 |
				sed -n 's/.*Collected : //p')")
		done
	done
	echo "scale=1; (${ir[3]} - ${ir[2]} - (${ir[1]} - ${ir[0]})) / (2 * $n)" | bc
}

table_overhead() {
	local mnt=$1 fs=$2 w=$1/o
	mkdir -p "$w"
	# 64 MiB that compresses (base64 of random bytes)
	head -c $(( 48 << 20 )) /dev/urandom | base64 -w 76 > "$w/data"
	# a tree whose file data tar writes at shifted offsets
	mkdir -p "$w/tree"
	for ((i = 0; i < 256; i++)); do head -c $(( 256 << 10 )) /dev/urandom > "$w/tree/f$i"; done
	# a small C project
	cp -r "$top/examples/project" "$w/project"
	# a git work tree
	mkdir -p "$w/repo"
	(cd "$w/repo" && git init -q && python3 -c "
import os
for i in range($GIT_FILES):
    d = 'd%03d' % (i % 300)
    os.makedirs(d, exist_ok=True)
    open('%s/f%d.txt' % (d, i), 'w').write('line %d\n' % i * 20)
" && git add -A && git -c user.name=b -c user.email=b@b commit -qm init)
	sync
	echo
	echo "## $fs: programs that copy nothing (median of $(( REPS > 5 ? REPS : 5 )), warm cache)"
	printf '%-40s %9s %9s %9s\n' program plain shim shim/plain
	local calls=$SMALL_CALLS
	# short runs are noisy: at least 5 reps here
	local reps=$(( REPS > 5 ? REPS : 5 ))
	[ -n "${BENCH_QUICK:-}" ] && reps=1
	row() {
		local label=$1; shift
		local p=() s=()
		# sync first: the previous run's writeback must not land in this one
		for ((i = 0; i < reps; i++)); do
			sync
			p+=("$(secs "$@")")
			sync
			s+=("$(secs shim "$@")")
		done
		local pm sm
		pm=$(median "${p[@]}"); sm=$(median "${s[@]}")
		printf '%-40s %9s %9s %9s\n' "$label" "$(fmt_s "$pm")" "$(fmt_s "$sm")" "$(ratio "$sm" "$pm")"
		LAST_DIFF=$(echo "$sm - $pm" | bc)
	}
	row "$calls x read+write 64 B (dd)" dd if=/dev/zero of=/dev/null bs=64 count="$calls" status=none
	local ns
	ns=$(echo "scale=1; $LAST_DIFF * 1000000000 / (2 * $calls)" | bc)
	row "gzip -c of 64 MiB" gzip -k -f "$w/data"
	row "tar cf of 256 x 256 KiB" tar cf "$w/t.tar" -C "$w/tree" .
	row "gcc build (examples/project, make -B)" make -s -B -C "$w/project"
	row "git status, $GIT_FILES files" git -C "$w/repo" status --porcelain
	echo "time per intercepted read/write on /dev/null: $ns ns (shim - plain, from the dd row)"
	echo "instructions per intercepted read/write (callgrind): $(callgrind_per_call 100000)"
	# Instructions (callgrind: user space, deterministic) of whole programs;
	# the target is at most 1.03x. gzip on 6 MiB only: callgrind is slow.
	head -c "${BENCH_IR_GZIP:-$(( 6 << 20 ))}" "$w/data" > "$w/data8"
	git -C "$w/repo" status --porcelain > /dev/null   # settle the index first
	echo
	echo "## $fs: instructions of programs that copy nothing (callgrind; target <= 1.03x)"
	printf '%-40s %13s %13s %9s\n' program plain shim shim/plain
	irow() {
		local label=$1; shift
		local p s
		p=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
			sed -n 's/.*Collected : //p')
		s=$(LD_PRELOAD=$lib valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
			sed -n 's/.*Collected : //p')
		printf '%-40s %13s %13s %8.3fx\n' "$label" "$p" "$s" "$(echo "scale=5; $s / $p" | bc)"
	}
	irow "gzip -c of $(iec "$(stat -c %s "$w/data8")")" gzip -c "$w/data8"
	irow "tar cf of 256 x 256 KiB" tar cf "$w/t.tar" -C "$w/tree" .
	irow "git status, $GIT_FILES files" git -C "$w/repo" status --porcelain
	rm -rf "$w"
}

# ---- table 3: trees ----

mktree() {  # DIR FILES BYTES: BYTES in all, sizes log-uniform from 256 B to 128 KiB
	mkfiles "$1" "$2" "$3" 0 spread
}

# mkfiles DIR FILES BYTES PER_DIR: FILES files of BYTES bytes, PER_DIR to a
# directory; with a fifth argument (mktree), BYTES in all, spread
# log-uniformly, in two levels of directories of sqrt(FILES) files.
mkfiles() {
	python3 - "$@" <<'EOF'
import os, random, sys
top, n, size, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
spread = len(sys.argv) > 5
rnd = random.Random(42)
if spread:
    raw = [2 ** rnd.uniform(8, 17) for _ in range(n)]   # log-uniform 256 B .. 128 KiB
    k = size / sum(raw)
    per = max(1, int(n ** 0.5))
pool = os.urandom(1 << 22)
for i in range(n):
    if spread:
        d = os.path.join(top, "d%04d" % (i // per // 10), "e%04d" % (i // per))
    else:
        d = os.path.join(top, "d%04d" % (i // per))
    if i % per == 0:
        os.makedirs(d, exist_ok=True)
    left = max(1, int(raw[i] * k)) if spread else size
    with open(os.path.join(d, "f%d" % i), "wb") as f:
        while left > 0:
            off = rnd.randrange(0, len(pool) - 4096)
            chunk = pool[off:off + min(left, len(pool) - off)]
            f.write(chunk)
            left -= len(chunk)
EOF
}

table_tree() {
	local mnt=$1 fs=$2 w=$1/tree
	mkdir -p "$w"
	local tb
	tb=$(bytes "$TREE_BYTES")
	mktree "$w/src" "$TREE_FILES" "$tb"
	local big
	big=$(find "$w/src" -type f -size +63k | wc -l)
	sync
	echo
	echo "## $fs: tree of $TREE_FILES files, $(iec "$tb") ($big files of 64 KiB or more), warm cache, the final"
	echo "## sync timed (writeback counted), median of $REPS; /reflink: time / cp -r --reflink=always's;"
	echo "## /plain: time / the same copier's without the shim; copytree's target is read as /reflink"
	printf '%-32s %8s %8s %7s %10s %7s%s\n' copier time /reflink /plain "new space" FICLONE "  target"
	# per key: its label, the key of its plain run, its target (issue 12); FICLONE
	# is counted for cp --reflink and the shimmed keys (those ending in s)
	local -a keys=(reflink bb bbs tc4 tc1s tc2s tc4s py pys rs rss tt tts)
	local -A label=([reflink]="cp -r --reflink=always" [bb]="busybox cp -r (plain)" \
		[bbs]="busybox cp -r under the shim" [tc4]="treecopy -j4 (plain)" \
		[tc1s]="treecopy -j1 under the shim" [tc2s]="treecopy -j2 under the shim" \
		[tc4s]="treecopy -j4 under the shim" [py]="shutil.copytree (plain)" \
		[pys]="shutil.copytree under the shim" [rs]="rsync -a (plain)" \
		[rss]="rsync -a under the shim" [tt]="tar c | tar x (plain)" \
		[tts]="tar c | tar x under the shim")
	local -A plain=([bbs]=bb [tc4s]=tc4 [pys]=py [rss]=rs [tts]=tt)
	local tc4_target=1.0x
	[ "$fs" = xfs ] && tc4_target=0.7x
	local -A target=([bbs]="≤ 1.3x /reflink" [tc4s]="≤ $tc4_target /plain" [pys]="≤ 1.5x /reflink")
	tree_cmd() {  # KEY: the copy as a command line, so strace can run it too
		case $1 in
		reflink) echo cp -r --reflink=always ;;
		bb) echo "$work/bin/bbtree" ;;
		bbs) echo env LD_PRELOAD="$lib" "$work/bin/bbtree" ;;
		tc4) echo "$treecopy" -j4 ;;
		tc1s) echo env LD_PRELOAD="$lib" "$treecopy" -j1 ;;
		tc2s) echo env LD_PRELOAD="$lib" "$treecopy" -j2 ;;
		tc4s) echo env LD_PRELOAD="$lib" "$treecopy" -j4 ;;
		py) echo "$work/bin/copytree" ;;
		pys) echo env LD_PRELOAD="$lib" "$work/bin/copytree" ;;
		rs) echo "$work/bin/rsynctree" ;;
		rss) echo env LD_PRELOAD="$lib" "$work/bin/rsynctree" ;;
		tt) echo "$work/bin/tartree" ;;
		tts) echo env LD_PRELOAD="$lib" "$work/bin/tartree" ;;
		esac
	}
	# shellcheck disable=SC2046
	run_tree() { $(tree_cmd "$1") "$w/src" "$w/dst" && sync -f "$w"; }
	local -A t=() sp=()
	local i k
	for ((i = 0; i < REPS; i++)); do
		for k in "${keys[@]}"; do
			rm -rf "$w/dst"; sync -f "$w"
			t[$k]+=" $(secs run_tree "$k")"
			if [ "$i" = 0 ]; then
				sp[$k]=$(newspace "$w/dst")
				diff -r "$w/src" "$w/dst" >/dev/null || die "tree copy $k differs"
			fi
		done
	done
	local -A med=()
	# shellcheck disable=SC2086
	for k in "${keys[@]}"; do med[$k]=$(median ${t[$k]}); done
	for k in "${keys[@]}"; do
		local n="" pr=""
		case $k in
		reflink | *s)
			rm -rf "$w/dst"; sync -f "$w"
			# shellcheck disable=SC2046
			n=$(clones $(tree_cmd "$k") "$w/src" "$w/dst") ;;
		esac
		[ -n "${plain[$k]:-}" ] && pr=$(ratio "${med[$k]}" "${med[${plain[$k]}]}")
		printf '%-32s %8s %8s %7s %10s %7s%s\n' "${label[$k]}" "$(fmt_s "${med[$k]}")" \
			"$(ratio "${med[$k]}" "${med[reflink]}")" "$pr" "$(iec "${sp[$k]}")" "$n" \
			"${target[$k]:+  target ${target[$k]}}"
	done
	rm -rf "$w"
}

# ---- table 4: scale ----

# scalecopy MODE SRC DST: treecopy -j1 plain, shimmed, or shimmed with no
# size threshold, then the sync that puts the data on disk (writeback counted:
# a plain copy's cost is mostly there)
mkcopier scalecopy '
case $1 in
plain) "$TREECOPY" -j1 "$2" "$3" ;;
shim) LD_PRELOAD="$LIB" "$TREECOPY" -j1 "$2" "$3" ;;
min0) REFLINK_SHIM_MIN_SIZE=0 LD_PRELOAD="$LIB" "$TREECOPY" -j1 "$2" "$3" ;;
bbplain) busybox cp -r "$2" "$3" ;;
bbmin0) REFLINK_SHIM_MIN_SIZE=0 LD_PRELOAD="$LIB" busybox cp -r "$2" "$3" ;;
esac || exit
exec sync -f "$3"'

# default_min FS: the library's default threshold for copies by read/write
# on FS (shim/config.c)
default_min() {
	case $1 in
	xfs) echo 128K ;;
	*) echo 64K ;;
	esac
}

table_scale() {
	local mnt=$1 fs=$2 w=$1/scale
	local max
	max=$(bytes "$SCALE_MAX")
	echo
	echo "## $fs: time per file by file size, the sync timed (treecopy -j1, warm cache, median of $REPS;"
	echo "## up to $SCALE_FILES files a size, 256 MiB at most); 'min 0': the shim with REFLINK_SHIM_MIN_SIZE=0;"
	echo "## 'bb': busybox cp -r, one sendfile that moves each whole file (its own default threshold)"
	printf '%-6s %5s %11s %11s %11s %10s %10s %9s %9s %9s %11s %11s %10s\n' size files plain shim "min 0" \
		shim/plain "min0/plain" "new plain" "new shim" "new min0" "bb plain" "bb min 0" "bb min0/pl"
	local from="" last="" bbfrom=""
	for sz in ${BENCH_SCALE_SIZES:-1 512 4K 8K 16K 32K 48K 64K 96K 128K 256K 512K 1M 2M 16M 256M 1G 4G}; do
		local b
		b=$(bytes $sz)
		[ "$b" -le "$max" ] || break
		local files=$(( (256 << 20) / b ))
		[ $files -gt "$SCALE_FILES" ] && files=$SCALE_FILES
		[ $files -lt 1 ] && files=1
		rm -rf "$w"; mkdir -p "$w"
		mkfiles "$w/src" "$files" "$b" "$files"
		sync -f "$w"
		local -A t=() sp=()
		local i v
		for ((i = 0; i < REPS; i++)); do
			for v in plain shim min0 bbplain bbmin0; do
				rm -rf "$w/dst"; sync -f "$w"
				t[$v]+=" $(secs env TREECOPY="$treecopy" LIB="$lib" "$work/bin/scalecopy" "$v" "$w/src" "$w/dst")"
				[ "$i" = 0 ] && sp[$v]=$(newspace "$w/dst")
			done
		done
		local -A med=()
		# shellcheck disable=SC2086
		for v in plain shim min0 bbplain bbmin0; do med[$v]=$(median ${t[$v]}); done
		per() { echo "scale=1; ${med[$1]} * 1000000 / $files" | bc; }
		printf '%-6s %5s %9sus %9sus %9sus %10s %10s %9s %9s %9s %9sus %9sus %10s\n' "$sz" "$files" \
			"$(per plain)" "$(per shim)" "$(per min0)" \
			"$(ratio "${med[shim]}" "${med[plain]}")" "$(ratio "${med[min0]}" "${med[plain]}")" \
			"$(iec "${sp[plain]}")" "$(iec "${sp[shim]}")" "$(iec "${sp[min0]}")" \
			"$(per bbplain)" "$(per bbmin0)" "$(ratio "${med[bbmin0]}" "${med[bbplain]}")"
		# the smallest size from which every larger one clones no slower
		if [ "$(echo "${med[min0]} <= ${med[plain]}" | bc)" = 1 ]; then
			[ -n "$from" ] || from=$sz
		else
			from=""
		fi
		if [ "$(echo "${med[bbmin0]} <= ${med[bbplain]}" | bc)" = 1 ]; then
			[ -n "$bbfrom" ] || bbfrom=$sz
		else
			bbfrom=""
		fi
		last=$sz
		unset t sp med
	done
	if [ -n "$from" ]; then
		echo "## $fs: min 0 is not slower than plain from $from up: the threshold this table suggests" \
			"(REFLINK_SHIM_MIN_SIZE=$from; the default on $fs is $(default_min "$fs"))"
	else
		echo "## $fs: min 0 is slower than plain at $last, the largest size measured: no threshold suggested"
	fi
	if [ -n "$bbfrom" ]; then
		echo "## $fs: bb min 0 is not slower than bb plain from $bbfrom up: the threshold this table suggests" \
			"for one call that moves a whole file (the default is 16K)"
	else
		echo "## $fs: bb min 0 is slower than bb plain at $last: no threshold suggested for whole-file calls"
	fi
	rm -rf "$w"
}

# ---- table 6: system calls per file ----

# Tree copiers (SRC DST) beside copytree: busybox's sendfile, cpio's 512 B
# writes (cpio -p wants DST to exist)
mkcopier bbtree 'exec busybox cp -r "$1" "$2"'
# Copies whose bytes cross a pipe between processes (issue 13)
mkcopier rsynctree 'exec rsync -a "$1/" "$2/"'
mkcopier tartree 'mkdir "$2" && tar -C "$1" -cf - . | tar -C "$2" -xf -'
mkcopier cpiotree 'mkdir "$2" && cd "$1" && find . ! -name . -print | exec cpio -pd --quiet "$2"'

# sc_count OUT CMD...: CMD and its children under strace -f -c; OUT gets
# "CALLS NAME" lines, one of them "CALLS total"
sc_count() {
	local out=$1
	shift
	strace -f -c -U calls,name -o "$out.raw" "$@" >/dev/null 2>&1 || die "under strace: $* failed"
	awk '$1 ~ /^[0-9]+$/ { print $1, $2 }' "$out.raw" > "$out"
}
# sc_total FILE FILES: calls per file
sc_total() { awk -v n="$2" '$2 == "total" { printf "%.2f\n", $1 / n }' "$1"; }
# sc_added PLAIN SHIM FILES: "name +0.50, ..." for the 12 call names the shim
# adds most to (at least 0.01 a file), then those it saves most on
sc_added() {
	awk -v n="$3" 'FNR == NR { p[$2] = $1; next } { s[$2] = $1 }
		END {
			for (k in p) if (!(k in s)) s[k] = 0
			for (k in s) if (k != "total") {
				d = (s[k] - p[k]) / n
				if (d >= 0.01 || d <= -0.01) printf "%+.2f %s\n", d, k
			}
		}' "$1" "$2" | sort -g -r | awk '$1 > 0 && ++n > 12 { next } { printf "%s%s %s", sep, $2, $1; sep = ", " } END { print "" }'
}

table_syscalls() {
	local mnt=$1 fs=$2 w=$1/sc n=$SYSCALL_FILES
	local -a copiers=(bbtree copytree treecopy cpiotree)
	local -A label=([bbtree]="busybox cp -r (sendfile)" [copytree]="shutil.copytree (sendfile)" \
		[treecopy]="treecopy -j1 (read/write 128K)" [cpiotree]="cpio -p (512 B writes)")
	local -A target=([128K]=5 [1K]=1)
	local -a breakdown=()
	echo
	echo "## $fs: system calls per file copying a tree of $n files, 100 to a directory (strace -f -c,"
	echo "## every process, start-up included, / $n); 128K files are cloned, 1K ones are below"
	echo "## REFLINK_SHIM_MIN_SIZE; shared: files FIEMAP flags shared after the run"
	printf '%-31s %5s %8s %8s %8s %19s  %s\n' copier size plain shim added "shared: plain shim" target
	for size in 128K 1K; do
		rm -rf "$w"
		mkdir -p "$w"
		mkfiles "$w/src" "$n" "$(bytes $size)" 100
		sync -f "$w"
		for c in "${copiers[@]}"; do
			local cmd=("$work/bin/$c")
			[ "$c" = treecopy ] && cmd=("$treecopy" -j1)
			local shp shs
			rm -rf "$w/dst"; sync -f "$w"
			sc_count "$w/plain" "${cmd[@]}" "$w/src" "$w/dst"
			shp=$(shared_files "$w/dst")
			rm -rf "$w/dst"; sync -f "$w"
			sc_count "$w/shim" -E LD_PRELOAD="$lib" "${cmd[@]}" "$w/src" "$w/dst"
			shs=$(shared_files "$w/dst")
			diff -r "$w/src" "$w/dst" >/dev/null || die "$c: shimmed tree copy differs"
			local p s
			p=$(sc_total "$w/plain" "$n"); s=$(sc_total "$w/shim" "$n")
			printf '%-31s %5s %8s %8s %8s %11s %7s  %s\n' "${label[$c]}" "$size" "$p" "$s" \
				"$(printf '%+.2f' "$(echo "$s - $p" | bc)")" "$shp" "$shs" "target ≤ ${target[$size]} added"
			breakdown+=("${label[$c]%% (*}, $size: $(sc_added "$w/plain" "$w/shim" "$n")")
		done
	done
	echo "## $fs: calls the shim adds (+, the 12 most) or saves (-) per file, by name (0.01 a file or more)"
	printf '%s\n' "${breakdown[@]}"
	rm -rf "$w"
}

# ---- table 5: process start-up (no filesystem of its own) ----

table_startup() {
	local eat=/usr/lib/x86_64-linux-gnu/libeatmydata.so spawn=$top/build/tests/spawn
	local n=${BENCH_SPAWNS:-1000} reps=${BENCH_STARTUP_REPS:-11}
	[ -f "$eat" ] || die "$eat missing (Debian package eatmydata)"
	[ -x "$spawn" ] || die "$spawn missing: run make test-progs"
	local labels=(plain reflink-shim libeatmydata) preloads=("" "$lib" "$eat") ir=() i k
	for k in 0 1 2; do
		ir+=("$(LD_PRELOAD=${preloads[k]} valgrind --tool=callgrind --callgrind-out-file=/dev/null \
			/bin/true 2>&1 | sed -n 's/.*Collected : //p')")
	done
	# interleaved: a change in the machine's load hits all three alike
	local -a t0 t1 t2
	for ((i = 0; i < reps; i++)); do
		t0+=("$("$spawn" "$n" /bin/true)")
		t1+=("$("$spawn" "$n" /bin/true "$lib")")
		t2+=("$("$spawn" "$n" /bin/true "$eat")")
	done
	local m=("$(median "${t0[@]}")" "$(median "${t1[@]}")" "$(median "${t2[@]}")")
	echo
	echo "## process start-up: /bin/true, which calls no wrapper (median of $reps)"
	printf '%-14s %13s %13s %16s %10s\n' preload instructions added "$n spawns (s)" x/plain
	for k in 0 1 2; do
		printf '%-14s %13s %13s %16s %10s\n' "${labels[k]}" "${ir[k]}" "$(( ir[k] - ir[0] ))" \
			"$(fmt_s "${m[k]}")" "$(ratio "${m[k]}" "${m[0]}")"
	done
}

echo "# reflink-shim benchmarks — $(date -u +%Y-%m-%d), $(uname -r), $(nproc) cores"
echo "# sizes: copy $SIZE, tree $TREE_FILES files / $TREE_BYTES, scale up to $SCALE_MAX; $REPS reps"
fs_tables=()
for t in $TABLES; do
	if [ "$t" = startup ]; then table_startup; else fs_tables+=("$t"); fi
done
[ ${#fs_tables[@]} -gt 0 ] || exit 0
for fs in $FSES; do
	mnt=$(mkfs_mount "$fs")
	for t in "${fs_tables[@]}"; do
		"table_$t" "$mnt" "$fs"
	done
	umount "$mnt"
done
