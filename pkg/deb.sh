#!/usr/bin/env bash
# Packs a staged `make install` (PREFIX=/usr, DESTDIR=STAGE) into a Debian
# binary package with Debian's own tools: make deb runs it.
#
#   pkg/deb.sh STAGE VERSION MULTIARCH OUTDIR
#
# Writes OUTDIR/reflink-shim_VERSION_ARCH.deb and prints its path. What
# Debian policy asks of a binary package, as debhelper would do it: stripped
# ELF files, the man page and the larger docs compressed (gzip -9n), a
# copyright file and a changelog in /usr/share/doc/reflink-shim/, md5sums,
# Depends computed by dpkg-shlibdeps, files owned by root.
#
# Not dpkg-buildpackage: its build would compile with Debian's hardening
# flags (stack protector, fortify), which import libc symbols; the library
# deliberately imports none (Makefile: LIBLINK). The package holds exactly
# what make builds and the tests run.
#
#   DEBFULLNAME, DEBEMAIL   the Maintainer field and the changelog's signer
#   SOURCE_DATE_EPOCH       the changelog's date (default: now)
set -euo pipefail

die() {
	echo "deb: $*" >&2
	exit 1
}

[ $# -eq 4 ] || die "usage: $0 STAGE VERSION MULTIARCH OUTDIR"
stage=$1 version=$2 multiarch=$3 outdir=$4
top=$(cd "$(dirname "$0")/.." && pwd)
for t in dpkg-deb dpkg-architecture dpkg-shlibdeps; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (apt-get install dpkg-dev)"
done
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
debma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
# The wrapper looks in ../lib/MULTIARCH/ as the compiler named it (Makefile):
# the package must put the library in that same directory.
[ "$multiarch" = "$debma" ] ||
	die "the compiler's triplet '${multiarch:-(none)}' is not Debian's '$debma' for $arch"
[ -f "$stage/usr/lib/$multiarch/reflink-shim/libreflink-shim.so" ] && [ -x "$stage/usr/bin/reflink-shim" ] ||
	die "$stage does not hold make install's files (PREFIX=/usr LIBSUB=lib/$multiarch/reflink-shim)"

maint="${DEBFULLNAME:-reflink-shim maintainers} <${DEBEMAIL:-maintainers@users.noreply.h-seed-638be18a.example}>"
doc=$stage/usr/share/doc/reflink-shim
umask 022

# ELF files without debugging symbols (dh_strip's options).
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
	"$stage/usr/lib/$multiarch/reflink-shim/libreflink-shim.so"
strip --remove-section=.comment --remove-section=.note "$stage/usr/bin/reflink-shim"

# Compressed as dh_compress does: the man page, docs over 4 KiB; never the
# copyright file.
gzip -9n "$stage/usr/share/man/man1/reflink-shim.1"
for f in "$doc"/*; do
	[ "$(stat -c %s "$f")" -le 4096 ] || gzip -9n "$f"
done
install -m 644 "$top/pkg/copyright" "$doc/copyright"
mkdir -p "$stage/usr/share/lintian/overrides"
cat > "$stage/usr/share/lintian/overrides/reflink-shim" <<EOF
# No DT_NEEDED on purpose: the library is preloaded into programs that
# already have libc, and every needed library would cost a search by name at
# each process start (Makefile: LIBLINK; tests/startup.bats).
reflink-shim: shared-library-lacks-prerequisites [usr/lib/$multiarch/reflink-shim/libreflink-shim.so]
EOF
chmod 644 "$stage/usr/share/lintian/overrides/reflink-shim"
date=$(date -R ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"})
{
	echo "reflink-shim ($version) unstable; urgency=medium"
	echo
	echo "  * Built by make deb from the reflink-shim source tree."
	echo
	echo " -- $maint  $date"
} | gzip -9n > "$doc/changelog.gz"
chmod 644 "$doc/changelog.gz"

# Depends: what the ELF files need, from the installed libraries' shlibs and
# symbols files. dpkg-shlibdeps wants a debian/control naming the package,
# and the files in a tree with a DEBIAN directory.
mkdir -p "$stage/DEBIAN"
root=$(realpath "$stage")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/debian"
printf 'Source: reflink-shim\n\nPackage: reflink-shim\nArchitecture: any\n' > "$scratch/debian/control"
depends=$(cd "$scratch" && dpkg-shlibdeps -O "$root/usr/bin/reflink-shim" \
	"$root/usr/lib/$multiarch/reflink-shim/libreflink-shim.so" | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"

(cd "$stage" && find usr -type f | LC_ALL=C sort | xargs md5sum) \
	> "$stage/DEBIAN/md5sums"
cat > "$stage/DEBIAN/control" <<EOF
Package: reflink-shim
Version: $version
Architecture: $arch
Maintainer: $maint
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Section: utils
Priority: optional
Description: make programs' whole-file copies reflinks (LD_PRELOAD)
 reflink-shim runs a program with a preloaded library that watches for one
 pattern: a whole regular file copied into a new file on the same
 reflink-capable filesystem (XFS with reflink, btrfs, bcachefs), by
 read/write in any chunk size, sendfile, copy_file_range or one whole-file
 read and write. It replaces the data copy with one FICLONE ioctl, so the
 copy takes no new data blocks and no time that depends on its size.
 Everything the program observes stays as it would be without the library;
 any other use of its files is left alone.
EOF
chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

deb=$outdir/reflink-shim_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
