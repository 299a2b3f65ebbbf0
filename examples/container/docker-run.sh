#!/bin/sh
# Inject reflink-shim into an unmodified image at `docker run` time: the
# installed library is bind-mounted read-only and preloaded. Copies within
# the reflink volume mounted at /data become clones. REFLINK_SHIM_LOG
# prints each decision on the container's stderr.
#
#   examples/container/docker-run.sh IMAGE CMD [ARGS...]
set -eu
image=${1:?usage: docker-run.sh IMAGE CMD [ARGS...]}
shift
exec docker run --rm \
	-v /usr/local/lib/reflink-shim:/opt/reflink-shim:ro \
	-v /srv/reflink-data:/data \
	-e LD_PRELOAD=/opt/reflink-shim/libreflink-shim.so \
	-e REFLINK_SHIM_LOG=/dev/stderr \
	"$image" "$@"
