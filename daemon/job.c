#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <seccomp.h>

#include "artifacts.h"
#include "job.h"
#include "json.h"
#include "kmsg.h"
#include "log.h"
#include "procfs.h"
#include "psi.h"
#include "sampler.h"
#include "state.h"
#include "sink.h"
#include "size.h"
#include "spawn.h"
#include "spool.h"
#include "util.h"

/* Ended jobs kept in memory for status and list; older ones stay on disk. */
#define JOBS_KEEP_ENDED 1000

/* A pipe that sends nothing for this long is given up on. */
#define SPOOL_IDLE_MS (30 * 1000)

TAILQ_HEAD(job_list, job);

struct cg_reaper;

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
};

/* job.json changes with the job; a failure is logged, not fatal. */
static void job_save(const struct job *job)
{
	int r = state_save(job);

	if (r < 0)
		log_job(LOG_ERR, job->id, NULL, "cannot write %s/job.json: %s", job->dir, strerror(-r));
}

static void jobs_changed(struct jobs *jobs)
{
	if (jobs->changed)
		jobs->changed(jobs->running, jobs->queued);
}

void jobs_set_changed_cb(struct jobs *jobs, void (*cb)(unsigned, unsigned))
{
	jobs->changed = cb;
	jobs_changed(jobs);
}

static const char *const state_names[] = {
	[JOB_SPOOLING] = "spooling", [JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running", [JOB_DONE] = "done", [JOB_FAILED] = "failed",
	[JOB_OOM_KILLED] = "oom_killed", [JOB_CANCELLED] = "cancelled",
	[JOB_INTERRUPTED] = "interrupted",
};

static const char *const end_names[] = {
	[END_NONE] = NULL, [END_OK] = "ok", [END_OOM_KILL] = "oom_kill",
	[END_SANDBOX_VIOLATION] = "sandbox_violation", [END_CRASH] = "crash",
	[END_TIMEOUT] = "timeout", [END_CANCELLED] = "cancelled",
	[END_BAD_DOCUMENT] = "bad_document", [END_INTERRUPTED] = "interrupted",
};

const char *job_state_name(enum job_state s) { return state_names[s]; }
const char *job_end_name(enum job_end e) { return end_names[e]; }

enum job_end job_classify(const struct job_exit *x)
{
	if (x->cancelled)
		return END_CANCELLED;
	if (x->timed_out)
		return END_TIMEOUT;
	/* The kernel's verdict comes first: an OOM kill can also look like
	 * a crash or a half-finished document. */
	if (!x->exited && x->code_or_signal == SIGKILL && x->oom_kills > 0)
		return END_OOM_KILL;
	if (!x->exited && x->code_or_signal == SIGSYS)
		return END_SANDBOX_VIOLATION;
	if (x->fatal && strcmp(x->fatal, "bad_document") == 0)
		return END_BAD_DOCUMENT;
	if (x->exited && x->code_or_signal == 0 && x->saw_end_frame && !x->fatal)
		return END_OK;
	return END_CRASH;
}

enum job_state job_state_for_end(enum job_end e)
{
	switch (e) {
	case END_OK: return JOB_DONE;
	case END_OOM_KILL: return JOB_OOM_KILLED;
	case END_CANCELLED: return JOB_CANCELLED;
	case END_INTERRUPTED: return JOB_INTERRUPTED;
	default: return JOB_FAILED;
	}
}

static void set_message(struct job *job, const char *fmt, ...) _printf_(2, 3);
static void set_message(struct job *job, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(job->message);
	job->message = s;
}

static void job_free(struct job *job)
{
	if (!job)
		return;
	spool_free(job->spool);
	if (job->spool_fd >= 0)
		close(job->spool_fd);
	frame_reader_done(&job->fr);
	free(job->in_buf);
	free(job->fatal_reason);
	free(job->message);
	free(job->dir);
	free(job->batch_recs);
	free(job->events);
	free(job->syscall);
	free(job);
}

static void job_free_cb(evutil_socket_t fd, short what, void *arg)
{
	job_free(arg);
}

/* Free a job after the current callback has returned. */
static void job_free_later(struct job *job)
{
	struct timeval zero = { 0, 0 };

	if (event_base_once(job->jobs->base, -1, EV_TIMEOUT, job_free_cb, job, &zero) < 0)
		job_free(job); /* cannot happen short of ENOMEM; leak nothing */
}

static void spool_path(const struct job *job, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%" PRIu64 ".doc", job->jobs->spool_dir, job->id);
}

/* The largest worker frame the daemon buffers for a job: a batch of
 * max_bytes of text, every byte of it possibly a 6-byte JSON escape, and
 * room for the batch's other members. max_bytes is at most
 * max_bytes_ceiling (64 MiB at most), so this cannot overflow. */
static size_t frame_cap(uint64_t max_bytes)
{
	return (size_t)(6 * max_bytes + 65536);
}

/* Spool bytes held by jobs that have not ended, in all or (uid != -1) by
 * one user. A document still being spooled counts at its cap, so that
 * submissions spooling side by side can never overrun the limits. */
static uint64_t spool_held(const struct jobs *jobs, uid_t uid)
{
	const struct job *job;
	uint64_t n = 0;

	TAILQ_FOREACH(job, &jobs->all, all)
		if (job->spool_fd >= 0 && (uid == (uid_t)-1 || job->uid == uid))
			n += job->state == JOB_SPOOLING ? job->spool_cap : job->size;
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

	format_size(spool_held(jobs, all ? (uid_t)-1 : job->uid), held, sizeof held);
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

static void queue_insert(struct jobs *jobs, struct job *job)
{
	struct job *it;

	/* Higher priority first; equal priorities keep submission order. */
	TAILQ_FOREACH(it, &jobs->queue, queue)
		if (it->priority < job->priority)
			break;
	if (it)
		TAILQ_INSERT_BEFORE(it, job, queue);
	else
		TAILQ_INSERT_TAIL(&jobs->queue, job, queue);
	jobs->queued++;
	job->state = JOB_QUEUED;
}

static void jobs_schedule(struct jobs *jobs);
static void jobs_pressure(struct jobs *jobs, const char *why);
static void jobs_relax(struct jobs *jobs, const struct sys_sample *sys);
static void job_maybe_lift_high(struct job *job, const char *why);
static int batch_rec_add(struct job *job, const struct batch_rec *rec);

/* ---- memory events and samples ----------------------------------------- */

static const char *const event_names[] = {
	"low", "high", "max", "oom", "oom_kill", "oom_group_kill",
};

static uint64_t *event_counter(struct cgroup_events *ev, size_t i)
{
	uint64_t *c[] = { &ev->low, &ev->high, &ev->max, &ev->oom, &ev->oom_kill,
			  &ev->oom_group_kill };
	return c[i];
}

/* Read the cgroup's counters; log and keep every counter that moved. */
static void job_check_events(struct job *job)
{
	struct cgroup_stats st;

	if (!job->cg || cgroup_job_stats(job->cg, &st) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(event_names); i++) {
		uint64_t now = *event_counter(&st.ev, i), *was = event_counter(&job->cgstats.ev, i);
		struct job_event *e;

		if (now <= *was)
			continue;
		log_event(strcmp(event_names[i], "high") == 0 ? LOG_NOTICE : LOG_WARNING,
			  job->id, event_names[i], "memory.events: %s %" PRIu64 " (+%" PRIu64
			  ") on page %u, batch %" PRIu64, event_names[i], now, now - *was,
			  job->page, job->last_batch_id + 1);
		if (job->n_events < JOB_EVENTS_MAX &&
		    (e = realloc(job->events, (job->n_events + 1) * sizeof *e))) {
			job->events = e;
			job->events[job->n_events++] = (struct job_event){
				.t_ms = now_real_ms(), .name = event_names[i], .count = now,
				.page = job->page, .batch_id = job->last_batch_id + 1,
			};
		}
	}
	st.peak = MAX(st.peak, job->cgstats.peak);
	job->cgstats = st;
	job->peak_cgroup_sampled = MAX(job->peak_cgroup_sampled, st.current);
}

static void events_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;

	cgroup_job_watch_ack(job->cg);
	job_check_events(job);
}

/* The trigger's threshold as a share of its window: the avg10 (in %)
 * that polling treats as the trigger firing. */
static double psi_limit(const struct config *cfg)
{
	return 100.0 * (double)cfg->psi_threshold_us / (double)cfg->psi_window_us;
}

/* One row of memory_log.csv for a running job. */

static void job_sample(struct job *job, const struct sys_sample *sys, uint64_t now)
{
	struct memlog_row row = {
		.t_ms = now - job->started_mono, .mem_available = sys->mem_available,
		.psi_some_avg10 = -1, .psi_full_avg10 = -1,
		.sys_psi_some_avg10 = sys->psi_some_avg10, .page = job->page,
		.batch_id = job->last_batch_id + 1,
	};
	struct psi_line some, full;
	char buf[512];

	if (job->pid > 0)
		procfs_read_statm(job->pid, &row.vms, &row.rss);
	job_check_events(job);
	row.cgroup_current = job->cgstats.current;
	row.anon = job->cgstats.anon;
	row.file = job->cgstats.file;
	if (cgroup_job_psi(job->cg, buf, sizeof buf) > 0 &&
	    procfs_parse_psi(buf, &some, &full) == 0) {
		row.psi_some_avg10 = some.avg10;
		row.psi_full_avg10 = full.avg10;
		job->psi_some_max = MAX(job->psi_some_max, some.avg10);
		job->psi_full_max = MAX(job->psi_full_max, full.avg10);
	}
	job->sys_psi_some_max = MAX(job->sys_psi_some_max, sys->psi_some_avg10);
	/* Also in trigger mode: one trigger event missed must not leave a job
	 * crawling at memory.high. */
	if (row.psi_some_avg10 >= psi_limit(job->jobs->cfg))
		job_maybe_lift_high(job, "its PSI avg10 is above the threshold");
	job->peak_rss_sampled = MAX(job->peak_rss_sampled, row.rss);
	job->last_rss = row.rss;
	job->last_psi_some = row.psi_some_avg10;
	job->samples++;
	if (job->memlog && memlog_add(job->memlog, &row, now) < 0) {
		log_job(LOG_ERR, job->id, NULL, "writing memory_log.csv failed; sampling stops");
		job->memlog = memlog_close(job->memlog);
	}
}

static void sample_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs *jobs = arg;
	struct sys_sample sys;
	uint64_t now = now_mono_ms();
	struct job *job;

	if (jobs->queued && jobs->running < jobs->cfg->max_concurrent)
		jobs_schedule(jobs);
	if (jobs->running == 0 || sampler_read_system(&sys) < 0)
		return;
	if (!jobs->sys_trigger && sys.psi_some_avg10 >= psi_limit(jobs->cfg))
		jobs_pressure(jobs, "system memory PSI avg10 above the threshold (polling)");
	jobs_relax(jobs, &sys);
	TAILQ_FOREACH(job, &jobs->all, all)
		if (job->state == JOB_RUNNING && job->cg)
			job_sample(job, &sys, now);
}

