#include <stdlib.h>
#include <string.h>
#include "wordstat.h"

struct entry {
	char *word;
	size_t count;
};

struct table {
	struct entry *e;
	size_t cap, used, words;
};

static size_t hash(const char *w, size_t len)
{
	size_t h = 14695981039346656037u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)w[i]) * 1099511628211u;
	return h;
}

struct table *table_new(void)
{
	struct table *t = calloc(1, sizeof(*t));
	t->cap = 1024;
	t->e = calloc(t->cap, sizeof(*t->e));
	return t;
}

static void grow(struct table *t)
{
	struct table n = { calloc(t->cap * 2, sizeof(struct entry)), t->cap * 2, 0, t->words };
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].word) {
			size_t h = hash(t->e[i].word, strlen(t->e[i].word)) & (n.cap - 1);
			while (n.e[h].word)
				h = (h + 1) & (n.cap - 1);
			n.e[h] = t->e[i];
			n.used++;
		}
	free(t->e);
	*t = n;
}

void table_add(struct table *t, const char *word, size_t len)
{
	if (t->used * 2 >= t->cap)
		grow(t);
	size_t h = hash(word, len) & (t->cap - 1);
	while (t->e[h].word && (strlen(t->e[h].word) != len || memcmp(t->e[h].word, word, len)))
		h = (h + 1) & (t->cap - 1);
	if (!t->e[h].word) {
		t->e[h].word = strndup(word, len);
		t->used++;
	}
	t->e[h].count++;
	t->words++;
}

size_t table_words(const struct table *t) { return t->words; }
size_t table_distinct(const struct table *t) { return t->used; }

const char *table_top(const struct table *t, size_t *count)
{
	const struct entry *best = NULL;
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].word && (!best || t->e[i].count > best->count))
			best = &t->e[i];
	*count = best ? best->count : 0;
	return best ? best->word : NULL;
}
