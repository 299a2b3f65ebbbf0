/*
 * elfsym.h — symbol lookup in the loaded objects, without the dynamic
 * linker: lock-free, allocation-free, async-signal-safe.
 */
#ifndef SHIM_ELFSYM_H
#define SHIM_ELFSYM_H

#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The GNU hash (h = h * 33 + c, from 5381) of a string literal of at most 31
 * characters, as a constant expression: names are hashed at build time.
 */
#define ELFSYM_HASH(s) \
	(ELFSYM_H4_(s, 28, ELFSYM_H4_(s, 24, ELFSYM_H4_(s, 20, ELFSYM_H4_(s, 16, ELFSYM_H4_(s, 12, \
	 ELFSYM_H4_(s, 8, ELFSYM_H4_(s, 4, ELFSYM_H4_(s, 0, 5381u)))))))) + 0 * sizeof(char[sizeof(s) <= 32 ? 1 : -1]))
#define ELFSYM_H4_(s, i, h) \
	ELFSYM_H1_(s, (i) + 3, ELFSYM_H1_(s, (i) + 2, ELFSYM_H1_(s, (i) + 1, ELFSYM_H1_(s, i, h))))
#define ELFSYM_H1_(s, i, h) \
	((h) * ((i) < sizeof(s) - 1 ? 33u : 1u) + \
	 ((i) < sizeof(s) - 1 ? (uint32_t)(unsigned char)(s)[(i) < sizeof(s) - 1 ? (i) : 0] : 0u))

/* A name to look up: ELFSYM_NAME("read"). */
struct elfsym_name {
	uint32_t hash;
	uint32_t len;
	char name[32];
};
#define ELFSYM_NAME(s) { ELFSYM_HASH(s), sizeof(s) - 1, s }

/*
 * Finds the list of loaded objects. auxv is the process's auxiliary vector
 * if the caller has it (our constructor does, under glibc), else NULL: it
 * is then read from /proc/self/auxv or prctl(PR_GET_AUXV). Idempotent,
 * callable from any thread or signal handler; the lookups below call it
 * themselves. Returns false if the objects cannot be found.
 */
int elfsym_init(const ElfW(auxv_t) *auxv);

/*
 * dlsym(RTLD_NEXT) for each of n names: out[i] becomes the first default-
 * version definition of names[i] in the objects after ours, or stays NULL.
 * Each object's tables are read once for all names. Returns false if the
 * objects cannot be found.
 */
int elfsym_next(const struct elfsym_name *names, size_t n, void **out);

/* dlsym(RTLD_NEXT, name), for one name. */
void *elfsym_next_one(const struct elfsym_name *name);

/*
 * dlsym(RTLD_DEFAULT, name) for a name of at most 31 characters: the
 * definition a reference from our library would bind to, from the main
 * program on. For the C library's variables, which the main program may
 * hold (copy relocations). NULL if none.
 */
void *elfsym_default(const char *name);

#endif
