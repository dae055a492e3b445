/* The job manager: every job the daemon knows, the queue, the sample
 * tick, and how a job moves on — it asks the deciders (admit.c, policy.c,
 * retry.c, outcome.c) and applies their answers through the worker
 * attempt (attempt.c), the watches (pressure.c) and the leaves. The entry
 * points above it are submit.c, recover.c and server.c. */
#ifndef MEMSAFE_JOBS_H
#define MEMSAFE_JOBS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "job.h"

struct cgroup_root;
struct config;
struct kmsg;
struct psi_watch;
struct psi_trigger;
struct cg_reaper;

/* Ended jobs kept in memory for status and list; older ones stay on disk. */
#define JOBS_KEEP_ENDED 1000

struct jobs {
	struct event_base *base;
	const struct config *cfg;
	struct cgroup_root *cg;
	struct job_list all, queue;
	char *jobs_dir, *spool_dir;
	uint64_t next_id;
	unsigned running, queued, ended;
	bool draining;               /* stopping: start nothing new */
	struct kmsg *kmsg;
	struct event *ev_sample;
	struct psi_watch *psi;
	struct psi_trigger *sys_trigger;
	char psi_mode[160];          /* how system pressure is observed */
	uint64_t last_high_ms;       /* monotonic: pressure last seen high */
	TAILQ_HEAD(, cg_reaper) reapers;
	void (*changed)(unsigned running, unsigned queued);
	void (*ended_cb)(void *arg, struct job *job);  /* its end is on disk */
	void *ended_arg;
};

/* Open the state directory and return the job manager (with no jobs:
 * recover_jobs() brings back those on disk). */
int jobs_new(struct event_base *base, const struct config *cfg,
	     struct cgroup_root *cg, struct jobs **ret, char **err);
struct jobs *jobs_free(struct jobs *jobs);
/* After a reload (the config jobs_new was given has new values): re-arm
 * the sampler's interval and the system PSI trigger. Running jobs keep the
 * options they started with. */
void jobs_reconfigure(struct jobs *jobs);
/* Called whenever the number of running or queued jobs changes. */
void jobs_set_changed_cb(struct jobs *jobs, void (*cb)(unsigned running, unsigned queued));
void jobs_changed(struct jobs *jobs);
/* Called once a job's end (artifacts, job.json) is on disk. */
void jobs_set_ended_cb(struct jobs *jobs, void (*cb)(void *arg, struct job *job), void *arg);

/* Put a job in the queue (by priority, then submission order). */
void jobs_enqueue(struct jobs *jobs, struct job *job);
/* Start queued jobs while slots are free and admission allows. */
void jobs_schedule(struct jobs *jobs);
/* Keep at most JOBS_KEEP_ENDED ended jobs in memory, never spare. */
void jobs_trim_ended(struct jobs *jobs, const struct job *spare);
/* <jobs_dir>'s spool file of a job. */
void jobs_spool_path(const struct jobs *jobs, uint64_t id, char *buf, size_t size);

struct job *jobs_find(struct jobs *jobs, uint64_t id);
struct job *jobs_last(struct jobs *jobs);
struct job *jobs_prev(struct job *job);
/* Cancel a queued or running job; -EALREADY once it has ended. */
int jobs_cancel(struct job *job);
/* Shutdown has begun: queued jobs stay queued (on disk, for the next
 * start); running ones may finish. */
void jobs_drain(struct jobs *jobs);
/* Stop every running job (daemon shutdown): their workers are killed and
 * they are recorded as interrupted, but resumable: the next start resumes
 * each after its last flushed batch. */
void jobs_interrupt_all(struct jobs *jobs);
unsigned jobs_running(const struct jobs *jobs);
unsigned jobs_queued(const struct jobs *jobs);

#endif
