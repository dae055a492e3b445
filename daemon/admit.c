/* Admission: whether the host can afford a job now (pure; test-admit). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "admit.h"

uint64_t admit_headroom(uint64_t memory_max, uint64_t current)
{
	return memory_max > current ? memory_max - current : 0;
}

/* MemAvailable, less what running jobs may still take up to their caps,
 * less the job's memory_max, must stay above reserve; and system memory
 * pressure must be low, and quiet for hold_time under a policy. */
bool admit_decide(const struct admit_input *in, char *why, size_t whysz)
{
	uint64_t need = in->headroom + in->memory_max, left;

	if (!in->have_meminfo)
		return true;
	left = in->mem_available > need ? in->mem_available - need : 0;
	if (left < in->reserve) {
		snprintf(why, whysz, "waiting for memory: MemAvailable %" PRIu64 " MB, less %"
			 PRIu64 " MB running jobs may still use, less memory_max %" PRIu64
			 " MB leaves %" PRIu64 " MB, below reserve %" PRIu64 " MB",
			 in->mem_available >> 20, in->headroom >> 20, in->memory_max >> 20,
			 left >> 20, in->reserve >> 20);
		return false;
	}
	if (in->have_gtt) {
		uint64_t gtt_left = in->gtt_free > in->headroom ? in->gtt_free - in->headroom : 0;

		if (gtt_left < in->reserve) {
			snprintf(why, whysz, "waiting for GPU memory: GTT free %" PRIu64 " MB, less %"
				 PRIu64 " MB running jobs may still take, leaves %" PRIu64 " MB, "
				 "below reserve %" PRIu64 " MB", in->gtt_free >> 20,
				 in->headroom >> 20, gtt_left >> 20, in->reserve >> 20);
			return false;
		}
	}
	if (in->psi_some_avg10 >= in->admission_psi_max) {
		snprintf(why, whysz, "waiting for memory pressure to fall: system memory PSI "
			 "some avg10 %.2f%% >= admission_psi_max %.2f%%",
			 in->psi_some_avg10, in->admission_psi_max);
		return false;
	}
	/* A policy that just paused or killed a job for the pressure would
	 * otherwise start the next one (or the same, requeued) into it. */
	if (in->policy_active && in->last_high_ms && in->now_ms - in->last_high_ms < in->hold_ms) {
		snprintf(why, whysz, "waiting for memory pressure to fall: the pressure trigger "
			 "fired %.1f s ago; jobs start once it has been quiet for hold_time "
			 "(%.1f s)", (double)(in->now_ms - in->last_high_ms) / 1000.0,
			 (double)in->hold_ms / 1000.0);
		return false;
	}
	return true;
}

int admit_fits(uint64_t memory_max, uint64_t reserve, uint64_t mem_total,
	       char *msg, size_t msgsz)
{
	if (!mem_total || memory_max + reserve <= mem_total)
		return 0;
	snprintf(msg, msgsz, "memory_max %" PRIu64 " MB can never fit: this machine has %"
		 PRIu64 " MB and keeps reserve %" PRIu64 " MB for the desktop; lower "
		 "memory_max by at least %" PRIu64 " MB", memory_max >> 20, mem_total >> 20,
		 reserve >> 20, (memory_max + reserve - mem_total + (1 << 20) - 1) >> 20);
	return -EINVAL;
}
