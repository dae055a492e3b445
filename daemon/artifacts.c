/* A job's evidence files: summary.json, ingest_manifest.json, container_manifest.json. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <string.h>

#include <stdlib.h>

#include "artifacts.h"
#include "state.h"
#include "gpu.h"
#include "gpuinfo.h"
#include "hostinfo.h"
#include "json.h"
#include "util.h"

static double mb(uint64_t bytes) { return (double)bytes / 1048576.0; }

static void kiso(yajl_gen g, const char *key, uint64_t real_ms)
{
	char buf[40];

	if (!real_ms) {
		json_knull(g, key);
		return;
	}
	format_iso8601(real_ms, buf, sizeof buf);
	json_kstr(g, key, buf);
}

static int write_json(const struct job_record *r, const char *name, yajl_gen g)
{
	const unsigned char *buf;
	size_t len;

	yajl_gen_get_buf(g, &buf, &len);
	/* The submitter's to read, nobody else's; in a directory only the
	 * daemon can write, so the user cannot plant links or FIFOs. */
	return write_atomic_owned(r->dir, name, buf, len, r->uid, r->gid, 0600);
}

/* summary.json's gpu object: where the figures came from (or why there
 * are none), peaks, the limit, partial samples, the release after a kill. */
static void gpu_json(yajl_gen g, const struct job_record *r)
{
	const struct job_gpu *gp = &r->gpu;

	json_key(g, "gpu");
	yajl_gen_map_open(g);
	json_kstr(g, "source", gp->seen_fdinfo ? "fdinfo" : gp->seen_dmem ? "dmem" : "none");
	if (!gp->seen_fdinfo && !gp->seen_dmem)
		json_kstr(g, "reason", !gpu_host_has_drm(gpu_env_daemon()) ?
			  "no DRM device on this host" : gp->partial_samples ?
			  "the fdinfo of the job's DRM fds could not be read" :
			  "no process of the job held a DRM device with memory figures");
	else
		json_knull(g, "reason");
	json_kdouble(g, "peak_mb", mb(gp->peak));
	json_kdouble(g, "peak_host_mb", mb(gp->peak_host));
	json_kdouble(g, "peak_dev_mb", mb(gp->peak_dev));
	if (gp->limit)
		json_kdouble(g, "limit_mb", mb(gp->limit));
	else
		json_knull(g, "limit_mb");
	json_kuint(g, "partial_samples", gp->partial_samples);
	if (gp->released)
		json_kuint(g, "release_ms", gp->release_ms);
	else
		json_knull(g, "release_ms");
	json_kbool(g, "not_released", gp->not_released);
	yajl_gen_map_close(g);
}

