#include <ctype.h>
#include "wordstat.h"

size_t text_next_word(const char *p, size_t n, size_t *start)
{
	size_t i = 0;
	while (i < n && !isalnum((unsigned char)p[i]))
		i++;
	*start = i;
	size_t j = i;
	while (j < n && isalnum((unsigned char)p[j]))
		j++;
	return j - i;
}
