# Shared helpers for the bats tests. tests/run.sh exports:
#   SHIM_LIB SHIM_WRAPPER SHIM_PROGS SHIM_EXAMPLES   what was built
#   T_XFS T_XFS2 T_BTRFS T_EXT4 T_TMPFS mounted test filesystems (root only)

scenario=$SHIM_PROGS/scenario
fileinfo=$SHIM_PROGS/fileinfo

# need_fs VAR...: skip unless every named filesystem is mounted.
need_fs() {
	local v
	for v in "$@"; do
		if [ -z "${!v:-}" ]; then
			if [ "$(id -u)" != 0 ]; then
				skip "needs root to mount loop filesystems"
			fi
			skip "$v is not mounted"
		fi
	done
}

# need_cmd CMD: skip unless CMD is installed. Sanitizer builds
# (SHIM_SANITIZER=1) skip third-party runtimes: a sanitizer runtime cannot
# be injected into every uninstrumented program.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed"
	case "$1" in
	node|java) [ "${SHIM_SANITIZER:-0}" = 1 ] && skip "sanitizer build: not injected into $1" ;;
	esac
	return 0
}

# A fresh directory for this test on filesystem $1, removed after the test.
testdir() {
	local d="$1/t$BATS_TEST_NUMBER-$RANDOM"
	mkdir -p "$d"
	echo "$d" >> "$BATS_TEST_TMPDIR/testdirs"
	echo "$d"
}

teardown() {
	[ -f "$BATS_TEST_TMPDIR/testdirs" ] || return 0
	while read -r d; do
		rm -rf "$d"
	done < "$BATS_TEST_TMPDIR/testdirs"
}

# mksrc FILE SIZE: random bytes (SIZE in bytes, or with K/M suffix for head -c).
mksrc() {
	head -c "$2" /dev/urandom > "$1"
}

# count_clones TRACE: successful FICLONE/FICLONERANGE calls in strace -f
# output, joining the "<unfinished ...>" and "resumed>" halves of calls that
# other threads interrupted.
count_clones() {
	awk '/<unfinished \.\.\.>$/ { pend[$1] = $0; next }
	     /resumed>/ { print pend[$1] $0; delete pend[$1]; next }
	     { print }' "$1" | grep -cE 'FICLONE.*\) += 0$' || true
}

# under_shim CMD...: run CMD with the library preloaded, counting the
# successful clone ioctls the kernel saw into $clones (strace, not our log).
#   SHIM_NO_STRACE=1: run without strace ($clones is then -1), for tests
#   with busy timers: under ptrace every signal is a stop, and a program
#   taking a signal every few hundred microseconds crawls.
under_shim() {
	if [ "${SHIM_NO_STRACE:-0}" = 1 ]; then
		clones=-1
		timeout "${SHIM_TEST_TIMEOUT:-300}" env LD_PRELOAD="$SHIM_LIB${LD_PRELOAD:+:$LD_PRELOAD}" "$@"
		return
	fi
	local trace
	trace=$(mktemp)
	timeout "${SHIM_TEST_TIMEOUT:-300}" strace -f -qq -e trace=ioctl -o "$trace" env LD_PRELOAD="$SHIM_LIB${LD_PRELOAD:+:$LD_PRELOAD}" "$@"
	local rc=$?
	clones=$(count_clones "$trace")
	rm -f "$trace"
	return $rc
}

# shared_bytes FILE: bytes of FILE in extents the kernel flags shared.
shared_bytes() {
	"$fileinfo" shared "$1" | cut -d' ' -f1
}

# same_file PLAIN SHIM: identical bytes and size, and SHIM allocates nothing
# where PLAIN has a hole. (Equal hole maps are too strict an oracle: plain
# XFS itself sometimes turns speculative preallocation into data, depending
# on writeback timing. Sparse sources are tested separately.)
same_file() {
	cmp "$1" "$2" || { echo "bytes differ: $1 $2"; return 1; }
	"$fileinfo" within "$2" "$1" || {
		echo "plain: $("$fileinfo" map "$1")"
		echo "shim:  $("$fileinfo" map "$2")"
		return 1
	}
}

# differential DIR SRC OP...: runs `scenario SRC DIR/plain OP...` without the
# shim and `scenario SRC DIR/shim OP...` with it; requires the same output
# and the same destination file. Leaves $clones and $out (the shim's output).
# Pre-existing DIR/plain.init is copied to both destinations first.
differential() {
	local dir=$1 src=$2; shift 2
	if [ -e "$dir/plain.init" ]; then
		cp --reflink=never "$dir/plain.init" "$dir/plain"
		cp --reflink=never "$dir/plain.init" "$dir/shim"
	fi
	local srccopy=$dir/src.pristine
	cp --reflink=never "$src" "$srccopy"
	timeout "${SHIM_TEST_TIMEOUT:-300}" "$scenario" "$src" "$dir/plain" "$@" > "$dir/out.plain" 2>&1 ||
		{ cat "$dir/out.plain"; return 1; }
	cp --reflink=never "$srccopy" "$src"   # scenarios may modify the source
	under_shim "$scenario" "$src" "$dir/shim" "$@" > "$dir/out.shim" 2>&1 || { cat "$dir/out.shim"; return 1; }
	out=$(cat "$dir/out.shim")
	diff -u "$dir/out.plain" "$dir/out.shim" || { echo "program observed different values"; return 1; }
	same_file "$dir/plain" "$dir/shim"
}

# on_clone_fs OP...: `differential` on each reflink filesystem, with a fresh
# random source of $SZ bytes; $init, if set, is called with the test
# directory first (to prepare plain.init).
on_clone_fs() {
	local fs
	for fs in $(clone_filesystems); do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" "$SZ"
		[ -n "${init:-}" ] && $init "$d"
		differential "$d" "$d/src" "$@" || { echo "on $fs"; return 1; }
	done
}

# Filesystems that clone, for tests run on each of them.
clone_filesystems() {
	need_fs T_XFS T_BTRFS
	echo "$T_XFS $T_BTRFS"
}
