/* The job manager: the queue, the sample tick, and the end of an attempt. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>

#include "admit.h"
#include "artifacts.h"
#include "attempt.h"
#include "cgroup.h"
#include "config.h"
#include "ends.h"
#include "events.h"
#include "gpuguard.h"
#include "jobs.h"
#include "kmsg.h"
#include "log.h"
#include "outcome.h"
#include "policy.h"
#include "pressure.h"
#include "psi.h"
#include "retry.h"
#include "sampler.h"
#include "statedir.h"
#include "util.h"

void jobs_changed(struct jobs *jobs)
{
	if (jobs->changed)
		jobs->changed(jobs->running, jobs->queued);
}

void jobs_set_ended_cb(struct jobs *jobs, void (*cb)(void *arg, struct job *job), void *arg)
{
	jobs->ended_cb = cb;
	jobs->ended_arg = arg;
}

void jobs_set_changed_cb(struct jobs *jobs, void (*cb)(unsigned, unsigned))
{
	jobs->changed = cb;
	jobs_changed(jobs);
}

void jobs_spool_path(const struct jobs *jobs, uint64_t id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%" PRIu64 ".doc", jobs->spool_dir, id);
}

void jobs_enqueue(struct jobs *jobs, struct job *job)
{
	struct job *it;

	/* Higher priority first; equal priorities keep submission order. */
	TAILQ_FOREACH(it, &jobs->queue, queue)
		if (it->r.priority < job->r.priority)
			break;
	if (it)
		TAILQ_INSERT_BEFORE(it, job, queue);
	else
		TAILQ_INSERT_TAIL(&jobs->queue, job, queue);
	jobs->queued++;
	job->r.state = JOB_QUEUED;
	events_state(job, "queued");
}

/* ---- memory pressure ---------------------------------------------------- */

/* System memory pressure crossed the threshold: the policy acts. */
static void jobs_pressure(struct jobs *jobs, const char *why)
{
	jobs->last_high_ms = now_mono_ms();
	pressure_act(&jobs->all, jobs->cfg, why);
}

static void sys_psi_cb(void *arg, bool gone)
{
	jobs_pressure(arg, "the system memory PSI trigger fired");
}

static void sample_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs *jobs = arg;
	const struct config *cfg = jobs->cfg;
	struct sys_sample sys;
	uint64_t now = now_mono_ms();
	struct job *job;

	if (jobs->queued && jobs->running < cfg->max_concurrent)
		jobs_schedule(jobs);
	TAILQ_FOREACH(job, &jobs->all, all)
		if (job->r.gpu.release_pending)
			pressure_gpu_release(job, now);
	if (jobs->running == 0 || sampler_read_system(&sys) < 0)
		return;
	if (!jobs->sys_trigger &&
	    sys.psi_some_avg10 >= policy_psi_limit(cfg->psi_threshold_us, cfg->psi_window_us))
		jobs_pressure(jobs, "system memory PSI avg10 above the threshold (polling)");
	pressure_relax(&jobs->all, cfg, sys.psi_some_avg10, jobs->last_high_ms);
	TAILQ_FOREACH(job, &jobs->all, all)
		if (job->r.state == JOB_RUNNING && job->cg) {
			pressure_sample(job, &sys, now);
			attempt_check_page_time(job, now);
			events_sample(job);
		}
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

/* dmesg_excerpt.txt's text (malloc'd), or NULL. */
static char *dmesg_excerpt(struct job *job, size_t *ret_len)
{
	struct jobs *jobs = job->jobs;
	const struct job_record *r = &job->r;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "# kernel log lines for job %" PRIu64 " (cgroup %s, worker pid %d)\n",
		r->id, job->cg ? cgroup_job_name(job->cg) : "-", (int)job->pid);
	/* Kernel stamps are monotonic; a second of slack on either side. */
	kmsg_excerpt(jobs->kmsg, f, r->started_mono > 1000 ? (r->started_mono - 1000) * 1000 : 0,
		     (now_mono_ms() + 1000) * 1000, job->cg ? cgroup_job_kernel_path(job->cg) : NULL,
		     job->pid);
	fclose(f);
	*ret_len = len;
	return text;
}

