/*
 * reflink-shim — run a command with libreflink-shim.so preloaded.
 *
 *   reflink-shim [OPTIONS] [--] CMD [ARGS...]
 *   reflink-shim --probe DIR
 *
 * Prepends the library to LD_PRELOAD (keeping what is there, never adding
 * it twice) and runs CMD; CMD's exit status is ours. The library is looked
 * for next to this executable (the build tree), then relative to it in
 * ../lib/MULTIARCH/reflink-shim/ (the Debian package, MULTIARCH being the
 * compiler's triplet, e.g. x86_64-linux-gnu), ../lib/reflink-shim/ (make
 * install) and ../lib/. Relative, so that the one binary make builds works
 * in the build tree, under any PREFIX and in the package.
 *
 * Without --stats or --verbose, CMD replaces us (exec). With them we stay
 * as CMD's parent: --stats adds up the records every process of CMD's tree
 * appended to a file we created, --verbose gives the library our stderr by
 * a path (/proc/OUR-PID/fd/2) that stays valid while we wait.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsname.h"

#define LIBNAME "libreflink-shim.so"
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

static const char *progname = "reflink-shim";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [OPTIONS] [--] CMD [ARGS...]\n"
		"       %s --probe DIR\n"
		"Run CMD with libreflink-shim.so preloaded: whole-file copies it makes on\n"
		"XFS, btrfs or bcachefs become reflinks (one FICLONE) instead of data copies.\n"
		"\n"
		"Options:\n"
		"  --probe DIR    check whether a reflink works in DIR (exit 0 if so, 1 if not)\n"
		"  --stats        after CMD, print what CMD and its children cloned, and why\n"
		"                 other copies were not cloned\n"
		"  --log FILE     append one line per decision to FILE\n"
		"  -v, --verbose  the same, to standard error\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show the version and exit\n"
		"\n"
		"Environment (also honoured by LD_PRELOAD=libreflink-shim.so directly):\n"
		"  REFLINK_SHIM_DISABLE=1       interpose nothing\n"
		"  REFLINK_SHIM_EXCLUDE=A:B     programs named A or B are left alone\n"
		"  REFLINK_SHIM_MIN_SIZE=N      copy sources smaller than N bytes (K/M/G; 128K\n"
		"                               into XFS, else 64K; 16K for one sendfile or\n"
		"                               copy_file_range of it all)\n"
		"  REFLINK_SHIM_SHARE=0         no copies across processes (rsync, tar | tar,\n"
		"                               cat | dd)\n"
		"  REFLINK_SHIM_MAX_EXTENTS=N   copy sources with more than N extents\n"
		"                               (default: one per 32 KiB of the file)\n"
		"  REFLINK_SHIM_LOG=FILE        append one line per decision to FILE\n"
		"  REFLINK_SHIM_STATS=FILE      append one record per process to FILE\n"
		"\n"
		"Exit status: CMD's; 125 on a usage error, 126 if CMD cannot be run,\n"
		"127 if CMD or the library is not found. --probe: 0 supported, 1 not.\n"
		"See reflink-shim(1).\n",
		progname, progname);
}

static void short_usage(void)
{
	fprintf(stderr, "usage: %s [OPTIONS] [--] CMD [ARGS...]\n"
		"Try '%s --help' for more information.\n", progname, progname);
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
	static const char *const rel[] = {
		"/",
#ifdef REFLINK_SHIM_MULTIARCH
		/* first after the build tree: a package's wrapper in /usr/bin must
		 * not pick up a library make install put in /usr/lib/reflink-shim */
		"/../lib/" REFLINK_SHIM_MULTIARCH "/reflink-shim/",
#endif
		"/../lib/reflink-shim/",
		"/../lib/",
	};
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char path[PATH_MAX];
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", self, rel[i], LIBNAME) >= sizeof(path))
			continue;
		/* LD_PRELOAD gets a clean absolute path, as users would write it */
		if (access(path, R_OK) == 0 && realpath(path, out) && strlen(out) < size)
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

/* ---- --probe ---- */

