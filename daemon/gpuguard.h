/* GPU memory enforcement: is a job over a limit, and is that a kill? On
 * an APU the job's memory_max bounds all the RAM it takes, what the
 * kernel charges (memory.current) plus the host-backed GPU memory it does
 * not (amdgpu GTT); gpu_memory_max bounds device memory (VRAM). Over a
 * limit for GPUGUARD_SAMPLES consecutive samples, or at once at 1.25x,
 * the job is killed. Pure; tests/unit/test-gpuguard.c. */
#ifndef MEMSAFE_GPUGUARD_H
#define MEMSAFE_GPUGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GPUGUARD_SAMPLES 2

struct gpuguard_input {
	uint64_t memory_max;      /* the job's cap, bytes */
	uint64_t current;         /* memory.current */
	uint64_t gpu_host;        /* host-backed GPU memory (not in memory.current) */
	uint64_t gpu_memory_max;  /* bound on device memory; 0 = none */
	uint64_t gpu_dev;         /* device memory */
	bool partial;             /* the GPU figures are a floor */
	unsigned over;            /* consecutive samples over a limit before this one */
};

enum gpuguard_verdict {
	GPUGUARD_OK,      /* within its limits */
	GPUGUARD_OVER,    /* over a limit, not yet long enough */
	GPUGUARD_KILL,    /* kill the job */
};

struct gpuguard_result {
	enum gpuguard_verdict verdict;
	unsigned over;            /* the new count of consecutive samples over */
	const char *limit;        /* "memory_max" or "gpu_memory_max" when over */
	uint64_t used, max;       /* the figure over it and the limit */
};

void gpuguard_decide(const struct gpuguard_input *in, struct gpuguard_result *ret);

/* A job's gpu_memory_max: the submitter's (has) or the default, within
 * the administrator's ceiling (0 = none); with a ceiling, "no limit"
 * means the ceiling. 0, or -EINVAL with msg saying why. */
int gpuguard_resolve_limit(bool has, uint64_t asked, uint64_t dflt, uint64_t ceiling,
			   uint64_t *ret, char *msg, size_t msgsz);

#endif
