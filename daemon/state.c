/* job.json: a job's durable state, saved and loaded through one field table. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "protocol.h"
#include "state.h"
#include "util.h"

enum field_type {
	F_U64, F_UINT, F_INT, F_BOOL,
	F_CHARS,        /* char array of `size` */
	F_STRP,         /* heap string, NULL as null */
	F_STATE, F_END, F_KIND, F_SINK,
	F_U64_PEAK,     /* u64 saved as MAX(it, the field at off2 / div) */
};

struct field {
	const char *key;
	enum field_type type;
	size_t off;
	size_t size;            /* F_CHARS: the array's size; F_U64_PEAK: off2 */
	unsigned div;           /* F_U64_PEAK */
};

#define AT(m) offsetof(struct job_record, m)
#define U64(k, m) { k, F_U64, AT(m), 0, 0 }
#define UINT(k, m) { k, F_UINT, AT(m), 0, 0 }
#define CHARS(k, m) { k, F_CHARS, AT(m), sizeof(((struct job_record *)0)->m), 0 }

/* In the order job.json has always had them. */
static const struct field fields[] = {
	U64("id", id),
	{ "kind", F_KIND, AT(kind), 0, 0 },
	{ "state", F_STATE, AT(state), 0, 0 },
	{ "end_reason", F_END, AT(end), 0, 0 },
	{ "message", F_STRP, AT(message), 0, 0 },
	UINT("uid", uid),
	UINT("gid", gid),
	{ "admin", F_BOOL, AT(admin), 0, 0 },
	CHARS("name", name),
	CHARS("kb", kb),
	{ "sink", F_SINK, AT(sink), 0, 0 },
	{ "priority", F_INT, AT(priority), 0, 0 },
	U64("memory_max", lim.memory_max),
	U64("memory_high", lim.memory_high),
	U64("swap_max", lim.swap_max),
	UINT("pids_max", lim.pids_max),
	UINT("batch_size", batch_size),
	U64("max_bytes", max_bytes),
	U64("max_wait_ms", max_wait_ms),
	U64("timeout_ms", timeout_ms),
	U64("page_timeout_ms", page_timeout_ms),
	U64("target_mb", target_mb),
	U64("hold_ms", hold_ms),
	U64("size", size),
	CHARS("sha256", sha256),
	U64("submitted_ms", submitted_ms),
	U64("started_ms", started_ms),
	U64("ended_ms", ended_ms),
	UINT("pages", pages),
	UINT("flushed_page", flushed_page),
	UINT("flushed_page_chunks", flushed_page_chunks),
	U64("last_batch_id", last_batch_id),
	U64("batches", batches),
	U64("batches_flushed", batches_flushed),
	U64("batches_failed", batches_failed),
	U64("batches_lost", batches_lost),
	U64("batches_failing", batches_failing),
	U64("chunks", chunks),
	UINT("retries_used", retries_used),
	UINT("last_oom_page", last_oom_page),
	UINT("restarts", restarts),
	{ "resumable", F_BOOL, AT(resumable), 0, 0 },
	{ "peak_rss_kb", F_U64_PEAK, AT(peak_rss_kb), AT(peak_rss_sampled), 1024 },
	{ "peak_cgroup", F_U64_PEAK, AT(cgstats.peak), AT(peak_cgroup_sampled), 1 },
	U64("gpu_memory_max", gpu.limit),
	U64("gpu_peak", gpu.peak),
	U64("gpu_peak_host", gpu.peak_host),
	U64("gpu_peak_dev", gpu.peak_dev),
	U64("gpu_partial_samples", gpu.partial_samples),
	{ "gpu_killed", F_BOOL, AT(gpu.killed), 0, 0 },
};

#define FIELD(r, f, type) ((type *)((char *)(r) + (f)->off))
#define CFIELD(r, f, type) ((const type *)((const char *)(r) + (f)->off))

static void save_field(yajl_gen g, const struct job_record *r, const struct field *f)
{
	switch (f->type) {
	case F_U64:
		json_kuint(g, f->key, *CFIELD(r, f, uint64_t));
		break;
	case F_UINT:
		json_kuint(g, f->key, *CFIELD(r, f, unsigned));
		break;
	case F_INT:
		json_kint(g, f->key, *CFIELD(r, f, int));
		break;
	case F_BOOL:
		json_kbool(g, f->key, *CFIELD(r, f, bool));
		break;
	case F_CHARS:
		json_kstr(g, f->key, CFIELD(r, f, char));
		break;
	case F_STRP:
		json_kstr(g, f->key, *CFIELD(r, f, char *));
		break;
	case F_STATE:
		json_kstr(g, f->key, job_state_to_string(*CFIELD(r, f, enum job_state)));
		break;
	case F_END:
		json_kstr(g, f->key, job_end_to_string(*CFIELD(r, f, enum job_end)));
		break;
	case F_KIND:
		json_kstr(g, f->key, job_kind_to_string(*CFIELD(r, f, enum job_kind)));
		break;
	case F_SINK:
		json_kstr(g, f->key, sink_kind_to_string(*CFIELD(r, f, enum sink_kind)));
		break;
	case F_U64_PEAK: {
		uint64_t a = *CFIELD(r, f, uint64_t);
		uint64_t b = *(const uint64_t *)((const char *)r + f->size) / f->div;
		json_kuint(g, f->key, MAX(a, b));
		break;
	}
	}
}