static int probe(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		fprintf(stderr, "%s: --probe %s: %s\n", progname, dir, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: --probe %s: not a directory\n", progname, dir);
		return 1;
	}
	struct statfs sf;
	long type = statfs(dir, &sf) == 0 ? (long)sf.f_type : 0;
	const char *fs = fs_type_name(type);
	char src[PATH_MAX], dst[PATH_MAX];
	snprintf(src, sizeof(src), "%s/.reflink-shim-probe.XXXXXX", dir);
	snprintf(dst, sizeof(dst), "%s/.reflink-shim-probe.XXXXXX", dir);
	int s = mkstemp(src);
	if (s < 0) {
		int e = errno;
		printf("reflink not usable in %s (%s): cannot create a file: %s\n", dir, fs,
		       e == EROFS ? "read-only filesystem" : e == EACCES || e == EPERM ? "permission denied" : strerror(e));
		return 1;
	}
	int d = mkstemp(dst);
	if (d < 0) {
		int e = errno;
		unlink(src);
		close(s);
		printf("reflink not usable in %s (%s): cannot create a file: %s\n", dir, fs, strerror(e));
		return 1;
	}
	char block[4096];
	memset(block, 0x5a, sizeof(block));
	int rc = 1;
	if (write(s, block, sizeof(block)) != (ssize_t)sizeof(block)) {
		printf("reflink not usable in %s (%s): cannot write a file: %s\n", dir, fs, strerror(errno));
	} else if (ioctl(d, FICLONE, s) != 0) {
		int e = errno;
		const char *why = e == EOPNOTSUPP || e == ENOTTY || e == EINVAL || e == ENOSYS
					  ? "reflink unsupported" : e == EROFS ? "read-only filesystem" :
					  e == EPERM || e == EACCES ? "permission denied" : "clone failed";
		printf("reflink not supported in %s (%s): %s (%s)\n", dir, fs, why, strerror(e));
	} else if (fs_type_clone(type) != FS_CLONE) {
		/* The kernel clones here, the library does not (fsname.c). */
		printf("reflink supported in %s (%s), but reflink-shim does not clone there: %s\n", dir, fs,
		       fs_type_refusal(type));
	} else {
		printf("reflink supported (%s)\n", fs);
		rc = 0;
	}
	unlink(src);
	unlink(dst);
	close(s);
	close(d);
	return rc;
}

/* ---- warnings about CMD ---- */

/* The file execvp would run for cmd, or NULL. */
static const char *resolve(const char *cmd, char *buf, size_t size)
{
	if (strchr(cmd, '/'))
		return cmd;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *e = strchrnul(p, ':');
		int len = (int)(e - p);
		if ((size_t)snprintf(buf, size, "%.*s%s%s", len, p, len ? "/" : "", cmd) < size &&
		    access(buf, X_OK) == 0)
			return buf;
		if (!*e)
			return NULL;
		p = e + 1;
	}
}

/* Warns (once: we are one process per command) when the library cannot
 * enter CMD: setuid/setgid (the loader drops LD_PRELOAD) or static. */
static void warn_unreachable(const char *cmd)
{
	char buf[PATH_MAX];
	const char *file = resolve(cmd, buf, sizeof(buf));
	struct stat st;
	if (!file || stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	if ((st.st_mode & S_ISUID && st.st_uid != geteuid()) || (st.st_mode & S_ISGID && st.st_gid != getegid())) {
		fprintf(stderr, "%s: warning: %s is setuid/setgid: the loader ignores LD_PRELOAD, "
			"so its copies cannot be seen\n", progname, cmd);
		return;
	}
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	Elf64_Ehdr eh;
	bool is_static = false;
	if (read(fd, &eh, sizeof(eh)) == (ssize_t)sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr)) {
		is_static = true;
		for (int i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (Elf64_Off)i * sizeof(ph))) != (ssize_t)sizeof(ph))
				break;
			if (ph.p_type == PT_INTERP) {  /* static-pie has PT_DYNAMIC, no loader */
				is_static = false;
				break;
			}
		}
	}
	close(fd);
	if (is_static)
		fprintf(stderr, "%s: warning: %s is statically linked: nothing can be preloaded into it, "
			"so its copies cannot be seen\n", progname, cmd);
}

/* ---- --stats ---- */

struct totals {
	unsigned long long cloned, crossed, bytes, small, differed, layout, otherfs, failed, shared, unsupported;
	struct { char name[32]; unsigned long long n; } fs[16];
	int nfs;
};

