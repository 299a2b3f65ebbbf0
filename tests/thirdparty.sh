#!/usr/bin/env bash
# make check-python: CPython's own file-I/O test suites, with their
# temporary directory on a loop XFS (reflink=1), run without and with the
# shim; both runs must pass. Needs root (loop mount) and Debian's
# libpython3.11-testsuite, installed here when missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "check-python needs root (it mounts a loop XFS)" >&2; exit 1; }
py=/usr/bin/python3
ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ ! -f "/usr/lib/python$ver/test/test_shutil.py" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libpython$ver-testsuite" >/dev/null
fi
command -v mkfs.xfs >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xfsprogs >/dev/null
work=$(mktemp -d /tmp/reflink-shim-py.XXXXXX)
cleanup() { cd /; umount -l "$work/xfs" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
truncate -s 2G "$work/xfs.img"
mkfs.xfs -q -m reflink=1 "$work/xfs.img"
mkdir "$work/xfs"
mount -o loop "$work/xfs.img" "$work/xfs"
suites=(test_shutil test_os test_fcntl test_io test_fileio test_tempfile test_tarfile test_zipfile test_mmap
	test_subprocess test_posix)
cd "$work"
echo "CPython $ver suites, TMPDIR on XFS, without the shim:"
TMPDIR=$work/xfs "$py" -m test -j2 "${suites[@]}" | tail -3
echo "... and with it:"
TMPDIR=$work/xfs LD_PRELOAD=$top/build/libreflink-shim.so REFLINK_SHIM_LOG=$work/log \
	"$py" -m test -j2 "${suites[@]}" | tail -3
echo "clones made during the shimmed run: $(grep -c ' clone fd=' "$work/log" 2>/dev/null || echo 0)"
