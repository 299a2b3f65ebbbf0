#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wordstat.h"

int main(int argc, char **argv)
{
	const char *file;
	int verbose;
	if (args_parse(argc, argv, &file, &verbose) != 0)
		return 2;
	FILE *f = file ? fopen(file, "r") : stdin;
	if (!f) {
		perror(file);
		return 1;
	}
	static char buf[1 << 16];
	struct table *t = table_new();
	size_t n, keep = 0, lens[4096], nl = 0;
	uint32_t sum = 0;
	/* keep: bytes of a word cut by the end of the previous buffer */
	while ((n = fread(buf + keep, 1, sizeof(buf) - keep, f)) > 0 || keep) {
		sum ^= checksum(buf + keep, n);
		n += keep;
		int last = n < sizeof(buf);  /* short read: end of input */
		size_t pos = 0, start, len;
		keep = 0;
		while ((len = text_next_word(buf + pos, n - pos, &start)) > 0) {
			if (!last && pos + start + len == n && start + len < n) {
				keep = len;  /* may continue in the next buffer */
				memmove(buf, buf + pos + start, len);
				break;
			}
			table_add(t, buf + pos + start, len);
			if (nl < 4096)
				lens[nl++] = len;
			pos += start + len;
		}
		if (last)
			break;
	}
	size_t top_count;
	const char *top = table_top(t, &top_count);
	printf("%zu words, %zu distinct, mean length %.2f, most common \"%s\" (%zu)\n",
	       table_words(t), table_distinct(t), stats_mean(lens, nl), top ? top : "", top_count);
	if (verbose)
		printf("checksum %08x\n", sum);
	return 0;
}