static void add_fs(struct totals *t, const char *name, size_t len, unsigned long long n)
{
	if (len >= sizeof(t->fs[0].name))
		len = sizeof(t->fs[0].name) - 1;
	for (int i = 0; i < t->nfs; i++)
		if (strlen(t->fs[i].name) == len && !strncmp(t->fs[i].name, name, len)) {
			t->fs[i].n += n;
			return;
		}
	if (t->nfs == (int)(sizeof(t->fs) / sizeof(t->fs[0])))
		return;
	memcpy(t->fs[t->nfs].name, name, len);
	t->fs[t->nfs].name[len] = 0;
	t->fs[t->nfs++].n = n;
}

static void add_record(struct totals *t, char *line)
{
	for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = 0;
		const char *v = eq + 1;
		unsigned long long n = strtoull(v, NULL, 10);
		static const struct { const char *key; size_t off; } fields[] = {
			{ "cloned", offsetof(struct totals, cloned) },
			{ "crossed", offsetof(struct totals, crossed) },
			{ "bytes", offsetof(struct totals, bytes) },
			{ "small", offsetof(struct totals, small) },
			{ "differed", offsetof(struct totals, differed) },
			{ "layout", offsetof(struct totals, layout) },
			{ "other-fs", offsetof(struct totals, otherfs) },
			{ "failed", offsetof(struct totals, failed) },
			{ "shared", offsetof(struct totals, shared) },
			{ "unsupported-total", offsetof(struct totals, unsupported) },
		};
		bool known = false;
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && !known; i++)
			if (!strcmp(tok, fields[i].key)) {
				*(unsigned long long *)((char *)t + fields[i].off) += n;
				known = true;
			}
		if (known)
			continue;
		if (!strcmp(tok, "unsupported"))
			for (const char *p = v; *p;) {
				const char *e = strchrnul(p, ','), *colon = memchr(p, ':', (size_t)(e - p));
				if (colon)
					add_fs(t, p, (size_t)(colon - p), strtoull(colon + 1, NULL, 10));
				p = *e ? e + 1 : e;
			}
	}
}

static void human(char *buf, size_t size, unsigned long long b)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu bytes", b);
	else
		snprintf(buf, size, "%.1f %s", v, unit[u]);
}

