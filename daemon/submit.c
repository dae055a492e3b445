/* Submission: options and limits, the job directory, spooling the document. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admit.h"
#include "config.h"
#include "gpuguard.h"
#include "log.h"
#include "protocol.h"
#include "sampler.h"
#include "size.h"
#include "spool.h"
#include "submit.h"
#include "util.h"

/* A pipe that sends nothing for this long is given up on. */
#define SPOOL_IDLE_MS (30 * 1000)

/* Spool bytes held by jobs that have not ended, in all or (uid != -1) by
 * one user. A document still being spooled counts at its cap, so that
 * submissions spooling side by side can never overrun the limits. */
static uint64_t spool_held(const struct jobs *jobs, uid_t uid)
{
	const struct job *job;
	uint64_t n = 0;

	TAILQ_FOREACH(job, &jobs->all, all)
		if (job->spool_fd >= 0 && (uid == (uid_t)-1 || job->r.uid == uid))
			n += job->r.state == JOB_SPOOLING ? job->spool_cap : job->r.size;
	return n;
}

/* How much this user may spool now: max_file_size, or less when the
 * user's or everyone's spool allowance is mostly taken. 0 refuses. */
static uint64_t spool_allowance(const struct jobs *jobs, uid_t uid, const char **by)
{
	const struct config *cfg = jobs->cfg;
	uint64_t user = spool_held(jobs, uid), all = spool_held(jobs, (uid_t)-1);
	uint64_t user_left = user < cfg->max_spool_per_user ? cfg->max_spool_per_user - user : 0;
	uint64_t all_left = all < cfg->max_spool ? cfg->max_spool - all : 0;
	uint64_t cap = cfg->max_file_size;

	*by = "max_file_size";
	if (user_left < cap) {
		cap = user_left;
		*by = "max_spool_per_user";
	}
	if (all_left < cap) {
		cap = all_left;
		*by = "max_spool";
	}
	return cap;
}

/* Why a submission found too little spool allowance left. */
static void spool_limit_message(const struct jobs *jobs, const struct job *job,
				char *msg, size_t msgsz)
{
	const struct config *cfg = jobs->cfg;
	bool all = strcmp(job->spool_cap_by, "max_spool") == 0;
	char held[32], max[32], cap[32], left[64] = "";

	format_size(spool_held(jobs, all ? (uid_t)-1 : job->r.uid), held, sizeof held);
	format_size(all ? cfg->max_spool : cfg->max_spool_per_user, max, sizeof max);
	if (job->spool_cap) {
		format_size(job->spool_cap, cap, sizeof cap);
		snprintf(left, sizeof left, ", and the %s left is too little for it", cap);
	}
	if (all)
		snprintf(msg, msgsz, "memsafed's spool is full: documents of jobs that have not "
			 "ended hold %s of max_spool (%s)%s; try again when some jobs have ended",
			 held, max, left);
	else
		snprintf(msg, msgsz, "your jobs that have not ended hold %s of your spool "
			 "allowance (max_spool_per_user, %s)%s; wait for them to end or "
			 "cancel some", held, max, left);
}

/* The document of a job that never got queued: its spool file and job
 * directory go. */
static void discard_spool(struct job *job)
{
	char path[PATH_MAX];

	close(job->spool_fd);
	job->spool_fd = -1;
	jobs_spool_path(job->jobs, job->r.id, path, sizeof path);
	unlink(path);
	rmdir(job->r.dir);
}

void submit_abandon(struct job *job)
{
	job->spool = spool_free(job->spool);
	close(job->src_fd);
	job->src_fd = -1;
	job->submitted = NULL;
	discard_spool(job);
	TAILQ_REMOVE(&job->jobs->all, job, all);
	log_job(LOG_INFO, job->r.id, NULL, "%s: the submitter disconnected while its document "
		"was spooling: not queued", job->r.name);
	job_free_later(job);
}

