/* Watching running jobs and applying the pressure policy's decisions. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "policy.h"
#include "pressure.h"
#include "procfs.h"
#include "psi.h"
#include "sampler.h"
#include "util.h"

static double psi_limit(const struct config *cfg)
{
	return policy_psi_limit(cfg->psi_threshold_us, cfg->psi_window_us);
}

static void lift_high(struct job *job, const char *why)
{
	const struct cgroup_limits *lim = &job->r.lim;

	if (!policy_should_lift_high(job->r.cgstats.current, lim->memory_max, lim->memory_high,
				     lim->swap_max, job->high_lifted))
		return;
	if (cgroup_job_lift_high(job->cg) == 0) {
		job->high_lifted = true;
		events_pressure(job, "lift_high");
		log_event(LOG_WARNING, job->r.id, "high_lifted", "memory.high lifted: the job "
			  "stalls at memory.high with no swap to reclaim into (%s); memory.max "
			  "decides", why);
	}
}

static void events_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;

	cgroup_job_watch_ack(job->cg);
	events_check(job);
}

static void job_psi_cb(void *arg, bool gone)
{
	struct job *job = arg;

	if (gone)
		return;
	job->r.psi_triggers++;
	log_event(LOG_NOTICE, job->r.id, "psi", "the job's memory pressure trigger fired (%"
		  PRIu64 " times)", job->r.psi_triggers);
	events_check(job);
	lift_high(job, "its PSI trigger fired");
}

void pressure_watch(struct job *job, struct psi_watch *psi, const char *sys_psi_mode)
{
	struct job_record *jr = &job->r;
	const struct config *cfg = job->cfg;
	int r;

	/* Evidence from the first moment; a job resumed after a restart
	 * sets it up anew and appends to its memory log. */
	if (!job->memlog && (r = memlog_open(jr->dir, jr->n_attempts > 0, jr->uid, jr->gid,
					     &job->memlog)) < 0)
		log_job(LOG_WARNING, jr->id, NULL, "cannot write memory_log.csv: %s", strerror(-r));
	if (!job->ev_events) {
		r = cgroup_job_watch_fd(job->cg);
		if (r >= 0 && (job->ev_events = event_new(job->base, r, EV_READ | EV_PERSIST,
							  events_cb, job)))
			event_add(job->ev_events, NULL);
		else
			log_job(LOG_WARNING, jr->id, NULL, "memory.events changes will be seen "
				"only at each sample: %s", strerror(r < 0 ? -r : ENOMEM));
	}
	if (!job->psi_trigger && cgroup_job_dirfd(job->cg) >= 0) {
		r = psi_trigger_add(psi, cgroup_job_dirfd(job->cg), "memory.pressure",
				    cfg->psi_threshold_us, cfg->psi_window_us, job_psi_cb, job,
				    &job->psi_trigger);
		snprintf(jr->psi_mode, sizeof jr->psi_mode, r == 0 ? "trigger" :
			 "avg10 polling: the kernel refused a PSI trigger on the job (%s)",
			 strerror(-r));
	} else if (!job->psi_trigger) {
		snprintf(jr->psi_mode, sizeof jr->psi_mode, "avg10 polling: cgroup v1 has "
			 "no per-job memory.pressure; system: %s", sys_psi_mode);
	}
}

void pressure_unwatch(struct job *job)
{
	if (job->ev_events)
		event_free(job->ev_events);
	job->ev_events = NULL;
	job->psi_trigger = psi_trigger_free(job->psi_trigger);
}

