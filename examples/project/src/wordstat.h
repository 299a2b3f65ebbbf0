/* wordstat: counts words of its input and reports a few statistics. */
#ifndef WORDSTAT_H
#define WORDSTAT_H
#include <stddef.h>
#include <stdint.h>

struct table;
struct table *table_new(void);
void table_add(struct table *t, const char *word, size_t len);
size_t table_words(const struct table *t);
size_t table_distinct(const struct table *t);
const char *table_top(const struct table *t, size_t *count);

size_t text_next_word(const char *p, size_t n, size_t *start);
double stats_mean(const size_t *v, size_t n);
uint32_t checksum(const void *p, size_t n);
int args_parse(int argc, char **argv, const char **file, int *verbose);
#endif
