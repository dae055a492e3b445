/* Where a job resumes: after an OOM kill (the retry plan: the resume
 * point, the culprit page to skip, the halved batch size), and after an
 * interruption that was not its fault (a pressure kill, a daemon restart).
 * Pure; the manager and recovery apply it. */
#ifndef MEMSAFE_RETRY_H
#define MEMSAFE_RETRY_H

#include <stdbool.h>

#include "record.h"

/* A resume point. Batches may close inside a page, so a job resumes at
 * the last page any of whose chunks were flushed, and the worker drops
 * the skip_chunks chunks of skip_page that were: every chunk reaches the
 * sink exactly once, as in an uninterrupted run. */
struct retry_point {
	unsigned first_page;   /* >= 1 */
	unsigned skip_page;    /* 0 for formats without pages */
	unsigned skip_chunks;
};

struct retry_input {
	enum job_kind kind;
	unsigned retries_used, retries_allowed;
	bool cancelled, timed_out;
	unsigned killed_page;      /* the page the worker was on (0: none yet) */
	unsigned flushed_page;     /* last page of the last flushed batch */
	unsigned flushed_page_chunks; /* chunks of it flushed */
	unsigned last_oom_page;    /* the page of the previous OOM kill */
	unsigned pages;            /* the document's, 0 when unknown */
	unsigned batch_size;
};

enum retry_action {
	RETRY_NONE,     /* no retry: the job ends oom_killed */
	RETRY_RESUME,   /* a new worker from at */
	RETRY_DONE,     /* skipping the culprit left nothing to do: done */
};

struct retry_plan {
	enum retry_action action;
	struct retry_point at;
	unsigned batch_size;
	bool culprit;              /* killed_page is the culprit, skipped */
};

/* Daemon restarts in a row (no batch flushed in between) after which a
 * running job is not resumed again: a crash loop, not the job's fault,
 * and not charged to its OOM retries. */
#define RETRY_RESTARTS_MAX 5

void retry_plan(const struct retry_input *in, struct retry_plan *ret);
/* The resume point after an interruption that was not the job's fault. */
struct retry_point retry_resume(unsigned flushed_page, unsigned flushed_page_chunks);
/* After a daemon restart: may a job that was running resume? restarts
 * counts this restart too. */
bool retry_after_restart(enum job_kind kind, unsigned restarts);

#endif
