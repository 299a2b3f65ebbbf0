/*
 * elfsym.c — symbol lookup in the loaded objects, as the dynamic linker
 * does it, but without it.
 *
 * dlsym() costs about 800 instructions a name, takes the loader's locks and
 * may allocate: it can neither run for 80 names in every process start nor
 * in a signal handler. What it reads is mapped already. The main program's
 * DT_DEBUG entry points to the loader's r_debug (the debugger interface,
 * filled in by glibc and musl alike), whose link maps list every loaded
 * object in load order — for the objects loaded at start-up, the order of
 * the global search scope. Each object's DT_GNU_HASH (or DT_HASH) table
 * finds a name in a few dozen instructions. Everything here is plain reads
 * and, to find the auxiliary vector when no caller has it, raw system
 * calls: no lock, no allocation, no errno, a small stack.
 *
 * The objects are those listed when we first looked (our constructor, or an
 * earlier entry): objects loaded later are not searched, as they were not
 * by the dlsym() calls our constructor used to make. An object that an
 * earlier constructor dlopen()ed with RTLD_LOCAL is searched, where dlsym()
 * would not have, and one it dlclose()d before a lookup would be read
 * after its unmapping; nothing on the start-up path of a build does that.
 */
#define _GNU_SOURCE
#include "elfsym.h"

#include <fcntl.h>
#include <sys/syscall.h>

#include "sys.h"

#ifndef PR_GET_AUXV
#define PR_GET_AUXV 0x41555856  /* Linux 6.4 */
#endif

/* Our own dynamic section: how we recognise our link map. */
extern ElfW(Dyn) _DYNAMIC[] __attribute__((visibility("hidden")));

/* The list as we found it: the first object, ours, the last one. Written
 * once (racing writers store the same values), self_map last. */
static struct link_map *first_map, *self_map, *last_map;

#ifdef __aarch64__
static unsigned long hwcap;  /* for IFUNC resolvers, as glibc passes it */
#endif

/* The auxiliary vector, without libc (which may not be ready to tell us). */
static const ElfW(auxv_t) *read_auxv(ElfW(auxv_t) *buf, size_t cap)
{
	long size = (long)((cap - 1) * sizeof(*buf)), n = -1;
	long fd = sys6(SYS_openat, AT_FDCWD, (long)"/proc/self/auxv", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd >= 0) {
		n = sys6(SYS_read, fd, (long)buf, size, 0, 0, 0);
		sys6(SYS_close, fd, 0, 0, 0, 0, 0);
	}
	if (n <= 0) {  /* no /proc: the kernel's copy (it returns the full size) */
		n = sys6(SYS_prctl, PR_GET_AUXV, (long)buf, size, 0, 0, 0);
		if (n > size)
			n = size;
	}
	if (n <= 0)
		return NULL;
	buf[(size_t)n / sizeof(*buf)].a_type = AT_NULL;
	return buf;
}

int elfsym_init(const ElfW(auxv_t) *auxv)
{
	if (__atomic_load_n(&self_map, __ATOMIC_ACQUIRE))
		return 1;
	ElfW(auxv_t) buf[32];
	if (!auxv && !(auxv = read_auxv(buf, sizeof(buf) / sizeof(buf[0]))))
		return 0;
	const ElfW(Phdr) *ph = NULL;
	size_t phnum = 0;
	for (; auxv->a_type != AT_NULL && !(ph && phnum); auxv++) {
		if (auxv->a_type == AT_PHDR)
			ph = (const ElfW(Phdr) *)auxv->a_un.a_val;
		else if (auxv->a_type == AT_PHNUM)
			phnum = auxv->a_un.a_val;
#ifdef __aarch64__
		else if (auxv->a_type == AT_HWCAP)  /* before AT_PHDR */
			hwcap = auxv->a_un.a_val;
#endif
	}
	/* The main program's dynamic section, found as the loaders find it. */
	uintptr_t bias = 0;
	const ElfW(Phdr) *dynamic = NULL;
	for (size_t i = 0; i < phnum && !dynamic; i++) {
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
		else if (ph[i].p_type == PT_DYNAMIC)
			dynamic = &ph[i];
	}
	if (!dynamic)
		return 0;
	const struct r_debug *r = NULL;
	for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(bias + dynamic->p_vaddr); !r && d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_DEBUG)
			r = (const struct r_debug *)d->d_un.d_ptr;
	if (!r || !r->r_version)
		return 0;
	struct link_map *self = NULL, *last = NULL;
	for (struct link_map *l = r->r_map; l; l = l->l_next) {
		if (l->l_ld == _DYNAMIC)
			self = l;
		last = l;
	}
	if (!self)
		return 0;
	__atomic_store_n(&first_map, r->r_map, __ATOMIC_RELAXED);
	__atomic_store_n(&last_map, last, __ATOMIC_RELAXED);
	__atomic_store_n(&self_map, self, __ATOMIC_RELEASE);
	return 1;
}

