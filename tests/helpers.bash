# Shared helpers for the bats tests. tests/run.sh exports:
#   SHIM_LIB SHIM_WRAPPER SHIM_PROGS SHIM_EXAMPLES   what was built
#   T_XFS T_XFS2 T_BTRFS T_EXT4 T_TMPFS mounted test filesystems (root only)

scenario=$SHIM_PROGS/scenario
fileinfo=$SHIM_PROGS/fileinfo

# need_fs VAR...: skip unless every named filesystem is mounted. Call it in
# the test's own shell (the test, or a function it calls directly): `skip`
# inside $( ) or a pipeline only ends that subshell, and the test then
# passes having run nothing.
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
	if [ -z "${1:-}" ] || [ ! -d "$1" ]; then
		echo "testdir: no filesystem at '${1:-}' (need_fs first?)" >&2
		return 1
	fi
	local d="$1/t$BATS_TEST_NUMBER-$RANDOM"
	mkdir -p "$d"
	echo "$d" >> "$BATS_TEST_TMPDIR/testdirs"
	echo "$d"
}

# After each test: remove its directories; fail it if a sanitizer reported
# anything in any process it started.
teardown() {
	local rc=0 d
	if [ -f "$BATS_TEST_TMPDIR/testdirs" ]; then
		while read -r d; do
			rm -rf "$d"
		done < "$BATS_TEST_TMPDIR/testdirs"
	fi
	san_reports || rc=1
	return $rc
}

# san_reports: print the sanitizer reports written since the last call and
# fail if there were any. For check-asan and check-tsan, tests/run.sh sends
# every report to a file in $SHIM_SAN_LOGS, so that a report fails the test
# whatever became of the process's exit status and output.
san_reports() {
	[ -n "${SHIM_SAN_LOGS:-}" ] || return 0
	local f found=0
	for f in "$SHIM_SAN_LOGS"/report.*; do
		[ -e "$f" ] || continue
		found=1
		echo "sanitizer report (${f##*/}):"
		san_symbolize < "$f"
		mv -f "$f" "$SHIM_SAN_LOGS/seen/"
	done
	[ "$found" = 0 ]
}