/* The end of a job on disk: its slot was freed when it ended; now its
 * spool file may go and its subscribers hear of it. */
static struct ends *ends;

static void end_written(void *arg, uint64_t id)
{
	struct jobs *jobs = arg;
	struct job *job = jobs_find(jobs, id);
	char path[PATH_MAX];

	/* Only once job.json says how it ended: a crash before that leaves
	 * a job that resumes, not one whose document is lost. */
	if (job && job->spool_fd >= 0) {
		close(job->spool_fd);
		job->spool_fd = -1;
	}
	jobs_spool_path(jobs, id, path, sizeof path);
	unlink(path);
	if (job) {
		job->ending = false;
		events_end(job);
		if (jobs->ended_cb)
			jobs->ended_cb(jobs->ended_arg, job);
		/* What is on disk now need not stay in memory. */
		record_drop_batches(&job->r);
	}
}

void jobs_trim_ended(struct jobs *jobs, const struct job *spare)
{
	struct job *job, *next;

	/* Never spare (the job that just ended: it shows in status and
	 * list, and its callbacks may still be on the stack). */
	for (job = TAILQ_FIRST(&jobs->all); job && jobs->ended > JOBS_KEEP_ENDED; job = next) {
		next = TAILQ_NEXT(job, all);
		if (job == spare || job->r.state <= JOB_RUNNING || job->submitted ||
		    ends_pending(ends, job->r.id))
			continue;
		TAILQ_REMOVE(&jobs->all, job, all);
		jobs->ended--;
		job_free_later(job);
	}
}

/* Everything a running job holds but its cgroup and memory log. */
static void release(struct job *job)
{
	attempt_release(job);
	pressure_unwatch(job);
}

static void finish(struct job *job, enum job_end end)
{
	struct jobs *jobs = job->jobs;
	struct job_record *r = &job->r;
	struct memlog *ml;
	char *dmesg = NULL;
	size_t dmesg_len = 0;

	kmsg_drain(jobs->kmsg);
	r->end = end;
	if (job->cg && job->memlog) {
		/* A closing row: the cgroup as the job left it. */
		struct sys_sample sys;
		if (sampler_read_system(&sys) == 0)
			pressure_sample(job, &sys, now_mono_ms());
	}
	events_check(job);
	if (r->kind == JOB_INGEST && end != END_OK && end != END_BAD_DOCUMENT &&
	    r->started_mono && r->page > r->flushed_page)
		attempt_record_killed_batch(job, end);
	if (r->started_mono)
		dmesg = dmesg_excerpt(job, &dmesg_len);
	release(job);
	ml = job->memlog;
	job->memlog = NULL;
	/* Its last task may still be exiting: the reaper retries, the
	 * loop never waits for it. */
	if (job->cg && cgroup_job_destroy(job->cg, 0) < 0)
		reap_cgroup_later(jobs, job->cg, r->id);
	job->cg = NULL;
	r->state = outcome_state(end);
	r->ended_ms = now_real_ms();
	r->ended_mono = now_mono_ms();
	/* A peak is never below anything seen while it ran. */
	r->cgstats.peak = MAX(r->cgstats.peak, r->peak_cgroup_sampled);
	r->peak_rss_kb = MAX(r->peak_rss_kb, r->peak_rss_sampled / 1024);
	events_ending(job);
	log_memory(r->id, "job end", (double)r->peak_rss_kb / 1024.0);
	log_job(end == END_OK ? LOG_INFO : LOG_WARNING, r->id,
		end == END_OOM_KILL ? MSGID_OOM_KILL : MSGID_JOB_END,
		"%s: %s (%s), %u pages, %" PRIu64 " batches, peak %.1f MB of %.0f MB%s%s",
		r->name, job_state_to_string(r->state), job_end_to_string(end), r->pages,
		r->batches, (double)r->cgstats.peak / 1048576.0,
		(double)r->lim.memory_max / 1048576.0, r->message ? ": " : "",
		r->message ? r->message : "");
	job->ending = true;
	ends_write(ends, r, jobs->cfg, jobs->cg, kmsg_status(jobs->kmsg), ml, dmesg, dmesg_len);
	/* Its slot is free now; the end event follows once it is on disk. */
	jobs->running--;
	jobs->ended++;
	jobs_trim_ended(jobs, job);
	jobs_changed(jobs);
	jobs_schedule(jobs);
}

