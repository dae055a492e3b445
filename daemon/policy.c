/* The pressure policy's decisions (pure; tests/unit/test-policy.c). */
#include "policy.h"

double policy_psi_limit(uint64_t threshold_us, uint64_t window_us)
{
	return 100.0 * (double)threshold_us / (double)window_us;
}

ssize_t policy_victim(const struct policy_job *jobs, size_t n)
{
	ssize_t best = -1;

	for (size_t i = 0; i < n; i++) {
		const struct policy_job *j = &jobs[i];

		if (!j->actionable)
			continue;
		/* A job pressed against its own cap makes the system PSI rise
		 * too; freezing it frees nothing. Its cap deals with it. */
		if (j->current >= j->memory_max / 10 * 9 ||
		    (j->memory_high && !j->high_lifted && j->current >= j->memory_high / 20 * 19))
			continue;
		if (best < 0 || j->started_mono > jobs[best].started_mono)
			best = (ssize_t)i;
	}
	return best;
}

bool policy_may_thaw(double psi_avg10, double limit, uint64_t now_ms,
		     uint64_t last_high_ms, uint64_t hold_ms)
{
	return psi_avg10 < limit && now_ms - last_high_ms >= hold_ms;
}

/* memory.high throttles a job so it can reclaim before memory.max. With
 * nothing to reclaim (anonymous memory and swap.max 0) the kernel can only
 * make it sleep, up to 2 s per fault, and a runaway job crawls for minutes
 * instead of being OOM-killed (seen on 6.1 with a 32M cap). Once the job
 * stalls at memory.high, lift it and let memory.max decide. */
bool policy_should_lift_high(uint64_t current, uint64_t memory_max, uint64_t memory_high,
			     uint64_t swap_max, bool high_lifted)
{
	return !high_lifted && memory_high && !swap_max &&
	       current + (memory_max - memory_high) / 4 >= memory_high;
}
