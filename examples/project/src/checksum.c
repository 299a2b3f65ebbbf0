#include "wordstat.h"

/* Adler-32 */
uint32_t checksum(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t a = 1, s = 0;
	for (size_t i = 0; i < n; i++) {
		a = (a + b[i]) % 65521;
		s = (s + a) % 65521;
	}
	return (s << 16) | a;
}
