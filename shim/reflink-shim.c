/*
 * reflink-shim — run a command with libreflink-shim.so preloaded.
 *
 *   reflink-shim [--] CMD [ARGS...]
 *
 * Prepends the library to LD_PRELOAD (keeping what is there, never adding
 * it twice), then execs CMD, so CMD's exit status is ours. The library is
 * looked for next to this executable, then in ../lib/reflink-shim/ and
 * ../lib/ relative to it (an installed prefix).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIBNAME "libreflink-shim.so"

static const char *progname = "reflink-shim";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [--] CMD [ARGS...]\n"
		"Run CMD with libreflink-shim.so preloaded: whole-file copies it makes on\n"
		"XFS, btrfs or bcachefs become reflinks (one FICLONE) instead of data copies.\n"
		"\n"
		"Options:\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show the version and exit\n"
		"\n"
		"Environment (also honoured by LD_PRELOAD=libreflink-shim.so directly):\n"
		"  REFLINK_SHIM_DISABLE=1       interpose nothing\n"
		"  REFLINK_SHIM_MIN_SIZE=N      copy sources smaller than N bytes (K/M/G)\n"
		"  REFLINK_SHIM_MAX_EXTENTS=N   copy sources with more than N extents\n"
		"                               (default: one per 32 KiB of the file)\n"
		"  REFLINK_SHIM_LOG=FILE        append one line per decision to FILE\n"
		"\n"
		"Exit status: CMD's, or 127 if CMD cannot be run, 125 on a usage error.\n",
		progname);
}

/* Finds the library relative to our own executable. */
static int find_library(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	static const char *const rel[] = { "/", "/../lib/reflink-shim/", "/../lib/" };
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(out, size, "%s%s%s", self, rel[i], LIBNAME) >= size)
			continue;
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -1;
}

/* True when the colon/space separated list already names lib. */
static int preload_has(const char *list, const char *lib)
{
	size_t len = strlen(lib);
	for (const char *p = list; *p;) {
		while (*p == ':' || *p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ':' && *e != ' ')
			e++;
		if ((size_t)(e - p) == len && strncmp(p, lib, len) == 0)
			return 1;
		p = e;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("reflink-shim %s\n", REFLINK_SHIM_VERSION);
			return 0;
		} else {
			fprintf(stderr, "%s: unknown option '%s'\n", progname, a);
			usage(stderr);
			return 125;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "%s: no command given\n", progname);
		usage(stderr);
		return 125;
	}
	char lib[PATH_MAX];
	if (find_library(lib, sizeof(lib)) != 0) {
		fprintf(stderr, "%s: cannot find %s next to this program or in ../lib\n", progname, LIBNAME);
		return 127;
	}
	const char *old = getenv("LD_PRELOAD");
	if (!old || !*old) {
		setenv("LD_PRELOAD", lib, 1);
	} else if (!preload_has(old, lib)) {
		size_t n = strlen(lib) + 1 + strlen(old) + 1;
		char *v = malloc(n);
		if (!v) {
			perror(progname);
			return 125;
		}
		snprintf(v, n, "%s:%s", lib, old);
		setenv("LD_PRELOAD", v, 1);
		free(v);
	}
	execvp(argv[i], argv + i);
	int e = errno;
	fprintf(stderr, "%s: %s: %s\n", progname, argv[i], strerror(e));
	return e == ENOENT ? 127 : 126;
}
