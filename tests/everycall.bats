#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# Every name the library exports (shim/symbols.def), called with harmless
# arguments, directly and through syscall() (tests/progs/everycall.c), under
# glibc and under musl: no call crashes, and each answers what it answers
# without the library. The C library lacking a name is no excuse: musl
# 1.2.3 has no preadv2, yet syscall(SYS_preadv2) reaches our preadv2.

load helpers

MUSL_LIB=$SHIM_TOP/build/musl/libreflink-shim.so
MUSL_PROG=$SHIM_TOP/build/musl/everycall

# The number of names symbols.def declares.
declared_names() {
	cc -E -P -x c -D'REQ(n,r,p,...)=n' -D'OPT(n,r,p,...)=n' -D'ALIAS(n,t)=n' -D'OWN(n)=n' \
		"$SHIM_TOP/shim/symbols.def" | tr -s ' \n' '\n' | grep -c .
}

need_musl() {
	command -v musl-gcc >/dev/null || skip "musl-gcc is not installed"
	[ -f "$MUSL_LIB" ] || { echo "no $MUSL_LIB: make musl"; return 1; }
	[ -x "$MUSL_PROG" ] || { echo "no $MUSL_PROG: make musl"; return 1; }
}

# everycall OUT [ENV...] -- PROG ARGS...: runs it in a fresh directory; its
# output in OUT. Fails unless it ran to its end, having called every name.
everycall() {
	local out=$1 d
	shift
	d=$(mktemp -d "$BATS_TEST_TMPDIR/run.XXXXXX")
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" "$@" "$d" > "$out" || { echo "$* exited with $?:"; tail -3 "$out"; return 1; }
	[ "$(tail -1 "$out")" = "end $(declared_names)" ] || { echo "$*: did not finish:"; tail -3 "$out"; return 1; }
}

# same_answers PLAIN SHIM: the run under the library answered as the plain
# one, line by line. A name the C library lacks ("absent" in the plain
# run) must answer as its fallback's system call did there ("sys"), or
# ENOSYS (38 on x86_64 and aarch64) where no system call does it (_Fork
# before glibc 2.34); an alias as the name it stands for.
same_answers() {
	awk -v enosys=38 '
	function val(k) { return (k in plain) ? plain[k] : "(none)" }
	FNR == NR { k = $1 " " $2; $1 = ""; $2 = ""; plain[k] = plain[k] "|" $0; next }
	{ k = $1 " " $2; name = $1; var = $2; $1 = ""; $2 = ""; shim[k] = shim[k] "|" $0; order[k] = ++n }
	END {
		bad = 0
		for (k in shim) {
			split(k, a, " ")
			want = val(k)
			if (want == "|  absent") {
				t = a[2] == "direct" ? a[1] : substr(a[2], 2)
				want = val(t " direct")
				if (want == "|  absent" || a[2] == "direct")
					want = val(t " sys")
				if (want == "(none)")
					want = "|  -1 e" enosys
			}
			if (shim[k] != want) {
				printf "%s:\n  plain %s\n  shim  %s\n", k, want, shim[k]
				bad = 1
			}
		}
		for (k in plain)
			if (!(k in shim)) { print k ": not called under the library"; bad = 1 }
		exit bad
	}' "$1" "$2"
}

# faithful OUT: each name answered as its fallback's system call did
# (symbols.def's fallbacks do what the C library does).
faithful() {
	awk '
	{ k = $1 " " $2; $1 = ""; $2 = ""; v[k] = v[k] "|" $0 }
	END {
		bad = 0
		for (k in v) {
			split(k, a, " ")
			s = a[1] " sys"
			if (a[2] == "direct" && (s in v) && v[k] != "|  absent" && v[k] != v[s]) {
				printf "%s: the C library %s, the fallback %s\n", a[1], v[k], v[s]
				bad = 1
			}
		}
		exit bad
	}' "$1"
}

@test "glibc: every wrapped name, directly and through syscall(), answers as without the library" {
	local t=$BATS_TEST_TMPDIR
	everycall "$t/plain" -- "$SHIM_PROGS/everycall"
	everycall "$t/shim" LD_PRELOAD="$SHIM_LIB" -- "$SHIM_PROGS/everycall"
	faithful "$t/plain"
	same_answers "$t/plain" "$t/shim"
}

@test "musl: every wrapped name, directly and through syscall(), answers as without the library" {
	need_musl
	local t=$BATS_TEST_TMPDIR
	everycall "$t/plain" -- "$MUSL_PROG"
	grep -qx 'preadv2 direct absent' "$t/plain"  # what the library must make up for
	everycall "$t/shim" LD_PRELOAD="$MUSL_LIB" -- "$MUSL_PROG"
	faithful "$t/plain"
	same_answers "$t/plain" "$t/shim"
}

# The library dlopen()ed, last: no C library after it to find, so every
# required name is missing. It goes inert and every wrapper runs its
# fallback: the system call, else ENOSYS. (glibc only: musl's dlopen()
# refuses a library with initial-exec TLS, as ours is.)
inert_run() {
	local lib=$1 prog=$2 t=$BATS_TEST_TMPDIR
	everycall "$t/plain" -- "$prog"
	everycall "$t/last" REFLINK_SHIM_LOG="$t/log" -- "$prog" -l "$lib"
	grep -q ' inert-libc-lacks .* read$' "$t/log"
	# each answer is the plain run's fallback (sys), or ENOSYS where there is none
	awk '
	FNR == NR { k = $1 " " $2; $1 = ""; $2 = ""; plain[k] = plain[k] "|" $0; next }
	$2 == "direct" { k = $1 " sys"; n = $1; $1 = ""; $2 = ""; got[n] = got[n] "|" $0; if (k in plain) want[n] = plain[k] }
	END {
		bad = 0
		for (n in got) {
			if (n in want) { if (got[n] != want[n]) { printf "%s: %s, its system call %s\n", n, got[n], want[n]; bad = 1 } }
			else if (got[n] !~ /(e38|^\|  38)/ && n !~ /^exec/) { printf "%s: %s, not ENOSYS\n", n, got[n]; bad = 1 }
		}
		exit bad
	}' "$t/plain" "$t/last"
}

@test "glibc: the library with no C library to find goes inert, and no wrapper crashes" {
	inert_run "$SHIM_LIB" "$SHIM_PROGS/everycall"
}
