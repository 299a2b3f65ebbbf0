#!/usr/bin/env bats
# Process start-up: what preloading the library costs a process that never
# calls a wrapper, and the lookup that lets it resolve the real functions
# later (shim/elfsym.c, shim/real.c, shim/libc.c).

load helpers

# Instructions executed by /bin/true with LD_PRELOAD=$1 (none if empty),
# from callgrind's summary, in a fixed environment: the constructor reads
# the environment, a few instructions per variable.
true_instructions() {
	env -i PATH="$PATH" ${1:+LD_PRELOAD="$1"} valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		/bin/true 2>&1 | sed -n 's/.*Collected : \([0-9][0-9]*\).*/\1/p'
}

@test "starting a process costs fewer than 10,000 instructions more under the shim" {
	need_cmd valgrind
	[ "${SHIM_SANITIZER:-0}" = 0 ] || skip "sanitizer build: the runtime's start-up is measured too"
	local plain shim
	plain=$(true_instructions "")
	shim=$(true_instructions "$SHIM_LIB")
	echo "/bin/true: $plain instructions, $shim under the shim: +$((shim - plain))"
	[ "$plain" -gt 0 ]
	[ $((shim - plain)) -lt 10000 ]
}

@test "the library imports no symbol: every one would cost a lookup in every process" {
	[ "${SHIM_SANITIZER:-0}" = 0 ] || skip "sanitizer build: instrumented code calls the runtime"
	need_cmd nm
	run nm -D --undefined-only "$SHIM_LIB"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "our lookup finds what dlsym finds, with other preloaded libraries before and after" {
	local lookup=$SHIM_PROGS/lookup.so eat=/usr/lib/x86_64-linux-gnu/libeatmydata.so
	local run=/usr/lib/fiu/fiu_run_preload.so posix=/usr/lib/fiu/fiu_posix_preload.so
	local preloads=("$lookup" "$lookup:$SHIM_PROGS/faults.so" "$SHIM_LIB:$lookup:$SHIM_PROGS/faults.so")
	[ -f "$eat" ] && preloads+=("$lookup:$eat" "$eat:$lookup" "$SHIM_PROGS/faults.so:$lookup:$eat")
	[ -f "$run" ] && [ -f "$posix" ] && preloads+=("$lookup:$run:$posix" "$run:$posix:$lookup")
	local p
	for p in "${preloads[@]}"; do
		run env LD_PRELOAD="$p" /bin/true
		echo "LD_PRELOAD=$p: $output"
		[ "$status" -eq 0 ]
		[[ "$output" =~ lookup:\ [1-9][0-9]+\ names,\ 0\ differ ]]
	done
}

@test "the first wrapper call may come from a signal handler on an 8 KiB stack, or from 16 threads at once" {
	local f=$BATS_TEST_TMPDIR/f
	printf 'first line\nsecond line\n' > "$f"
	run env LD_PRELOAD="$SHIM_LIB" "$SHIM_PROGS/firstcall" signal "$f"
	[ "$status" -eq 0 ]
	[ "$output" = "first line" ]
	run env LD_PRELOAD="$SHIM_LIB" "$SHIM_PROGS/firstcall" threads "$f"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^first line$' <<< "$output")" -eq 16 ]
}

@test "settings are read at start-up: REFLINK_SHIM_LOG, _DISABLE, _EXCLUDE" {
	need_fs T_XFS
	local d cp=$SHIM_EXAMPLES/cp-rw; d=$(testdir "$T_XFS")
	mksrc "$d/S" $((1024 * 1024))
	env LD_PRELOAD="$SHIM_LIB" REFLINK_SHIM_LOG="$d/log" "$cp" "$d/S" "$d/D"
	grep -q ' clone ' "$d/log"
	[ "$(shared_bytes "$d/D")" -eq $((1024 * 1024)) ]
	env LD_PRELOAD="$SHIM_LIB" REFLINK_SHIM_DISABLE=1 REFLINK_SHIM_LOG="$d/log2" "$cp" "$d/S" "$d/E"
	env LD_PRELOAD="$SHIM_LIB" REFLINK_SHIM_EXCLUDE=other:cp-rw REFLINK_SHIM_LOG="$d/log2" "$cp" "$d/S" "$d/F"
	[ ! -s "$d/log2" ]
	[ "$(shared_bytes "$d/E")" -eq 0 ]
	[ "$(shared_bytes "$d/F")" -eq 0 ]
	cmp "$d/S" "$d/E"
	cmp "$d/S" "$d/F"
}
