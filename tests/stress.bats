#!/usr/bin/env bats
# Load: a 20,000-file tree copied by Python's shutil.copytree under the
# shim, then by 8 copiers at once. Exact, shared, no leaked fds, bounded
# memory.

load helpers

# make_tree DIR: 20,000 files in 100 directories; every 10th is 128 KiB
# (cloned), the others 1-8 KiB (below REFLINK_SHIM_MIN_SIZE: copied).
make_tree() {
	python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
blob = os.urandom(1 << 20)
for d in range(100):
    p = os.path.join(root, "d%02d" % d)
    os.makedirs(p)
    for f in range(200):
        n = d * 200 + f
        size = 128 * 1024 if n % 10 == 0 else 1024 + (n * 37) % 7168
        off = (n * 4099) % (len(blob) - size)
        with open(os.path.join(p, "f%03d" % f), "wb") as o:
            o.write(blob[off:off + size])
PY
}

COPYTREE='
import os, resource, shutil, sys
before = len(os.listdir("/proc/self/fd"))
shutil.copytree(sys.argv[1], sys.argv[2])
after = len(os.listdir("/proc/self/fd"))
print(before, after, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)'

@test "shutil.copytree of 20,000 files: exact, big files shared, no fd leak, bounded memory" {
	need_fs T_XFS
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	make_tree "$d/src"
	local plain_rss
	plain_rss=$(python3 -c "$COPYTREE" "$d/src" "$d/plain" | awk '{print $3}')
	run env LD_PRELOAD="$SHIM_LIB" python3 -c "$COPYTREE" "$d/src" "$d/shim"
	[ "$status" -eq 0 ]
	local before after rss; read -r before after rss <<< "$output"
	[ "$before" -eq "$after" ]
	echo "peak RSS: plain ${plain_rss} KiB, shim ${rss} KiB" >&3
	[ "$rss" -lt $((plain_rss + 16384)) ]
	diff -r "$d/src" "$d/shim"
	local f shared=0
	for f in "$d"/shim/d0*/f0[0-9]0; do
		[ "$(shared_bytes "$f")" -eq 131072 ] && shared=$((shared + 1))
	done
	[ "$shared" -eq 100 ]
}

@test "8 copiers at once on the same tree: every copy exact" {
	need_fs T_XFS
	need_cmd python3
	local d; d=$(testdir "$T_XFS")
	make_tree "$d/src"
	local i pids=()
	for i in 1 2 3 4 5 6 7 8; do
		env LD_PRELOAD="$SHIM_LIB" python3 -c "$COPYTREE" "$d/src" "$d/c$i" > "$d/out$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in 1 2 3 4 5 6 7 8; do
		diff -r "$d/src" "$d/c$i"
		[ "$(shared_bytes "$d/c$i/d50/f000")" -eq 131072 ]
	done
}
