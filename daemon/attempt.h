/* A worker attempt: start memsafe-worker in the job's cgroup, stream the
 * spooled document into it, follow its frames (flushing each batch through
 * the job's sink), and tell the manager (job->gone) once the worker is
 * reaped and its pipe drained. Retries and restarts make new attempts. */
#ifndef MEMSAFE_ATTEMPT_H
#define MEMSAFE_ATTEMPT_H

#include "job.h"

struct cgroup_root;
struct config;

/* Create the job's cgroup (once) and start a worker in it from
 * job->r.first_page. 0, or a negative errno with job->r.message set;
 * nothing is left running on failure. */
int attempt_start(struct job *job, struct cgroup_root *root, const char *spool_dir);
/* Drop what belongs to one worker; a live worker is killed and reaped by
 * the loop, never left a zombie. The job timeout stays armed. */
void attempt_reset(struct job *job);
/* attempt_reset, and the job's timeout too. */
void attempt_release(struct job *job);
/* On the sample tick: a worker on one page longer than the job's
 * page_timeout is killed (the job ends page_timeout). True when it was. */
bool attempt_check_page_time(struct job *job, uint64_t now_mono);
/* The batch the worker was assembling when it died, as a manifest row. */
void attempt_record_killed_batch(struct job *job, enum job_end end);

#endif
