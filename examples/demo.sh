#!/usr/bin/env bash
# make demo: a 256 MiB copy by a plain read/write copier, without and with
# reflink-shim, on a small XFS image made for the occasion (root needed).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
lib=$top/build/libreflink-shim.so
cprw=$top/build/examples/cp-rw
fileinfo=$top/build/tests/fileinfo

if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root (it mounts a loop XFS filesystem)" >&2
	exit 1
fi
command -v mkfs.xfs >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xfsprogs >/dev/null

work=$(mktemp -d /tmp/reflink-shim-demo.XXXXXX)
cleanup() { cd /; umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
truncate -s 1G "$work/xfs.img"
mkfs.xfs -q -m reflink=1 "$work/xfs.img"
mkdir "$work/mnt"
mount -o loop "$work/xfs.img" "$work/mnt"
cd "$work/mnt"
echo "Making a 256 MiB file on a fresh XFS (reflink=1) image..."
head -c 256M /dev/urandom > src
sync

used() { sync; df -B1 --output=used . | tail -1; }
shared() { "$fileinfo" shared "$1" | cut -d' ' -f1; }
run() {
	local label=$1 dst=$2; shift 2
	local before after t0 t1
	before=$(used)
	t0=$(date +%s.%N)
	"$@" src "$dst"
	sync  # the plain copy's data is only in the page cache until written
	t1=$(date +%s.%N)
	after=$(used)
	cmp -s src "$dst" || { echo "$label: copy differs!" >&2; exit 1; }
	printf '%-30s %8.3f s %12s %14s\n' "$label" "$(echo "$t1 - $t0" | bc)" \
		"$(numfmt --to=iec "$(shared "$dst")")" "$(numfmt --to=iec $((after - before)))"
}

command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null
echo
printf '%-30s %10s %12s %14s\n' "256 MiB, 128 KiB read/write" "copy+sync" "shared" "new space"
run "plain cp-rw" plain.out "$cprw"
run "cp-rw under reflink-shim" shim.out env LD_PRELOAD="$lib" "$cprw"
echo
echo "Both copies are byte-identical to the source (checked with cmp)."
