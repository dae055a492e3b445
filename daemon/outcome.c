/* How a worker's end counts (pure: tests/unit/test-outcome.c). */
#include <signal.h>
#include <string.h>

#include "outcome.h"

enum job_end outcome_classify(const struct job_exit *x)
{
	if (x->cancelled)
		return END_CANCELLED;
	if (x->timed_out)
		return END_TIMEOUT;
	if (x->page_timed_out)
		return END_PAGE_TIMEOUT;
	/* The kernel's verdict comes first: an OOM kill can also look like
	 * a crash or a half-finished document. */
	if (!x->exited && x->code_or_signal == SIGKILL && x->oom_kills > 0)
		return END_OOM_KILL;
	/* After the kernel's verdict: an OOM kill takes the job's sink with
	 * it, and a retry redoes the batch. */
	if (x->flush_failed)
		return END_FLUSH_FAILED;
	if (!x->exited && x->code_or_signal == SIGSYS)
		return END_SANDBOX_VIOLATION;
	if (x->fatal && strcmp(x->fatal, "bad_document") == 0)
		return END_BAD_DOCUMENT;
	if (x->exited && x->code_or_signal == 0 && x->saw_end_frame && !x->fatal)
		return END_OK;
	return END_CRASH;
}

enum job_end outcome_after_flushes(enum job_end end, uint64_t batches_lost)
{
	return end == END_OK && batches_lost ? END_FLUSH_FAILED : end;
}

enum job_state outcome_state(enum job_end e)
{
	switch (e) {
	case END_OK: return JOB_DONE;
	case END_OOM_KILL: return JOB_OOM_KILLED;
	case END_CANCELLED: return JOB_CANCELLED;
	case END_INTERRUPTED: return JOB_INTERRUPTED;
	default: return JOB_FAILED;
	}
}
