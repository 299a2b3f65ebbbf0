#!/usr/bin/env bash
# Several Python virtual environments made with `python3 -m venv --copies`,
# under reflink-shim. venv copies the base interpreter (shutil.copyfile,
# that is sendfile) into each environment under three names: the first
# copy comes from the base installation, on another filesystem, and is a
# real copy; the other two are copies of the first, and become clones. With
# the base Python on the same filesystem (pyenv, conda, a build tree), all
# three are clones.
#
#   examples/venvs.sh DIR [N]     N environments (default 4) in DIR/venvN
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shim=${REFLINK_SHIM:-$here/../build/reflink-shim}
dir=${1:?usage: venvs.sh DIR [N]}
n=${2:-4}
py=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
mkdir -p "$dir"
rm -rf "$dir"/venv*
for ((i = 1; i <= n; i++)); do
	echo "venv$i:"
	"$shim" --stats "$py" -m venv --copies --without-pip "$dir/venv$i"
done
"$dir/venv$n/bin/python3" -c 'import sys; print("venv python:", sys.prefix)'