/* One object's dynamic symbol table. */
struct table {
	uintptr_t base;
	const ElfW(Sym) *sym;
	const char *str;
	size_t strsz;
	const ElfW(Half) *versym;
	const uint32_t *gnu;    /* DT_GNU_HASH */
	const ElfW(Word) *elf;  /* DT_HASH */
};

/* glibc relocates the addresses in a writable dynamic section in place,
 * musl never does, nor does anyone in a read-only one (the vDSO's): a value
 * below the object's base is still an offset. */
static const void *dptr(uintptr_t base, ElfW(Addr) v)
{
	return (const void *)(v < base ? v + base : v);
}

static int table_init(struct table *t, const struct link_map *l)
{
	uintptr_t b = l->l_addr;
	*t = (struct table){ .base = b };
	if (!l->l_ld)
		return 0;
	/* In every process start: the low tags are stored by number, the two
	 * we want of the others compared. */
	ElfW(Addr) low[DT_STRSZ + 1] = { 0 };
	for (const ElfW(Dyn) *d = l->l_ld; d->d_tag != DT_NULL; d++) {
		if ((ElfW(Xword))d->d_tag <= DT_STRSZ) {
			low[d->d_tag] = d->d_un.d_val;
		} else if (d->d_tag == DT_GNU_HASH) {
			t->gnu = dptr(b, d->d_un.d_ptr);
		} else if (d->d_tag == DT_VERSYM) {
			t->versym = dptr(b, d->d_un.d_ptr);
			if (t->gnu && low[DT_SYMTAB] && low[DT_STRTAB] && low[DT_STRSZ])
				break;  /* linkers put it after the others */
		}
	}
	t->sym = low[DT_SYMTAB] ? dptr(b, low[DT_SYMTAB]) : NULL;
	t->str = low[DT_STRTAB] ? dptr(b, low[DT_STRTAB]) : NULL;
	t->strsz = low[DT_STRSZ];
	t->elf = low[DT_HASH] ? dptr(b, low[DT_HASH]) : NULL;
	/* Without a hash table the loader cannot search an object either. */
	return t->sym && t->str && (t->gnu || t->elf);
}

/* Whether the string at off is name. Almost always it is (the 32-bit hashes
 * matched), so it is compared 8 bytes at a time, terminator included, when
 * the table holds that many bytes there; a shorter string than name would
 * end before. Without DT_STRSZ, byte by byte, stopping at the difference. */
