#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <string.h>

#include "artifacts.h"
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
	return write_atomic(job->dir, name, buf, len);
}

static int write_summary(const struct job *job)
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

int artifacts_write(const struct job *job, const struct config *cfg)
{
	int r = write_manifest(job);
	int r2 = write_summary(job);

	(void)cfg;
	return r < 0 ? r : r2;
}
