/* Watching running jobs and applying the pressure policy's decisions. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "artifacts.h"
#include "cgroup.h"
#include "config.h"
#include "events.h"
#include "gpu.h"
#include "gpuguard.h"
#include "gpuinfo.h"
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

static void gpu_sample(struct job *job, const struct sys_sample *sys, struct memlog_row *row);

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

static void gpu_backstop(struct job *job);

void pressure_watch(struct job *job, struct psi_watch *psi, const char *sys_psi_mode)
{
	struct job_record *jr = &job->r;
	const struct config *cfg = job->cfg;
	int r;

	gpu_backstop(job);
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
	gpu_sample(job, sys, &row);
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

/* ---- GPU memory ------------------------------------------------------------ */

/* Where the kernel has dmem (6.14+), dmem.max on the job's VRAM regions
 * backs gpu_memory_max up: the driver then evicts instead of growing. */
static void gpu_backstop(struct job *job)
{
	const char *path = job->cg ? cgroup_job_path(job->cg) : NULL;
	char root[PATH_MAX];
	int r;

	if (!path || !job->r.gpu.limit)
		return;
	/* The job's path is the mount's followed by the kernel's. */
	snprintf(root, sizeof root, "%.*s", (int)(strlen(path) -
		 strlen(cgroup_job_kernel_path(job->cg))), path);
	if ((r = gpu_dmem_set_max(root, path, job->r.gpu.limit)) > 0)
		log_job(LOG_INFO, job->r.id, NULL, "dmem.max set to %" PRIu64 " MB on %d VRAM "
			"region(s)", job->r.gpu.limit >> 20, r);
}

static uint64_t host_gpu_used(void)
{
	struct gpuinfo_host h;

	gpuinfo_read_pools(gpu_env_daemon()->sys_root, &h);
	return h.gtt_used + h.vram_used;
}

static void gpu_kill(struct job *job, const struct gpu_sample *s,
		     const struct gpuguard_result *res)
{
	struct job_record *jr = &job->r;
	struct gpuinfo_host h;
	char where[32] = "";

	gpuinfo_read_pools(gpu_env_daemon()->sys_root, &h);
	jr->gpu.killed = true;
	jr->gpu.kill_mono = now_mono_ms();
	jr->gpu.held = s->host + s->dev;
	jr->gpu.host_used_at_kill = h.gtt_used + h.vram_used;
	/* Without the host's pools (no amdgpu sysfs) release is not known. */
	jr->gpu.release_pending = (h.has_gtt || h.has_vram) && jr->gpu.held;
	jr->gpu.released = jr->gpu.not_released = false;
	if (jr->kind == JOB_INGEST && jr->page)
		snprintf(where, sizeof where, " on page %u", jr->page);
	record_set_message(jr, "killed over %s: %s %" PRIu64 " MB > %" PRIu64 " MB (GPU: %"
			   PRIu64 " MB host-backed, %" PRIu64 " MB device)%s",
			   res->limit, strcmp(res->limit, "memory_max") == 0 ?
			   "memory.current + host-backed GPU memory" : "device memory",
			   res->used >> 20, res->max >> 20, s->host >> 20, s->dev >> 20, where);
	log_event(LOG_WARNING, jr->id, "gpu_memory", "%s", jr->message);
	cgroup_job_kill(job->cg);
}

/* No DRM or accel device, no DRM client: spare every job's fd scan on a
 * host without a GPU. Looked at again every 10 s (an eGPU may come). */
static bool gpu_host_has_devices(void)
{
	static uint64_t checked;
	static bool has;
	uint64_t now = now_mono_ms();

	if (!checked || now - checked >= 10000) {
		has = gpu_host_has_drm(gpu_env_daemon());
		checked = now;
	}
	return has;
}

static void gpu_sample(struct job *job, const struct sys_sample *sys, struct memlog_row *row)
{
	struct job_record *jr = &job->r;
	struct job_gpu *g = &jr->gpu;
	const char *path = cgroup_job_path(job->cg);
	struct gpuguard_result res;
	struct gpu_sample s;
	uint64_t dmem;

	row->has_gtt = sys->has_gtt;
	row->host_gtt_used = sys->gtt_used;
	if (!gpu_host_has_devices() || gpu_sample_job(gpu_env_daemon(), path, &s) < 0)
		return;
	if (s.clients) {
		g->seen_fdinfo = true;
	} else if (gpu_dmem_current(path, &dmem) == 0 && dmem) {
		g->seen_dmem = true;   /* VRAM only, and no client to see it by */
		s.dev = s.total = dmem;
	}
	g->partial_samples += s.partial;
	g->peak = MAX(g->peak, s.total);
	g->peak_host = MAX(g->peak_host, s.host);
	g->peak_dev = MAX(g->peak_dev, s.dev);
	g->last_host = s.host;
	g->last_dev = s.dev;
	row->gpu = s.total;
	row->gpu_host = s.host;
	row->gpu_dev = s.dev;
	row->gpu_partial = s.partial;
	if (g->killed || job->pid <= 0)
		return;
	gpuguard_decide(&(struct gpuguard_input){
		.memory_max = jr->lim.memory_max, .current = jr->cgstats.current,
		.gpu_host = s.host, .gpu_memory_max = g->limit, .gpu_dev = s.dev,
		.partial = s.partial, .over = g->over,
	}, &res);
	if (res.verdict == GPUGUARD_OVER && g->over == 0)
		log_event(LOG_WARNING, jr->id, "gpu_over", "over %s: %" PRIu64 " MB > %" PRIu64
			  " MB; killed if it stays over at the next sample", res.limit,
			  res.used >> 20, res.max >> 20);
	g->over = res.over;
	if (res.verdict == GPUGUARD_KILL)
		gpu_kill(job, &s, &res);
}

/* 80% of what the job held must come back: less means an fd outside the
 * job, or the driver, keeps it. */
#define GPU_RELEASE_WAIT_MS 10000

void pressure_gpu_release(struct job *job, uint64_t now)
{
	struct job_gpu *g = &job->r.gpu;
	uint64_t used = host_gpu_used();
	uint64_t back = g->host_used_at_kill > used ? g->host_used_at_kill - used : 0;

	if (!g->release_pending)
		return;
	if (back >= g->held / 5 * 4) {
		g->released = true;
		g->release_ms = now - g->kill_mono;
		log_event(LOG_INFO, job->r.id, "gpu_released", "the driver gave back %" PRIu64
			  " MB of the %" PRIu64 " MB GPU memory the job held in %" PRIu64 " ms",
			  back >> 20, g->held >> 20, g->release_ms);
	} else if (now - g->kill_mono >= GPU_RELEASE_WAIT_MS) {
		g->not_released = true;
		log_event(LOG_WARNING, job->r.id, "gpu_memory_not_released", "gpu_memory_not_released: "
			  "%" PRIu64 " s after "
			  "the kill the host's GTT and VRAM use fell by %" PRIu64 " MB, under 80%% "
			  "of the %" PRIu64 " MB the job held: a process outside the job may hold "
			  "its buffers, or the driver leaks them", (now - g->kill_mono) / 1000,
			  back >> 20, g->held >> 20);
	} else {
		return;
	}
	g->release_pending = false;
	if (job->r.state > JOB_RUNNING)
		artifacts_write_summary(&job->r, job->cfg);
}