static void spooled(struct spool *sp, int error, const char *msg, void *arg)
{
	struct job *job = arg;
	struct jobs *jobs = job->jobs;
	struct job_record *r = &job->r;
	void (*cb)(struct job *, int, const char *, const char *, void *) = job->submitted;
	void *cbarg = job->submitted_arg;

	close(job->src_fd);
	job->src_fd = -1;
	job->submitted = NULL;
	TAILQ_REMOVE(&jobs->all, job, all);
	if (error < 0) {
		char quota[256];
		const char *code = error == -EFBIG ? ERR_TOO_LARGE :
				   error == -EIO || error == -ENOMEM ? ERR_INTERNAL : ERR_BAD_FD;

		discard_spool(job);
		if (error == -EFBIG && strcmp(job->spool_cap_by, "max_file_size") != 0) {
			/* Not too large as such: too large for what is left. */
			code = ERR_LIMIT;
			spool_limit_message(jobs, job, quota, sizeof quota);
			msg = quota;
		}
		if (cb)
			cb(job, error, code, msg, cbarg);
		job_free_later(job);
		return;
	}
	r->size = spool_size(sp);
	snprintf(r->sha256, sizeof r->sha256, "%s", spool_sha256(sp));
	TAILQ_INSERT_TAIL(&jobs->all, job, all);
	jobs_enqueue(jobs, job);
	/* Durable before it is acknowledged: spool file and job.json. */
	job_save(job);
	jobs_changed(jobs);
	log_job(LOG_INFO, r->id, NULL, "%s: queued (%" PRIu64 " bytes, sha256 %.16s…, uid %u)",
		r->name, r->size, r->sha256, (unsigned)r->uid);
	if (cb)
		cb(job, 0, NULL, NULL, cbarg);
	jobs_schedule(jobs);
}