static void worker_gone(struct job *job);

/* A worker for the job, watched from its first moment, with artifacts
 * that already say "running". */
static int start(struct job *job)
{
	struct jobs *jobs = job->jobs;
	int r;

	job->gone = worker_gone;
	job->r.gpu.killed = false;
	job->r.gpu.over = 0;
	if ((r = attempt_start(job, jobs->cg, jobs->spool_dir)) < 0)
		return r;
	pressure_watch(job, jobs->psi, jobs->psi_mode);
	/* Its artifacts and job.json, saying "running": written off the
	 * loop, before anything later of the job's (ends.c keeps a job's
	 * writes in order); the evidence for its first second, so a small
	 * job's first batch need not write them again. */
	ends_write_start(ends, &job->r, jobs->cfg, jobs->cg, kmsg_status(jobs->kmsg));
	job->saved_mono = now_mono_ms();
	return 0;
}

/* After an OOM kill (or a GPU memory kill, end): apply the retry plan.
 * Returns 1 when a new worker took over, 2 when skipping the culprit left
 * nothing to do (the job is done), 0 for no retry. */
static int retry(struct job *job, enum job_end end)
{
	const char *what = end == END_GPU_MEMORY ? "GPU-memory-killed" : "OOM-killed";
	const struct config *cfg = job->cfg;
	struct job_record *r = &job->r;
	unsigned killed = r->page;
	struct retry_plan plan;

	retry_plan(&(struct retry_input){
		.kind = r->kind, .retries_used = r->retries_used, .retries_allowed = cfg->retries,
		.cancelled = job->cancelled, .timed_out = job->timed_out, .killed_page = killed,
		.flushed_page = r->flushed_page, .flushed_page_chunks = r->flushed_page_chunks,
		.last_oom_page = r->last_oom_page,
		.pages = r->pages, .batch_size = r->batch_size,
	}, &plan);
	if (plan.action == RETRY_NONE)
		return 0;
	attempt_record_killed_batch(job, end);
	if (plan.culprit) {
		record_add_culprit(r, killed);
		log_event(LOG_WARNING, r->id, "culprit_page", "page %u was being processed at "
			  "two %s kills: it is the culprit and is skipped", killed,
			  end == END_GPU_MEMORY ? "memory" : "OOM");
	}
	r->last_oom_page = killed;
	r->retries_used++;
	r->batch_size = plan.batch_size;
	/* Batch ids stay unique: the killed batch keeps its id. */
	r->last_batch_id++;
	r->first_page = plan.at.first_page;
	r->batches_failing = 0;   /* the new worker redoes them */
	job->skip_page = plan.at.skip_page;
	job->skip_chunks = plan.at.skip_chunks;
	if (plan.action == RETRY_DONE) {
		record_set_message(r, "page %u was skipped as the culprit of two OOM kills", killed);
		return 2;   /* the culprit was the last page */
	}
	record_set_message(r, "%s on page %u; retry %u of %u from page %u with batch "
			   "size %u", what, killed, r->retries_used, cfg->retries, plan.at.first_page,
			   r->batch_size);
	log_job(LOG_WARNING, r->id, NULL, "%s", r->message);
	attempt_reset(job);
	r->page = plan.at.first_page - 1;
	if (start(job) < 0) {
		finish(job, END_CRASH);
	} else {
		job_save(job);
		events_state(job, "retried");
	}
	return 1;
}

/* The pressure policy killed the job: back into the queue, to resume
 * after its last flushed page once admission allows. */