void pressure_sample(struct job *job, const struct sys_sample *sys, uint64_t now)
{
	struct job_record *jr = &job->r;
	struct memlog_row row = {
		.t_ms = now - jr->started_mono, .mem_available = sys->mem_available,
		.psi_some_avg10 = -1, .psi_full_avg10 = -1,
		.sys_psi_some_avg10 = sys->psi_some_avg10, .page = jr->page,
		.batch_id = jr->last_batch_id + 1,
	};
	struct psi_line some, full;
	char buf[512];

	if (job->pid > 0)
		procfs_read_statm(job->pid, &row.vms, &row.rss);
	events_check(job);
	row.cgroup_current = jr->cgstats.current;
	row.anon = jr->cgstats.anon;
	row.file = jr->cgstats.file;
	if (cgroup_job_psi(job->cg, buf, sizeof buf) > 0 &&
	    procfs_parse_psi(buf, &some, &full) == 0) {
		row.psi_some_avg10 = some.avg10;
		row.psi_full_avg10 = full.avg10;
		jr->psi_some_max = MAX(jr->psi_some_max, some.avg10);
		jr->psi_full_max = MAX(jr->psi_full_max, full.avg10);
	}
	jr->sys_psi_some_max = MAX(jr->sys_psi_some_max, sys->psi_some_avg10);
	/* Also in trigger mode: one trigger event missed must not leave a job
	 * crawling at memory.high. */
	if (row.psi_some_avg10 >= psi_limit(job->cfg))
		lift_high(job, "its PSI avg10 is above the threshold");
	jr->peak_rss_sampled = MAX(jr->peak_rss_sampled, row.rss);
	job->last_rss = row.rss;
	job->last_psi_some = row.psi_some_avg10;
	jr->samples++;
	if (job->memlog && memlog_add(job->memlog, &row, now) < 0) {
		log_job(LOG_ERR, jr->id, NULL, "writing memory_log.csv failed; sampling stops");
		job->memlog = memlog_close(job->memlog);
	}
}

static void action(struct job *job, const char *what, const char *why)
{
	record_add_action(&job->r, now_real_ms(), what);
	log_event(LOG_WARNING, job->r.id, what, "pressure policy: %s the job (%s)", what, why);
	events_pressure(job, what);
}

/* Running jobs as the policy sees them; at most `max`. */
static size_t policy_view(struct job_list *all, struct policy_job *view, struct job **jobs,
			  size_t max)
{
	struct job *job;
	size_t n = 0;

	TAILQ_FOREACH(job, all, all) {
		if (job->r.state != JOB_RUNNING || n == max)
			continue;
		jobs[n] = job;
		view[n++] = (struct policy_job){
			.actionable = job->cg && !job->paused && !job->requeue,
			.started_mono = job->r.started_mono,
			.current = job->r.cgstats.current,
			.memory_max = job->r.lim.memory_max,
			.memory_high = job->r.lim.memory_high,
			.high_lifted = job->high_lifted,
		};
	}
	return n;
}

/* max_concurrent is at most 64 (config.c). */
#define RUNNING_MAX 64

void pressure_act(struct job_list *all, const struct config *cfg, const char *why)
{
	struct policy_job view[RUNNING_MAX];
	struct job *jobs[RUNNING_MAX], *job;
	ssize_t i;

	if (cfg->pressure_policy == POLICY_NONE)
		return;
	i = policy_victim(view, policy_view(all, view, jobs, RUNNING_MAX));
	if (i < 0)
		return;
	job = jobs[i];
	if (cfg->pressure_policy == POLICY_PAUSE) {
		int r = cgroup_job_freeze(job->cg, true);
		if (r == 0) {
			job->paused = true;
			action(job, "pause", why);
			events_state(job, "paused");
		} else {
			log_job(LOG_ERR, job->r.id, NULL, "pressure policy: cannot pause the job: %s",
				strerror(-r));
		}
	} else {
		job->requeue = true;
		action(job, "kill", why);
		cgroup_job_kill(job->cg);
	}
}

void pressure_relax(struct job_list *all, const struct config *cfg, double sys_psi_avg10,
		    uint64_t last_high_ms)
{
	struct job *job;

	if (!policy_may_thaw(sys_psi_avg10, psi_limit(cfg), now_mono_ms(), last_high_ms,
			     cfg->pressure_hold_ms))
		return;
	TAILQ_FOREACH(job, all, all) {
		if (job->r.state != JOB_RUNNING || !job->paused)
			continue;
		int r = cgroup_job_freeze(job->cg, false);
		if (r == 0) {
			job->paused = false;
			action(job, "thaw", "pressure stayed low for hold_time");
			events_state(job, "resumed");
		} else {
			log_job(LOG_ERR, job->r.id, NULL, "pressure policy: cannot thaw the job: %s",
				strerror(-r));
		}
	}
}
