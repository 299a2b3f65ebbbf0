#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# The Debian package (make deb), installed with apt-get into a fresh
# Debian 12 root: it installs exactly its files, the installed wrapper
# preloads the library from /usr/lib/TRIPLET/reflink-shim/, copies made
# through it on a loop XFS clone, and apt-get remove and purge leave the
# root as it was.
#
# make check-deb runs this file (SHIM_CHECK_DEB=1); make test skips it. The
# root comes from tests/mkroot.sh (debootstrap, about 45 s the first time,
# then cached) and is copied fresh for each run.

load helpers

# (bats 1.8 cannot skip in setup_file: each test skips in setup.)
setup() {
	[ "${SHIM_CHECK_DEB:-0}" = 1 ] || skip "make check-deb runs this (it needs a Debian root)"
}

setup_file() {
	[ "${SHIM_CHECK_DEB:-0}" = 1 ] || return 0
	# from here on a missing prerequisite fails: check-deb must not pass
	# having tested nothing
	[ "$(id -u)" = 0 ] || { echo "make check-deb needs root (chroot, mounts)"; return 1; }
	[ -n "${T_XFS:-}" ] || { echo "no loop XFS (tests/run.sh makes one as root)"; return 1; }
	export version; version=$("$SHIM_WRAPPER" --version)
	version=${version#reflink-shim }
	export deb=${SHIM_WRAPPER%/*}/reflink-shim_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb
	export triplet; triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	[ -f "$deb" ] || { echo "$deb: not built (make deb)"; return 1; }
	local pristine
	pristine=$("$SHIM_TOP/tests/mkroot.sh" bookworm)
	export root=$BATS_FILE_TMPDIR/root
	cp -a "$pristine" "$root"
	mkdir "$root/mnt/xfs"
	# the directory on the loop XFS seen as /mnt/xfs in the root; the
	# package is installed from there, so that it is no file of the root
	export xfs; xfs=$(mktemp -d "$T_XFS/deb.XXXXXX")
	chmod 755 "$xfs"
	cp "$deb" "$xfs/"
	snapshot "$BATS_FILE_TMPDIR/pristine"
}

teardown_file() {
	if [ -z "${root:-}" ]; then
		return 0
	fi
	# in_root's mounts live in namespaces that are gone; never delete
	# through a mount that is somehow still there
	if findmnt -rn -o TARGET | grep -qF "$root/"; then
		echo "left $root: something is mounted inside it"
		return 1
	fi
	rm -rf "$root" "$xfs"
}

# in_root CMD...: CMD chrooted into the root, in a mount namespace of its
# own where the root's /proc, /dev and /sys and its /mnt/xfs (the test
# directory on the loop XFS) are mounted. The mounts end with the namespace,
# when CMD ends, however it ends: nothing is left to unmount.
in_root() {
	unshare --mount --propagation private -- bash -euc '
		r=$1 x=$2
		shift 2
		mount -t proc proc "$r/proc"
		mount --bind /dev "$r/dev"
		mount --bind /sys "$r/sys"
		mount --bind "$x" "$r/mnt/xfs"
		exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
			DEBIAN_FRONTEND=noninteractive chroot "$r" "$@"' in_root "$root" "$xfs" "$@"
}

# snapshot FILE: every path in the root with its type, mode and link
# target, and every regular file's MD5, except the files apt and dpkg
# rewrite whatever they install: their logs, apt's caches and state of
# automatically installed packages (an empty file after our package), and
# dpkg's backup of its previous status. (/var/lib/dpkg/status itself is
# compared: it must come back byte for byte.)
snapshot() {
	local volatile='^\./var/(log/apt/|log/dpkg\.log|cache/apt/[a-z]*\.bin|lib/apt/extended_states|lib/dpkg/status-old)'
	(
		cd "$root"
		find . -printf '%p %y %m %l\n'
		find . -type f -print0 | xargs -0 md5sum | sed -E 's/^([0-9a-f]{32})  (.*)$/\2 md5 \1/'
	) | grep -Ev "$volatile" | LC_ALL=C sort > "$1" || true
	# more than a few lines (a wrong working directory would list nothing)
	[ "$(wc -l < "$1")" -gt 1000 ]
}

# paths SNAPSHOT: the paths it lists.
paths() {
	cut -d' ' -f1 "$1" | LC_ALL=C sort -u
}

install_deb() {
	in_root apt-get install -y "/mnt/xfs/${deb##*/}" > "$BATS_TEST_TMPDIR/apt" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/apt"; return 1; }
}

