/* The job record: names of the job enums, and the record's lists. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "util.h"

static const char *const job_state_table[_JOB_STATE_MAX] = {
	[JOB_SPOOLING] = "spooling", [JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running", [JOB_DONE] = "done", [JOB_FAILED] = "failed",
	[JOB_OOM_KILLED] = "oom_killed", [JOB_CANCELLED] = "cancelled",
	[JOB_INTERRUPTED] = "interrupted",
};

static const char *const job_end_table[_JOB_END_MAX] = {
	[END_NONE] = NULL, [END_OK] = "ok", [END_OOM_KILL] = "oom_kill",
	[END_SANDBOX_VIOLATION] = "sandbox_violation", [END_CRASH] = "crash",
	[END_TIMEOUT] = "timeout", [END_CANCELLED] = "cancelled",
	[END_BAD_DOCUMENT] = "bad_document", [END_INTERRUPTED] = "interrupted",
	[END_FLUSH_FAILED] = "flush_failed", [END_PAGE_TIMEOUT] = "page_timeout",
	[END_GPU_MEMORY] = "gpu_memory",
};

static const char *const job_kind_table[_JOB_KIND_MAX] = {
	[JOB_INGEST] = "ingest", [JOB_PRESSURE] = "pressure",
};

static const char *const batch_status_table[_BATCH_STATUS_MAX] = {
	[BATCH_FLUSHED] = "flushed", [BATCH_FAILED] = "failed", [BATCH_KILLED] = "killed",
};

static const char *const sink_kind_table[_SINK_KIND_MAX] = {
	[SINK_MOCK] = "mock", [SINK_JSONL] = "jsonl", [SINK_EXEC] = "exec",
};

static const char *to_string(const char *const *table, size_t n, int i)
{
	return i >= 0 && (size_t)i < n ? table[i] : NULL;
}

static int from_string(const char *const *table, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (table[i] && strcmp(table[i], s) == 0)
			return (int)i;
	return -1;
}

/* systemd's pattern: one table per enum, both directions from it. */
#define NAMES(type, name)							\
	const char *name##_to_string(enum type v)				\
	{ return to_string(name##_table, ARRAY_SIZE(name##_table), (int)v); }	\
	int name##_from_string(const char *s)					\
	{ return from_string(name##_table, ARRAY_SIZE(name##_table), s); }

NAMES(job_state, job_state)
NAMES(job_end, job_end)
NAMES(job_kind, job_kind)
NAMES(batch_status, batch_status)
NAMES(sink_kind, sink_kind)

void record_set_message(struct job_record *r, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&s, fmt, ap) < 0)
			s = NULL;
		va_end(ap);
	}
	free(r->message);
	r->message = s;
}

int record_add_batch(struct job_record *r, const struct batch_rec *b)
{
	if (r->n_batch_recs == r->cap_batch_recs) {
		size_t cap = r->cap_batch_recs ? r->cap_batch_recs * 2 : 16;
		struct batch_rec *p = realloc(r->batch_recs, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		r->batch_recs = p;
		r->cap_batch_recs = cap;
	}
	r->batch_recs[r->n_batch_recs++] = *b;
	return 0;
}

struct job_attempt *record_add_attempt(struct job_record *r, const struct job_attempt *a)
{
	struct job_attempt *p;

	if (r->n_attempts >= JOB_ATTEMPTS_MAX ||
	    !(p = realloc(r->attempts, (r->n_attempts + 1) * sizeof *p)))
		return NULL;
	r->attempts = p;
	p[r->n_attempts] = *a;
	return &p[r->n_attempts++];
}

void record_add_event(struct job_record *r, const struct job_event *e)
{
	struct job_event *p;

	if (r->n_events < JOB_EVENTS_MAX &&
	    (p = realloc(r->events, (r->n_events + 1) * sizeof *p))) {
		r->events = p;
		r->events[r->n_events++] = *e;
	}
}

void record_add_culprit(struct job_record *r, unsigned page)
{
	if (r->n_culprits < ARRAY_SIZE(r->culprits))
		r->culprits[r->n_culprits++] = page;
}

void record_add_action(struct job_record *r, uint64_t t_ms, const char *action)
{
	if (r->n_actions < ARRAY_SIZE(r->actions))
		r->actions[r->n_actions++] = (struct job_action){ t_ms, action };
}

void record_drop_batches(struct job_record *r)
{
	free(r->batch_recs);
	r->batch_recs = NULL;
	r->n_batch_recs = r->cap_batch_recs = 0;
}

void record_done(struct job_record *r)
{
	free(r->message);
	free(r->dir);
	free(r->batch_recs);
	free(r->events);
	free(r->attempts);
	free(r->syscall);
	r->message = r->dir = r->syscall = NULL;
	r->batch_recs = NULL;
	r->events = NULL;
	r->attempts = NULL;
}