static void requeue(struct job *job)
{
	struct jobs *jobs = job->jobs;
	struct job_record *r = &job->r;

	if (r->page > r->flushed_page) {
		attempt_record_killed_batch(job, END_CRASH);
		r->last_batch_id++;
	}
	{
		struct retry_point at = retry_resume(r->flushed_page, r->flushed_page_chunks);
		r->first_page = at.first_page;
		r->batches_failing = 0;
		job->skip_page = at.skip_page;
		job->skip_chunks = at.skip_chunks;
	}
	job->requeue = false;
	/* Its timers and watches too: a timeout must not fire on a job that
	 * waits in the queue (start arms them again). */
	release(job);
	record_set_message(r, "requeued by the pressure policy; resumes at page %u",
			   r->first_page);
	jobs->running--;
	jobs_enqueue(jobs, job);
	job_save(job);
	jobs_changed(jobs);
}

/* The name of the system call a seccomp kill stopped, from the kernel log. */
static void name_syscall(struct job *job)
{
	struct job_record *r = &job->r;
	long nr;

	kmsg_drain(job->jobs->kmsg);
	nr = kmsg_seccomp_syscall(job->jobs->kmsg, job->pid);
	if (nr >= 0) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)nr);
		free(r->syscall);
		if (name)
			r->syscall = name;
		else if (asprintf(&r->syscall, "syscall %ld", nr) < 0)
			r->syscall = NULL;
	}
	record_set_message(r, "the worker made a system call its sandbox forbids: %s",
			   r->syscall ? r->syscall :
			   "(not named: no seccomp audit line in the kernel log)");
}

/* Say what a flush_failed job did not deliver, and why. */
static void flush_failed_message(struct job_record *r)
{
	const struct batch_rec *first = NULL;

	for (size_t i = 0; i < r->n_batch_recs && !first; i++)
		if (r->batch_recs[i].status == BATCH_FAILED)
			first = &r->batch_recs[i];
	record_set_message(r, "batch %" PRIu64 " failed to flush (%s), and the job stopped "
			   "there: the %s sink has its chunks up to page %u only; see "
			   "ingest_manifest.json, fix the cause and resubmit",
			   first ? first->id : 0, first ? first->error : "no error recorded",
			   sink_kind_to_string(r->sink), r->flushed_page);
}

/* The worker has been reaped and its pipe drained: how did it end, and
 * what comes next (a retry, the queue again, or the end)? */
static void worker_gone(struct job *job)
{
	struct job_record *r = &job->r;
	const siginfo_t *si = &job->exit_info;
	struct job_exit x = {
		.exited = si->si_code == CLD_EXITED,
		.code_or_signal = si->si_status,
		.saw_end_frame = job->saw_end,
		.fatal = job->fatal_reason,
		.cancelled = job->cancelled,
		.timed_out = job->timed_out,
		.page_timed_out = job->page_timed_out,
		.flush_failed = job->flush_stopped,
	};
	enum job_end end;

	if (x.exited)
		r->exit_code = si->si_status;
	else
		r->exit_signal = si->si_status;
	events_check(job);
	x.oom_kills = r->cgstats.ev.oom_kill;
	end = outcome_classify(&x);
	/* The daemon killed it over a GPU memory limit (pressure.c). */
	if (r->gpu.killed && end != END_CANCELLED && end != END_TIMEOUT)
		end = END_GPU_MEMORY;
	if (end == END_CRASH && !r->message)
		record_set_message(r, x.exited ? "the worker exited with status %d" :
				   "the worker was killed by signal %d (%s)",
				   si->si_status, strsignal(si->si_status));
	if (end == END_OOM_KILL && r->kind == JOB_PRESSURE)
		record_set_message(r, "the kernel killed the worker at memory.max (%" PRIu64
				   " MB)", r->lim.memory_max >> 20);
	else if (end == END_OOM_KILL)
		record_set_message(r, "the kernel killed the worker at memory.max (%" PRIu64
				   " MB) on page %u", r->lim.memory_max >> 20, r->page);
	if (end == END_SANDBOX_VIOLATION)
		name_syscall(job);
	{
		struct job_attempt at = { .exit_code = x.exited ? si->si_status : -1,
					  .signal = x.exited ? -1 : si->si_status,
					  .first_page = r->first_page };
		snprintf(at.end, sizeof at.end, "%s", job_end_to_string(end));
		record_add_attempt(r, &at);
	}
	if (job->requeue && !job->cancelled && !job->timed_out && !job->page_timed_out) {
		requeue(job);
		return;
	}
	if (end == END_OOM_KILL || end == END_GPU_MEMORY) {
		int rr = retry(job, end);
		if (rr == 1)
			return;
		if (rr == 2)
			end = END_OK;
	}
	if (end == END_OK && r->n_culprits)
		record_set_message(r, "done, with page%s %u skipped as the culprit of two OOM kills",
				   r->n_culprits > 1 ? "s" : "", r->culprits[0]);
	end = outcome_after_flushes(end, r->batches_lost + r->batches_failing);
	if (end == END_FLUSH_FAILED)
		flush_failed_message(r);
	finish(job, end);
}

