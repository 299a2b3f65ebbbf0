#!/bin/sh
# Inject reflink-shim into an unmodified image at `docker run` time: the
# installed library is bind-mounted read-only and preloaded. Copies within
# /data (a directory on XFS with reflink=1 or btrfs) become clones, and so
# do copies within the container's root filesystem when Docker keeps it in
# overlay2 on such an XFS; a copy between /data and the root filesystem
# stays an ordinary copy (two filesystems to the kernel). REFLINK_SHIM_LOG
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
