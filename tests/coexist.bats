#!/usr/bin/env bats
# Living with other preloads and with many copies in one process.

load helpers

SZ=$((5 * 1024 * 1024 + 1234))

# The contract suite's core scenarios, with another preload around the shim.
with_other_preload() {
	local fs
	need_clone_fs
	for fs in "${clone_fs[@]}"; do
		local d; d=$(testdir "$fs")
		mksrc "$d/src" $SZ
		differential "$d" "$d/src" open=w copy=64k close
		[ "$clones" -eq 1 ]
		differential "$d" "$d/src" open=rw copy=64k:3 fstat lseek=0:end read=10 copy=1m close
		differential "$d" "$d/src" open=w sendfile=16m close
		[ "$clones" -eq 1 ]
		differential "$d" "$d/src" open=w copy=64k:2 fork=close copy=64k close
	done
}

@test "with libeatmydata after the shim, and before it" {
	local lib=/usr/lib/x86_64-linux-gnu/libeatmydata.so
	[ -f "$lib" ] || skip "eatmydata is not installed"
	LD_PRELOAD=$lib with_other_preload
	SHIM_LIB="$lib:$SHIM_LIB" with_other_preload
}

@test "with libfiu's POSIX preloads after the shim, and before it" {
	# (fiu-run itself replaces LD_PRELOAD instead of prepending to it, so
	# its libraries are preloaded here directly, as fiu-run would.)
	local run=/usr/lib/fiu/fiu_run_preload.so posix=/usr/lib/fiu/fiu_posix_preload.so
	[ -f "$run" ] && [ -f "$posix" ] || skip "fiu-utils is not installed"
	LD_PRELOAD="$run:$posix" with_other_preload
	SHIM_LIB="$run:$posix:$SHIM_LIB" with_other_preload
}

@test "10,000 copies in one process leave no fd behind and each clones" {
	need_fs T_XFS
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $((128 * 1024))
	run env LD_PRELOAD="$SHIM_LIB" REFLINK_SHIM_LOG="$d/log" python3 -c '
import os, shutil, sys
d = sys.argv[1]
before = sorted(os.listdir("/proc/self/fd"))
for i in range(10000):
    dst = "%s/D%d" % (d, i % 100)
    with open(d + "/S", "rb") as s, open(dst, "wb") as o:
        while True:
            b = s.read(65536)
            if not b:
                break
            o.write(b)
after = sorted(os.listdir("/proc/self/fd"))
print(len(before), len(after))' "$d"
	[ "$status" -eq 0 ]
	local a b; read -r a b <<< "$output"
	[ "$a" -eq "$b" ]
	[ "$(grep -c ' clone fd=' "$d/log")" -eq 10000 ]
	cmp "$d/S" "$d/D99"
}
