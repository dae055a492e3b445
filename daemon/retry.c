/* The retry plan after an OOM kill (pure; tests/unit/test-retry.c). */
#include "retry.h"

void retry_plan(const struct retry_input *in, struct retry_plan *ret)
{
	unsigned killed = in->killed_page;
	struct retry_plan p = { .action = RETRY_NONE };

	if (in->kind != JOB_INGEST || in->retries_used >= in->retries_allowed ||
	    in->cancelled || in->timed_out || killed == 0) {
		*ret = p;
		return;
	}
	/* Chunks never span pages, but a batch may close inside a page: if
	 * part of the killed page was flushed, redo that whole page. */
	p.next_page = in->flushed_page < killed ? in->flushed_page + 1 : killed;
	if (killed == in->last_oom_page) {
		p.culprit = true;
		p.next_page = killed + 1;
	}
	p.batch_size = in->batch_size / 2 ? in->batch_size / 2 : 1;
	p.action = in->pages && p.next_page > in->pages ? RETRY_DONE : RETRY_RESUME;
	*ret = p;
}

unsigned retry_resume_page(unsigned flushed_page)
{
	return flushed_page + 1;
}
