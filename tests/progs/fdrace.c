/*
 * fdrace — private-fd bookkeeping under fork, vfork and threads, for
 * differential tests (tests/invisible.bats). Prints every value observed.
 *
 *   fdrace forkstdin SRC DST   copy SRC to DST, then a fork child reports fd 0
 *   fdrace vforkdup SRC DST    half a copy; a vfork child does F_DUPFD and
 *                              dup2 onto high numbers; the parent finishes
 *   fdrace dup2race SRC DST    one thread arms copies into DST over and over
 *                              while another dup2s onto the shim's numbers
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[1 << 20];

static void copy_all(const char *src, const char *dst)
{
	int s = open(src, O_RDONLY), d = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t r;
	while ((r = read(s, buf, 65536)) > 0)
		if (write(d, buf, (size_t)r) != r)
			printf("short write\n");
	close(s);
	close(d);
}

static const char *dst_path;
static volatile int stop;
static int wrong;

static void *copier(void *a)
{
	(void)a;
	while (!stop) {
		int d = open(dst_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (write(d, buf, 65536) != 65536)
			wrong++;
		close(d);
		struct stat st;
		if (stat(dst_path, &st) != 0 || st.st_size != 65536)
			wrong++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(argv[1], "forkstdin")) {
		copy_all(argv[2], argv[3]);
		pid_t c = fork();
		if (c == 0) {
			printf("child: fcntl(0, F_GETFD) = %d\n", fcntl(0, F_GETFD));
			_exit(0);
		}
		int st;
		waitpid(c, &st, 0);
		printf("child status %d\n", WEXITSTATUS(st));
	} else if (!strcmp(argv[1], "vforkdup")) {
		int s = open(argv[2], O_RDONLY), d = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ssize_t r = read(s, buf, 65536);
		printf("write = %zd\n", write(d, buf, (size_t)r));
		pid_t c = vfork();
		if (c == 0) {
			int a = fcntl(2, F_DUPFD, 10), b = dup2(0, 4096);
			(void)a;
			(void)b;
			_exit(0);
		}
		waitpid(c, NULL, 0);
		close(d);
		close(s);
		struct stat st;
		stat(argv[3], &st);
		printf("D size %lld\n", (long long)st.st_size);
	} else if (!strcmp(argv[1], "dup2race")) {
		int s = open(argv[2], O_RDONLY);
		printf("read = %zd\n", read(s, buf, sizeof(buf)));
		dst_path = argv[3];
		int nul = open("/dev/null", O_WRONLY);
		pthread_t t;
		pthread_create(&t, NULL, copier, NULL);
		int bad = 0;
		for (int i = 0; i < 20000; i++) {
			for (int fd = 768; fd < 772; fd++) {
				if (dup2(nul, fd) != fd || write(fd, "x", 1) != 1 || close(fd) != 0)
					bad++;
			}
		}
		stop = 1;
		pthread_join(t, NULL);
		printf("copies of the wrong size: %s\n", wrong ? "some" : "none");
		printf("failed dup2/write/close on 768..771: %s\n", bad ? "some" : "none");
	}
	return 0;
}
