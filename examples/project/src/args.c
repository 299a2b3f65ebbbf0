#include <stdio.h>
#include <string.h>
#include "wordstat.h"

int args_parse(int argc, char **argv, const char **file, int *verbose)
{
	*file = NULL;
	*verbose = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v")) {
			*verbose = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: wordstat [-v] [FILE]\n");
			return 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "wordstat: unknown option %s\n", argv[i]);
			return 1;
		} else {
			*file = argv[i];
		}
	}
	return 0;
}