/* ---- the pressure policy ------------------------------------------------ */

static void job_action(struct job *job, const char *action, const char *why)
{
	if (job->n_actions < ARRAY_SIZE(job->actions))
		job->actions[job->n_actions++] = (struct job_action){ now_real_ms(), action };
	log_event(LOG_WARNING, job->id, action, "pressure policy: %s the job (%s)", action, why);
}

/* The newest running job that the policy may still act on. */
static struct job *newest_running(struct jobs *jobs)
{
	struct job *job, *best = NULL;

	TAILQ_FOREACH(job, &jobs->all, all) {
		if (job->state != JOB_RUNNING || !job->cg || job->paused || job->requeue)
			continue;
		/* A job pressed against its own cap makes the system PSI rise
		 * too; freezing it frees nothing. Its cap deals with it. */
		if (job->cgstats.current >= job->lim.memory_max / 10 * 9 ||
		    (job->lim.memory_high && !job->high_lifted &&
		     job->cgstats.current >= job->lim.memory_high / 20 * 19))
			continue;
		if (!best || job->started_mono > best->started_mono)
			best = job;
	}
	return best;
}

/* System memory pressure crossed the threshold: act on the newest job. */
static void jobs_pressure(struct jobs *jobs, const char *why)
{
	struct job *job;

	jobs->last_high_ms = now_mono_ms();
	if (jobs->cfg->pressure_policy == POLICY_NONE || !(job = newest_running(jobs)))
		return;
	if (jobs->cfg->pressure_policy == POLICY_PAUSE) {
		int r = cgroup_job_freeze(job->cg, true);
		if (r == 0) {
			job->paused = true;
			job_action(job, "pause", why);
		} else {
			log_job(LOG_ERR, job->id, NULL, "pressure policy: cannot pause the job: %s",
				strerror(-r));
		}
	} else {
		job->requeue = true;
		job_action(job, "kill", why);
		cgroup_job_kill(job->cg);
	}
}

/* Thaw paused jobs once pressure has stayed low for hold_time. */
static void jobs_relax(struct jobs *jobs, const struct sys_sample *sys)
{
	struct job *job;

	if (sys->psi_some_avg10 >= psi_limit(jobs->cfg) ||
	    now_mono_ms() - jobs->last_high_ms < jobs->cfg->pressure_hold_ms)
		return;
	TAILQ_FOREACH(job, &jobs->all, all) {
		if (job->state != JOB_RUNNING || !job->paused)
			continue;
		int r = cgroup_job_freeze(job->cg, false);
		if (r == 0) {
			job->paused = false;
			job_action(job, "thaw", "pressure stayed low for hold_time");
		} else {
			log_job(LOG_ERR, job->id, NULL, "pressure policy: cannot thaw the job: %s",
				strerror(-r));
		}
	}
}

static void sys_psi_cb(void *arg, bool gone)
{
	jobs_pressure(arg, "the system memory PSI trigger fired");
}

/* memory.high throttles a job so it can reclaim before memory.max. With
 * nothing to reclaim (anonymous memory and swap.max 0) the kernel can only
 * make it sleep, up to 2 s per fault, and a runaway job crawls for minutes
 * instead of being OOM-killed (seen on 6.1 with a 32M cap). Once the job
 * stalls at memory.high, lift it and let memory.max decide. */
static void job_maybe_lift_high(struct job *job, const char *why)
{
	if (job->high_lifted || !job->lim.memory_high || job->lim.swap_max ||
	    job->cgstats.current + (job->lim.memory_max - job->lim.memory_high) / 4 <
	    job->lim.memory_high)
		return;
	if (cgroup_job_lift_high(job->cg) == 0) {
		job->high_lifted = true;
		log_event(LOG_WARNING, job->id, "high_lifted", "memory.high lifted: the job stalls "
			  "at memory.high with no swap to reclaim into (%s); memory.max decides", why);
	}
}

static void job_psi_cb(void *arg, bool gone)
{
	struct job *job = arg;

	if (gone)
		return;
	job->psi_triggers++;
	log_event(LOG_NOTICE, job->id, "psi", "the job's memory pressure trigger fired (%" PRIu64
		  " times)", job->psi_triggers);
	job_check_events(job);
	job_maybe_lift_high(job, "its PSI trigger fired");
}

/* ---- the end of a job --------------------------------------------------- */

/* A job cgroup the kernel would not let go of yet (a task still exiting):
 * retried from a timer until it goes, so none is ever left behind, and
 * the loop never sleeps waiting for it. */
#define REAP_EVERY_MS 20
struct cg_reaper {
	TAILQ_ENTRY(cg_reaper) entry;
	struct jobs *jobs;
	struct cgroup_job *cg;
	uint64_t id;
	unsigned tries;
	struct event *ev;
};

static void cg_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cg_reaper *z = arg;
	struct timeval tv = { 0, REAP_EVERY_MS * 1000 };
	int r = cgroup_job_destroy(z->cg, 0);

	if (r < 0 && ++z->tries < 60 * 1000 / REAP_EVERY_MS) {   /* a minute */
		event_add(z->ev, &tv);
		return;
	}
	if (r < 0)
		log_job(LOG_ERR, z->id, NULL, "could not remove its cgroup: %s", strerror(-r));
	TAILQ_REMOVE(&z->jobs->reapers, z, entry);
	event_free(z->ev);
	free(z);
}

static void reap_cgroup_later(struct jobs *jobs, struct cgroup_job *cg, uint64_t id)
{
	struct cg_reaper *z = calloc(1, sizeof *z);
	struct timeval tv = { 0, REAP_EVERY_MS * 1000 };

	if (!z || !(z->ev = evtimer_new(jobs->base, cg_reaper_cb, z))) {
		log_job(LOG_ERR, id, NULL, "could not remove its cgroup (out of memory)");
		free(z);
		return;
	}
	z->jobs = jobs;
	z->cg = cg;
	z->id = id;
	TAILQ_INSERT_TAIL(&jobs->reapers, z, entry);
	evtimer_add(z->ev, &tv);
}

/* Drop what belongs to one worker (one attempt). */
static void worker_reset(struct job *job)
{
	if (job->ev_exit)
		event_free(job->ev_exit);
	if (job->ev_in)
		event_free(job->ev_in);
	if (job->ev_out)
		event_free(job->ev_out);
	job->ev_exit = job->ev_in = job->ev_out = NULL;
	job->exec = sink_exec_free(job->exec);
	if (job->pidfd >= 0 && !job->reaped)   /* never a zombie left behind */
		spawn_abandon(job->jobs->base, job->pidfd);
	else if (job->pidfd >= 0)
		close(job->pidfd);
	if (job->in_fd >= 0)
		close(job->in_fd);
	if (job->out_fd >= 0)
		close(job->out_fd);
	job->pidfd = job->in_fd = job->out_fd = -1;
	frame_reader_done(&job->fr);
	free(job->in_buf);
	job->in_buf = NULL;
	job->in_len = job->in_pos = 0;
	job->in_off = 0;
	job->saw_end = job->reaped = job->out_eof = false;
	free(job->fatal_reason);
	job->fatal_reason = NULL;
}

