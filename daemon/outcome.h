/* How a worker's end counts: a pure decider over what was seen of it. */
#ifndef MEMSAFE_OUTCOME_H
#define MEMSAFE_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

/* What a worker's end looked like. */
struct job_exit {
	bool exited;          /* else killed by signal */
	int code_or_signal;
	bool saw_end_frame;   /* the worker reported normal completion */
	const char *fatal;    /* reason of a fatal frame, or NULL */
	uint64_t oom_kills;   /* cgroup oom_kill counter at the end */
	bool cancelled, timed_out, page_timed_out;
	bool flush_failed;    /* the daemon stopped it: a batch did not reach the sink */
};

enum job_end outcome_classify(const struct job_exit *x);
/* A job that would end ok but some of whose batches failed to flush did
 * not deliver its document: flush_failed, so nobody mistakes it for done. */
enum job_end outcome_after_flushes(enum job_end end, uint64_t batches_lost);
/* The state a job ends in for an end reason. */
enum job_state outcome_state(enum job_end e);

#endif
