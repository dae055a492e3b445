/* The retry plan after an OOM kill: the page to resume at, the culprit
 * page to skip, the halved batch size. Pure; the manager applies it. */
#ifndef MEMSAFE_RETRY_H
#define MEMSAFE_RETRY_H

#include <stdbool.h>

#include "record.h"

struct retry_input {
	enum job_kind kind;
	unsigned retries_used, retries_allowed;
	bool cancelled, timed_out;
	unsigned killed_page;      /* the page the worker was on (0: none yet) */
	unsigned flushed_page;     /* last page of the last flushed batch */
	unsigned last_oom_page;    /* the page of the previous OOM kill */
	unsigned pages;            /* the document's, 0 when unknown */
	unsigned batch_size;
};

enum retry_action {
	RETRY_NONE,     /* no retry: the job ends oom_killed */
	RETRY_RESUME,   /* a new worker from next_page */
	RETRY_DONE,     /* skipping the culprit left nothing to do: done */
};

struct retry_plan {
	enum retry_action action;
	unsigned next_page, batch_size;
	bool culprit;              /* killed_page is the culprit, skipped */
};

void retry_plan(const struct retry_input *in, struct retry_plan *ret);
/* Where a job resumes after an interruption that was not its fault
 * (a pressure kill, a daemon restart). */
unsigned retry_resume_page(unsigned flushed_page);

#endif
