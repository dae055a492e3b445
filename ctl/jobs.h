/* Jobs as memsafed reports them: status, list, cancel, and following
 * jobs to their end (used by submit --wait, repro and simulate-pressure). */
#ifndef MEMSAFE_CTL_JOBS_H
#define MEMSAFE_CTL_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

int jobs_status_main(int argc, char **argv);
int jobs_list_main(int argc, char **argv);
int jobs_cancel_main(int argc, char **argv);

/* One status reply for id (caller frees); exits when memsafed is
 * unreachable. */
yajl_val jobs_status(uint64_t id);
/* "job N state (end): name, P pages, B batches (F flushed), peak X MB of
 * Y MB" and the job's message on a second line. Scripts parse the first
 * line: keep its shape. */
void jobs_print_line(yajl_val job);
/* jobs_print_line and "  artifacts: DIR": how a waited-for job ends. */
void jobs_print_end(yajl_val job);
/* Why a job has not started or is not progressing (its message, or the
 * reason implied by its state); NULL for a job that needs no excuse. */
const char *jobs_why(yajl_val job);

struct jobs_wait {
	bool progress;     /* redraw a progress line per job (a terminal) */
	bool print_ends;   /* print each job's final lines as it ends */
	uint64_t interval_ms;
	void (*tick)(void *arg);   /* after each poll, e.g. to sample the host */
	void *arg;
};
/* Poll the jobs until every one has ended; replies[i] gets the last
 * status reply of ids[i] (caller frees). Returns CTL_EXIT_OK when all
 * ended done, CTL_EXIT_FAILED when one did not, CTL_EXIT_REFUSED when
 * memsafed refused a status request, or 130 when interrupted. */
int jobs_wait(const uint64_t *ids, size_t n, const struct jobs_wait *w, yajl_val *replies);

#endif
