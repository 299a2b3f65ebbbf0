#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# Every example in examples/ runs as documented and does what it says.

load helpers

@test "C copiers in each style: one clone each, identical copies" {
	need_fs T_XFS
	local a; a=$(testdir "$T_XFS")
	mksrc "$a/src" 3M
	for c in cp-rw cp-sendfile cp-cfr cp-whole; do
		under_shim "$SHIM_EXAMPLES/$c" "$a/src" "$a/$c.out"
		[ "$clones" -eq 1 ]
		cmp "$a/src" "$a/$c.out"
		read -r shared size < <("$fileinfo" shared "$a/$c.out")
		[ "$shared" -eq "$size" ]
	done
	# and without the shim they are ordinary copiers
	"$SHIM_EXAMPLES/cp-whole" "$a/src" "$a/plain"
	cmp "$a/src" "$a/plain"
	run "$SHIM_EXAMPLES/cp-sendfile"
	[ "$status" -eq 2 ]
}

@test "treecopy: a tree copied exactly, with 1 and 4 threads" {
	need_fs T_XFS
	local a; a=$(testdir "$T_XFS")
	mkdir -p "$a/t/x/y" "$a/t/z"
	mksrc "$a/t/x/y/big" 1M; mksrc "$a/t/z/small" 100; mksrc "$a/t/top" 200K
	ln -s x/y/big "$a/t/link"
	chmod 600 "$a/t/z/small"
	for j in 1 4; do
		under_shim "$SHIM_EXAMPLES/treecopy" -j $j "$a/t" "$a/copy$j"
		[ "$clones" -eq 2 ]
		diff -r "$a/t" "$a/copy$j"
		[ "$(stat -c %a "$a/copy$j/z/small")" = 600 ]
		[ "$(readlink "$a/copy$j/link")" = x/y/big ]
	done
	run "$SHIM_EXAMPLES/treecopy" "$a/t" "$a/copy1"
	[ "$status" -eq 1 ]
}

@test "make-install.sh: the project's make install clones its data file" {
	need_fs T_XFS
	need_cmd perl
	local a; a=$(testdir "$T_XFS")
	run env REFLINK_SHIM="$SHIM_WRAPPER" "$SHIM_TOP/examples/make-install.sh" "$a/mi"
	[ "$status" -eq 0 ]
	[[ "$output" == *"reflink supported (xfs)"* ]]
	[[ "$output" == *"reflink-shim: 1 file cloned (1.3 MiB shared), 1 copy not cloned (too small)"* ]]
	[[ "$output" == *"240000 words, 10 distinct"* ]]
	cmp "$a/mi/build/data/words.txt" "$a/mi/prefix/share/wordstat/words.txt"
	read -r shared size < <("$fileinfo" shared "$a/mi/prefix/share/wordstat/words.txt")
	[ "$shared" -eq "$size" ]
	[ -x "$a/mi/prefix/bin/wordstat" ]
}

