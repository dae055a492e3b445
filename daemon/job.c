/* A job in the running daemon: allocation, job.json, memory.events, status JSON. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "json.h"
#include "log.h"
#include "procfs.h"
#include "spool.h"
#include "state.h"
#include "util.h"

struct job *job_new(struct jobs *jobs, struct event_base *base, const struct config *cfg)
{
	struct job *job = calloc(1, sizeof *job);

	if (!job)
		return NULL;
	job->jobs = jobs;
	job->base = base;
	job->cfg = cfg;
	job->spool_fd = job->pidfd = job->in_fd = job->out_fd = job->src_fd = job->err_fd = -1;
	job->r.first_page = 1;
	return job;
}

void job_free(struct job *job)
{
	if (!job)
		return;
	spool_free(job->spool);
	if (job->spool_fd >= 0)
		close(job->spool_fd);
	frame_reader_done(&job->fr);
	free(job->in_buf);
	free(job->fatal_reason);
	record_done(&job->r);
	free(job);
}

static void job_free_cb(evutil_socket_t fd, short what, void *arg)
{
	job_free(arg);
}

void job_free_later(struct job *job)
{
	struct timeval zero = { 0, 0 };

	if (event_base_once(job->base, -1, EV_TIMEOUT, job_free_cb, job, &zero) < 0)
		job_free(job); /* cannot happen short of ENOMEM; leak nothing */
}

void job_save(const struct job *job)
{
	int r = state_save(&job->r);

	if (r < 0)
		log_job(LOG_ERR, job->r.id, NULL, "cannot write %s/job.json: %s", job->r.dir,
			strerror(-r));
}

static const char *const event_names[] = {
	"low", "high", "max", "oom", "oom_kill", "oom_group_kill",
};

static uint64_t *event_counter(struct cgroup_events *ev, size_t i)
{
	uint64_t *c[] = { &ev->low, &ev->high, &ev->max, &ev->oom, &ev->oom_kill,
			  &ev->oom_group_kill };
	return c[i];
}

void job_check_events(struct job *job)
{
	struct job_record *r = &job->r;
	struct cgroup_stats st;

	if (!job->cg || cgroup_job_stats(job->cg, &st) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(event_names); i++) {
		uint64_t now = *event_counter(&st.ev, i), *was = event_counter(&r->cgstats.ev, i);

		if (now <= *was)
			continue;
		log_event(strcmp(event_names[i], "high") == 0 ? LOG_NOTICE : LOG_WARNING,
			  r->id, event_names[i], "memory.events: %s %" PRIu64 " (+%" PRIu64
			  ") on page %u, batch %" PRIu64, event_names[i], now, now - *was,
			  r->page, r->last_batch_id + 1);
		record_add_event(r, &(struct job_event){
			.t_ms = now_real_ms(), .name = event_names[i], .count = now,
			.page = r->page, .batch_id = r->last_batch_id + 1,
		});
	}
	st.peak = MAX(st.peak, r->cgstats.peak);
	r->cgstats = st;
	r->peak_cgroup_sampled = MAX(r->peak_cgroup_sampled, st.current);
}

double job_worker_rss_mb(const struct job *job)
{
	uint64_t vms = 0, rss = 0;

	if (job->reaped || procfs_read_statm(job->pid, &vms, &rss) < 0 || rss == 0)
		rss = job->last_rss ? job->last_rss : job->r.peak_rss_kb * 1024;
	return (double)rss / 1048576.0;
}

void job_to_json(const struct job *job, yajl_gen g)
{
	const struct job_record *r = &job->r;

	yajl_gen_map_open(g);
	json_kuint(g, "id", r->id);
	json_kstr(g, "kind", job_kind_to_string(r->kind));
	json_kstr(g, "state", job_state_to_string(r->state));
	json_kstr(g, "end_reason", job_end_to_string(r->end));
	json_kstr(g, "name", r->name);
	json_kuint(g, "uid", r->uid);
	json_kstr(g, "kb", r->kb);
	json_kstr(g, "sink", sink_kind_to_string(r->sink));
	json_kint(g, "priority", r->priority);
	json_kuint(g, "size_bytes", r->size);
	json_kstr(g, "sha256", r->sha256[0] ? r->sha256 : NULL);
	json_kuint(g, "memory_max", r->lim.memory_max);
	json_kuint(g, "pages", r->pages);
	json_kuint(g, "page", r->page);
	json_kuint(g, "batches", r->batches);
	json_kuint(g, "batches_flushed", r->batches_flushed);
	json_kuint(g, "batches_failed", r->batches_failed);
	json_kuint(g, "chunks", r->chunks);
	json_kdouble(g, "peak_rss_mb", (double)MAX(r->peak_rss_kb * 1024,
						   r->peak_rss_sampled) / 1048576.0);
	json_kdouble(g, "peak_cgroup_mb", (double)MAX(r->cgstats.peak,
						      r->peak_cgroup_sampled) / 1048576.0);
	/* Live figures, for watch: the last sample. */
	json_kdouble(g, "rss_mb", (double)job->last_rss / 1048576.0);
	json_kdouble(g, "cgroup_mb", (double)r->cgstats.current / 1048576.0);
	json_kuint(g, "memory_high", r->lim.memory_high);
	json_kdouble(g, "psi_some_avg10", job->last_psi_some);
	json_kuint(g, "samples", r->samples);
	json_kuint(g, "events", r->n_events);
	if (r->n_events)
		json_kstr(g, "last_event", r->events[r->n_events - 1].name);
	json_kuint(g, "oom_kills", r->cgstats.ev.oom_kill);
	/* GPU memory, live (the last sample) and at its peak. */
	json_kdouble(g, "gpu_host_mb", (double)r->gpu.last_host / 1048576.0);
	json_kdouble(g, "gpu_dev_mb", (double)r->gpu.last_dev / 1048576.0);
	json_kdouble(g, "gpu_peak_mb", (double)r->gpu.peak / 1048576.0);
	json_kuint(g, "gpu_memory_max", r->gpu.limit);
	json_kuint(g, "submitted_ms", r->submitted_ms);
	json_kuint(g, "started_ms", r->started_ms);
	json_kuint(g, "ended_ms", r->ended_ms);
	json_kuint(g, "retries", r->retries_used);
	if (r->n_culprits)
		json_kuint(g, "culprit_page", r->culprits[0]);
	else
		json_knull(g, "culprit_page");
	json_kstr(g, "dir", r->dir);
	json_kstr(g, "message", r->message);
	yajl_gen_map_close(g);
}
