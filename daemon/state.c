#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "protocol.h"
#include "state.h"
#include "util.h"

int state_save(const struct job *job)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);
	const unsigned char *buf;
	size_t len;

	yajl_gen_map_open(g);
	json_kint(g, "version", 1);
	json_kuint(g, "id", job->id);
	json_kstr(g, "kind", job->kind == JOB_PRESSURE ? "pressure" : "ingest");
	json_kstr(g, "state", job_state_name(job->state));
	json_kstr(g, "end_reason", job_end_name(job->end));
	json_kstr(g, "message", job->message);
	json_kuint(g, "uid", job->uid);
	json_kuint(g, "gid", job->gid);
	json_kstr(g, "name", job->name);
	json_kstr(g, "kb", job->kb);
	json_kstr(g, "sink", job->sink);
	json_kint(g, "priority", job->priority);
	json_kuint(g, "memory_max", job->lim.memory_max);
	json_kuint(g, "memory_high", job->lim.memory_high);
	json_kuint(g, "swap_max", job->lim.swap_max);
	json_kuint(g, "pids_max", job->lim.pids_max);
	json_kuint(g, "batch_size", job->batch_size);
	json_kuint(g, "max_bytes", job->max_bytes);
	json_kuint(g, "max_wait_ms", job->max_wait_ms);
	json_kuint(g, "timeout_ms", job->timeout_ms);
	json_kuint(g, "target_mb", job->target_mb);
	json_kuint(g, "hold_ms", job->hold_ms);
	json_kuint(g, "size", job->size);
	json_kstr(g, "sha256", job->sha256);
	json_kuint(g, "submitted_ms", job->submitted_ms);
	json_kuint(g, "started_ms", job->started_ms);
	json_kuint(g, "ended_ms", job->ended_ms);
	json_kuint(g, "pages", job->pages);
	json_kuint(g, "flushed_page", job->flushed_page);
	json_kuint(g, "last_batch_id", job->last_batch_id);
	json_kuint(g, "batches", job->batches);
	json_kuint(g, "batches_flushed", job->batches_flushed);
	json_kuint(g, "batches_failed", job->batches_failed);
	json_kuint(g, "chunks", job->chunks);
	json_kuint(g, "retries_used", job->retries_used);
	json_kuint(g, "last_oom_page", job->last_oom_page);
	json_kuint(g, "peak_rss_kb", MAX(job->peak_rss_kb, job->peak_rss_sampled / 1024));
	json_kuint(g, "peak_cgroup", MAX(job->cgstats.peak, job->peak_cgroup_sampled));
	json_key(g, "culprits");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < job->n_culprits; i++)
		yajl_gen_integer(g, job->culprits[i]);
	yajl_gen_array_close(g);
	json_key(g, "attempts");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < job->n_attempts; i++) {
		const struct job_attempt *a = &job->attempts[i];
		yajl_gen_map_open(g);
		json_kint(g, "exit_code", a->exit_code);
		json_kint(g, "signal", a->signal);
		json_kuint(g, "first_page", a->first_page);
		json_kstr(g, "end_reason", a->end);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &buf, &len);
	/* The daemon's own record: root's, 0600, never the submitter's. */
	return write_atomic_owned(job->dir, "job.json", buf, len, (uid_t)-1, (gid_t)-1, 0600);
}

static uint64_t u64(yajl_val v, const char *key)
{
	uint64_t n = 0;

	json_get_u64(v, key, &n);
	return n;
}

static void str(yajl_val v, const char *key, char *buf, size_t size)
{
	const char *s = NULL;

	if (json_get_str(v, key, &s) == 0)
		snprintf(buf, size, "%s", s);
}

