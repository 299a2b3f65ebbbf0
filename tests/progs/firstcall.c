/*
 * firstcall — the process's first call of a wrapper, where resolving the
 * real functions happens (shim/real.c), from the hard places:
 *
 *   firstcall signal FILE    from a signal handler on an 8 KiB alternate
 *                            stack (what DESIGN.md promises wrappers need)
 *   firstcall threads FILE   from 16 threads at once
 *
 * Each call reads FILE's first line and writes it to stdout; nothing before
 * calls a wrapped function.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define THREADS 16

static const char *file;
static pthread_barrier_t start;

static void echo_line(void)
{
	char buf[256];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd < 0 || n <= 0 || close(fd) != 0)
		_exit(2);
	char *nl = memchr(buf, '\n', (size_t)n);
	if (write(1, buf, nl ? (size_t)(nl - buf + 1) : (size_t)n) < 0)
		_exit(3);
}

static void handler(int sig)
{
	(void)sig;
	echo_line();
}

static void *thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start);
	echo_line();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	file = argv[2];
	if (!strcmp(argv[1], "signal")) {
		static char stack[8192];
		stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };
		struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_ONSTACK };
		if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
			return 1;
		raise(SIGUSR1);
		return 0;
	}
	pthread_t t[THREADS];
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, thread, NULL) != 0)
			return 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	return 0;
}
