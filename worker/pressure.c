#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "emit.h"
#include "pressure.h"

int pressure_run(uint64_t target_mb, uint64_t step_mb, uint64_t hold_ms)
{
	size_t nsteps = (size_t)((target_mb + step_mb - 1) / step_mb);
	void **steps = calloc(nsteps, sizeof *steps);
	uint64_t have = 0;
	struct timespec ts = { (time_t)(hold_ms / 1000), (long)(hold_ms % 1000) * 1000000 };

	if (!steps)
		return emit_fatal("internal", "out of memory");
	for (size_t i = 0; i < nsteps; i++) {
		uint64_t mb = MIN(step_mb, target_mb - have);
		size_t len = (size_t)mb << 20;

		/* Separate mappings, so release gives memory straight back. */
		steps[i] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (steps[i] == MAP_FAILED)
			return emit_fatal("internal", "mmap of %llu MiB failed after %llu MiB",
					  (unsigned long long)mb, (unsigned long long)have);
		/* Touch every page: only resident memory counts. */
		memset(steps[i], 0xa5, len);
		have += mb;
		emit_pressure("alloc", have, target_mb);
	}
	emit_pressure("hold", have, target_mb);
	while (nanosleep(&ts, &ts) < 0)
		;
	for (size_t i = 0; i < nsteps; i++) {
		uint64_t mb = MIN(step_mb, target_mb - i * step_mb);
		munmap(steps[i], (size_t)mb << 20);
	}
	free(steps);
	emit_pressure("release", 0, target_mb);
	emit_end(0, 0, 0);
	return WORKER_EXIT_OK;
}