static int write_summary(const struct job_record *r, const struct config *cfg)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);
	const struct cgroup_events *ev = &r->cgstats.ev;

	yajl_gen_map_open(g);
	json_kuint(g, "job", r->id);
	json_kstr(g, "status", job_state_to_string(r->state));
	json_kstr(g, "end_reason", job_end_to_string(r->end));
	json_kstr(g, "message", r->message);
	json_kdouble(g, "peak_rss_mb", (double)r->peak_rss_kb / 1024.0);
	json_kdouble(g, "peak_cgroup_mb", mb(r->cgstats.peak));
	json_kdouble(g, "memory_max_mb", mb(r->lim.memory_max));
	json_kdouble(g, "memory_high_mb", mb(r->lim.memory_high));
	json_kdouble(g, "duration_s", r->started_mono && r->ended_mono ?
		     (double)(r->ended_mono - r->started_mono) / 1000.0 : 0.0);
	kiso(g, "submitted_at", r->submitted_ms);
	kiso(g, "started_at", r->started_ms);
	kiso(g, "ended_at", r->ended_ms);
	json_key(g, "cgroup_events");
	yajl_gen_map_open(g);
	json_kuint(g, "low", ev->low);
	json_kuint(g, "high", ev->high);
	json_kuint(g, "max", ev->max);
	json_kuint(g, "oom", ev->oom);
	json_kuint(g, "oom_kill", ev->oom_kill);
	json_kuint(g, "oom_group_kill", ev->oom_group_kill);
	yajl_gen_map_close(g);
	json_key(g, "batches");
	yajl_gen_map_open(g);
	json_kuint(g, "total", r->batches);
	json_kuint(g, "flushed", r->batches_flushed);
	json_kuint(g, "failed", r->batches_failed);
	yajl_gen_map_close(g);
	json_kuint(g, "chunks", r->chunks);
	json_kuint(g, "last_page", r->page);
	json_kuint(g, "last_flushed_page", r->flushed_page);
	json_kuint(g, "samples", r->samples);
	json_kuint(g, "sample_interval_ms", cfg->sample_interval_ms);
	json_kuint(g, "retries", r->retries_used);
	if (r->n_culprits)
		json_kuint(g, "culprit_page", r->culprits[0]);
	else
		json_knull(g, "culprit_page");
	json_key(g, "culprit_pages");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_culprits; i++)
		yajl_gen_integer(g, r->culprits[i]);
	yajl_gen_array_close(g);
	json_kstr(g, "syscall", r->syscall);
	json_key(g, "psi");
	yajl_gen_map_open(g);
	json_kdouble(g, "some_avg10_max", r->psi_some_max);
	json_kdouble(g, "full_avg10_max", r->psi_full_max);
	json_kdouble(g, "system_some_avg10_max", r->sys_psi_some_max);
	json_kuint(g, "trigger_count", r->psi_triggers);
	json_kstr(g, "trigger_mode", r->psi_mode[0] ? r->psi_mode : NULL);
	yajl_gen_map_close(g);
	json_key(g, "pressure_actions");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_actions; i++) {
		yajl_gen_map_open(g);
		kiso(g, "at", r->actions[i].t_ms);
		json_kstr(g, "action", r->actions[i].action);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_key(g, "events");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_events; i++) {
		const struct job_event *e = &r->events[i];
		yajl_gen_map_open(g);
		kiso(g, "at", e->t_ms);
		json_kstr(g, "event", e->name);
		json_kuint(g, "count", e->count);
		json_kuint(g, "page", e->page);
		json_kuint(g, "batch_id", e->batch_id);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_key(g, "worker");
	yajl_gen_map_open(g);
	if (r->exit_signal) {
		json_knull(g, "exit_code");
		json_kint(g, "signal", r->exit_signal);
		json_kstr(g, "signal_name", sigabbrev_np(r->exit_signal));
	} else {
		json_kint(g, "exit_code", r->exit_code);
		json_knull(g, "signal");
	}
	yajl_gen_map_close(g);
	json_key(g, "document");
	yajl_gen_map_open(g);
	json_kstr(g, "name", r->name);
	json_kuint(g, "size_bytes", r->size);
	json_kstr(g, "sha256", r->sha256[0] ? r->sha256 : NULL);
	json_kuint(g, "pages", r->pages);
	yajl_gen_map_close(g);
	gpu_json(g, r);
	if (r->kind == JOB_PRESSURE) {
		json_key(g, "pressure");
		yajl_gen_map_open(g);
		json_kuint(g, "target_mb", r->target_mb);
		json_kuint(g, "reached_mb", r->pressure_mb);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	return write_json(r, "summary.json", g);
}

static int write_manifest(const struct job_record *r)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);

	yajl_gen_map_open(g);
	json_kuint(g, "job", r->id);
	json_kstr(g, "document", r->name);
	json_kstr(g, "sink", sink_kind_to_string(r->sink));
	json_kstr(g, "kb", r->kb);
	json_key(g, "batches");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_batch_recs; i++) {
		const struct batch_rec *b = &r->batch_recs[i];
		yajl_gen_map_open(g);
		json_kuint(g, "batch_id", b->id);
		json_kstr(g, "status", batch_status_to_string(b->status));
		json_kuint(g, "first_page", b->first_page);
		json_kuint(g, "last_page", b->last_page);
		json_kuint(g, "chunks", b->chunks);
		json_kuint(g, "bytes", b->bytes);
		kiso(g, "started_at", b->started_ms);
		kiso(g, "finished_at", b->finished_ms);
		json_kuint(g, "duration_ms", b->finished_ms >= b->started_ms ?
			   b->finished_ms - b->started_ms : 0);
		json_kdouble(g, "rss_mb", b->rss_mb);
		json_kstr(g, "error", b->error[0] ? b->error : NULL);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	{
		/* The daemon's own copy, root's and 0600, is what a restart
		 * reads back: the submitter owns ingest_manifest.json and may
		 * have rewritten it. */
		const unsigned char *buf;
		size_t len;
		int e;

		yajl_gen_get_buf(g, &buf, &len);
		e = write_atomic_owned(r->dir, STATE_MANIFEST, buf, len, (uid_t)-1, (gid_t)-1, 0600);
		if (e < 0)
			return e;
	}
	return write_json(r, "ingest_manifest.json", g);
}

static void kbytes(yajl_gen g, const char *key, uint64_t v)
{
	json_kuint(g, key, v);
}