/* Returns -EINVAL for a value that may not be trusted as it is. */
static int load_field(yajl_val v, struct job_record *r, const struct field *f)
{
	const char *s = NULL;
	uint64_t n = 0;
	int64_t i = 0;
	int e;

	switch (f->type) {
	case F_U64:
	case F_U64_PEAK:
		json_get_u64(v, f->key, FIELD(r, f, uint64_t));
		break;
	case F_UINT:
		json_get_u64(v, f->key, &n);
		*FIELD(r, f, unsigned) = (unsigned)MIN(n, UINT32_MAX);
		break;
	case F_INT:
		json_get_i64(v, f->key, &i);
		*FIELD(r, f, int) = (int)MAX(MIN(i, INT32_MAX), INT32_MIN);
		break;
	case F_BOOL:
		json_get_bool(v, f->key, FIELD(r, f, bool));
		break;
	case F_CHARS:
		if (json_get_str(v, f->key, &s) == 0)
			snprintf(FIELD(r, f, char), f->size, "%s", s);
		break;
	case F_STRP:
		if (json_get_str(v, f->key, &s) == 0) {
			free(*FIELD(r, f, char *));
			*FIELD(r, f, char *) = strdup(s);
		}
		break;
	case F_STATE:
		json_get_str(v, f->key, &s);
		e = job_state_from_string(s);
		*FIELD(r, f, enum job_state) = e < 0 ? JOB_FAILED : (enum job_state)e;
		break;
	case F_END:
		json_get_str(v, f->key, &s);
		e = job_end_from_string(s);
		*FIELD(r, f, enum job_end) = e < 0 ? END_NONE : (enum job_end)e;
		break;
	case F_KIND:
		json_get_str(v, f->key, &s);
		*FIELD(r, f, enum job_kind) = s && strcmp(s, "pressure") == 0 ? JOB_PRESSURE :
					      JOB_INGEST;
		break;
	case F_SINK:
		/* Trust nothing read back: an unknown sink is refused. */
		if (json_get_str(v, f->key, &s) < 0 || (e = sink_kind_from_string(s)) < 0)
			return -EINVAL;
		*FIELD(r, f, enum sink_kind) = (enum sink_kind)e;
		break;
	}
	return 0;
}

int state_save(const struct job_record *r)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);
	const unsigned char *buf;
	size_t len;

	yajl_gen_map_open(g);
	json_kint(g, "version", 1);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		save_field(g, r, &fields[i]);
	json_key(g, "culprits");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_culprits; i++)
		yajl_gen_integer(g, r->culprits[i]);
	yajl_gen_array_close(g);
	json_key(g, "attempts");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_attempts; i++) {
		const struct job_attempt *a = &r->attempts[i];
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
	return write_atomic_owned(r->dir, "job.json", buf, len, (uid_t)-1, (gid_t)-1, 0600);
}

static uint64_t u64(yajl_val v, const char *key)
{
	uint64_t n = 0;

	json_get_u64(v, key, &n);
	return n;
}

int state_load(const char *dir, struct job_record *r)
{
	_cleanup_json_ yajl_val v = NULL;
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX], err[128];
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
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (load_field(v, r, &fields[i]) < 0)
			return -EINVAL;
	/* Trust nothing read back: a kb name becomes a path. */
	if (!protocol_kb_valid(r->kb))
		return -EINVAL;
	r->batch_size = MAX(r->batch_size, 1u);
	arr = json_get(v, "culprits");
	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++)
		if (YAJL_IS_INTEGER(arr->u.array.values[i]))
			record_add_culprit(r, (unsigned)arr->u.array.values[i]->u.number.i);
	arr = json_get(v, "attempts");
	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		yajl_val a = arr->u.array.values[i];
		struct job_attempt at = { .exit_code = -1, .signal = -1 };
		int64_t x = -1;
		const char *s = NULL;

		json_get_i64(a, "exit_code", &x);
		at.exit_code = (int)x;
		x = -1;
		json_get_i64(a, "signal", &x);
		at.signal = (int)x;
		at.first_page = (unsigned)u64(a, "first_page");
		if (json_get_str(a, "end_reason", &s) == 0)
			snprintf(at.end, sizeof at.end, "%s", s);
		if (!record_add_attempt(r, &at))
			break;
	}
	return 0;
}

int state_load_manifest(const char *dir, struct job_record *r)
{
	_cleanup_json_ yajl_val v = NULL;
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX], err[128];
	size_t size = 16 << 20;
	yajl_val rows;
	ssize_t n;

	snprintf(path, sizeof path, "%s/" STATE_MANIFEST, dir);
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
	record_drop_batches(r);
	for (size_t i = 0; i < rows->u.array.len; i++) {
		yajl_val row = rows->u.array.values[i];
		struct batch_rec b = { 0 };
		const char *s = NULL;
		double d = 0;
		int st;

		b.id = u64(row, "batch_id");
		json_get_str(row, "status", &s);
		if ((st = batch_status_from_string(s)) >= 0)
			b.status = (enum batch_status)st;
		b.first_page = (unsigned)u64(row, "first_page");
		b.last_page = (unsigned)u64(row, "last_page");
		b.chunks = u64(row, "chunks");
		b.bytes = u64(row, "bytes");
		s = NULL;
		json_get_str(row, "started_at", &s);
		parse_iso8601(s, &b.started_ms);
		s = NULL;
		json_get_str(row, "finished_at", &s);
		parse_iso8601(s, &b.finished_ms);
		json_get_double(row, "rss_mb", &d);
		b.rss_mb = d;
		s = NULL;
		if (json_get_str(row, "error", &s) == 0)
			snprintf(b.error, sizeof b.error, "%s", s);
		if (record_add_batch(r, &b) < 0)
			return -ENOMEM;
	}
	return 0;
}
