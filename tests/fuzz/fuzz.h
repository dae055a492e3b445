/* Shared by the libFuzzer targets in tests/fuzz: the entry point libFuzzer
 * calls (and driver.c, in builds without libFuzzer), and an assertion
 * that aborts with the file and line, so a broken invariant is a crash
 * libFuzzer reports and minimises like any other. */
#ifndef MEMSAFE_FUZZ_H
#define MEMSAFE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_assert(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