# left_as_pristine: the root is as before the package was installed, and
# dpkg has no record of the package.
left_as_pristine() {
	snapshot "$BATS_TEST_TMPDIR/now"
	diff "$BATS_FILE_TMPDIR/pristine" "$BATS_TEST_TMPDIR/now"
	run ! in_root dpkg-query -W reflink-shim
	[[ "$output" == *"no packages found matching reflink-shim"* ]]
}

@test "apt-get install puts exactly the package's files in place" {
	install_deb
	snapshot "$BATS_FILE_TMPDIR/installed"
	# what dpkg-deb lists and dpkg's own records of it, less the
	# directories the root already had
	local want=$BATS_TEST_TMPDIR/want
	{
		dpkg-deb --fsys-tarfile "$deb" | tar tf - | sed 's|/$||; /^\.$/d'
		printf '%s\n' ./var/lib/dpkg/info/reflink-shim.{list,md5sums}
	} | LC_ALL=C sort -u | LC_ALL=C comm -23 - <(paths "$BATS_FILE_TMPDIR/pristine") > "$want"
	grep -q "^./usr/lib/$triplet/reflink-shim/libreflink-shim.so$" "$want"
	diff "$want" <(LC_ALL=C comm -13 <(paths "$BATS_FILE_TMPDIR/pristine") <(paths "$BATS_FILE_TMPDIR/installed"))
	[ -f "$root/usr/lib/$triplet/reflink-shim/libreflink-shim.so" ]
	[ -x "$root/usr/bin/reflink-shim" ]
	[ -f "$root/usr/share/man/man1/reflink-shim.1.gz" ]
	[ -f "$root/usr/share/doc/reflink-shim/copyright" ]
	run in_root dpkg-query -W -f '${Status} ${Version}' reflink-shim
	[ "$output" = "install ok installed $version" ]
}

@test "the installed wrapper preloads the library from /usr/lib/TRIPLET/reflink-shim/" {
	[ -x "$root/usr/bin/reflink-shim" ] || { echo "not installed (the test before failed)"; return 1; }
	run in_root reflink-shim sh -c 'echo "$LD_PRELOAD"'
	[ "$status" -eq 0 ]
	[ "$output" = "/usr/lib/$triplet/reflink-shim/libreflink-shim.so" ]
	# before a library make install PREFIX=/usr would have put in /usr/lib
	mkdir "$root/usr/lib/reflink-shim"
	cp "$root/usr/lib/$triplet/reflink-shim/libreflink-shim.so" "$root/usr/lib/reflink-shim/"
	run in_root reflink-shim sh -c 'echo "$LD_PRELOAD"'
	rm -r "$root/usr/lib/reflink-shim"
	[ "$output" = "/usr/lib/$triplet/reflink-shim/libreflink-shim.so" ]
	run in_root reflink-shim --version
	[ "$output" = "$("$SHIM_WRAPPER" --version)" ]
}

@test "dd and cp --reflink=never through the installed wrapper clone on XFS" {
	[ -x "$root/usr/bin/reflink-shim" ] || { echo "not installed (the test before failed)"; return 1; }
	mksrc "$xfs/src" 4M
	# without the wrapper the copy is a copy: the check below can tell
	in_root dd if=/mnt/xfs/src of=/mnt/xfs/plain bs=128K status=none
	cmp "$xfs/src" "$xfs/plain"
	[ "$(shared_bytes "$xfs/plain")" -eq 0 ]
	in_root reflink-shim dd if=/mnt/xfs/src of=/mnt/xfs/dd bs=128K status=none
	in_root reflink-shim cp --reflink=never /mnt/xfs/src /mnt/xfs/cp
	run in_root reflink-shim --stats dd if=/mnt/xfs/src of=/mnt/xfs/dd2 bs=1M status=none
	[ "$output" = "reflink-shim: 1 file cloned (4.0 MiB shared)" ]
	for f in dd cp dd2; do
		cmp "$xfs/src" "$xfs/$f"
		[ "$(shared_bytes "$xfs/$f")" -eq 4194304 ]
	done
}

@test "apt-get remove leaves the root as it was" {
	[ -x "$root/usr/bin/reflink-shim" ] || { echo "not installed (the test before failed)"; return 1; }
	in_root apt-get remove -y reflink-shim > "$BATS_TEST_TMPDIR/apt" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/apt"; return 1; }
	left_as_pristine
}

@test "apt-get purge leaves the root as it was" {
	install_deb
	in_root apt-get purge -y reflink-shim > "$BATS_TEST_TMPDIR/apt" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/apt"; return 1; }
	left_as_pristine
}

@test "lintian finds no error or warning in the package" {
	need_cmd lintian
	run lintian --fail-on error,warning "$deb"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"W: "* && "$output" != *"E: "* ]]
}