/* Drop everything a running job holds but its cgroup. */
static void worker_release(struct job *job)
{
	worker_reset(job);
	if (job->ev_timeout)
		event_free(job->ev_timeout);
	if (job->ev_events)
		event_free(job->ev_events);
	job->ev_timeout = job->ev_events = NULL;
	job->psi_trigger = psi_trigger_free(job->psi_trigger);
}

/* The batch the worker was assembling when it died, as a manifest row. */
static void record_killed_batch(struct job *job, enum job_end end)
{
	struct batch_rec rec = { .id = job->last_batch_id + 1, .status = BATCH_KILLED,
				 .first_page = job->flushed_page + 1, .last_page = job->page,
				 .started_ms = job->started_ms, .finished_ms = now_real_ms(),
				 .rss_mb = (double)job->peak_rss_sampled / 1048576.0 };

	if (job->n_batch_recs)
		rec.started_ms = job->batch_recs[job->n_batch_recs - 1].finished_ms;
	if (rec.first_page > rec.last_page)
		rec.first_page = rec.last_page;
	snprintf(rec.error, sizeof rec.error, "the worker was %s on page %u",
		 end == END_OOM_KILL ? "OOM-killed" : "killed", job->page);
	batch_rec_add(job, &rec);
}

static void write_dmesg_excerpt(struct job *job)
{
	struct jobs *jobs = job->jobs;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	fprintf(f, "# kernel log lines for job %" PRIu64 " (cgroup %s, worker pid %d)\n",
		job->id, job->cg ? cgroup_job_name(job->cg) : "-", (int)job->pid);
	/* Kernel stamps are monotonic; a second of slack on either side. */
	kmsg_excerpt(jobs->kmsg, f, job->started_mono > 1000 ? (job->started_mono - 1000) * 1000 : 0,
		     (now_mono_ms() + 1000) * 1000, job->cg ? cgroup_job_kernel_path(job->cg) : NULL,
		     job->pid);
	fclose(f);
	if (text && write_atomic_owned(job->dir, "dmesg_excerpt.txt", text, len, job->uid,
					 job->gid, 0600) < 0)
		log_job(LOG_ERR, job->id, NULL, "could not write dmesg_excerpt.txt");
	free(text);
}

/* Keep at most JOBS_KEEP_ENDED ended jobs in memory, dropping the oldest
 * but never spare (the job that just ended: it shows in status and list,
 * and its callbacks may still be on the stack). */
static void jobs_trim_ended(struct jobs *jobs, const struct job *spare)
{
	struct job *job, *next;

	for (job = TAILQ_FIRST(&jobs->all); job && jobs->ended > JOBS_KEEP_ENDED; job = next) {
		next = TAILQ_NEXT(job, all);
		if (job == spare || job->state <= JOB_RUNNING || job->submitted)
			continue;
		TAILQ_REMOVE(&jobs->all, job, all);
		jobs->ended--;
		job_free_later(job);
	}
}

/* Test hook: with MEMSAFED_CRASH_AT=job-end in its environment (which
 * only whoever starts it controls), memsafed kills itself between a job's
 * artifacts and its job.json: the window restart.test checks. */
static bool crash_at(const char *point)
{
	const char *v = getenv("MEMSAFED_CRASH_AT");

	return v && strcmp(v, point) == 0;
}

static void job_finish(struct job *job, enum job_end end)
{
	struct jobs *jobs = job->jobs;
	char path[PATH_MAX];
	int r;

	kmsg_drain(jobs->kmsg);
	job->end = end;
	if (job->cg && job->memlog) {
		/* A closing row: the cgroup as the job left it. */
		struct sys_sample sys;
		if (sampler_read_system(&sys) == 0)
			job_sample(job, &sys, now_mono_ms());
	}
	job_check_events(job);
	if (job->kind == JOB_INGEST && end != END_OK && end != END_BAD_DOCUMENT &&
	    job->started_mono && job->page > job->flushed_page)
		record_killed_batch(job, end);
	if (job->started_mono)
		write_dmesg_excerpt(job);
	worker_release(job);
	job->memlog = memlog_close(job->memlog);
	if (job->cg && (r = cgroup_job_destroy(job->cg, 4)) < 0)
		reap_cgroup_later(jobs, job->cg, job->id);
	job->cg = NULL;
	job->state = job_state_for_end(end);
	job->ended_ms = now_real_ms();
	job->ended_mono = now_mono_ms();
	/* A peak is never below anything seen while it ran. */
	job->cgstats.peak = MAX(job->cgstats.peak, job->peak_cgroup_sampled);
	job->peak_rss_kb = MAX(job->peak_rss_kb, job->peak_rss_sampled / 1024);
	if ((r = artifacts_write(job, jobs->cfg, jobs->cg, kmsg_status(jobs->kmsg))) < 0)
		log_job(LOG_ERR, job->id, NULL, "could not write its artifacts in %s: %s",
			job->dir, strerror(-r));
	log_memory(job->id, "job end", (double)job->peak_rss_kb / 1024.0);
	log_job(end == END_OK ? LOG_INFO : LOG_WARNING, job->id,
		end == END_OOM_KILL ? MSGID_OOM_KILL : MSGID_JOB_END,
		"%s: %s (%s), %u pages, %" PRIu64 " batches, peak %.1f MB of %.0f MB%s%s",
		job->name, job_state_name(job->state), job_end_name(end), job->pages,
		job->batches, (double)job->cgstats.peak / 1048576.0,
		(double)job->lim.memory_max / 1048576.0, job->message ? ": " : "",
		job->message ? job->message : "");
	if (crash_at("job-end"))
		raise(SIGKILL);
	job_save(job);
	/* Only once job.json says how it ended: a crash before that leaves
	 * a job that resumes, not one whose document is lost. */
	if (job->spool_fd >= 0) {
		close(job->spool_fd);
		job->spool_fd = -1;
		spool_path(job, path, sizeof path);
		unlink(path);
	}
	/* What is on disk now need not stay in memory. */
	free(job->batch_recs);
	job->batch_recs = NULL;
	job->n_batch_recs = job->cap_batch_recs = 0;
	jobs->running--;
	jobs->ended++;
	jobs_trim_ended(jobs, job);
	jobs_changed(jobs);
	jobs_schedule(jobs);
}

static int job_start(struct job *job);

/* After an OOM kill: resume after the last flushed page with half the
 * batch size, and skip a page that was being processed at two OOM kills
 * (the culprit). Returns 1 when a new worker took over, 2 when skipping
 * the culprit left nothing to do (the job is done), 0 for no retry. */
static int job_retry(struct job *job)
{
	const struct config *cfg = job->jobs->cfg;
	unsigned killed = job->page, next;

	if (job->kind != JOB_INGEST || job->retries_used >= cfg->retries ||
	    job->cancelled || job->timed_out || killed == 0)
		return 0;
	record_killed_batch(job, END_OOM_KILL);
	/* Chunks never span pages, but a batch may close inside a page: if
	 * part of the killed page was flushed, redo that whole page. */
	next = job->flushed_page < killed ? job->flushed_page + 1 : killed;
	if (killed == job->last_oom_page) {
		if (job->n_culprits < ARRAY_SIZE(job->culprits))
			job->culprits[job->n_culprits++] = killed;
		next = killed + 1;
		log_event(LOG_WARNING, job->id, "culprit_page", "page %u was being processed at "
			  "two OOM kills: it is the culprit and is skipped", killed);
	}
	job->last_oom_page = killed;
	job->retries_used++;
	job->batch_size = MAX(1u, job->batch_size / 2);
	/* Batch ids stay unique: the killed batch keeps its id. */
	job->last_batch_id++;
	job->first_page = next;
	if (job->pages && next > job->pages) {
		set_message(job, "page %u was skipped as the culprit of two OOM kills", killed);
		return 2;   /* the culprit was the last page */
	}
	set_message(job, "OOM-killed on page %u; retry %u of %u from page %u with batch size %u",
		    killed, job->retries_used, cfg->retries, next, job->batch_size);
	log_job(LOG_WARNING, job->id, NULL, "%s", job->message);
	worker_reset(job);
	job->page = next - 1;
	if (job_start(job) < 0)
		job_finish(job, END_CRASH);
	else
		job_save(job);
	return 1;
}

/* The pressure policy killed the job: back into the queue, to resume
 * after its last flushed page once admission allows. */
static void job_requeue(struct job *job)
{
	struct jobs *jobs = job->jobs;

	if (job->page > job->flushed_page) {
		record_killed_batch(job, END_CRASH);
		job->last_batch_id++;
	}
	job->first_page = job->flushed_page + 1;
	job->requeue = false;
	/* Its timers and watches too: a timeout must not fire on a job that
	 * waits in the queue (job_start arms them again). */
	worker_release(job);
	set_message(job, "requeued by the pressure policy; resumes at page %u", job->first_page);
	jobs->running--;
	queue_insert(jobs, job);
	job_save(job);
	jobs_changed(jobs);
}

