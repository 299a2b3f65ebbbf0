#!/usr/bin/env bash
# Several Python virtual environments made with `python3 -m venv --copies`,
# under reflink-shim. venv copies the interpreter with shutil.copyfile
# (sendfile); a clone needs source and copy on one filesystem, so the first
# environment's interpreter (on DIR) is the source of the others.
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
echo "venv1 from $py (another filesystem: copied)"
"$shim" --stats "$py" -m venv --copies --without-pip "$dir/venv1"
for ((i = 2; i <= n; i++)); do
	echo "venv$i from venv1"
	"$shim" --stats "$dir/venv1/bin/python3" -m venv --copies --without-pip "$dir/venv$i"
done
"$dir/venv$n/bin/python3" -c 'import sys; print("venv python:", sys.prefix)'
