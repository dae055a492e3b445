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

/* Following jobs by the events memsafed pushes after a watch request,
 * on one connection of their own. */
struct jobs_follow;
/* Watch each of ids; refused[i] gets memsafed's error reply for an id it
 * refused (not_found), else NULL (caller frees). Exits
 * CTL_EXIT_UNREACHABLE when memsafed cannot be reached. */
struct jobs_follow *jobs_follow_new(const uint64_t *ids, size_t n, yajl_val *refused);
/* The next update (caller frees): an event, or after a "lagged" event a
 * status reply for each job followed; both have "id" and "job". NULL
 * after timeout_ms (-1: no limit) or a signal. Exits
 * CTL_EXIT_UNREACHABLE when the connection is lost. */
yajl_val jobs_follow_next(struct jobs_follow *f, int timeout_ms);
void jobs_follow_free(struct jobs_follow *f);
/* True when an update says its job has ended. */
bool jobs_update_ends(yajl_val update);
/* The "event" of an update, or "status" for a status reply. */
const char *jobs_follow_kind(yajl_val update);

struct jobs_wait {
	bool progress;     /* redraw a progress line per job (a terminal) */
	bool print_ends;   /* print each job's final lines as it ends */
	uint64_t interval_ms;      /* between ticks (default 200 ms) */
	void (*tick)(void *arg);   /* every interval_ms, e.g. to sample the host */
	void *arg;
};
/* Follow the jobs (pushed events, no polling) until every one has
 * ended; replies[i] gets the last status reply of ids[i] (caller frees).
 * Returns CTL_EXIT_OK when all ended done, CTL_EXIT_FAILED when one did
 * not, CTL_EXIT_REFUSED when memsafed refused to watch one, or 130 when
 * interrupted. */
int jobs_wait(const uint64_t *ids, size_t n, const struct jobs_wait *w, yajl_val *replies);

#endif