/* Refuse with a sentence: returns -EINVAL. */
static int refuse(const char **code, char *msg, size_t msgsz, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(const char **code, char *msg, size_t msgsz, const char *fmt, ...)
{
	va_list ap;

	*code = ERR_REFUSED;
	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Apply the configuration's defaults and ceilings to the submitter's
 * options. */
static int resolve_options(struct job_record *r, const struct config *cfg,
			   const struct job_options *o, const char **code,
			   char *msg, size_t msgsz)
{
	struct sys_sample sys;
	int sink;

	r->lim.memory_max = o->has_memory_max ? o->memory_max : cfg->memory_max;
	if (r->lim.memory_max > cfg->memory_max_ceiling)
		return refuse(code, msg, msgsz, "memory_max %" PRIu64 " MB is above the ceiling "
			      "of %" PRIu64 " MB set by the administrator (memory_max_ceiling)",
			      r->lim.memory_max >> 20, cfg->memory_max_ceiling >> 20);
	if (sampler_read_system(&sys) == 0 &&
	    admit_fits(r->lim.memory_max, cfg->reserve, sys.mem_total, msg, msgsz) < 0) {
		*code = ERR_REFUSED;
		return -EINVAL;
	}
	r->lim.memory_high = (uint64_t)((double)r->lim.memory_max * cfg->memory_high_ratio);
	if (r->lim.memory_high >= r->lim.memory_max)
		r->lim.memory_high = 0;
	r->lim.swap_max = cfg->swap_max;
	r->lim.pids_max = cfg->pids_max;
	r->batch_size = o->has_batch_size ? (unsigned)o->batch_size : cfg->batch_size;
	if (r->batch_size > cfg->max_batch_size_ceiling)
		return refuse(code, msg, msgsz, "batch_size %u is above the ceiling of %u "
			      "(max_batch_size_ceiling)", r->batch_size, cfg->max_batch_size_ceiling);
	r->max_bytes = o->has_max_bytes ? o->max_bytes : cfg->max_bytes;
	if (r->max_bytes > cfg->max_bytes_ceiling)
		return refuse(code, msg, msgsz, "max_bytes %" PRIu64 " is above the ceiling of %"
			      PRIu64 " bytes set by the administrator (max_bytes_ceiling)",
			      r->max_bytes, cfg->max_bytes_ceiling);
	r->max_wait_ms = o->has_max_wait_ms ? o->max_wait_ms : cfg->max_wait_ms;
	r->timeout_ms = o->has_timeout ? o->timeout_ms : cfg->timeout_ms;
	r->priority = o->has_priority ? (int)o->priority : 0;
	if (r->priority > 0 && !r->admin)
		return refuse(code, msg, msgsz, "priority %d is for administrators (root and "
			      "admin_group %s) only; use a priority of 0 or below", r->priority,
			      cfg->admin_group ? cfg->admin_group : "(none)");
	r->page_timeout_ms = cfg->page_timeout_ms;
	if (gpuguard_resolve_limit(o->has_gpu_memory_max, o->gpu_memory_max, cfg->gpu_memory_max,
				   cfg->gpu_memory_max_ceiling, &r->gpu.limit, msg, msgsz) < 0) {
		*code = ERR_REFUSED;
		return -EINVAL;
	}
	snprintf(r->kb, sizeof r->kb, "%s", o->kb[0] ? o->kb : cfg->kb);
	sink = sink_kind_from_string(o->sink[0] ? o->sink : cfg->sink);
	if (sink < 0)   /* the protocol and the config allow only known sinks */
		return refuse(code, msg, msgsz, "unknown sink \"%s\": use mock, jsonl or exec",
			      o->sink[0] ? o->sink : cfg->sink);
	r->sink = (enum sink_kind)sink;
	if (r->sink == SINK_EXEC && !cfg->exec_command)
		return refuse(code, msg, msgsz, "the exec sink needs a command: set [sink.exec] "
			      "command in memsafed.conf, or use --sink jsonl or mock");
	return 0;
}

/* The user's jobs that wait (spooling or queued). */
static unsigned waiting(const struct jobs *jobs, uid_t uid)
{
	const struct job *it;
	unsigned n = 0;

	TAILQ_FOREACH(it, &jobs->all, all)
		if (it->r.uid == uid && (it->r.state == JOB_QUEUED || it->r.state == JOB_SPOOLING))
			n++;
	return n;
}

int submit_job(struct jobs *jobs, const struct request *rq, uid_t uid, gid_t gid, bool admin,
	       int src_fd, struct job **ret, const char **code, char *msg, size_t msgsz)
{
	const struct config *cfg = jobs->cfg;
	struct job *job = job_new(jobs, jobs->base, cfg);
	struct job_record *r;
	char path[PATH_MAX];
	unsigned mine;
	int e;

	/* Every failure below says what it was; this is the last resort. */
	*code = ERR_INTERNAL;
	snprintf(msg, msgsz, "memsafed ran out of memory");
	if (!job)
		return -ENOMEM;
	r = &job->r;
	r->kind = rq->op == OP_PRESSURE ? JOB_PRESSURE : JOB_INGEST;
	r->uid = uid;
	r->gid = gid;
	r->admin = admin;
	r->submitted_ms = now_real_ms();
	e = resolve_options(r, cfg, &rq->opts, code, msg, msgsz);
	if (e < 0)
		goto fail;
	if (r->kind == JOB_PRESSURE) {
		r->target_mb = rq->target_mb;
		r->hold_ms = rq->hold_ms;
		snprintf(r->name, sizeof r->name, "simulate-pressure %" PRIu64 " MB", rq->target_mb);
	} else {
		snprintf(r->name, sizeof r->name, "%s", rq->name[0] ? rq->name : "(unnamed)");
	}
	if ((mine = waiting(jobs, uid)) >= cfg->max_queued_per_user) {
		*code = ERR_LIMIT;
		snprintf(msg, msgsz, "you already have %u jobs waiting (max_queued_per_user); "
			 "wait for some to start or cancel them", mine);
		e = -EUSERS;
		goto fail;
	}
	r->id = jobs->next_id++;
	if (asprintf(&r->dir, "%s/%" PRIu64, jobs->jobs_dir, r->id) < 0) {
		r->dir = NULL;
		e = -ENOMEM;
		goto internal;
	}
	/* The directory stays the daemon's (a user who owned it could swap
	 * an artifact for a link or a FIFO); the files in it are the
	 * submitter's, mode 0600. */
	if (mkdir(r->dir, 0711) < 0 || chmod(r->dir, 0711) < 0) {
		e = -errno;
		rmdir(r->dir);
		goto internal;
	}
	if (r->kind == JOB_PRESSURE) {
		TAILQ_INSERT_TAIL(&jobs->all, job, all);
		jobs_enqueue(jobs, job);
		job_save(job);
		*ret = job;
		jobs_schedule(jobs);
		return 1;
	}
	jobs_spool_path(jobs, r->id, path, sizeof path);
	job->spool_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (job->spool_fd < 0) {
		e = -errno;
		rmdir(r->dir);
		goto internal;
	}
	job->spool_cap = spool_allowance(jobs, uid, &job->spool_cap_by);
	if (job->spool_cap == 0) {
		*code = ERR_LIMIT;
		spool_limit_message(jobs, job, msg, msgsz);
		close(job->spool_fd);
		job->spool_fd = -1;
		unlink(path);
		rmdir(r->dir);
		e = -EDQUOT;
		goto fail;
	}
	e = spool_start(jobs->base, src_fd, job->spool_fd, job->spool_cap,
			cfg->stream_chunk_size, SPOOL_IDLE_MS, spooled, job, &job->spool,
			msg, msgsz);
	if (e < 0) {
		*code = e == -ENOMEM ? ERR_INTERNAL : ERR_BAD_FD;
		unlink(path);
		rmdir(r->dir);
		goto fail;
	}
	job->src_fd = src_fd;
	r->state = JOB_SPOOLING;
	TAILQ_INSERT_TAIL(&jobs->all, job, all);
	*ret = job;
	return 0;
internal:
	*code = ERR_INTERNAL;
	snprintf(msg, msgsz, "cannot create the job in %s: %s", jobs->jobs_dir, strerror(-e));
fail:
	job_free(job);
	return e;
}
