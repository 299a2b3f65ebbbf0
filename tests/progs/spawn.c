/*
 * spawn — process start-up time: spawn PROGRAM N times, one after the
 * other, and print the seconds it took.
 *
 *   spawn N PROGRAM [PRELOAD]
 *
 * The children get LD_PRELOAD=PRELOAD (none if absent or empty) and nothing
 * else from this environment but PATH, so that the one difference between
 * runs is the library; this process itself is never preloaded.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawn N PROGRAM [PRELOAD]\n");
		return 2;
	}
	long n = atol(argv[1]);
	char *child_argv[] = { argv[2], NULL };
	char path[4096], preload[4096];
	snprintf(path, sizeof(path), "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", argc > 3 ? argv[3] : "");
	char *child_env[] = { path, argc > 3 && *argv[3] ? preload : NULL, NULL };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		pid_t pid;
		int status;
		if (posix_spawn(&pid, argv[2], NULL, NULL, child_argv, child_env) != 0 ||
		    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "spawn: %s failed\n", argv[2]);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
