/* Unit tests for daemon/retry.c, the retry plan after an OOM kill: where
 * the next worker resumes, which page is the culprit, the halved batch
 * size, and when there is no retry at all. Table cases. */
#include "retry.h"
#include "util.h"
#include "tap.h"

/* An ingest job killed on page 5 after flushing through page 3; one retry
 * used of two; no earlier OOM; 10 pages; batch size 8. */
#define BASE .kind = JOB_INGEST, .retries_used = 1, .retries_allowed = 2, \
	     .killed_page = 5, .flushed_page = 3, .last_oom_page = 0, .pages = 10, \
	     .batch_size = 8

struct retry_case {
	const char *what;
	struct retry_input in;
	struct retry_plan want;
};

static const struct retry_case cases[] = {
	{ "resume after the last flushed page, half the batch", { BASE },
	  { RETRY_RESUME, 4, 4, false } },
	{ "part of the killed page flushed: redo that whole page",
	  { BASE, .flushed_page = 5 }, { RETRY_RESUME, 5, 4, false } },
	{ "the same page at two OOM kills is the culprit, skipped",
	  { BASE, .last_oom_page = 5 }, { RETRY_RESUME, 6, 4, true } },
	{ "the culprit was the last page: nothing left, done",
	  { BASE, .killed_page = 10, .last_oom_page = 10 }, { RETRY_DONE, 11, 4, true } },
	{ "the culprit is the last page of a document of unknown length: resume",
	  { BASE, .killed_page = 10, .last_oom_page = 10, .pages = 0 },
	  { RETRY_RESUME, 11, 4, true } },
	{ "batch size 1 stays 1", { BASE, .batch_size = 1 }, { RETRY_RESUME, 4, 1, false } },
	{ "batch size 3 halves to 1", { BASE, .batch_size = 3 }, { RETRY_RESUME, 4, 1, false } },
	{ "no retries left", { BASE, .retries_used = 2 }, { RETRY_NONE, 0, 0, false } },
	{ "retries 0 in the config", { BASE, .retries_used = 0, .retries_allowed = 0 },
	  { RETRY_NONE, 0, 0, false } },
	{ "cancelled: no retry", { BASE, .cancelled = true }, { RETRY_NONE, 0, 0, false } },
	{ "timed out: no retry", { BASE, .timed_out = true }, { RETRY_NONE, 0, 0, false } },
	{ "killed before the first page: no retry", { BASE, .killed_page = 0 },
	  { RETRY_NONE, 0, 0, false } },
	{ "a pressure job is never retried", { BASE, .kind = JOB_PRESSURE },
	  { RETRY_NONE, 0, 0, false } },
};

static void test_plan(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct retry_case *c = &cases[i];
		struct retry_plan got;

		retry_plan(&c->in, &got);
		is_int(got.action, c->want.action, "%s: action", c->what);
		if (c->want.action == RETRY_NONE)
			continue;
		is_int(got.next_page, c->want.next_page, "%s: next page", c->what);
		is_int(got.batch_size, c->want.batch_size, "%s: batch size", c->what);
		ok(got.culprit == c->want.culprit, "%s: culprit %s", c->what,
		   c->want.culprit ? "yes" : "no");
	}
	is_int(retry_resume_page(0), 1, "a job that flushed nothing resumes at page 1");
	is_int(retry_resume_page(7), 8, "after page 7 it resumes at 8");
}

int main(void)
{
	test_plan();
	return tap_done();
}
