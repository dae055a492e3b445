/* The pressure policy's decisions: which running job to pause or kill when
 * system memory pressure is high, when to thaw, and when a job stalled at
 * memory.high should have it lifted. Pure; the manager acts. */
#ifndef MEMSAFE_POLICY_H
#define MEMSAFE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A running job as the policy sees it. */
struct policy_job {
	bool actionable;           /* running, has a cgroup, not paused or requeued */
	uint64_t started_mono;
	uint64_t current;          /* memory.current */
	uint64_t memory_max, memory_high;
	bool high_lifted;
};

/* The trigger's threshold as a share of its window: the avg10 (in %)
 * that polling treats as the trigger firing. */
double policy_psi_limit(uint64_t threshold_us, uint64_t window_us);
/* Index of the job to act on (the newest that is not pressed against its
 * own cap), or -1 for none. */
ssize_t policy_victim(const struct policy_job *jobs, size_t n);
/* Paused jobs may thaw: pressure below the limit and quiet for hold_ms. */
bool policy_may_thaw(double psi_avg10, double limit, uint64_t now_ms,
		     uint64_t last_high_ms, uint64_t hold_ms);
/* The job stalls at memory.high with no swap to reclaim into: lift it. */
bool policy_should_lift_high(uint64_t current, uint64_t memory_max, uint64_t memory_high,
			     uint64_t swap_max, bool high_lifted);

#endif
