/* Replay inputs through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so that builds with gcc (and with --enable-sanitizers) run
 * the seed corpus through the same entry points: `fuzz-protocol FILE|DIR...`.
 * Each input is read into a buffer of exactly its size, so reading past
 * the end is caught by AddressSanitizer where it is enabled. With
 * --enable-fuzzing libFuzzer provides main() and this file is empty. */
#ifndef MEMSAFE_FUZZING
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (len < (size_t)st.st_size &&
	       (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len != (size_t)st.st_size) {
		fprintf(stderr, "%s: short read\n", path);
		free(buf);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	unsigned runs = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent **list;
		int n;

		if (argv[i][0] == '-')
			continue; /* libFuzzer options (-runs=N …) mean nothing here */
		if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			failed += run_file(argv[i]) < 0;
			runs++;
			continue;
		}
		n = scandir(argv[i], &list, filter, alphasort);
		if (n < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			failed++;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], list[k]->d_name);
			failed += run_file(path) < 0;
			runs++;
			free(list[k]);
		}
		free(list);
	}
	fprintf(stderr, "%s: %u inputs, %u unreadable\n", argv[0], runs, failed);
	return failed ? 1 : 0;
}
#endif
