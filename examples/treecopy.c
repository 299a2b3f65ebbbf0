/*
 * treecopy — copies a directory tree with N worker threads, each file by
 * plain read()/write(). It knows nothing about reflinks; under reflink-shim
 * each file's copy becomes one FICLONE, and the threads overlap the
 * per-file metadata work that a single-threaded `cp -r` serialises.
 *
 *   treecopy [-j THREADS] [-b BYTES] SRC DST
 *
 * DST must not exist. Regular files, directories and symlinks are copied
 * (mode kept); anything else is reported and skipped. Exit status 1 if any
 * entry failed.
 *
 * Work queue: directories. A worker takes a directory, creates its copy,
 * copies its files and queues its subdirectories.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct job {
	struct job *next;
	char *src, *dst;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head;
	int busy;     /* workers holding a job */
	int failed;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0 };

static size_t bufsize = 128 * 1024;

static void fail(const char *what, const char *path)
{
	fprintf(stderr, "treecopy: %s: %s: %s\n", what, path, strerror(errno));
	__atomic_store_n(&q.failed, 1, __ATOMIC_RELAXED);
}

static char *join(const char *a, const char *b)
{
	char *p;
	if (asprintf(&p, "%s/%s", a, b) < 0) {
		perror("treecopy");
		exit(1);
	}
	return p;
}

static void push(char *src, char *dst)
{
	struct job *j = malloc(sizeof(*j));
	if (!j) {
		perror("treecopy");
		exit(1);
	}
	j->src = src;
	j->dst = dst;
	pthread_mutex_lock(&q.lock);
	j->next = q.head;
	q.head = j;
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
}

static ssize_t write_all(int fd, const char *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

static void copy_file(const char *src, const char *dst, mode_t mode, char *buf)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		fail("open", src);
		return;
	}
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	if (out < 0) {
		fail("create", dst);
		close(in);
		return;
	}
	for (;;) {
		ssize_t n = read(in, buf, bufsize);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail("read", src);
			break;
		}
		if (n == 0)
			break;
		if (write_all(out, buf, (size_t)n) < 0) {
			fail("write", dst);
			break;
		}
	}
	close(in);
	if (close(out) != 0)
		fail("close", dst);
}

static void copy_dir(const char *src, const char *dst, char *buf)
{
	DIR *d = opendir(src);
	if (!d) {
		fail("opendir", src);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *s = join(src, e->d_name), *t = join(dst, e->d_name);
		struct stat st;
		if (lstat(s, &st) != 0) {
			fail("stat", s);
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdir(t, st.st_mode & 07777) != 0) {
				fail("mkdir", t);
			} else {
				push(s, t);
				continue;  /* the job owns s and t now */
			}
		} else if (S_ISREG(st.st_mode)) {
			copy_file(s, t, st.st_mode, buf);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(s, target, sizeof(target) - 1);
			if (n < 0) {
				fail("readlink", s);
			} else {
				target[n] = 0;
				if (symlink(target, t) != 0)
					fail("symlink", t);
			}
		} else {
			fprintf(stderr, "treecopy: %s: not a file, directory or symlink; skipped\n", s);
		}
		free(s);
		free(t);
	}
	closedir(d);
}

static void *worker(void *arg)
{
	char *buf = malloc(bufsize);
	if (!buf) {
		perror("treecopy");
		exit(1);
	}
	pthread_mutex_lock(&q.lock);
	for (;;) {
		while (!q.head && q.busy)
			pthread_cond_wait(&q.cond, &q.lock);
		if (!q.head)
			break;  /* empty and nobody can add more: done */
		struct job *j = q.head;
		q.head = j->next;
		q.busy++;
		pthread_mutex_unlock(&q.lock);
		copy_dir(j->src, j->dst, buf);
		free(j->src);
		free(j->dst);
		free(j);
		pthread_mutex_lock(&q.lock);
		q.busy--;
		if (!q.head && !q.busy)
			pthread_cond_broadcast(&q.cond);
	}
	pthread_mutex_unlock(&q.lock);
	free(buf);
	return arg;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: treecopy [-j THREADS] [-b BYTES] SRC DST\n"
		   "Copies the directory tree SRC to DST (which must not exist) with\n"
		   "THREADS workers (default 4), read()/write() in BYTES chunks (128 KiB).\n");
}

int main(int argc, char **argv)
{
	int threads = 4, opt;
	while ((opt = getopt(argc, argv, "j:b:h")) != -1) {
		switch (opt) {
		case 'j':
			threads = atoi(optarg);
			break;
		case 'b':
			bufsize = strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2 || threads < 1 || threads > 256 || bufsize == 0) {
		usage(stderr);
		return 2;
	}
	const char *src = argv[optind], *dst = argv[optind + 1];
	struct stat st;
	if (stat(src, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "treecopy: %s: not a directory\n", src);
		return 1;
	}
	if (mkdir(dst, st.st_mode & 07777) != 0) {
		fprintf(stderr, "treecopy: %s: %s\n", dst, strerror(errno));
		return 1;
	}
	push(strdup(src), strdup(dst));
	pthread_t tid[256];
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, worker, NULL) != 0) {
			fprintf(stderr, "treecopy: cannot start thread %d\n", i);
			return 1;
		}
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	return q.failed;
}
