/*
 * clonebench: bench/b8_snapshot.py's driver of osclone_file (os/clone.h):
 * clones SRC to the new file DST once and prints one JSON line
 * {"how": ..., "seconds": ..., "copied": ..., "size": ...}, seconds being
 * the osclone_file call alone (open to fsync of the name).
 *
 *   clonebench [--no-reflink] SRC DST
 *
 * Exit 0, or 1 with the error on stderr.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "os/clone.h"

int main(int argc, char **argv)
{
	struct osclone_opts o = { 0 };
	struct osclone_result res;
	struct err e = ERR_INIT;
	struct timespec t0, t1;
	int i = 1, r;

	if (argc > 1 && strcmp(argv[1], "--no-reflink") == 0) {
		o.no_reflink = true;
		i++;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: clonebench [--no-reflink] SRC DST\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = osclone_file(argv[i], argv[i + 1], 0600, &o, &res, &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0) {
		fprintf(stderr, "clonebench: %s\n", e.msg);
		return 1;
	}
	printf("{\"how\": \"%s\", \"seconds\": %.6f, \"copied\": %llu, \"size\": %llu}\n", res.how,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)res.copied, (unsigned long long)res.size);
	return 0;
}
