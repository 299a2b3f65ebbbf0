#include "wordstat.h"

double stats_mean(const size_t *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)v[i];
	return n ? s / (double)n : 0;
}