int state_load(const char *dir, struct job *job)
{
	_cleanup_json_ yajl_val v = NULL;
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX], err[128], kind[16] = "", state[24] = "", end[24] = "";
	yajl_val arr;
	size_t size = 1 << 20;
	ssize_t n;

	snprintf(path, sizeof path, "%s/job.json", dir);
	text = malloc(size);
	if (!text)
		return -ENOMEM;
	if ((n = read_small_file(path, text, size)) < 0)
		return (int)n;
	if (json_parse(text, (size_t)n, &v, err, sizeof err) < 0 || !YAJL_IS_OBJECT(v))
		return -EINVAL;
	job->id = u64(v, "id");
	str(v, "kind", kind, sizeof kind);
	job->kind = strcmp(kind, "pressure") == 0 ? JOB_PRESSURE : JOB_INGEST;
	str(v, "state", state, sizeof state);
	job->state = JOB_FAILED;
	for (int s = JOB_SPOOLING; s <= JOB_INTERRUPTED; s++)
		if (strcmp(state, job_state_name(s)) == 0)
			job->state = s;
	str(v, "end_reason", end, sizeof end);
	for (int e = END_OK; e <= END_INTERRUPTED; e++)
		if (strcmp(end, job_end_name(e)) == 0)
			job->end = e;
	{
		const char *m;
		if (json_get_str(v, "message", &m) == 0)
			job->message = strdup(m);
	}
	job->uid = (uid_t)u64(v, "uid");
	job->gid = (gid_t)u64(v, "gid");
	str(v, "name", job->name, sizeof job->name);
	str(v, "kb", job->kb, sizeof job->kb);
	str(v, "sink", job->sink, sizeof job->sink);
	/* Trust nothing read back: a kb name becomes a path. */
	if (!protocol_kb_valid(job->kb) || (strcmp(job->sink, "mock") && strcmp(job->sink, "jsonl") &&
					    strcmp(job->sink, "exec")))
		return -EINVAL;
	{
		int64_t p = 0;
		json_get_i64(v, "priority", &p);
		job->priority = (int)p;
	}
	job->lim.memory_max = u64(v, "memory_max");
	job->lim.memory_high = u64(v, "memory_high");
	job->lim.swap_max = u64(v, "swap_max");
	job->lim.pids_max = (unsigned)u64(v, "pids_max");
	job->batch_size = (unsigned)MAX(u64(v, "batch_size"), 1);
	job->max_bytes = u64(v, "max_bytes");
	job->max_wait_ms = u64(v, "max_wait_ms");
	job->timeout_ms = u64(v, "timeout_ms");
	job->target_mb = u64(v, "target_mb");
	job->hold_ms = u64(v, "hold_ms");
	job->size = u64(v, "size");
	str(v, "sha256", job->sha256, sizeof job->sha256);
	job->submitted_ms = u64(v, "submitted_ms");
	job->started_ms = u64(v, "started_ms");
	job->ended_ms = u64(v, "ended_ms");
	job->pages = (unsigned)u64(v, "pages");
	job->flushed_page = (unsigned)u64(v, "flushed_page");
	job->last_batch_id = u64(v, "last_batch_id");
	job->batches = u64(v, "batches");
	job->batches_flushed = u64(v, "batches_flushed");
	job->batches_failed = u64(v, "batches_failed");
	job->chunks = u64(v, "chunks");
	job->retries_used = (unsigned)u64(v, "retries_used");
	job->last_oom_page = (unsigned)u64(v, "last_oom_page");
	job->peak_rss_kb = u64(v, "peak_rss_kb");
	job->cgstats.peak = u64(v, "peak_cgroup");
	arr = json_get(v, "culprits");
	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len &&
	     job->n_culprits < ARRAY_SIZE(job->culprits); i++)
		if (YAJL_IS_INTEGER(arr->u.array.values[i]))
			job->culprits[job->n_culprits++] = (unsigned)arr->u.array.values[i]->u.number.i;
	arr = json_get(v, "attempts");
	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len &&
	     job->n_attempts < ARRAY_SIZE(job->attempts); i++) {
		yajl_val a = arr->u.array.values[i];
		struct job_attempt *at = &job->attempts[job->n_attempts++];
		int64_t x = -1;
		json_get_i64(a, "exit_code", &x);
		at->exit_code = (int)x;
		x = -1;
		json_get_i64(a, "signal", &x);
		at->signal = (int)x;
		at->first_page = (unsigned)u64(a, "first_page");
		str(a, "end_reason", at->end, sizeof at->end);
	}
	return 0;
}

uint64_t state_parse_iso8601(const char *s)
{
	struct tm tm = {0};
	unsigned ms = 0;

	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%uZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (uint64_t)timegm(&tm) * 1000 + ms;
}

int state_load_manifest(const char *dir, struct job *job)
{
	static const char *const status[] = { "flushed", "failed", "killed" };
	_cleanup_json_ yajl_val v = NULL;
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX], err[128];
	size_t size = 16 << 20;
	yajl_val rows;
	ssize_t n;

	snprintf(path, sizeof path, "%s/ingest_manifest.json", dir);
	text = malloc(size);
	if (!text)
		return -ENOMEM;
	if ((n = read_small_file(path, text, size)) < 0)
		return (int)n;
	if (json_parse(text, (size_t)n, &v, err, sizeof err) < 0)
		return -EINVAL;
	rows = json_get(v, "batches");
	if (!YAJL_IS_ARRAY(rows))
		return -EINVAL;
	free(job->batch_recs);
	job->batch_recs = calloc(rows->u.array.len + 1, sizeof *job->batch_recs);
	job->n_batch_recs = 0;
	job->cap_batch_recs = rows->u.array.len + 1;
	if (!job->batch_recs)
		return -ENOMEM;
	for (size_t i = 0; i < rows->u.array.len; i++) {
		yajl_val r = rows->u.array.values[i];
		struct batch_rec *b = &job->batch_recs[job->n_batch_recs++];
		const char *s = NULL;
		double d = 0;

		b->id = u64(r, "batch_id");
		json_get_str(r, "status", &s);
		for (int k = 0; s && k < 3; k++)
			if (strcmp(s, status[k]) == 0)
				b->status = (enum batch_status)k;
		b->first_page = (unsigned)u64(r, "first_page");
		b->last_page = (unsigned)u64(r, "last_page");
		b->chunks = u64(r, "chunks");
		b->bytes = u64(r, "bytes");
		s = NULL;
		json_get_str(r, "started_at", &s);
		b->started_ms = state_parse_iso8601(s);
		s = NULL;
		json_get_str(r, "finished_at", &s);
		b->finished_ms = state_parse_iso8601(s);
		json_get_double(r, "rss_mb", &d);
		b->rss_mb = d;
		s = NULL;
		if (json_get_str(r, "error", &s) == 0)
			snprintf(b->error, sizeof b->error, "%s", s);
	}
	return 0;
}
