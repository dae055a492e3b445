/* Unit tests for daemon/retry.c, the retry plan after an OOM kill: where
 * the next worker resumes, which page is the culprit, the halved batch
 * size, and when there is no retry at all. Table cases. */
#include "retry.h"
#include "util.h"
#include "tap.h"

/* An ingest job killed on page 5 after flushing through page 3 (2 chunks
 * of it); one retry used of two; no earlier OOM; 10 pages; batch size 8. */
#define BASE .kind = JOB_INGEST, .retries_used = 1, .retries_allowed = 2, \
	     .killed_page = 5, .flushed_page = 3, .flushed_page_chunks = 2, \
	     .last_oom_page = 0, .pages = 10, .batch_size = 8

struct retry_case {
	const char *what;
	struct retry_input in;
	struct retry_plan want;
};

#define AT(p, sp, sc) { .first_page = (p), .skip_page = (sp), .skip_chunks = (sc) }

static const struct retry_case cases[] = {
	{ "resume at the last flushed page, dropping its flushed chunks, half the batch",
	  { BASE }, { RETRY_RESUME, AT(3, 3, 2), 4, false } },
	{ "part of the killed page flushed: resume inside it",
	  { BASE, .flushed_page = 5, .flushed_page_chunks = 7 },
	  { RETRY_RESUME, AT(5, 5, 7), 4, false } },
	{ "nothing flushed yet: from page 1, nothing dropped",
	  { BASE, .flushed_page = 0, .flushed_page_chunks = 0 },
	  { RETRY_RESUME, AT(1, 0, 0), 4, false } },
	{ "the same page at two OOM kills is the culprit, skipped",
	  { BASE, .last_oom_page = 5 }, { RETRY_RESUME, AT(6, 0, 0), 4, true } },
	{ "the culprit was the last page: nothing left, done",
	  { BASE, .killed_page = 10, .last_oom_page = 10 }, { RETRY_DONE, AT(11, 0, 0), 4, true } },
	{ "the culprit is the last page of a document of unknown length: resume",
	  { BASE, .killed_page = 10, .last_oom_page = 10, .pages = 0 },
	  { RETRY_RESUME, AT(11, 0, 0), 4, true } },
	{ "batch size 1 stays 1", { BASE, .batch_size = 1 }, { RETRY_RESUME, AT(3, 3, 2), 1, false } },
	{ "batch size 3 halves to 1", { BASE, .batch_size = 3 },
	  { RETRY_RESUME, AT(3, 3, 2), 1, false } },
	{ "no retries left", { BASE, .retries_used = 2 }, { RETRY_NONE, AT(0, 0, 0), 0, false } },
	{ "retries 0 in the config", { BASE, .retries_used = 0, .retries_allowed = 0 },
	  { RETRY_NONE, AT(0, 0, 0), 0, false } },
	{ "cancelled: no retry", { BASE, .cancelled = true }, { RETRY_NONE, AT(0, 0, 0), 0, false } },
	{ "timed out: no retry", { BASE, .timed_out = true }, { RETRY_NONE, AT(0, 0, 0), 0, false } },
	{ "killed before the first page: no retry", { BASE, .killed_page = 0 },
	  { RETRY_NONE, AT(0, 0, 0), 0, false } },
	{ "a pressure job is never retried", { BASE, .kind = JOB_PRESSURE },
	  { RETRY_NONE, AT(0, 0, 0), 0, false } },
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
		is_int(got.at.first_page, c->want.at.first_page, "%s: first page", c->what);
		is_int(got.at.skip_page, c->want.at.skip_page, "%s: skip page", c->what);
		is_int(got.at.skip_chunks, c->want.at.skip_chunks, "%s: chunks dropped", c->what);
		is_int(got.batch_size, c->want.batch_size, "%s: batch size", c->what);
		ok(got.culprit == c->want.culprit, "%s: culprit %s", c->what,
		   c->want.culprit ? "yes" : "no");
	}
}

static void test_resume(void)
{
	struct retry_point p = retry_resume(0, 0);

	ok(p.first_page == 1 && p.skip_chunks == 0, "a job that flushed nothing resumes at page 1");
	p = retry_resume(7, 3);
	ok(p.first_page == 7 && p.skip_page == 7 && p.skip_chunks == 3,
	   "after 3 chunks of page 7 it resumes inside page 7, dropping those 3");
	p = retry_resume(0, 12);
	ok(p.first_page == 1 && p.skip_page == 0 && p.skip_chunks == 12,
	   "a text document (page 0) drops the 12 chunks flushed");
	ok(retry_after_restart(JOB_INGEST, 1), "the first restart resumes");
	ok(retry_after_restart(JOB_INGEST, RETRY_RESTARTS_MAX), "up to RETRY_RESTARTS_MAX restarts resume");
	ok(!retry_after_restart(JOB_INGEST, RETRY_RESTARTS_MAX + 1), "one more is a crash loop");
	ok(!retry_after_restart(JOB_PRESSURE, 1), "a pressure job never resumes");
}

int main(void)
{
	test_plan();
	test_resume();
	return tap_done();
}