/* Gather how the worker ended (it has been reaped) and finish the job. */
static void job_worker_gone(struct job *job)
{
	const siginfo_t *si = &job->exit_info;
	struct job_exit x = {
		.exited = si->si_code == CLD_EXITED,
		.code_or_signal = si->si_status,
		.saw_end_frame = job->saw_end,
		.fatal = job->fatal_reason,
		.cancelled = job->cancelled,
		.timed_out = job->timed_out,
	};
	struct job_attempt *at;
	enum job_end end;

	if (x.exited)
		job->exit_code = si->si_status;
	else
		job->exit_signal = si->si_status;
	job_check_events(job);
	x.oom_kills = job->cgstats.ev.oom_kill;
	end = job_classify(&x);
	if (end == END_CRASH && !job->message)
		set_message(job, x.exited ? "the worker exited with status %d" :
			    "the worker was killed by signal %d (%s)",
			    si->si_status, strsignal(si->si_status));
	if (end == END_OOM_KILL)
		set_message(job, job->kind == JOB_PRESSURE ?
			    "the kernel killed the worker at memory.max (%" PRIu64 " MB)%.0u" :
			    "the kernel killed the worker at memory.max (%" PRIu64 " MB) on page %u",
			    job->lim.memory_max >> 20, job->page);
	if (end == END_SANDBOX_VIOLATION) {
		long nr;
		kmsg_drain(job->jobs->kmsg);
		nr = kmsg_seccomp_syscall(job->jobs->kmsg, job->pid);
		if (nr >= 0) {
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)nr);
			free(job->syscall);
			if (name)
				job->syscall = name;
			else if (asprintf(&job->syscall, "syscall %ld", nr) < 0)
				job->syscall = NULL;
		}
		set_message(job, "the worker made a system call its sandbox forbids: %s",
			    job->syscall ? job->syscall :
			    "(not named: no seccomp audit line in the kernel log)");
	}
	if (job->n_attempts < ARRAY_SIZE(job->attempts)) {
		at = &job->attempts[job->n_attempts++];
		at->exit_code = x.exited ? si->si_status : -1;
		at->signal = x.exited ? -1 : si->si_status;
		at->first_page = job->first_page;
		snprintf(at->end, sizeof at->end, "%s", job_end_name(end));
	}
	if (job->requeue && !job->cancelled && !job->timed_out) {
		job_requeue(job);
		return;
	}
	if (end == END_OOM_KILL) {
		int rr = job_retry(job);
		if (rr == 1)
			return;
		if (rr == 2)
			end = END_OK;
	}
	if (end == END_OK && job->n_culprits)
		set_message(job, "done, with page%s %u skipped as the culprit of two OOM kills",
			    job->n_culprits > 1 ? "s" : "", job->culprits[0]);
	job_finish(job, end);
}

/* ---- frames from the worker -------------------------------------------- */

static int batch_rec_add(struct job *job, const struct batch_rec *rec)
{
	if (job->n_batch_recs == job->cap_batch_recs) {
		size_t cap = job->cap_batch_recs ? job->cap_batch_recs * 2 : 16;
		struct batch_rec *p = realloc(job->batch_recs, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		job->batch_recs = p;
		job->cap_batch_recs = cap;
	}
	job->batch_recs[job->n_batch_recs++] = *rec;
	return 0;
}

/* The worker's RSS now; once it has exited (frames are read after the
 * exit too) the last sampled value, or its peak. */
static double worker_rss_mb(const struct job *job)
{
	uint64_t vms = 0, rss = 0;

	if (job->reaped || procfs_read_statm(job->pid, &vms, &rss) < 0 || rss == 0)
		rss = job->last_rss ? job->last_rss : job->peak_rss_kb * 1024;
	return (double)rss / 1048576.0;
}

/* A batch's flush has ended: record it, log it, save the artifacts. */
static void batch_flushed(struct job *job, struct batch_rec *rec, int r, const char *err)
{
	char op[64];

	rec->finished_ms = now_real_ms();
	if (r < 0) {
		rec->status = BATCH_FAILED;
		snprintf(rec->error, sizeof rec->error, "%s", err);
		job->batches_failed++;
		log_job(LOG_WARNING, job->id, NULL, "batch %" PRIu64 " failed to flush: %s",
			rec->id, err);
	} else {
		job->batches_flushed++;
		job->flushed_page = rec->last_page;
	}
	snprintf(op, sizeof op, "batch %" PRIu64, rec->id);
	log_memory(job->id, op, rec->rss_mb);
	if (rec->rss_mb * 1048576.0 > (double)job->jobs->cfg->memory_warn)
		log_event(LOG_WARNING, job->id, "memory_warn",
			  "[MEMORY] warning: worker RSS %.2f MB is above memory_warn (%.0f MB)",
			  rec->rss_mb, (double)job->jobs->cfg->memory_warn / 1048576.0);
	batch_rec_add(job, rec);
	/* Evidence survives a daemon crash, at most a second old: rewriting
	 * on every batch would cost O(batches²) for long documents. What a
	 * crash loses here the jsonl sink's own record makes up for. */
	if (now_mono_ms() - job->saved_mono >= 1000) {
		artifacts_write_progress(job, job->jobs->cfg);
		job_save(job);
		job->saved_mono = now_mono_ms();
	}
}

static void job_pump(struct job *job);

static void exec_free_cb(evutil_socket_t fd, short what, void *arg)
{
	sink_exec_free(arg);
}

static void exec_done(struct job *job, int r, const char *err)
{
	struct batch_rec rec = job->exec_rec;
	struct timeval zero = { 0, 0 };
	struct sink_exec *x = job->exec;

	/* Its callback is running: free it after that returns. */
	job->exec = NULL;
	if (event_base_once(job->jobs->base, -1, EV_TIMEOUT, exec_free_cb, x, &zero) < 0)
		sink_exec_free(x);
	batch_flushed(job, &rec, r, err);
	job_pump(job);
}

/* Returns 0, 1 when the flush went asynchronous (exec sink), or a
 * negative errno for a malformed batch. */
static int job_batch(struct job *job, yajl_val v, const char *body, size_t len)
{
	yajl_val chunks = json_get(v, "chunks");
	struct batch_rec rec = { .status = BATCH_FLUSHED };
	uint64_t t0 = 0, first = 0, last = 0;
	char err[256] = "";
	int r;

	if (!YAJL_IS_ARRAY(chunks) || json_get_u64(v, "batch", &rec.id) < 0)
		return -EBADMSG;
	json_get_u64(v, "first_page", &first);
	json_get_u64(v, "last_page", &last);
	json_get_u64(v, "bytes", &rec.bytes);
	json_get_u64(v, "started_ms", &t0);
	rec.first_page = (unsigned)MIN(first, UINT32_MAX);
	rec.last_page = (unsigned)MIN(last, UINT32_MAX);
	rec.chunks = chunks->u.array.len;
	rec.started_ms = t0 ? t0 : now_real_ms();
	rec.rss_mb = worker_rss_mb(job);
	job->batches++;
	job->chunks += rec.chunks;
	job->last_batch_id = rec.id;
	if (strcmp(job->sink, "exec") == 0) {
		r = sink_exec_start(job, job->jobs->base, job->jobs->cfg, job->cg, body, len,
				    exec_done, &job->exec, err, sizeof err);
		if (r == 0) {
			job->exec_rec = rec;
			return 1;
		}
	} else {
		r = sink_flush(job, job->jobs->cfg->state_dir, v, err, sizeof err);
	}
	batch_flushed(job, &rec, r, err);
	return 0;
}

/* Act on one frame: 0, 1 when a flush holds further frames back, or a
 * negative errno for a worker fault. */
static int job_frame(struct job *job, const char *body, size_t len)
{
	_cleanup_json_ yajl_val v = NULL;
	const char *t, *s;
	uint64_t n;
	char err[128];

	if (json_parse(body, len, &v, err, sizeof err) < 0 || json_get_str(v, "t", &t) < 0)
		return -EBADMSG;
	if (strcmp(t, "page") == 0 || strcmp(t, "doc") == 0) {
		if (json_get_u64(v, "pages", &n) == 0 && n <= UINT32_MAX)
			job->pages = (unsigned)n;
		if (json_get_u64(v, "page", &n) == 0 && n <= UINT32_MAX)
			job->page = (unsigned)n;
	} else if (strcmp(t, "batch") == 0) {
		return job_batch(job, v, body, len);
	} else if (strcmp(t, "page_error") == 0) {
		if (json_get_u64(v, "page", &n) < 0 || json_get_str(v, "message", &s) < 0)
			return -EBADMSG;
		log_job(LOG_WARNING, job->id, NULL, "page %" PRIu64 " skipped: %s", n, s);
	} else if (strcmp(t, "pressure") == 0) {
		if (json_get_u64(v, "mb", &n) == 0)
			job->pressure_mb = MAX(job->pressure_mb, n);
	} else if (strcmp(t, "end") == 0) {
		job->saw_end = true;
		if (json_get_u64(v, "pages", &n) == 0 && n <= UINT32_MAX)
			job->pages = (unsigned)n;
	} else if (strcmp(t, "fatal") == 0) {
		if (json_get_str(v, "reason", &t) < 0 || json_get_str(v, "message", &s) < 0)
			return -EBADMSG;
		free(job->fatal_reason);
		job->fatal_reason = strdup(t);
		set_message(job, "%s", s);
	} else {
		return -EBADMSG;
	}
	return 0;
}

/* Move the job forward: act on buffered frames, read more when there are
 * none, and finish once the worker is reaped and its pipe is drained. A
 * flush in progress (exec sink) holds everything until it ends. */
static void job_pump(struct job *job)
{
	/* Cancelled or timed out: stop at once. What the worker wrote
	 * before it was killed is not flushed (through a slow exec sink,
	 * each batch would hold the end back); the batch it was on is
	 * recorded as killed when the job ends. */
	if (job->cancelled || job->timed_out)
		job->out_eof = true;
	while (!job->exec && !job->out_eof) {
		const char *body;
		size_t len;
		int r = frame_reader_next(&job->fr, &body, &len);

		if (r == 1)
			r = job_frame(job, body, len);
		if (r == 1)
			break;           /* an asynchronous flush started */
		if (r < 0) {
			set_message(job, r == -EMSGSIZE ?
				    "the worker sent a frame larger than the limit" :
				    "the worker sent a malformed frame");
			job->out_eof = true;
			cgroup_job_kill(job->cg); /* a worker fault: its exit ends the job */
			break;
		}
		if (r == 0 && job->fr.taken == 0) {
			ssize_t n = frame_reader_fill(&job->fr, job->out_fd);
			/* Once the worker is reaped nobody else may write. */
			if (n == -EAGAIN && !job->reaped) {
				event_add(job->ev_out, NULL);
				return;
			}
			if (n <= 0)
				job->out_eof = true;
		}
	}
	event_del(job->ev_out);
	if (job->reaped && job->out_eof && !job->exec)
		job_worker_gone(job);
}

static void out_cb(evutil_socket_t fd, short what, void *arg)
{
	job_pump(arg);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	struct rusage ru;

	if (spawn_reap(job->pidfd, &job->exit_info, &ru) < 0)
		return;
	event_del(job->ev_exit);
	job->reaped = true;
	job->peak_rss_kb = (uint64_t)ru.ru_maxrss;
	job_pump(job);
}

/* Stream the spooled document into the worker's pipe, one buffer at a
 * time, as fast as the worker takes it. */
static void in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n;

		if (job->in_pos == job->in_len) {
			n = pread(job->spool_fd, job->in_buf, job->in_cap, (off_t)job->in_off);
			if (n <= 0)
				goto done; /* EOF: the worker sees the end of input */
			job->in_off += (uint64_t)n;
			job->in_len = (size_t)n;
			job->in_pos = 0;
		}
		n = write(job->in_fd, job->in_buf + job->in_pos, job->in_len - job->in_pos);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0)
			goto done; /* EPIPE: the worker stopped reading */
		job->in_pos += (size_t)n;
	}
	return;
