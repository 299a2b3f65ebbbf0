#!/usr/bin/env bash
# make install of a small C project (examples/project) into a prefix, under
# reflink-shim: the installed files that are big enough share their blocks
# with the build tree instead of being written again.
#
#   examples/make-install.sh DIR     DIR on XFS/btrfs: builds in DIR/build,
#                                    installs into DIR/prefix
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shim=${REFLINK_SHIM:-$here/../build/reflink-shim}
dir=${1:?usage: make-install.sh DIR}
mkdir -p "$dir"
rm -rf "$dir/build" "$dir/prefix"
cp -r "$here/project" "$dir/build"
make -s -C "$dir/build"
"$shim" --probe "$dir"
"$shim" --stats make -s -C "$dir/build" install PREFIX="$dir/prefix" DESTDIR=
"$dir/prefix/bin/wordstat" "$dir/prefix/share/wordstat/words.txt"
