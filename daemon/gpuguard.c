/* GPU memory enforcement decisions (pure; tests/unit/test-gpuguard.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "gpuguard.h"

/* At or above 5/4 of the limit: no second sample. */
static bool far_over(uint64_t used, uint64_t max)
{
	return used >= max + max / 4;
}

void gpuguard_decide(const struct gpuguard_input *in, struct gpuguard_result *ret)
{
	struct gpuguard_result r = { .verdict = GPUGUARD_OK };
	uint64_t combined = in->current + in->gpu_host;

	/* Without host-backed GPU memory the kernel enforces memory.max
	 * itself; memory.current alone is never the daemon's to judge. */
	if (in->gpu_host && combined > in->memory_max) {
		r.limit = "memory_max";
		r.used = combined;
		r.max = in->memory_max;
	} else if (in->gpu_memory_max && in->gpu_dev > in->gpu_memory_max) {
		r.limit = "gpu_memory_max";
		r.used = in->gpu_dev;
		r.max = in->gpu_memory_max;
	}
	if (!r.limit) {
		/* A partial sample under the limit proves nothing: the count
		 * neither grows nor resets. */
		r.over = in->partial ? in->over : 0;
		*ret = r;
		return;
	}
	r.over = in->over + 1;
	r.verdict = r.over >= GPUGUARD_SAMPLES || far_over(r.used, r.max) ?
		    GPUGUARD_KILL : GPUGUARD_OVER;
	*ret = r;
}

int gpuguard_resolve_limit(bool has, uint64_t asked, uint64_t dflt, uint64_t ceiling,
			   uint64_t *ret, char *msg, size_t msgsz)
{
	uint64_t v = has ? asked : dflt;

	if (ceiling && v > ceiling) {
		snprintf(msg, msgsz, "gpu_memory_max %" PRIu64 " MB is above the ceiling of %"
			 PRIu64 " MB set by the administrator (gpu_memory_max_ceiling)",
			 v >> 20, ceiling >> 20);
		return -EINVAL;
	}
	*ret = v ? v : ceiling;
	return 0;
}