static void print_stats(const char *file)
{
	struct totals t;
	memset(&t, 0, sizeof(t));
	FILE *f = fopen(file, "r");
	if (f) {
		char line[1024];
		while (fgets(line, sizeof(line), f))
			add_record(&t, line);
		fclose(f);
	}
	/* reasons, most common wording first */
	struct { unsigned long long n; char text[64]; } r[24];
	int nr = 0;
	unsigned long long named = 0;
	for (int i = 0; i < t.nfs; i++) {
		named += t.fs[i].n;
		r[nr].n = t.fs[i].n;
		snprintf(r[nr++].text, sizeof(r[0].text), "%s: reflink unsupported", t.fs[i].name);
	}
	const struct { unsigned long long n; const char *text; } fixed[] = {
		{ t.unsupported > named ? t.unsupported - named : 0, "reflink unsupported" },
		{ t.otherfs, "other filesystem" },
		{ t.small, "too small" },
		{ t.differed, "data differed" },
		{ t.layout, "sparse or fragmented source" },
		{ t.failed, "clone failed" },
		{ t.shared, "destination also open on another fd" },
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (fixed[i].n) {
			r[nr].n = fixed[i].n;
			snprintf(r[nr++].text, sizeof(r[0].text), "%s", fixed[i].text);
		}
	unsigned long long missed = 0;
	for (int i = 0; i < nr; i++)
		missed += r[i].n;
	char size[32];
	human(size, sizeof(size), t.bytes);
	fprintf(stderr, "%s: %llu file%s cloned (%s shared", progname, t.cloned, t.cloned == 1 ? "" : "s", size);
	if (t.crossed)
		fprintf(stderr, "; %llu from a file another process read", t.crossed);
	fputc(')', stderr);
	if (missed) {
		fprintf(stderr, ", %llu cop%s not cloned (", missed, missed == 1 ? "y" : "ies");
		for (int i = 0; i < nr; i++) {
			if (nr > 1)
				fprintf(stderr, "%s%llu %s", i ? ", " : "", r[i].n, r[i].text);
			else
				fprintf(stderr, "%s", r[i].text);
		}
		fputc(')', stderr);
	}
	fputc('\n', stderr);
}

/* ---- running CMD ---- */

static pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static int run_child(char **cmd, const char *stats)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH };
	child = fork();
	if (child < 0) {
		fprintf(stderr, "%s: fork: %s\n", progname, strerror(errno));
		return 125;
	}
	if (child == 0) {
		execvp(cmd[0], cmd);
		int e = errno;
		fprintf(stderr, "%s: %s: %s\n", progname, cmd[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	/* CMD gets the terminal's signals itself (same process group); these
	 * handlers pass on the ones sent to us alone. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "%s: waitpid: %s\n", progname, strerror(errno));
			return 125;
		}
	if (stats) {
		print_stats(stats);
		unlink(stats);
	}
	if (WIFSIGNALED(status)) {
		/* die the same way, so our parent sees what CMD did */
		int sig = WTERMSIG(status);
		signal(sig, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		return 128 + sig;
	}
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "probe", required_argument, NULL, 'p' },
		{ "stats", no_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *probe_dir = NULL, *log = NULL;
	bool stats = false, verbose = false;
	int c;
	opterr = 0;
	/* '+': options end at CMD, whose own options are its business */
	while ((c = getopt_long(argc, argv, "+hVv", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("reflink-shim %s\n", REFLINK_SHIM_VERSION);
			return 0;
		case 'p':
			probe_dir = optarg;
			break;
		case 's':
			stats = true;
			break;
		case 'l':
			log = optarg;
			verbose = false;
			break;
		case 'v':
			verbose = true;
			log = NULL;
			break;
		default:
			fprintf(stderr, "%s: unknown option or missing argument: '%s'\n", progname, argv[optind - 1]);
			short_usage();
			return 125;
		}
	}
	if (probe_dir) {
		if (optind < argc) {
			fprintf(stderr, "%s: --probe takes a directory, not a command\n", progname);
			return 125;
		}
		return probe(probe_dir);
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no command given\n", progname);
		short_usage();
		return 125;
	}
	char **cmd = argv + optind;
	char lib[PATH_MAX];
	if (find_library(lib, sizeof(lib)) != 0) {
		fprintf(stderr, "%s: cannot find %s next to this program or in ../lib\n", progname, LIBNAME);
		return 127;
	}
	const char *old = getenv("LD_PRELOAD");
	if (!old || !*old) {
		setenv("LD_PRELOAD", lib, 1);
	} else if (!preload_has(old, lib)) {
		char *v;
		if (asprintf(&v, "%s:%s", lib, old) < 0) {
			perror(progname);
			return 125;
		}
		setenv("LD_PRELOAD", v, 1);
		free(v);
	}
	if (log) {
		/* CMD may change directory: give the library an absolute path */
		char *abs = NULL;
		if (log[0] != '/') {
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, log) < 0) {
				fprintf(stderr, "%s: --log %s: %s\n", progname, log, strerror(errno));
				return 125;
			}
		}
		int fd = open(abs ? abs : log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "%s: --log %s: %s\n", progname, log, strerror(errno));
			return 125;
		}
		close(fd);
		setenv("REFLINK_SHIM_LOG", abs ? abs : log, 1);
		free(abs);
	}
	if (verbose) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/fd/2", (int)getpid());
		setenv("REFLINK_SHIM_LOG", path, 1);
	}
	char statsfile[PATH_MAX];
	if (stats) {
		const char *tmp = getenv("TMPDIR");
		snprintf(statsfile, sizeof(statsfile), "%s/reflink-shim-stats.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		int fd = mkstemp(statsfile);
		if (fd < 0) {
			fprintf(stderr, "%s: --stats: cannot create %s: %s\n", progname, statsfile, strerror(errno));
			return 125;
		}
		close(fd);
		setenv("REFLINK_SHIM_STATS", statsfile, 1);
	}
	warn_unreachable(cmd[0]);
	if (stats || verbose)
		return run_child(cmd, stats ? statsfile : NULL);
	execvp(cmd[0], cmd);
	int e = errno;
	fprintf(stderr, "%s: %s: %s\n", progname, cmd[0], strerror(e));
	return e == ENOENT ? 127 : 126;
}