/* ---- the queue ---------------------------------------------------------- */

/* Whether the host can afford job now; otherwise its message says why. */
static bool admissible(struct jobs *jobs, struct job *job)
{
	const struct config *cfg = jobs->cfg;
	struct sys_sample sys;
	struct admit_input in = {
		.memory_max = job->r.lim.memory_max, .reserve = cfg->reserve,
		.admission_psi_max = cfg->admission_psi_max,
		.policy_active = cfg->pressure_policy != POLICY_NONE,
		.now_ms = now_mono_ms(), .last_high_ms = jobs->last_high_ms,
		.hold_ms = cfg->pressure_hold_ms,
	};
	char why[512];
	struct job *it;

	if (sampler_read_system(&sys) == 0) {
		in.have_meminfo = true;
		in.mem_available = sys.mem_available;
		in.psi_some_avg10 = sys.psi_some_avg10;
		in.have_gtt = sys.has_gtt;
		in.gtt_free = sys.gtt_total > sys.gtt_used ? sys.gtt_total - sys.gtt_used : 0;
	}
	/* On an APU memory_max bounds memory.current and GTT together. */
	TAILQ_FOREACH(it, &jobs->all, all)
		if (it->r.state == JOB_RUNNING)
			in.headroom += admit_headroom(it->r.lim.memory_max, it->r.cgstats.current +
						      it->r.gpu.last_host);
	if (admit_decide(&in, why, sizeof why))
		return true;
	record_set_message(&job->r, "%s", why);
	return false;
}

/* Jobs of this user running now. */
static unsigned running_of(const struct jobs *jobs, uid_t uid)
{
	const struct job *it;
	unsigned n = 0;

	TAILQ_FOREACH(it, &jobs->all, all)
		n += it->r.state == JOB_RUNNING && it->r.uid == uid;
	return n;
}

static void waits(struct job *job)
{
	if (!job->waiting_logged)
		log_job(LOG_NOTICE, job->r.id, NULL, "%s", job->r.message);
	job->waiting_logged = true;
}

/* The first queued job whose user may start one more (root and
 * admin_group are not capped), or NULL. The others say why they wait. */
static struct job *next_queued(struct jobs *jobs)
{
	unsigned cap = jobs->cfg->max_running_per_user, n;
	struct job *job;

	TAILQ_FOREACH(job, &jobs->queue, queue) {
		if (job->r.admin || (n = running_of(jobs, job->r.uid)) < cap)
			return job;
		record_set_message(&job->r, "waiting for one of your jobs to end: you have %u "
				   "running, and max_running_per_user is %u", n, cap);
		waits(job);
	}
	return NULL;
}

void jobs_schedule(struct jobs *jobs)
{
	struct job *job;

	while (!jobs->draining && jobs->running < jobs->cfg->max_concurrent &&
	       (job = next_queued(jobs))) {
		struct job_record *r = &job->r;

		if (!admissible(jobs, job)) {
			waits(job);
			break;   /* the sampler tick tries again */
		}
		TAILQ_REMOVE(&jobs->queue, job, queue);
		jobs->queued--;
		r->state = JOB_RUNNING;
		r->started_ms = now_real_ms();
		r->started_mono = now_mono_ms();
		jobs->running++;
		record_set_message(r, NULL);
		events_state(job, "admitted");
		log_job(LOG_INFO, r->id, MSGID_JOB_START,
			"%s: starting (%s, memory_max %" PRIu64 " MB, cgroup %s mode)",
			r->name, job_kind_to_string(r->kind), r->lim.memory_max >> 20,
			cgroup_mode_name(cgroup_mode(jobs->cg)));
		if (start(job) < 0) {
			finish(job, END_CRASH);
			continue;
		}
		log_memory(r->id, "job start", job_worker_rss_mb(job));
		events_state(job, "running");
	}
	jobs_changed(jobs);
}