# san_symbolize < REPORT: the sanitizers run with symbolize=0 (tests/run.sh:
# symbolizing in the process opens files through our open() wrapper, and
# under TSan that re-enters instrumented code inside the report and
# deadlocks); frames "#N PC (MODULE+OFFSET)" are symbolized here, after the
# fact, with addr2line, and a global's location with nm.
san_symbolize() {
	local line pre mod off fn first mods=()
	local frame_re='^( *#[0-9]+ )0x[0-9a-f]+ \((/[^+]+)\+(0x[0-9a-f]+)\)$'
	local global_re="^(.*Location is global )'<null>'(.*)\\(([^/+]+)\\+(0x[0-9a-f]+)\\)\$"
	while IFS= read -r line; do
		if [[ $line =~ $frame_re ]]; then
			pre=${BASH_REMATCH[1]} mod=${BASH_REMATCH[2]} off=${BASH_REMATCH[3]}
			mods+=("$mod")
			first=1
			while IFS= read -r fn; do
				fn=${fn//"$SHIM_TOP/"/}
				fn=${fn% (discriminator *)}
				# outside the project, only the file's name
				[[ $fn == *" at /"* ]] && fn="${fn%% at /*} at ${fn##*/}"
				if [ "$first" = 1 ]; then
					[[ $fn == "?? "* ]] && { echo "$line"; break; }
					echo "$pre$fn (${mod##*/}+$off)"
					first=0
				else
					echo "${pre//[! ]/ }$fn"
				fi
			done < <(addr2line -f -C -i -p -e "$mod" "$off" 2>/dev/null || echo "?? ??:0")
		elif [[ $line =~ $global_re ]]; then
			local base=${BASH_REMATCH[3]} name='' m a sz _t n
			off=${BASH_REMATCH[4]}
			for m in "${mods[@]}"; do
				[ "${m##*/}" = "$base" ] || continue
				while read -r a sz _t n; do
					[ -n "$n" ] && (( 0x$a <= off && off < 0x$a + 0x$sz )) && { name=$n; break; }
				done < <(nm -S --defined-only "$m" 2>/dev/null)
				break
			done
			echo "${BASH_REMATCH[1]}'${name:-<null>}'${BASH_REMATCH[2]}($base+$off)"
		else
			echo "$line"
		fi
	done
}

# mksrc FILE SIZE: random bytes (SIZE in bytes, or with K/M suffix for head -c).
mksrc() {
	head -c "$2" /dev/urandom > "$1"
}

# count_clones TRACE [RESULT]: FICLONE/FICLONERANGE calls in strace -f
# output that returned RESULT (default 0: successful clones; "-1 EXDEV":
# those that failed with EXDEV), joining the "<unfinished ...>" and
# "resumed>" halves of calls that other threads interrupted.
count_clones() {
	awk '/<unfinished \.\.\.>$/ { pend[$1] = $0; next }
	     /resumed>/ { print pend[$1] $0; delete pend[$1]; next }
	     { print }' "$1" | grep -cE "FICLONE.*\\) += ${2:-0}( |\$)" || true
}

# under_shim CMD...: run CMD with the library preloaded, counting the
# successful clone ioctls the kernel saw into $clones (strace, not our log).
#   SHIM_TRACE=FILE: keep the strace output there (for count_clones).
#   SHIM_NO_STRACE=1: run without strace ($clones is then -1), for tests
#   with busy timers: under ptrace every signal is a stop, and a program
#   taking a signal every few hundred microseconds crawls.
#   A program deadlocked with every signal blocked ignores timeout's
#   SIGTERM: SIGKILL follows 10 s later.
under_shim() {
	local t=${SHIM_TEST_TIMEOUT:-300} rc=0
	if [ "${SHIM_NO_STRACE:-0}" = 1 ]; then
		clones=-1
		timeout -k 10 "$t" env LD_PRELOAD="$SHIM_LIB${LD_PRELOAD:+:$LD_PRELOAD}" "$@" || rc=$?
	else
		local trace
		trace=$(mktemp)
		timeout -k 10 "$t" strace -f -qq -e trace=ioctl -o "$trace" env LD_PRELOAD="$SHIM_LIB${LD_PRELOAD:+:$LD_PRELOAD}" "$@" || rc=$?
		clones=$(count_clones "$trace")
		if [ -n "${SHIM_TRACE:-}" ]; then mv -f "$trace" "$SHIM_TRACE"; else rm -f "$trace"; fi
	fi
	[ "$rc" != 124 ] && [ "$rc" != 137 ] || echo "under_shim: timed out after $t s: $*" >&2
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
# (Callers often run it as `differential ... || ...`, where set -e is off:
# every step checks its own status.)
differential() {
	local dir=$1 src=$2; shift 2
	if [ -e "$dir/plain.init" ]; then
		cp --reflink=never "$dir/plain.init" "$dir/plain" || return 1
		cp --reflink=never "$dir/plain.init" "$dir/shim" || return 1
	fi
	local srccopy=$dir/src.pristine
	cp --reflink=never "$src" "$srccopy" || return 1
	timeout "${SHIM_TEST_TIMEOUT:-300}" "$scenario" "$src" "$dir/plain" "$@" > "$dir/out.plain" 2>&1 ||
		{ cat "$dir/out.plain"; return 1; }
	cp --reflink=never "$srccopy" "$src" || return 1   # scenarios may modify the source
	under_shim "$scenario" "$src" "$dir/shim" "$@" > "$dir/out.shim" 2>&1 || { cat "$dir/out.shim"; return 1; }
	out=$(cat "$dir/out.shim")
	diff -u "$dir/out.plain" "$dir/out.shim" || { echo "program observed different values"; return 1; }
	same_file "$dir/plain" "$dir/shim"
}

# on_clone_fs OP...: `differential` on each reflink filesystem (the test
# skips unless XFS and btrfs are mounted), with a fresh random source of $SZ
# bytes; $init, if set, is called with the test directory first (to prepare
# plain.init). With want_clones=N, every filesystem's run must make exactly
# N clone ioctls ($clones is left at the last filesystem's count only):
#   want_clones=1 on_clone_fs open=w copy=64k close
on_clone_fs() {
	need_clone_fs
	local fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs") || return 1
		mksrc "$d/src" "$SZ" || return 1
		if [ -n "${init:-}" ]; then
			$init "$d" || return 1
		fi
		differential "$d" "$d/src" "$@" || { echo "on $fs: $*"; return 1; }
		if [ -n "${want_clones:-}" ]; then
			[ "$clones" -ge 0 ] || { echo "want_clones: nothing counted them (SHIM_NO_STRACE=1)"; return 1; }
			[ "$clones" -eq "$want_clones" ] ||
				{ echo "on $fs: $clones clone ioctls, want $want_clones: $*"; return 1; }
		fi
	done
}

# need_clone_fs: skip unless the filesystems that clone (XFS, btrfs) are
# mounted; then clone_fs holds them, for tests run on each of them:
#   need_clone_fs
#   for fs in "${clone_fs[@]}"; do ...
need_clone_fs() {
	need_fs T_XFS T_BTRFS
	clone_fs=("$T_XFS" "$T_BTRFS")
}

# named_args NAME ARGS...: ARGS with every "{}" replaced by NAME (plain or
# shim: the run's own file names), in the array $named.
named_args() {
	local name=$1 a
	shift
	named=()
	for a in "$@"; do
		named+=("${a//\{\}/$name}")
	done
}
