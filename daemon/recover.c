/* Recovery: the jobs on disk, brought back after a restart. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "artifacts.h"
#include "config.h"
#include "log.h"
#include "recover.h"
#include "retry.h"
#include "sink.h"
#include "state.h"
#include "util.h"

/* Spool files no recovered job refers to. */
static void clean_spool(struct jobs *jobs)
{
	DIR *d = opendir(jobs->spool_dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		uint64_t id;
		struct job *job;
		char *dot;

		if (de->d_name[0] == '.')
			continue;
		dot = strchr(de->d_name, '.');
		if (dot && strcmp(dot, ".doc") == 0) {
			*dot = '\0';
			if (parse_u64(de->d_name, &id) == 0 && (job = jobs_find(jobs, id)) &&
			    job->spool_fd >= 0)
				continue;
			*dot = '.';
		}
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A job that was running when the daemon stopped: resume it after its
 * last flushed batch, or end it when no retries are left. Returns true
 * when it goes back into the queue. */
static bool resume(struct jobs *jobs, struct job *job, const char *spool)
{
	const struct config *cfg = jobs->cfg;
	struct job_record *r = &job->r;
	struct retry_point at;
	bool again;

	state_load_manifest(r->dir, r);
	if (r->sink == SINK_JSONL) {
		/* The sink may hold batches job.json never heard of. */
		uint64_t b = r->last_batch_id;
		unsigned p = r->flushed_page, n = r->flushed_page_chunks;
		sink_jsonl_recover(cfg->state_dir, r->uid, r->kb, r->id, &b, &p, &n);
		r->last_batch_id = b;
		r->flushed_page = p;
		r->flushed_page_chunks = n;
	}
	/* A restart is not the job's fault: it costs no OOM retry. Only a
	 * crash loop (restarts in a row with nothing flushed) stops it. */
	r->restarts++;
	again = retry_after_restart(r->kind, r->restarts);
	record_add_attempt(r, &(struct job_attempt){ .exit_code = -1, .signal = -1,
						     .first_page = r->first_page,
						     .end = "interrupted" });
	if (!again) {
		if (r->kind == JOB_INGEST)
			record_set_message(r, "memsafed stopped %u times in a row while the job "
					   "ran, with no batch flushed in between (a crash loop?): "
					   "it is not resumed again; see journalctl -u memsafed for "
					   "why memsafed stops, then resubmit", r->restarts);
		else
			record_set_message(r, "memsafed stopped while the job ran");
		r->state = JOB_INTERRUPTED;
		r->end = END_INTERRUPTED;
		r->ended_ms = now_real_ms();
		jobs->ended++;
		artifacts_write_progress(r, cfg);
		job_save(job);
		close(job->spool_fd);   /* only now: see finish() in jobs.c */
		job->spool_fd = -1;
		unlink(spool);
		return false;
	}
	r->last_batch_id++;   /* the interrupted batch keeps its id */
	at = retry_resume(r->flushed_page, r->flushed_page_chunks);
	r->first_page = at.first_page;
	r->batches_failing = 0;
	job->skip_page = at.skip_page;
	job->skip_chunks = at.skip_chunks;
	record_set_message(r, "interrupted by a memsafed restart; resumes at page %u",
			   r->first_page);
	log_job(LOG_WARNING, r->id, NULL, "%s", r->message);
	return true;
}

/* Bring back one job from its directory. */
static void recover_job(struct jobs *jobs, uint64_t id)
{
	const struct config *cfg = jobs->cfg;
	struct job *job = job_new(jobs, jobs->base, cfg);
	struct job_record *r;
	char path[PATH_MAX];

	if (!job)
		return;
	r = &job->r;
	if (asprintf(&r->dir, "%s/%" PRIu64, jobs->jobs_dir, id) < 0) {
		r->dir = NULL;
		job_free(job);
		return;
	}
	if (state_load(r->dir, r) < 0 || r->id != id) {
		job_free(job);
		return;
	}
	r->first_page = 1;
	if (r->max_bytes > cfg->max_bytes_ceiling) {
		/* The ceiling was lowered while it waited. */
		log_job(LOG_NOTICE, r->id, NULL, "max_bytes %" PRIu64 " lowered to "
			"max_bytes_ceiling %" PRIu64, r->max_bytes, cfg->max_bytes_ceiling);
		r->max_bytes = cfg->max_bytes_ceiling;
	}
	TAILQ_INSERT_TAIL(&jobs->all, job, all);
	/* Stopped with memsafed (a restart, an upgrade): it goes on. */
	if (r->state == JOB_INTERRUPTED && r->resumable) {
		r->state = JOB_RUNNING;
		r->end = END_NONE;
		r->ended_ms = 0;
		r->resumable = false;
	}
	if (r->state != JOB_QUEUED && r->state != JOB_RUNNING) {
		jobs->ended++;   /* history: shown by status and list */
		return;
	}
	jobs_spool_path(jobs, r->id, path, sizeof path);
	if (r->kind == JOB_INGEST && (job->spool_fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		record_set_message(r, "its spooled document was lost while memsafed was down");
		r->state = JOB_FAILED;
		r->end = END_INTERRUPTED;
		jobs->ended++;
		job_save(job);
		return;
	}
	if (r->state == JOB_RUNNING && !resume(jobs, job, path))
		return;
	jobs_enqueue(jobs, job);
	job_save(job);
}

void recover_jobs(struct jobs *jobs)
{
	DIR *d = opendir(jobs->jobs_dir);
	uint64_t *ids = NULL, id;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (d) {
		while ((de = readdir(d))) {
			if (parse_u64(de->d_name, &id) < 0)
				continue;
			if (n == cap) {
				uint64_t *p = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof *ids);
				if (!p)
					break;
				ids = p;
			}
			ids[n++] = id;
		}
		closedir(d);
	}
	if (n)
		qsort(ids, n, sizeof *ids, cmp_u64);
	/* Only the newest JOBS_KEEP_ENDED are kept; the queue is whole. */
	for (size_t i = 0; i < n; i++)
		recover_job(jobs, ids[i]);
	jobs->next_id = n ? ids[n - 1] + 1 : 1;
	free(ids);
	jobs_trim_ended(jobs, NULL);
	if (jobs->queued)
		log_msg(LOG_INFO, "%u jobs recovered from %s", jobs->queued, jobs->jobs_dir);
	clean_spool(jobs);
}
