/* Where a job resumes: the retry plan after an OOM kill, and the resume
 * point after an interruption (pure; tests/unit/test-retry.c). */
#include "retry.h"

struct retry_point retry_resume(unsigned flushed_page, unsigned flushed_page_chunks)
{
	return (struct retry_point){
		.first_page = flushed_page ? flushed_page : 1,
		.skip_page = flushed_page,
		.skip_chunks = flushed_page_chunks,
	};
}

void retry_plan(const struct retry_input *in, struct retry_plan *ret)
{
	unsigned killed = in->killed_page;
	struct retry_plan p = { .action = RETRY_NONE };

	if (in->kind != JOB_INGEST || in->retries_used >= in->retries_allowed ||
	    in->cancelled || in->timed_out || killed == 0) {
		*ret = p;
		return;
	}
	if (killed == in->last_oom_page) {
		/* The same page at two OOM kills: the culprit, skipped. */
		p.culprit = true;
		p.at = (struct retry_point){ .first_page = killed + 1 };
	} else {
		p.at = retry_resume(in->flushed_page, in->flushed_page_chunks);
	}
	p.batch_size = in->batch_size / 2 ? in->batch_size / 2 : 1;
	p.action = in->pages && p.at.first_page > in->pages ? RETRY_DONE : RETRY_RESUME;
	*ret = p;
}

bool retry_after_restart(enum job_kind kind, unsigned restarts)
{
	return kind == JOB_INGEST && restarts <= RETRY_RESTARTS_MAX;
}
