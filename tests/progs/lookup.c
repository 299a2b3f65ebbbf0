/*
 * lookup.so — checks shim/elfsym.c against the dynamic linker: preloaded
 * (with other libraries before or after it), its constructor looks up every
 * name of shim/symbols.def and the C library functions shim/libc.c binds
 * with our lookup and with dlsym(RTLD_NEXT) (next_default), the library's
 * variables with elfsym_default() and dlsym(RTLD_DEFAULT), and prints each
 * difference and then "lookup: N names, M differ" on stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

#include "elfsym.h"

static const struct elfsym_name next[] = {
#define REQ(name, ret, params, ...) ELFSYM_NAME(#name),
#include "symbols.def"
	/* IFUNCs, several versions, a name nobody defines */
	ELFSYM_NAME("memcmp"), ELFSYM_NAME("strlen"), ELFSYM_NAME("strnlen"), ELFSYM_NAME("memcpy"),
	ELFSYM_NAME("pthread_sigmask"), ELFSYM_NAME("realpath"), ELFSYM_NAME("__register_atfork"),
	ELFSYM_NAME("pthread_atfork"), ELFSYM_NAME("__errno_location"), ELFSYM_NAME("secure_getenv"),
	ELFSYM_NAME("no_such_name_at_all"),
};

static const char *const global[] = { "__environ", "environ", "program_invocation_short_name", "stdout", "optarg" };

/*
 * dlsym(RTLD_NEXT, name) as glibc 2.36 and later answer it: for a name
 * with several versions, the default one, which is what the loader binds a
 * program's reference to and what our lookup finds. Before 2.36 it answered
 * the oldest (glibc bug 14932: posix_spawn@GLIBC_2.2.5, not @@GLIBC_2.15),
 * even one no program can bind to (glibc 2.31's libpthread has only a
 * compatibility pthread_atfork); dlsym on the defining object's own handle
 * answers as 2.36 does in every version.
 */
static void *next_default(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	Dl_info i;
	if (!p || !dladdr(p, &i) || !i.dli_fname)
		return p;
	void *h = dlopen(i.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return p;  /* the main program: no handle by name */
	void *q = dlsym(h, name);
	dlclose(h);
	return q;
}

static int differ(const char *name, void *ours, void *theirs)
{
	if (ours == theirs)
		return 0;
	Dl_info a = { 0 }, b = { 0 };
	dladdr(ours, &a);
	dladdr(theirs, &b);
	fprintf(stderr, "lookup: %s: ours %p (%s), dlsym %p (%s)\n", name, ours, a.dli_fname ? a.dli_fname : "-",
		theirs, b.dli_fname ? b.dli_fname : "-");
	return 1;
}

__attribute__((constructor)) static void check(void)
{
	int n = 0, bad = 0;
	for (size_t i = 0; i < sizeof(next) / sizeof(next[0]); i++, n++)
		bad += differ(next[i].name, elfsym_next_one(&next[i]), next_default(next[i].name));
	for (size_t i = 0; i < sizeof(global) / sizeof(global[0]); i++, n++)
		bad += differ(global[i], elfsym_default(global[i]), dlsym(RTLD_DEFAULT, global[i]));
	fprintf(stderr, "lookup: %d names, %d differ\n", n, bad);
}
