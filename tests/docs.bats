#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# Every command shown in README.md (```sh blocks, lines starting with "$ ")
# and in the man page's examples runs, in order, in a copy of the source
# tree on XFS, with three mechanical substitutions:
#   /usr/local    is installed under a DESTDIR ($DESTDIR/usr/local)
#   /mnt/xfs      is a directory on the test XFS
#   make uninstall runs last (later commands use what was installed)
# and these commands are not run here, for the reason given:
#   make test, make check-*   they are the test suite (CI runs make test)
#   make bench                an hour; "BENCH_QUICK=1 make bench" is run
#   apt-get install ./X.deb   it would install on this machine (make
#                             check-deb installs the package in a fresh
#                             root); here X must be what make deb made

load helpers

doc_commands() {
	awk '/^```sh$/ { f = 1; next } /^```$/ { f = 0 } f && /^\$ / { sub(/^\$ /, ""); print }' "$SHIM_TOP/README.md"
	sed -n 's/^\$ //p' "$SHIM_TOP/docs/reflink-shim.1" | sed 's/\\-/-/g'
}

@test "the docs show commands, and every one is run or excused" {
	run doc_commands
	[ "${#lines[@]}" -ge 15 ]
	for c in "${lines[@]}"; do
		case $c in
		"make test" | "make check-"* | "make bench") ;;
		*) [[ "$c" != *"make test"* ]] ;;
		esac
	done
}

@test "every command in README.md and reflink-shim(1) works as shown" {
	need_fs T_XFS
	need_cmd python3
	need_cmd perl
	local a; a=$(testdir "$T_XFS")
	local repo=$a/repo dest=$a/dest xfs=$a/xfs
	mkdir -p "$repo" "$dest" "$xfs"
	# the source tree, without build products
	(cd "$SHIM_TOP" && tar cf - --exclude='./build*' --exclude=./.git .) | (cd "$repo" && tar xf -)
	local log=$a/log later=() debs=()
	while IFS= read -r c; do
		case $c in
		"make test" | "make check-"* | "make bench") continue ;;
		"make uninstall"*) later+=("$c"); continue ;;
		"apt-get install ./"*.deb) debs+=("${c#apt-get install }"); continue ;;
		esac
		echo "\$ $c" >> "$log"
		c=${c//\/usr\/local\//$dest\/usr\/local\/}
		c=${c//\/mnt\/xfs/$xfs}
		local d=
		[[ "$c" == *"make install"* ]] && d=$dest
		(cd "$repo" && PATH=$repo/build:$PATH DESTDIR=$d bash -euo pipefail -c "$c") >> "$log" 2>&1 ||
			{ cat "$log"; echo "FAILED: $c"; return 1; }
	done < <(doc_commands)
	# what the README says these print
	grep -qx 'reflink supported (xfs)' "$log"
	grep -qx 'reflink-shim: 1 file cloned (64.0 MiB shared)' "$log"
	grep -q '^reflink-shim\[[0-9]*\]: clone fd=[0-9]* 67108864$' "$log"
	run ! grep -q 'cannot be preloaded' "$log"
	for f in copy.img copy2.img copy3.img; do
		cmp "$repo/big.img" "$repo/$f"
		read -r shared size < <("$fileinfo" shared "$repo/$f")
		[ "$shared" -eq "$size" ]
	done
	[ -x "$dest/usr/local/bin/reflink-shim" ]
	[ ${#debs[@]} -ge 1 ]
	for f in "${debs[@]}"; do
		[ -f "$repo/$f" ] || { ls "$repo/build"; echo "make deb did not make $f"; return 1; }
	done
	grep -q clone "$repo/shim.log"
	for c in "${later[@]}"; do
		(cd "$repo" && DESTDIR=$dest bash -euo pipefail -c "$c")
	done
	[ -z "$(find "$dest" -type f)" ]
}

# copy.h's state table names, for each move, the function that makes it and
# the fd states involved: both must exist, or the table no longer matches.
@test "copy.h's state table names functions and states that exist" {
	local table
	table=$(sed -n '/THE STATE MACHINE/,/Only a live copy/p' "$SHIM_TOP/shim/copy.h")
	local col
	col=$(printf '%s\n' "$table" | awk '/ from .* event .* to .* where/ { print index($0, "where"); exit }')
	[ "$col" -gt 0 ]
	local fns
	fns=$(printf '%s\n' "$table" | sed -n '/ where$/,$p' | cut -c"$col"- | tr ',() ' '\n\n\n\n' |
		grep -E '^[a-z]+(_[a-z]+)+$' | sort -u)
	[ "$(printf '%s\n' "$fns" | wc -l)" -ge 15 ]
	for f in $fns; do
		grep -Eq "^[a-z].*[ *]$f\(" "$SHIM_TOP/shim/copy.c" ||
			{ echo "copy.h names $f, which copy.c does not define"; return 1; }
	done
	local states
	states=$(printf '%s\n' "$table" | grep -oE 'fd (UNKNOWN|[A-Z_]+)|(REG_[A-Z]+|PLAIN|BUSY)' |
		sed 's/^fd //' | sort -u)
	[ -n "$states" ]
	for st in $states; do
		grep -Eq "FD_$st = " "$SHIM_TOP/shim/fdtab.h" ||
			{ echo "copy.h names state $st, which fdtab.h does not define"; return 1; }
	done
}

@test "the man page, README and the package name the version make builds" {
	local v; v=$("$SHIM_WRAPPER" --version)
	v=${v#reflink-shim }
	grep -q "^\.TH REFLINK-SHIM 1 [0-9-]* \"reflink-shim $v\"" "$SHIM_TOP/docs/reflink-shim.1"
	run doc_commands
	[[ "$output" == *"apt-get install ./build/reflink-shim_${v}_"* ]]
}
