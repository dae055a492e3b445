#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <string.h>

#include <stdlib.h>

#include "artifacts.h"
#include "hostinfo.h"
#include "json.h"
#include "util.h"

static const char *const batch_status_names[] = {
	[BATCH_FLUSHED] = "flushed", [BATCH_FAILED] = "failed", [BATCH_KILLED] = "killed",
};

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

static int write_json(const struct job *job, const char *name, yajl_gen g)
{
	const unsigned char *buf;
	size_t len;

	yajl_gen_get_buf(g, &buf, &len);
	/* The submitter's to read, nobody else's; in a directory only the
	 * daemon can write, so the user cannot plant links or FIFOs. */
	return write_atomic_owned(job->dir, name, buf, len, job->uid, job->gid, 0600);
}

static int write_summary(const struct job *job, const struct config *cfg)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);
	const struct cgroup_events *ev = &job->cgstats.ev;

	yajl_gen_map_open(g);
	json_kuint(g, "job", job->id);
	json_kstr(g, "status", job_state_name(job->state));
	json_kstr(g, "end_reason", job_end_name(job->end));
	json_kstr(g, "message", job->message);
	json_kdouble(g, "peak_rss_mb", (double)job->peak_rss_kb / 1024.0);
	json_kdouble(g, "peak_cgroup_mb", mb(job->cgstats.peak));
	json_kdouble(g, "memory_max_mb", mb(job->lim.memory_max));
	json_kdouble(g, "memory_high_mb", mb(job->lim.memory_high));
	json_kdouble(g, "duration_s", job->started_mono && job->ended_mono ?
		     (double)(job->ended_mono - job->started_mono) / 1000.0 : 0.0);
	kiso(g, "submitted_at", job->submitted_ms);
	kiso(g, "started_at", job->started_ms);
	kiso(g, "ended_at", job->ended_ms);
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
	json_kuint(g, "total", job->batches);
	json_kuint(g, "flushed", job->batches_flushed);
	json_kuint(g, "failed", job->batches_failed);
	yajl_gen_map_close(g);
	json_kuint(g, "chunks", job->chunks);
	json_kuint(g, "last_page", job->page);
	json_kuint(g, "last_flushed_page", job->flushed_page);
	json_kuint(g, "samples", job->samples);
	json_kuint(g, "sample_interval_ms", cfg->sample_interval_ms);
	json_kuint(g, "retries", job->retries_used);
	if (job->n_culprits)
		json_kuint(g, "culprit_page", job->culprits[0]);
	else
		json_knull(g, "culprit_page");
	json_key(g, "culprit_pages");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < job->n_culprits; i++)
		yajl_gen_integer(g, job->culprits[i]);
	yajl_gen_array_close(g);
	json_kstr(g, "syscall", job->syscall);
	json_key(g, "psi");
	yajl_gen_map_open(g);
	json_kdouble(g, "some_avg10_max", job->psi_some_max);
	json_kdouble(g, "full_avg10_max", job->psi_full_max);
	json_kdouble(g, "system_some_avg10_max", job->sys_psi_some_max);
	json_kuint(g, "trigger_count", job->psi_triggers);
	json_kstr(g, "trigger_mode", job->psi_mode[0] ? job->psi_mode : NULL);
	yajl_gen_map_close(g);
	json_key(g, "pressure_actions");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < job->n_actions; i++) {
		yajl_gen_map_open(g);
		kiso(g, "at", job->actions[i].t_ms);
		json_kstr(g, "action", job->actions[i].action);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_key(g, "events");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < job->n_events; i++) {
		const struct job_event *e = &job->events[i];
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
	if (job->exit_signal) {
		json_knull(g, "exit_code");
		json_kint(g, "signal", job->exit_signal);
		json_kstr(g, "signal_name", sigabbrev_np(job->exit_signal));
	} else {
		json_kint(g, "exit_code", job->exit_code);
		json_knull(g, "signal");
	}
	yajl_gen_map_close(g);
	json_key(g, "document");
	yajl_gen_map_open(g);
	json_kstr(g, "name", job->name);
	json_kuint(g, "size_bytes", job->size);
	json_kstr(g, "sha256", job->sha256[0] ? job->sha256 : NULL);
	json_kuint(g, "pages", job->pages);
	yajl_gen_map_close(g);
	if (job->kind == JOB_PRESSURE) {
		json_key(g, "pressure");
		yajl_gen_map_open(g);
		json_kuint(g, "target_mb", job->target_mb);
		json_kuint(g, "reached_mb", job->pressure_mb);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	return write_json(job, "summary.json", g);
}

static int write_manifest(const struct job *job)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);

	yajl_gen_map_open(g);
	json_kuint(g, "job", job->id);
	json_kstr(g, "document", job->name);
	json_kstr(g, "sink", job->sink);
	json_kstr(g, "kb", job->kb);
	json_key(g, "batches");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < job->n_batch_recs; i++) {
		const struct batch_rec *b = &job->batch_recs[i];
		yajl_gen_map_open(g);
		json_kuint(g, "batch_id", b->id);
		json_kstr(g, "status", batch_status_names[b->status]);
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
	return write_json(job, "ingest_manifest.json", g);
}

static void kbytes(yajl_gen g, const char *key, uint64_t v)
{
	json_kuint(g, key, v);
}

static int write_container_manifest(const struct job *job, const struct config *cfg,
				    const struct cgroup_root *cg, const char *kmsg_status)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);
	_cleanup_free_ char *conf = config_dump(cfg);

	yajl_gen_map_open(g);
	json_kuint(g, "job", job->id);
	json_kstr(g, "kind", job->kind == JOB_PRESSURE ? "pressure" : "ingest");
	json_kuint(g, "file_size_bytes", job->size);
	json_kuint(g, "uid", job->uid);
	json_key(g, "limits");
	yajl_gen_map_open(g);
	kbytes(g, "memory_max", job->lim.memory_max);
	kbytes(g, "memory_high", job->lim.memory_high);
	kbytes(g, "swap_max", job->lim.swap_max);
	json_kuint(g, "pids_max", job->lim.pids_max);
	json_kuint(g, "timeout_ms", job->timeout_ms);
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
	json_kstr(g, "namespaces", "net,ipc,mount");
	json_kstr(g, "seccomp", "allowlist, kill-process default");
	json_kbool(g, "no_new_privs", true);
	json_kstr(g, "rlimits", "core=0 nofile=16 fsize=max_file_size");
	yajl_gen_map_close(g);
	json_key(g, "batching");
	yajl_gen_map_open(g);
	json_kuint(g, "batch_size", job->batch_size);
	json_kuint(g, "retries_allowed", cfg->retries);
	json_kuint(g, "max_bytes", job->max_bytes);
	json_kuint(g, "max_wait_ms", job->max_wait_ms);
	json_kstr(g, "sink", job->sink);
	json_kstr(g, "kb", job->kb);
	yajl_gen_map_close(g);
	json_key(g, "attempts");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < job->n_attempts; i++) {
		const struct job_attempt *a = &job->attempts[i];
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
	yajl_gen_map_close(g);
	return write_json(job, "container_manifest.json", g);
}

int artifacts_write(const struct job *job, const struct config *cfg,
		    const struct cgroup_root *cg, const char *kmsg_status)
{
	int r = artifacts_write_progress(job, cfg);
	int r2 = write_container_manifest(job, cfg, cg, kmsg_status);

	return r < 0 ? r : r2;
}

int artifacts_write_progress(const struct job *job, const struct config *cfg)
{
	int r = write_manifest(job);
	int r2 = write_summary(job, cfg);

	return r < 0 ? r : r2;
}