done:
	event_free(job->ev_in);
	job->ev_in = NULL;
	close(job->in_fd);
	job->in_fd = -1;
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;

	job->timed_out = true;
	set_message(job, "the job ran longer than its timeout (%" PRIu64 " ms)",
		    job->timeout_ms);
	cgroup_job_kill(job->cg);
}

/* ---- starting a worker -------------------------------------------------- */

static int job_start(struct job *job)
{
	struct jobs *jobs = job->jobs;
	const struct config *cfg = jobs->cfg;
	char a_batch[24], a_bytes[24], a_wait[24], a_chunk[24], a_overlap[24],
		a_buf[24], a_target[24], a_hold[24], a_fpage[24], a_fbatch[24], a_fsize[24];
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, scratch = -1, r;
	struct spawn_args sa = { .path = cfg->worker_path, .cgroup_dirfd = -1,
				 .procs_fds = { -1, -1 } };
	/* A bigger malloc tcache spares poppler-glib's per-page allocation
	 * churn: measured 1.10x pdftotext's pages/s on 1,000 pages instead
	 * of 0.98x (tests/bench/bench-extract.sh). */
	char *envp[] = { "PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8",
			 "GLIBC_TUNABLES=glibc.malloc.tcache_count=1000", NULL };
	char *argv[32];
	int argc = 0;

	if (!job->cg && (r = cgroup_job_create(jobs->cg, job->id, &job->lim, &job->cg)) < 0) {
		set_message(job, "could not create its cgroup under %s: %s",
			    cgroup_jobs_path(jobs->cg), strerror(-r));
		return r;
	}
	argv[argc++] = "memsafe-worker";
	if (job->kind == JOB_PRESSURE) {
		snprintf(a_target, sizeof a_target, "%" PRIu64, job->target_mb);
		snprintf(a_hold, sizeof a_hold, "%" PRIu64, job->hold_ms);
		argv[argc++] = "pressure";
		argv[argc++] = "--target-mb";
		argv[argc++] = a_target;
		argv[argc++] = "--hold-ms";
		argv[argc++] = a_hold;
	} else {
		snprintf(a_batch, sizeof a_batch, "%u", job->batch_size);
		snprintf(a_bytes, sizeof a_bytes, "%" PRIu64, job->max_bytes);
		snprintf(a_wait, sizeof a_wait, "%" PRIu64, job->max_wait_ms);
		snprintf(a_chunk, sizeof a_chunk, "%u", cfg->chunk_size);
		snprintf(a_overlap, sizeof a_overlap, "%u", cfg->chunk_overlap);
		snprintf(a_buf, sizeof a_buf, "%" PRIu64, cfg->stream_buffer_size);
		argv[argc++] = "extract";
		argv[argc++] = "--batch-size";
		argv[argc++] = a_batch;
		argv[argc++] = "--max-bytes";
		argv[argc++] = a_bytes;
		argv[argc++] = "--max-wait-ms";
		argv[argc++] = a_wait;
		argv[argc++] = "--chunk-size";
		argv[argc++] = a_chunk;
		argv[argc++] = "--chunk-overlap";
		argv[argc++] = a_overlap;
		argv[argc++] = "--buffer-size";
		argv[argc++] = a_buf;
		argv[argc++] = "--scratch-fd";
		argv[argc++] = "3";
		snprintf(a_fsize, sizeof a_fsize, "%" PRIu64, MAX(cfg->max_file_size, (uint64_t)1 << 20));
		argv[argc++] = "--max-file-size";
		argv[argc++] = a_fsize;
		if (job->first_page > 1) {
			snprintf(a_fpage, sizeof a_fpage, "%u", job->first_page);
			snprintf(a_fbatch, sizeof a_fbatch, "%" PRIu64, job->last_batch_id + 1);
			argv[argc++] = "--first-page";
			argv[argc++] = a_fpage;
			argv[argc++] = "--first-batch";
			argv[argc++] = a_fbatch;
		}
	}
	if (geteuid() == 0) {
		argv[argc++] = "--user";
		argv[argc++] = cfg->worker_user;
	}
	argv[argc] = NULL;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if (job->kind == JOB_INGEST) {
		/* The worker assembles a PDF here: an unlinked file in the
		 * spool, so a large document costs disk, not memory. */
		scratch = open(jobs->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (scratch < 0) {
			r = -errno;
			goto fail;
		}
	}
	r = cgroup_job_procs_fds(job->cg, sa.procs_fds, 2);
	if (r < 0)
		goto fail;
	sa.argv = argv;
	sa.envp = envp;
	sa.cgroup_dirfd = cgroup_job_dirfd(job->cg);
	sa.fds[0] = in[0];
	sa.fds[1] = out[1];
	sa.fds[2] = STDERR_FILENO;
	sa.fds[3] = scratch;
	sa.fds[4] = -1;
	r = spawn_process(&sa, &job->pid, &job->pidfd);
	for (int i = 0; i < 2; i++)
		if (sa.procs_fds[i] >= 0)
			close(sa.procs_fds[i]);
	if (r < 0)
		goto fail;
	close(in[0]);
	close(out[1]);
	if (scratch >= 0)
		close(scratch);
	job->in_fd = in[1];
	job->out_fd = out[0];
	evutil_make_socket_nonblocking(job->in_fd);
	evutil_make_socket_nonblocking(job->out_fd);
	frame_reader_init(&job->fr, frame_cap(job->max_bytes));

	job->ev_exit = event_new(jobs->base, job->pidfd, EV_READ | EV_PERSIST, exit_cb, job);
	job->ev_out = event_new(jobs->base, job->out_fd, EV_READ | EV_PERSIST, out_cb, job);
	if (job->kind == JOB_INGEST) {
		/* Its own size: a reload may change stream_buffer_size. */
		job->in_cap = cfg->stream_buffer_size;
		job->in_buf = malloc(job->in_cap);
		job->ev_in = event_new(jobs->base, job->in_fd, EV_WRITE | EV_PERSIST, in_cb, job);
	} else {
		close(job->in_fd);
		job->in_fd = -1;
	}
	if (job->timeout_ms && !job->ev_timeout)
		job->ev_timeout = evtimer_new(jobs->base, timeout_cb, job);
	if (!job->ev_exit || !job->ev_out ||
	    (job->kind == JOB_INGEST && (!job->in_buf || !job->ev_in)) ||
	    (job->timeout_ms && !job->ev_timeout)) {
		/* The worker is already running: kill it, let the loop
		 * reap it, and let the caller finish the job. */
		cgroup_job_kill(job->cg);
		spawn_abandon(jobs->base, job->pidfd);
		job->pidfd = -1;
		set_message(job, "out of memory in the daemon while starting the worker");
		return -ENOMEM;
	}
	event_add(job->ev_exit, NULL);
	event_add(job->ev_out, NULL);
	if (job->ev_in)
		event_add(job->ev_in, NULL);
	/* Evidence from the first moment: the sample log, the events watch
	 * and artifacts that already say "running". A retry keeps what the
	 * first attempt set up; a job resumed after a restart sets it up anew
	 * and appends to its memory log. */
	if (!job->memlog && (r = memlog_open(job->dir, job->n_attempts > 0, job->uid, job->gid,
					     &job->memlog)) < 0)
		log_job(LOG_WARNING, job->id, NULL, "cannot write memory_log.csv: %s", strerror(-r));
	if (!job->ev_events) {
		r = cgroup_job_watch_fd(job->cg);
		if (r >= 0 && (job->ev_events = event_new(jobs->base, r, EV_READ | EV_PERSIST,
							  events_cb, job)))
			event_add(job->ev_events, NULL);
		else
			log_job(LOG_WARNING, job->id, NULL, "memory.events changes will be seen "
				"only at each sample: %s", strerror(r < 0 ? -r : ENOMEM));
	}
	if (!job->psi_trigger && cgroup_job_dirfd(job->cg) >= 0) {
		r = psi_trigger_add(jobs->psi, cgroup_job_dirfd(job->cg), "memory.pressure",
				    cfg->psi_threshold_us, cfg->psi_window_us, job_psi_cb, job,
				    &job->psi_trigger);
		snprintf(job->psi_mode, sizeof job->psi_mode, r == 0 ? "trigger" :
			 "avg10 polling: the kernel refused a PSI trigger on the job (%s)",
			 strerror(-r));
	} else if (!job->psi_trigger) {
		snprintf(job->psi_mode, sizeof job->psi_mode, "avg10 polling: cgroup v1 has "
			 "no per-job memory.pressure; system: %s", jobs->psi_mode);
	}
	artifacts_write(job, cfg, jobs->cg, kmsg_status(jobs->kmsg));
	if (job->ev_timeout && !evtimer_pending(job->ev_timeout, NULL)) {
		struct timeval tv = { (time_t)(job->timeout_ms / 1000),
				      (suseconds_t)(job->timeout_ms % 1000) * 1000 };
		event_add(job->ev_timeout, &tv);
	}
	return 0;
fail:
	set_message(job, "could not start the worker %s: %s", cfg->worker_path, strerror(-r));
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (scratch >= 0)
		close(scratch);
	return r;
}

/* Whether the host can afford job now: MemAvailable, less what running
 * jobs may still take up to their caps, less the job's memory_max, must
 * stay above reserve; and system memory pressure must be low. Otherwise
 * job->message says why it waits. */
static bool job_admissible(struct jobs *jobs, struct job *job)
{
	const struct config *cfg = jobs->cfg;
	uint64_t headroom = 0, left;
	struct sys_sample sys;
	struct job *it;

	if (sampler_read_system(&sys) < 0)
		return true;   /* no /proc/meminfo: the caps still hold */
	TAILQ_FOREACH(it, &jobs->all, all)
		if (it->state == JOB_RUNNING && it->lim.memory_max > it->cgstats.current)
			headroom += it->lim.memory_max - it->cgstats.current;
	left = sys.mem_available > headroom + job->lim.memory_max ?
	       sys.mem_available - headroom - job->lim.memory_max : 0;
	if (left < cfg->reserve) {
		set_message(job, "waiting for memory: MemAvailable %" PRIu64 " MB, less %" PRIu64
			    " MB running jobs may still use, less memory_max %" PRIu64
			    " MB leaves %" PRIu64 " MB, below reserve %" PRIu64 " MB",
			    sys.mem_available >> 20, headroom >> 20, job->lim.memory_max >> 20,
			    left >> 20, cfg->reserve >> 20);
		return false;
	}
	if (sys.psi_some_avg10 >= cfg->admission_psi_max) {
		set_message(job, "waiting for memory pressure to fall: system memory PSI "
			    "some avg10 %.2f%% >= admission_psi_max %.2f%%",
			    sys.psi_some_avg10, cfg->admission_psi_max);
		return false;
	}
	/* A policy that just paused or killed a job for the pressure would
	 * otherwise start the next one (or the same, requeued) into it. */
	if (cfg->pressure_policy != POLICY_NONE && jobs->last_high_ms &&
	    now_mono_ms() - jobs->last_high_ms < cfg->pressure_hold_ms) {
		set_message(job, "waiting for memory pressure to fall: the pressure trigger "
			    "fired %.1f s ago; jobs start once it has been quiet for hold_time "
			    "(%.1f s)", (double)(now_mono_ms() - jobs->last_high_ms) / 1000.0,
			    (double)cfg->pressure_hold_ms / 1000.0);
		return false;
	}
	return true;
}

static void jobs_schedule(struct jobs *jobs)
{
	struct job *job;

	while (!jobs->draining && jobs->running < jobs->cfg->max_concurrent &&
	       (job = TAILQ_FIRST(&jobs->queue))) {
		if (!job_admissible(jobs, job)) {
			if (!job->waiting_logged)
				log_job(LOG_NOTICE, job->id, NULL, "%s", job->message);
			job->waiting_logged = true;
			break;   /* the sampler tick tries again */
		}
		TAILQ_REMOVE(&jobs->queue, job, queue);
		jobs->queued--;
		job->state = JOB_RUNNING;
		job->started_ms = now_real_ms();
		job->started_mono = now_mono_ms();
		jobs->running++;
		free(job->message);
		job->message = NULL;
		log_job(LOG_INFO, job->id, MSGID_JOB_START,
			"%s: starting (%s, memory_max %" PRIu64 " MB, cgroup %s mode)",
			job->name, job->kind == JOB_PRESSURE ? "pressure" : "ingest",
			job->lim.memory_max >> 20, cgroup_mode_name(cgroup_mode(jobs->cg)));
		if (job_start(job) < 0) {
			job_finish(job, END_CRASH);
			continue;
		}
		log_memory(job->id, "job start", worker_rss_mb(job));
		job_save(job);
	}
	jobs_changed(jobs);
}

/* ---- submission --------------------------------------------------------- */

static void spooled(struct spool *sp, int error, const char *msg, void *arg)
{
	struct job *job = arg;
	struct jobs *jobs = job->jobs;
	void (*cb)(struct job *, int, const char *, const char *, void *) = job->submitted;
	void *cbarg = job->submitted_arg;

	close(job->src_fd);
	job->src_fd = -1;
	job->submitted = NULL;
	TAILQ_REMOVE(&jobs->all, job, all);
	if (error < 0) {
		char path[PATH_MAX], quota[256];
		const char *code = error == -EFBIG ? ERR_TOO_LARGE :
				   error == -EIO || error == -ENOMEM ? ERR_INTERNAL : ERR_BAD_FD;

		close(job->spool_fd);
		job->spool_fd = -1;
		spool_path(job, path, sizeof path);
		unlink(path);
		rmdir(job->dir);
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
	job->size = spool_size(sp);
	snprintf(job->sha256, sizeof job->sha256, "%s", spool_sha256(sp));
	TAILQ_INSERT_TAIL(&jobs->all, job, all);
	queue_insert(jobs, job);
	/* Durable before it is acknowledged: spool file and job.json. */
	job_save(job);
	jobs_changed(jobs);
	log_job(LOG_INFO, job->id, NULL, "%s: queued (%" PRIu64 " bytes, sha256 %.16s…, uid %u)",
		job->name, job->size, job->sha256, (unsigned)job->uid);
	if (cb)
		cb(job, 0, NULL, NULL, cbarg);
	jobs_schedule(jobs);
}

/* Apply the configuration's defaults and ceilings to the submitter's
 * options. */
static int resolve_options(struct job *job, const struct config *cfg,
			   const struct job_options *o, const char **code,
			   char *msg, size_t msgsz)
{
	job->lim.memory_max = o->has_memory_max ? o->memory_max : cfg->memory_max;
	if (job->lim.memory_max > cfg->memory_max_ceiling) {
		*code = ERR_REFUSED;
		snprintf(msg, msgsz, "memory_max %" PRIu64 " MB is above the ceiling of %"
			 PRIu64 " MB set by the administrator (memory_max_ceiling)",
			 job->lim.memory_max >> 20, cfg->memory_max_ceiling >> 20);
		return -EINVAL;
	}
	{
		struct sys_sample sys;
		if (sampler_read_system(&sys) == 0 && sys.mem_total &&
		    job->lim.memory_max + cfg->reserve > sys.mem_total) {
			*code = ERR_REFUSED;
			snprintf(msg, msgsz, "memory_max %" PRIu64 " MB can never fit: this machine "
				 "has %" PRIu64 " MB and keeps reserve %" PRIu64 " MB for the "
				 "desktop; lower memory_max by at least %" PRIu64 " MB",
				 job->lim.memory_max >> 20, sys.mem_total >> 20, cfg->reserve >> 20,
				 (job->lim.memory_max + cfg->reserve - sys.mem_total + (1 << 20) - 1) >> 20);
			return -EINVAL;
		}
	}
	job->lim.memory_high = (uint64_t)((double)job->lim.memory_max * cfg->memory_high_ratio);
	if (job->lim.memory_high >= job->lim.memory_max)
		job->lim.memory_high = 0;
	job->lim.swap_max = cfg->swap_max;
	job->lim.pids_max = cfg->pids_max;
	job->batch_size = o->has_batch_size ? (unsigned)o->batch_size : cfg->batch_size;
	if (job->batch_size > cfg->max_batch_size_ceiling) {
		*code = ERR_REFUSED;
		snprintf(msg, msgsz, "batch_size %u is above the ceiling of %u "
			 "(max_batch_size_ceiling)", job->batch_size, cfg->max_batch_size_ceiling);
		return -EINVAL;
	}
	job->max_bytes = o->has_max_bytes ? o->max_bytes : cfg->max_bytes;
	if (job->max_bytes > cfg->max_bytes_ceiling) {
		*code = ERR_REFUSED;
		snprintf(msg, msgsz, "max_bytes %" PRIu64 " is above the ceiling of %" PRIu64
			 " bytes set by the administrator (max_bytes_ceiling)",
			 job->max_bytes, cfg->max_bytes_ceiling);
		return -EINVAL;
	}
	job->max_wait_ms = o->has_max_wait_ms ? o->max_wait_ms : cfg->max_wait_ms;
	job->timeout_ms = o->has_timeout ? o->timeout_ms : cfg->timeout_ms;
	job->priority = o->has_priority ? (int)o->priority : 0;
	snprintf(job->kb, sizeof job->kb, "%s", o->kb[0] ? o->kb : cfg->kb);
	snprintf(job->sink, sizeof job->sink, "%s", o->sink[0] ? o->sink : cfg->sink);
	if (strcmp(job->sink, "exec") == 0 && !cfg->exec_command) {
		*code = ERR_REFUSED;
		snprintf(msg, msgsz, "the exec sink needs a command: set [sink.exec] command "
			 "in memsafed.conf, or use --sink jsonl or mock");
		return -EINVAL;
	}
	return 0;
}

int jobs_submit(struct jobs *jobs, const struct request *rq, uid_t uid, gid_t gid,
		int src_fd, struct job **ret, const char **code, char *msg, size_t msgsz)
{
	const struct config *cfg = jobs->cfg;
	char path[PATH_MAX];
	struct job *job = calloc(1, sizeof *job);
	int r;

	/* Every failure below says what it was; this is the last resort. */
	*code = ERR_INTERNAL;
	snprintf(msg, msgsz, "memsafed ran out of memory");
	if (!job)
		return -ENOMEM;
	job->jobs = jobs;
	job->spool_fd = job->pidfd = job->in_fd = job->out_fd = job->src_fd = -1;
	job->kind = rq->op == OP_PRESSURE ? JOB_PRESSURE : JOB_INGEST;
	job->uid = uid;
	job->gid = gid;
	job->submitted_ms = now_real_ms();
	job->first_page = 1;
	r = resolve_options(job, cfg, &rq->opts, code, msg, msgsz);
	if (r < 0)
		goto fail;
	if (job->kind == JOB_PRESSURE) {
		job->target_mb = rq->target_mb;
		job->hold_ms = rq->hold_ms;
		snprintf(job->name, sizeof job->name, "simulate-pressure %" PRIu64 " MB",
			 rq->target_mb);
	} else {
		snprintf(job->name, sizeof job->name, "%s", rq->name[0] ? rq->name : "(unnamed)");
	}
	{
		unsigned mine = 0;
		struct job *it;
		TAILQ_FOREACH(it, &jobs->all, all)
			if (it->uid == uid && (it->state == JOB_QUEUED || it->state == JOB_SPOOLING))
				mine++;
		if (mine >= cfg->max_queued_per_user) {
			*code = ERR_LIMIT;
			snprintf(msg, msgsz, "you already have %u jobs waiting (max_queued_per_user); "
				 "wait for some to start or cancel them", mine);
			r = -EUSERS;
			goto fail;
		}
	}
	job->id = jobs->next_id++;
	if (asprintf(&job->dir, "%s/%" PRIu64, jobs->jobs_dir, job->id) < 0) {
		job->dir = NULL;
		r = -ENOMEM;
		goto internal;
	}
	/* The directory stays the daemon's (a user who owned it could swap
	 * an artifact for a link or a FIFO); the files in it are the
	 * submitter's, mode 0600. */
	if (mkdir(job->dir, 0711) < 0 || chmod(job->dir, 0711) < 0) {
		r = -errno;
		rmdir(job->dir);
		goto internal;
	}
	if (job->kind == JOB_PRESSURE) {
		TAILQ_INSERT_TAIL(&jobs->all, job, all);
		queue_insert(jobs, job);
		job_save(job);
		*ret = job;
		jobs_schedule(jobs);
		return 1;
	}
	spool_path(job, path, sizeof path);
	job->spool_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (job->spool_fd < 0) {
		r = -errno;
		rmdir(job->dir);
		goto internal;
	}
	job->spool_cap = spool_allowance(jobs, uid, &job->spool_cap_by);
	if (job->spool_cap == 0) {
		*code = ERR_LIMIT;
		spool_limit_message(jobs, job, msg, msgsz);
		close(job->spool_fd);
		job->spool_fd = -1;
		unlink(path);
		rmdir(job->dir);
		r = -EDQUOT;
		goto fail;
	}
	r = spool_start(jobs->base, src_fd, job->spool_fd, job->spool_cap,
			cfg->stream_chunk_size, SPOOL_IDLE_MS, spooled, job, &job->spool,
			msg, msgsz);
	if (r < 0) {
		*code = r == -ENOMEM ? ERR_INTERNAL : ERR_BAD_FD;
		unlink(path);
		rmdir(job->dir);
		goto fail;
	}
	job->src_fd = src_fd;
	job->state = JOB_SPOOLING;
	TAILQ_INSERT_TAIL(&jobs->all, job, all);
	*ret = job;
	return 0;
internal:
	*code = ERR_INTERNAL;
	snprintf(msg, msgsz, "cannot create the job in %s: %s", jobs->jobs_dir, strerror(-r));
fail:
	job_free(job);
	return r;
}

/* ---- queries and control ------------------------------------------------ */

struct job *jobs_find(struct jobs *jobs, uint64_t id)
{
	struct job *job;

	TAILQ_FOREACH(job, &jobs->all, all)
		if (job->id == id && job->state != JOB_SPOOLING)
			return job;
	return NULL;
}

struct job *jobs_last(struct jobs *jobs)
{
	struct job *job = TAILQ_LAST(&jobs->all, job_list);

	while (job && job->state == JOB_SPOOLING)
		job = TAILQ_PREV(job, job_list, all);
	return job;
}

struct job *jobs_prev(struct job *job)
{
	do
		job = TAILQ_PREV(job, job_list, all);
	while (job && job->state == JOB_SPOOLING);
	return job;
}

unsigned jobs_running(const struct jobs *jobs) { return jobs->running; }
unsigned jobs_queued(const struct jobs *jobs) { return jobs->queued; }

int job_cancel(struct job *job)
{
	switch (job->state) {
	case JOB_QUEUED:
		TAILQ_REMOVE(&job->jobs->queue, job, queue);
		job->jobs->queued--;
		job->cancelled = true;
		job->jobs->running++; /* job_finish counts it back down */
		job_finish(job, END_CANCELLED);
		return 0;
	case JOB_RUNNING:
		job->cancelled = true;
		return cgroup_job_kill(job->cg);
	default:
		return -EALREADY;
	}
}

void jobs_drain(struct jobs *jobs)
{
	jobs->draining = true;
}

void jobs_interrupt_all(struct jobs *jobs)
{
	struct job *job;

	TAILQ_FOREACH(job, &jobs->all, all) {
		if (job->state != JOB_RUNNING)
			continue;
		set_message(job, "memsafed stopped while the job ran");
		cgroup_job_kill(job->cg);
		job_finish(job, END_INTERRUPTED);
	}
}

void job_to_json(const struct job *job, yajl_gen g)
{
	yajl_gen_map_open(g);
	json_kuint(g, "id", job->id);
	json_kstr(g, "kind", job->kind == JOB_PRESSURE ? "pressure" : "ingest");
	json_kstr(g, "state", job_state_name(job->state));
	json_kstr(g, "end_reason", job_end_name(job->end));
	json_kstr(g, "name", job->name);
	json_kuint(g, "uid", job->uid);
	json_kstr(g, "kb", job->kb);
	json_kstr(g, "sink", job->sink);
	json_kint(g, "priority", job->priority);
	json_kuint(g, "size_bytes", job->size);
	json_kstr(g, "sha256", job->sha256[0] ? job->sha256 : NULL);
	json_kuint(g, "memory_max", job->lim.memory_max);
	json_kuint(g, "pages", job->pages);
	json_kuint(g, "page", job->page);
	json_kuint(g, "batches", job->batches);
	json_kuint(g, "batches_flushed", job->batches_flushed);
	json_kuint(g, "batches_failed", job->batches_failed);
	json_kuint(g, "chunks", job->chunks);
	json_kdouble(g, "peak_rss_mb", (double)MAX(job->peak_rss_kb * 1024,
						   job->peak_rss_sampled) / 1048576.0);
	json_kdouble(g, "peak_cgroup_mb", (double)MAX(job->cgstats.peak,
						      job->peak_cgroup_sampled) / 1048576.0);
	/* Live figures, for watch: the last sample. */
	json_kdouble(g, "rss_mb", (double)job->last_rss / 1048576.0);
	json_kdouble(g, "cgroup_mb", (double)job->cgstats.current / 1048576.0);
	json_kuint(g, "memory_high", job->lim.memory_high);
	json_kdouble(g, "psi_some_avg10", job->last_psi_some);
	json_kuint(g, "samples", job->samples);
	json_kuint(g, "events", job->n_events);
	if (job->n_events)
		json_kstr(g, "last_event", job->events[job->n_events - 1].name);
	json_kuint(g, "oom_kills", job->cgstats.ev.oom_kill);
	json_kuint(g, "submitted_ms", job->submitted_ms);
	json_kuint(g, "started_ms", job->started_ms);
	json_kuint(g, "ended_ms", job->ended_ms);
	json_kuint(g, "retries", job->retries_used);
	if (job->n_culprits)
		json_kuint(g, "culprit_page", job->culprits[0]);
	else
		json_knull(g, "culprit_page");
	json_kstr(g, "dir", job->dir);
	json_kstr(g, "message", job->message);
	yajl_gen_map_close(g);
}

/* ---- the manager -------------------------------------------------------- */

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

/* Bring back one job from its directory after a restart. */
static void recover_job(struct jobs *jobs, uint64_t id)
{
	const struct config *cfg = jobs->cfg;
	struct job *job = calloc(1, sizeof *job);
	char path[PATH_MAX];

	if (!job)
		return;
	job->jobs = jobs;
	job->spool_fd = job->pidfd = job->in_fd = job->out_fd = job->src_fd = -1;
	if (asprintf(&job->dir, "%s/%" PRIu64, jobs->jobs_dir, id) < 0 ||
	    state_load(job->dir, job) < 0 || job->id != id) {
		job_free(job);
		return;
	}
	job->first_page = 1;
	if (job->max_bytes > cfg->max_bytes_ceiling) {
		/* The ceiling was lowered while it waited. */
		log_job(LOG_NOTICE, job->id, NULL, "max_bytes %" PRIu64 " lowered to max_bytes_ceiling %"
			PRIu64, job->max_bytes, cfg->max_bytes_ceiling);
		job->max_bytes = cfg->max_bytes_ceiling;
	}
	TAILQ_INSERT_TAIL(&jobs->all, job, all);
	if (job->state != JOB_QUEUED && job->state != JOB_RUNNING) {
		jobs->ended++;   /* history: shown by status and list */
		return;
	}
	spool_path(job, path, sizeof path);
	if (job->kind == JOB_INGEST &&
	    (job->spool_fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		set_message(job, "its spooled document was lost while memsafed was down");
		job->state = JOB_FAILED;
		job->end = END_INTERRUPTED;
		jobs->ended++;
		job_save(job);
		return;
	}
	if (job->state == JOB_RUNNING) {
		bool resume = job->retries_used < cfg->retries && job->kind == JOB_INGEST;
		struct job_attempt *at = job->n_attempts < ARRAY_SIZE(job->attempts) ?
					 &job->attempts[job->n_attempts++] : NULL;

		state_load_manifest(job->dir, job);
		if (strcmp(job->sink, "jsonl") == 0) {
			/* The sink may hold batches job.json never heard of. */
			uint64_t b = job->last_batch_id;
			unsigned p = job->flushed_page;
			sink_jsonl_recover(cfg->state_dir, job->kb, job->id, &b, &p);
			job->last_batch_id = b;
			job->flushed_page = p;
		}
		if (at)
			*at = (struct job_attempt){ .exit_code = -1, .signal = -1,
						    .first_page = job->first_page, .end = "interrupted" };
		if (!resume) {
			set_message(job, "memsafed stopped while the job ran (no retries left)");
			job->state = JOB_INTERRUPTED;
			job->end = END_INTERRUPTED;
			job->ended_ms = now_real_ms();
			jobs->ended++;
			artifacts_write_progress(job, cfg);
			job_save(job);
			close(job->spool_fd);   /* only now: see job_finish */
			job->spool_fd = -1;
			unlink(path);
			return;
		}
		job->retries_used++;
		job->last_batch_id++;   /* the interrupted batch keeps its id */
		job->first_page = job->flushed_page + 1;
		set_message(job, "interrupted by a memsafed restart; resumes at page %u",
			    job->first_page);
		log_job(LOG_WARNING, job->id, NULL, "%s", job->message);
	}
	queue_insert(jobs, job);
	job_save(job);
}

/* Queued jobs run, interrupted ones resume, ended ones are history. */
static void jobs_recover(struct jobs *jobs)
{
	DIR *d = opendir(jobs->jobs_dir);
	uint64_t *ids = NULL, id;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return;
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
}

int jobs_new(struct event_base *base, const struct config *cfg,
	     struct cgroup_root *cg, struct jobs **ret, char **err)
{
	struct jobs *jobs = calloc(1, sizeof *jobs);
	int r;

	if (!jobs)
		return -ENOMEM;
	jobs->base = base;
	jobs->cfg = cfg;
	jobs->cg = cg;
	TAILQ_INIT(&jobs->all);
	TAILQ_INIT(&jobs->queue);
	TAILQ_INIT(&jobs->reapers);
	if (asprintf(&jobs->jobs_dir, "%s/jobs", cfg->state_dir) < 0 ||
	    asprintf(&jobs->spool_dir, "%s/spool", cfg->state_dir) < 0) {
		jobs_free(jobs);
		return -ENOMEM;
	}
	if ((r = mkdir_p(jobs->jobs_dir, 0755)) < 0 ||
	    (r = mkdir_p(jobs->spool_dir, 0700)) < 0) {
		if (asprintf(err, "cannot create the state directory %s: %s",
			     cfg->state_dir, strerror(-r)) < 0)
			*err = NULL;
		jobs_free(jobs);
		return r;
	}
	jobs_recover(jobs);
	clean_spool(jobs);
	jobs->kmsg = kmsg_new(base, "/dev/kmsg");
	if ((r = psi_watch_new(base, &jobs->psi)) < 0) {
		jobs_free(jobs);
		return r;
	}
	jobs->ev_sample = event_new(base, -1, EV_PERSIST, sample_cb, jobs);
	if (!jobs->kmsg || !jobs->ev_sample) {
		jobs_free(jobs);
		return -ENOMEM;
	}
	jobs_reconfigure(jobs);
	*ret = jobs;
	return 0;
}

void jobs_reconfigure(struct jobs *jobs)
{
	const struct config *cfg = jobs->cfg;
	struct timeval tv = { (time_t)(cfg->sample_interval_ms / 1000),
			      (suseconds_t)(cfg->sample_interval_ms % 1000) * 1000 };
	int r;

	jobs->sys_trigger = psi_trigger_free(jobs->sys_trigger);
	r = psi_trigger_add(jobs->psi, AT_FDCWD, "/proc/pressure/memory", cfg->psi_threshold_us,
			    cfg->psi_window_us, sys_psi_cb, jobs, &jobs->sys_trigger);
	if (r == 0)
		snprintf(jobs->psi_mode, sizeof jobs->psi_mode, "trigger");
	else
		snprintf(jobs->psi_mode, sizeof jobs->psi_mode, "avg10 polling: the kernel "
			 "refused a PSI trigger on /proc/pressure/memory (%s)", strerror(-r));
	log_msg(LOG_INFO, "system memory pressure: %s", jobs->psi_mode);
	event_add(jobs->ev_sample, &tv);
}

struct jobs *jobs_free(struct jobs *jobs)
{
	struct job *job;

	if (!jobs)
		return NULL;
	while ((job = TAILQ_FIRST(&jobs->all))) {
		TAILQ_REMOVE(&jobs->all, job, all);
		if (job->src_fd >= 0)
			close(job->src_fd);
		worker_release(job);
		if (job->cg && cgroup_job_destroy(job->cg, 200) < 0)
			log_job(LOG_ERR, job->id, NULL, "its cgroup %s is left behind",
				cgroup_job_path(job->cg));
		job_free(job);
	}
	while (!TAILQ_EMPTY(&jobs->reapers)) {
		struct cg_reaper *z = TAILQ_FIRST(&jobs->reapers);
		if (cgroup_job_destroy(z->cg, 200) < 0)
			log_job(LOG_ERR, z->id, NULL, "its cgroup is left behind");
		TAILQ_REMOVE(&jobs->reapers, z, entry);
		event_free(z->ev);
		free(z);
	}
	if (jobs->ev_sample)
		event_free(jobs->ev_sample);
	psi_trigger_free(jobs->sys_trigger);
	psi_watch_free(jobs->psi);
	kmsg_free(jobs->kmsg);
	free(jobs->jobs_dir);
	free(jobs->spool_dir);
	free(jobs);
	return NULL;
}