static int same_name(const struct table *t, ElfW(Word) off, const struct elfsym_name *name)
{
	const char *a = t->str + off, *b = name->name;
	size_t n = name->len + 1, i = 0;
	if (t->strsz) {
		if (off >= t->strsz || t->strsz - off < n)
			return 0;
		for (; i + 8 <= n; i += 8) {
			uint64_t x, y;
			__builtin_memcpy(&x, a + i, 8);
			__builtin_memcpy(&y, b + i, 8);
			if (x != y)
				return 0;
		}
	}
	for (; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static uint32_t elf_hash(const char *s)
{
	uint32_t h = 0;
	while (*s) {
		h = (h << 4) + (unsigned char)*s++;
		uint32_t g = h & 0xf0000000u;
		h ^= g >> 24;
		h &= ~g;
	}
	return h;
}

/* What the loader's check_match() accepts for an unversioned lookup that
 * wants the newest version (dlsym): a definition of one of these types, an
 * unversioned one at once, else the object's only non-hidden versioned one
 * (its default version; old versions are hidden). TLS is left out: a
 * variable is no function. */
#define USABLE ((1u << STT_NOTYPE) | (1u << STT_OBJECT) | (1u << STT_FUNC) | \
		(1u << STT_COMMON) | (1u << STT_GNU_IFUNC))

struct match {
	const ElfW(Sym) *sym;
	const ElfW(Sym) *versioned;
	int nversioned;
};

static int check(const struct table *t, uint32_t i, const struct elfsym_name *name, struct match *m)
{
	const ElfW(Sym) *s = &t->sym[i];
	if ((s->st_value == 0 && s->st_shndx != SHN_ABS) || !((1u << ELF64_ST_TYPE(s->st_info)) & USABLE) ||
	    !same_name(t, s->st_name, name))
		return 0;
	if (t->versym && (t->versym[i] & 0x7fff) >= 2) {
		if (!(t->versym[i] & 0x8000) && m->nversioned++ == 0)
			m->versioned = s;
		return 0;
	}
	m->sym = s;
	return 1;
}

static const ElfW(Sym) *find(const struct table *t, const struct elfsym_name *name)
{
	uint32_t hash = name->hash;
	struct match m = { 0 };
	if (t->gnu) {
		uint32_t nbuckets = t->gnu[0], symoffset = t->gnu[1], nbloom = t->gnu[2], shift = t->gnu[3];
		const ElfW(Addr) *bloom = (const ElfW(Addr) *)(t->gnu + 4);
		const uint32_t *buckets = (const uint32_t *)(bloom + nbloom), *chain = buckets + nbuckets;
		const unsigned bits = sizeof(ElfW(Addr)) * 8;
		if (!nbuckets || !nbloom)
			return NULL;
		ElfW(Addr) word = bloom[(hash / bits) & (nbloom - 1)];
		if (!((word >> (hash % bits)) & (word >> ((hash >> shift) % bits)) & 1))
			return NULL;
		uint32_t i = buckets[hash % nbuckets];
		if (i < symoffset)
			return NULL;
		for (const uint32_t *c = &chain[i - symoffset];; c++, i++) {
			if (((*c ^ hash) >> 1) == 0 && check(t, i, name, &m))
				break;
			if (*c & 1)
				break;
		}
	} else {
		ElfW(Word) nbuckets = t->elf[0];
		const ElfW(Word) *buckets = t->elf + 2, *chain = buckets + nbuckets;
		if (!nbuckets)
			return NULL;
		for (ElfW(Word) i = buckets[elf_hash(name->name) % nbuckets]; i != STN_UNDEF; i = chain[i])
			if (check(t, i, name, &m))
				break;
	}
	const ElfW(Sym) *s = m.sym ? m.sym : m.nversioned == 1 ? m.versioned : NULL;
	/* Local and hidden definitions bind within their object only. */
	if (!s || ELF64_ST_BIND(s->st_info) == STB_LOCAL || ELF64_ST_VISIBILITY(s->st_other) == STV_HIDDEN ||
	    ELF64_ST_VISIBILITY(s->st_other) == STV_INTERNAL)
		return NULL;
	return s;
}

static void *address(const struct table *t, const ElfW(Sym) *s)
{
	uintptr_t a = (s->st_shndx == SHN_ABS ? 0 : t->base) + s->st_value;
	if (ELF64_ST_TYPE(s->st_info) == STT_GNU_IFUNC) {
		/* Called as glibc's loader calls it (glibc's memcmp, strlen...). */
#ifdef __aarch64__
		a = ((uintptr_t(*)(uint64_t, const void *))a)(hwcap, NULL);
#else
		a = ((uintptr_t(*)(void))a)();
#endif
	}
	return (void *)a;
}

int elfsym_next(const struct elfsym_name *names, size_t n, void **out)
{
	if (!elfsym_init(NULL))
		return 0;
	const struct link_map *l = __atomic_load_n(&self_map, __ATOMIC_ACQUIRE);
	const struct link_map *last = __atomic_load_n(&last_map, __ATOMIC_RELAXED);
	while (l != last && (l = l->l_next)) {
		struct table t;
		if (!table_init(&t, l))
			continue;
		for (size_t i = 0; i < n; i++) {
			if (out[i])
				continue;
			const ElfW(Sym) *s = find(&t, &names[i]);
			if (s)
				out[i] = address(&t, s);
		}
	}
	return 1;
}

/* The first definition of name in the objects from `from` to the last. */
static void *lookup(const struct link_map *from, const struct link_map *skip, const struct elfsym_name *name)
{
	const struct link_map *last = __atomic_load_n(&last_map, __ATOMIC_RELAXED);
	for (const struct link_map *l = from; l; l = l == last ? NULL : l->l_next) {
		struct table t;
		if (l == skip || !table_init(&t, l))
			continue;
		const ElfW(Sym) *s = find(&t, name);
		if (s)
			return address(&t, s);
	}
	return NULL;
}

void *elfsym_next_one(const struct elfsym_name *name)
{
	if (!elfsym_init(NULL))
		return NULL;
	const struct link_map *self = __atomic_load_n(&self_map, __ATOMIC_ACQUIRE);
	return self == __atomic_load_n(&last_map, __ATOMIC_RELAXED) ? NULL : lookup(self->l_next, NULL, name);
}

void *elfsym_default(const char *s)
{
	struct elfsym_name name = { 5381, 0, { 0 } };
	for (; s[name.len]; name.len++) {
		if (name.len == sizeof(name.name) - 1)
			return NULL;
		name.name[name.len] = s[name.len];
		name.hash = name.hash * 33 + (unsigned char)s[name.len];
	}
	if (!elfsym_init(NULL))
		return NULL;
	const struct link_map *self = __atomic_load_n(&self_map, __ATOMIC_ACQUIRE);
	return lookup(__atomic_load_n(&first_map, __ATOMIC_RELAXED), self, &name);
}