@test "venvs.sh: in each venv, the copies of the interpreter's first copy are clones" {
	need_fs T_XFS
	[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3"
	/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || skip "python3-venv not installed"
	local a; a=$(testdir "$T_XFS")
	run env REFLINK_SHIM="$SHIM_WRAPPER" PYTHON=/usr/bin/python3 "$SHIM_TOP/examples/venvs.sh" "$a/v" 3
	[ "$status" -eq 0 ]
	# /usr/bin is on another filesystem than the test's XFS
	[ "$(grep -c '^reflink-shim: 2 files cloned (.* shared), 1 copy not cloned (other filesystem)$' <<< "$output")" -eq 3 ]
	[[ "$output" == *"venv python: $a/v/venv3"* ]]
	local n=0
	for f in "$a"/v/venv2/bin/python*; do
		[ -L "$f" ] && continue
		cmp "$f" "$(readlink -f /usr/bin/python3)"
		read -r shared size < <("$fileinfo" shared "$f")
		[ "$shared" -eq "$size" ] && n=$((n + 1))
	done
	[ "$n" -eq 3 ]  # the first copy shares its blocks with its two clones
}

@test "conda-fanout.py: every environment file of 64 KiB or more is a clone" {
	need_fs T_XFS
	need_cmd python3
	local a; a=$(testdir "$T_XFS")
	run "$SHIM_WRAPPER" --stats python3 "$SHIM_TOP/examples/conda-fanout.py" "$a/c" 3
	[ "$status" -eq 0 ]
	[[ "$output" == *"created 3 environments from 3 packages"* ]]
	[[ "$output" == *"reflink-shim: 12 files cloned (32.3 MiB shared), 12 copies not cloned (too small)"* ]]
	diff -r "$a/c/envs/env1" "$a/c/envs/env3"
	read -r shared size < <("$fileinfo" shared "$a/c/envs/env2/lib/python3/numbar/_core.so")
	[ "$shared" -eq "$size" ]
}

# Runs CMD in a private mount namespace where the directory DIR (a path the
# container examples use) holds the staged library, as the container would see it.
in_container_layout() {
	local dir=$1 stage=$2; shift 2
	unshare -m bash -euc '
		mount --make-rprivate /
		d=$1 s=$2; shift 2
		mkdir -p "$d" 2>/dev/null || { mount -t tmpfs none "$(dirname "$d")"; mkdir -p "$d"; }
		mount --bind "$s" "$d"
		exec "$@"' - "$dir" "$stage" "$@"
}

@test "container examples: the paths they preload are what make install provides, and work" {
	need_fs T_XFS
	need_cmd unshare
	local a; a=$(testdir "$T_XFS") ex=$SHIM_TOP/examples/container
	make -s -C "$SHIM_TOP" install DESTDIR="$a/stage" PREFIX=/usr/local B="${SHIM_LIB%/*}" >/dev/null
	local lib=$a/stage/usr/local/lib/reflink-shim/libreflink-shim.so
	# Dockerfile: every COPY source exists in the staged tree; LD_PRELOAD names the copied library
	while read -r _ from to; do
		[ -f "$a/stage/$from" ]
		[ "/$from" = "$to" ]
	done < <(grep '^COPY ' "$ex/Dockerfile")
	grep -qx 'ENV LD_PRELOAD=/usr/local/lib/reflink-shim/libreflink-shim.so' "$ex/Dockerfile"
	# docker-run.sh and pod.yaml: the host's installed directory, mounted at /opt/reflink-shim
	grep -q -- '-v /usr/local/lib/reflink-shim:/opt/reflink-shim:ro' "$ex/docker-run.sh"
	grep -q -- '-e LD_PRELOAD=/opt/reflink-shim/libreflink-shim.so' "$ex/docker-run.sh"
	sh -n "$ex/docker-run.sh"
	python3 - "$ex/pod.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
try:
    import yaml
    pod = yaml.safe_load(text)
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vols = {v["name"]: v["hostPath"]["path"] for v in pod["spec"]["volumes"]}
except ImportError:  # no PyYAML: check the lines themselves
    assert "path: /usr/local/lib/reflink-shim" in text and "mountPath: /opt/reflink-shim" in text
    assert "value: /opt/reflink-shim/libreflink-shim.so" in text
    sys.exit(0)
assert vols["reflink-shim"] == "/usr/local/lib/reflink-shim", vols
assert env["LD_PRELOAD"] == mounts["reflink-shim"] + "/libreflink-shim.so", (env, mounts)
PY
	# the same layout, for real: the library at /opt/reflink-shim, preloaded by env alone
	mksrc "$a/src" 2M
	run in_container_layout /opt/reflink-shim "$a/stage/usr/local/lib/reflink-shim" \
		env LD_PRELOAD=/opt/reflink-shim/libreflink-shim.so REFLINK_SHIM_LOG=/dev/stderr \
		"$SHIM_EXAMPLES/cp-rw" "$a/src" "$a/dst"
	[ "$status" -eq 0 ]
	[[ "$output" == *"clone fd="* ]]
	cmp "$a/src" "$a/dst"
	read -r shared size < <("$fileinfo" shared "$a/dst")
	[ "$shared" -eq "$size" ]
	[ ! -e /opt/reflink-shim ] || [ -z "$(ls -A /opt/reflink-shim)" ]
}

@test "ld-so-preload.sh: a copy with no LD_PRELOAD clones; the real /etc is untouched" {
	need_fs T_XFS
	need_cmd unshare
	local a; a=$(testdir "$T_XFS")
	local before; before=$(cat /etc/ld.so.preload 2>/dev/null || echo absent)
	run env REFLINK_SHIM_LIB="$SHIM_LIB" COPIER="$SHIM_EXAMPLES/cp-rw" "$SHIM_TOP/examples/ld-so-preload.sh" "$a/p"
	[ "$status" -eq 0 ]
	[[ "$output" == *"clone fd="* ]]
	[[ "$output" == *"copy identical to its source"* ]]
	read -r shared size < <("$fileinfo" shared "$a/p/copy")
	[ "$shared" -eq "$size" ]
	[ "$(cat /etc/ld.so.preload 2>/dev/null || echo absent)" = "$before" ]
}
