/*
 * shmindex: makes and inspects System V segments with the key of the
 * shim's index of sources (shim/share.h), for share.bats's malformed and
 * foreign indexes. KEY is a number, "ours" (the effective user's key), or
 * "previous" (its key in the layout before ours).
 *
 *   shmindex make KEY SIZE MODE FILL   FILL: zero, garbage (no header),
 *                                      slots (our header, garbage after),
 *                                      previous (the previous layout's
 *                                      header, zeros after)
 *   shmindex sum KEY                   a digest of the segment, or "none"
 *   shmindex size                      the index's size
 *   shmindex key [UID]                 the key of the effective user, or UID
 */
#include "common.h"

#include <sys/ipc.h>
#include <sys/shm.h>

#include "../../shim/share.h"

static key_t key_of(const char *s)
{
	if (!strcmp(s, "ours"))
		return (key_t)(SHARE_IPC_KEY ^ (unsigned)geteuid());
	if (!strcmp(s, "previous"))
		return (key_t)(SHARE_IPC_KEY_OF(SHARE_LAYOUT - 1) ^ (unsigned)geteuid());
	return (key_t)num(s);
}

static void cmd_make(char **av)
{
	size_t size = (size_t)num(av[1]);
	int id = shmget(key_of(av[0]), size, IPC_CREAT | IPC_EXCL | (int)strtol(av[2], NULL, 8));
	if (id < 0)
		die("shmget: %s", strerror(errno));
	unsigned char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		die("shmat: %s", strerror(errno));
	uint64_t h = FNV_INIT;
	if (strcmp(av[3], "zero") != 0 && strcmp(av[3], "previous") != 0)
		for (size_t i = 0; i < size; i++) {
			h = fnv(&i, sizeof i, h);
			p[i] = (unsigned char)h;
		}
	if (!strcmp(av[3], "slots")) {
		uint64_t m = SHARE_MAGIC;
		memcpy(p, &m, sizeof m);
	}
	if (!strcmp(av[3], "previous")) {
		uint64_t m = SHARE_MAGIC_OF(SHARE_LAYOUT - 1);
		memcpy(p, &m, sizeof m);
	}
	shmdt(p);
}

static void cmd_sum(char **av)
{
	int id = shmget(key_of(av[0]), 0, 0);
	struct shmid_ds ds;
	unsigned char *p;
	if (id < 0 || shmctl(id, IPC_STAT, &ds) != 0 || (p = shmat(id, NULL, SHM_RDONLY)) == (void *)-1) {
		puts("none");
		return;
	}
	printf("%zu %016llx\n", (size_t)ds.shm_segsz, (unsigned long long)fnv(p, ds.shm_segsz, FNV_INIT));
	shmdt(p);
}

static void cmd_size(char **av)
{
	(void)av;
	printf("%zu\n", (size_t)SHARE_BYTES);
}

static void cmd_key(char **av)
{
	if (av[0])
		printf("%d\n", (int)(SHARE_IPC_KEY ^ (unsigned)num(av[0])));
	else
		printf("%d\n", (int)key_of("ours"));
}

int main(int argc, char **argv)
{
	static const struct subcmd cmds[] = {
		{ "make", 4, cmd_make },
		{ "sum", 1, cmd_sum },
		{ "size", 0, cmd_size },
		{ "key", 0, cmd_key },
	};
	return run_subcmd(cmds, sizeof cmds / sizeof cmds[0], argc, argv);
}