/* ---- queries and control ------------------------------------------------ */

struct job *jobs_find(struct jobs *jobs, uint64_t id)
{
	struct job *job;

	TAILQ_FOREACH(job, &jobs->all, all)
		if (job->r.id == id && job->r.state != JOB_SPOOLING)
			return job;
	return NULL;
}

struct job *jobs_last(struct jobs *jobs)
{
	struct job *job = TAILQ_LAST(&jobs->all, job_list);

	while (job && job->r.state == JOB_SPOOLING)
		job = TAILQ_PREV(job, job_list, all);
	return job;
}

struct job *jobs_prev(struct job *job)
{
	do
		job = TAILQ_PREV(job, job_list, all);
	while (job && job->r.state == JOB_SPOOLING);
	return job;
}

unsigned jobs_running(const struct jobs *jobs) { return jobs->running; }
unsigned jobs_queued(const struct jobs *jobs) { return jobs->queued; }

int jobs_cancel(struct job *job)
{
	switch (job->r.state) {
	case JOB_QUEUED:
		TAILQ_REMOVE(&job->jobs->queue, job, queue);
		job->jobs->queued--;
		job->cancelled = true;
		job->jobs->running++; /* finish counts it back down */
		finish(job, END_CANCELLED);
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
		struct job_record *r = &job->r;

		if (r->state != JOB_RUNNING)
			continue;
		/* Not the job's end: its worker goes, but its document and
		 * job.json stay, and the next start resumes it (a restart or
		 * a package upgrade loses nothing). */
		cgroup_job_kill(job->cg);
		release(job);
		job->memlog = memlog_close(job->memlog);
		if (job->cg && cgroup_job_destroy(job->cg, 200) == 0)
			job->cg = NULL;
		r->state = JOB_INTERRUPTED;
		r->end = END_INTERRUPTED;
		r->resumable = r->kind == JOB_INGEST && job->spool_fd >= 0;
		r->ended_ms = now_real_ms();
		r->ended_mono = now_mono_ms();
		record_set_message(r, r->resumable ? "memsafed stopped while the job ran; it "
				   "resumes when memsafed starts again" :
				   "memsafed stopped while the job ran");
		log_job(LOG_WARNING, r->id, NULL, "%s: %s", r->name, r->message);
		artifacts_write_progress(r, jobs->cfg);
		job_save(job);
		jobs->running--;
	}
	jobs_changed(jobs);
}

/* ---- the manager -------------------------------------------------------- */

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
	jobs->next_id = 1;
	TAILQ_INIT(&jobs->all);
	TAILQ_INIT(&jobs->queue);
	TAILQ_INIT(&jobs->reapers);
	if ((r = statedir_open(cfg->state_dir, &jobs->jobs_dir, &jobs->spool_dir, err)) < 0) {
		jobs_free(jobs);
		return r;
	}
	jobs->kmsg = kmsg_new(base, "/dev/kmsg");
	if ((r = psi_watch_new(base, &jobs->psi)) < 0) {
		jobs_free(jobs);
		return r;
	}
	jobs->ev_sample = event_new(base, -1, EV_PERSIST, sample_cb, jobs);
	if (!jobs->kmsg || !jobs->ev_sample || ends_new(base, end_written, jobs, &ends) < 0) {
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
	ends = ends_free(ends);
	while ((job = TAILQ_FIRST(&jobs->all))) {
		TAILQ_REMOVE(&jobs->all, job, all);
		if (job->src_fd >= 0)
			close(job->src_fd);
		release(job);
		job->memlog = memlog_close(job->memlog);
		if (job->cg && cgroup_job_destroy(job->cg, 200) < 0)
			log_job(LOG_ERR, job->r.id, NULL, "its cgroup %s is left behind",
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