static int write_container_manifest(const struct job_record *r, const struct config *cfg,
				    const struct cgroup_root *cg, const char *kmsg_status)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);
	_cleanup_free_ char *conf = config_dump(cfg);

	yajl_gen_map_open(g);
	json_kuint(g, "job", r->id);
	json_kstr(g, "kind", job_kind_to_string(r->kind));
	json_kuint(g, "file_size_bytes", r->size);
	json_kuint(g, "uid", r->uid);
	json_key(g, "limits");
	yajl_gen_map_open(g);
	kbytes(g, "memory_max", r->lim.memory_max);
	kbytes(g, "memory_high", r->lim.memory_high);
	kbytes(g, "swap_max", r->lim.swap_max);
	json_kuint(g, "pids_max", r->lim.pids_max);
	json_kuint(g, "timeout_ms", r->timeout_ms);
	yajl_gen_map_close(g);
	json_key(g, "cgroup");
	yajl_gen_map_open(g);
	json_kstr(g, "mode", cgroup_mode_name(cgroup_mode(cg)));
	json_kstr(g, "jobs_path", cgroup_jobs_path(cg));
	json_kbool(g, "memory_peak_file", cgroup_has_peak(cg));
	json_kbool(g, "cgroup_kill", cgroup_has_kill(cg));
	yajl_gen_map_close(g);
	json_key(g, "sandbox");
	yajl_gen_map_open(g);
	json_kstr(g, "user", geteuid() == 0 ? cfg->worker_user : NULL);
	/* What the worker reported it applied, not what it was asked to. */
	json_kbool(g, "reported", r->sandbox.reported);
	json_kstr(g, "namespaces", r->sandbox.reported ? r->sandbox.namespaces : NULL);
	json_kstr(g, "filesystem", r->sandbox.reported ? r->sandbox.filesystem : NULL);
	if (r->sandbox.landlock_abi)
		json_kint(g, "landlock_abi", r->sandbox.landlock_abi);
	json_kstr(g, "readable", r->sandbox.reported ? r->sandbox.readable : NULL);
	json_kbool(g, "capability_bounding_set_empty", r->sandbox.bounding_set_empty);
	json_kstr(g, "seccomp", !r->sandbox.reported ? NULL : r->sandbox.seccomp ?
		  "allowlist, kill-process default" : "none");
	json_kbool(g, "no_new_privs", true);
	json_kstr(g, "rlimits", "core=0 nofile=16 fsize=max_file_size");
	yajl_gen_map_close(g);
	json_key(g, "batching");
	yajl_gen_map_open(g);
	json_kuint(g, "batch_size", r->batch_size);
	json_kuint(g, "retries_allowed", cfg->retries);
	json_kuint(g, "max_bytes", r->max_bytes);
	json_kuint(g, "max_wait_ms", r->max_wait_ms);
	json_kstr(g, "sink", sink_kind_to_string(r->sink));
	json_kstr(g, "kb", r->kb);
	yajl_gen_map_close(g);
	json_key(g, "attempts");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_attempts; i++) {
		const struct job_attempt *a = &r->attempts[i];
		yajl_gen_map_open(g);
		if (a->exit_code >= 0)
			json_kint(g, "exit_code", a->exit_code);
		else
			json_knull(g, "exit_code");
		if (a->signal >= 0) {
			json_kint(g, "signal", a->signal);
			json_kstr(g, "signal_name", sigabbrev_np(a->signal));
		} else {
			json_knull(g, "signal");
		}
		json_kuint(g, "first_page", a->first_page);
		json_kstr(g, "end_reason", a->end);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_kstr(g, "kernel_log", kmsg_status);
	json_kstr(g, "configuration", conf);
	json_key(g, "host");
	hostinfo_json(g);
	json_key(g, "gpu_pools");
	gpuinfo_json(g, gpu_env_daemon()->sys_root, gpu_env_daemon()->proc_root,
		     "/sys/fs/cgroup");
	yajl_gen_map_close(g);
	return write_json(r, "container_manifest.json", g);
}

int artifacts_write(const struct job_record *r, const struct config *cfg,
		    const struct cgroup_root *cg, const char *kmsg_status)
{
	int e = artifacts_write_progress(r, cfg);
	int e2 = write_container_manifest(r, cfg, cg, kmsg_status);

	return e < 0 ? e : e2;
}

int artifacts_write_progress(const struct job_record *r, const struct config *cfg)
{
	int e = write_manifest(r);
	int e2 = write_summary(r, cfg);

	return e < 0 ? e : e2;
}

int artifacts_write_summary(const struct job_record *r, const struct config *cfg)
{
	return write_summary(r, cfg);
}
