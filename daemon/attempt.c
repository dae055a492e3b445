/* A worker attempt: spawn, stream the document in, follow the frames out. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attempt.h"
#include "cgroup.h"
#include "config.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "artifacts.h"
#include "sampler.h"
#include "sink.h"
#include "spawn.h"
#include "util.h"

/* The largest worker frame the daemon buffers for a job: a batch of
 * max_bytes of text, every byte of it possibly a 6-byte JSON escape, and
 * room for the batch's other members. max_bytes is at most
 * max_bytes_ceiling (64 MiB at most), so this cannot overflow. */
static size_t frame_cap(uint64_t max_bytes)
{
	return (size_t)(6 * max_bytes + 65536);
}

/* What a job's worker may write in all: a compromised worker must not
 * fill the disk through a sink in valid frames either. Text rarely
 * exceeds a few times its PDF's size; this is far above that. */
static uint64_t output_cap(uint64_t doc_size)
{
	return 32 * doc_size + (UINT64_C(64) << 20);
}

/* ---- the worker's command line ------------------------------------------ */

#define ARGV_MAX 40

/* argv built from fixed storage: no allocation, nothing to free. */
struct argv_builder {
	char *argv[ARGV_MAX + 1];
	int argc;
	char buf[1024];
	size_t used;
};

static void arg(struct argv_builder *b, const char *s)
{
	if (b->argc < ARGV_MAX)
		b->argv[b->argc++] = (char *)s;
	b->argv[b->argc] = NULL;
}

/* An option and its formatted value. */
static void argf(struct argv_builder *b, const char *opt, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void argf(struct argv_builder *b, const char *opt, const char *fmt, ...)
{
	char *p = b->buf + b->used;
	size_t left = sizeof b->buf - b->used;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p, left, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= left)
		return;   /* cannot happen: the values are numbers */
	b->used += (size_t)n + 1;
	arg(b, opt);
	arg(b, p);
}

static void worker_argv(struct argv_builder *b, const struct job *job)
{
	const struct job_record *r = &job->r;
	const struct config *cfg = job->cfg;

	arg(b, "memsafe-worker");
	if (r->kind == JOB_PRESSURE) {
		arg(b, "pressure");
		argf(b, "--target-mb", "%" PRIu64, r->target_mb);
		argf(b, "--hold-ms", "%" PRIu64, r->hold_ms);
	} else {
		arg(b, "extract");
		argf(b, "--batch-size", "%u", r->batch_size);
		argf(b, "--max-bytes", "%" PRIu64, r->max_bytes);
		argf(b, "--max-wait-ms", "%" PRIu64, r->max_wait_ms);
		argf(b, "--chunk-size", "%u", cfg->chunk_size);
		argf(b, "--chunk-overlap", "%u", cfg->chunk_overlap);
		argf(b, "--buffer-size", "%" PRIu64, cfg->stream_buffer_size);
		argf(b, "--scratch-fd", "%d", WORKER_FD_SCRATCH);
		argf(b, "--max-file-size", "%" PRIu64, MAX(cfg->max_file_size, (uint64_t)1 << 20));
		if (r->first_page > 1) {
			argf(b, "--first-page", "%u", r->first_page);
			argf(b, "--first-batch", "%" PRIu64, r->last_batch_id + 1);
		}
		if (job->skip_chunks) {
			argf(b, "--skip-page", "%u", job->skip_page);
			argf(b, "--skip-chunks", "%u", job->skip_chunks);
			if (r->first_page <= 1)
				argf(b, "--first-batch", "%" PRIu64, r->last_batch_id + 1);
		}
	}
	if (geteuid() == 0) {
		arg(b, "--user");
		arg(b, cfg->worker_user);
	}
	arg(b, "--report-sandbox");
}

/* ---- batches ------------------------------------------------------------ */

/* A batch's flush has ended: record it, log it, save the artifacts. */
static void batch_flushed(struct job *job, struct batch_rec *rec, int r, const char *err)
{
	struct job_record *jr = &job->r;
	char op[64];

	rec->finished_ms = now_real_ms();
	if (r < 0) {
		rec->status = BATCH_FAILED;
		snprintf(rec->error, sizeof rec->error, "%s", err);
		jr->batches_failed++;
		jr->batches_failing++;
		log_job(LOG_WARNING, jr->id, NULL, "batch %" PRIu64 " failed to flush: %s",
			rec->id, err);
		/* Stop here: what follows would pass over the hole. A retry
		 * (after an OOM or GPU kill, whose cgroup kill took the sink
		 * with it) redoes it from the last flushed batch; otherwise
		 * the job ends flush_failed. */
		if (!job->flush_stopped) {
			job->flush_stopped = true;
			job->out_eof = true;
			cgroup_job_kill(job->cg);
		}
	} else {
		jr->batches_flushed++;
		/* Where a resume must pick up: the chunks of the last page
		 * flushed so far (a batch may close inside a page). */
		if (rec->chunks && rec->last_page == jr->flushed_page)
			jr->flushed_page_chunks += rec->tail_chunks;
		else if (rec->chunks)
			jr->flushed_page_chunks = rec->tail_chunks;
		jr->flushed_page = rec->last_page;
		jr->restarts = 0;
		jr->batches_lost += jr->batches_failing;   /* behind this one: never redone */
		jr->batches_failing = 0;
	}
	events_progress(job);
	snprintf(op, sizeof op, "batch %" PRIu64, rec->id);
	log_memory(jr->id, op, rec->rss_mb);
	if (rec->rss_mb * 1048576.0 > (double)job->cfg->memory_warn)
		log_event(LOG_WARNING, jr->id, "memory_warn",
			  "[MEMORY] warning: worker RSS %.2f MB is above memory_warn (%.0f MB)",
			  rec->rss_mb, (double)job->cfg->memory_warn / 1048576.0);
	record_add_batch(jr, rec);
	/* Evidence survives a daemon crash, at most a second old: rewriting
	 * on every batch would cost O(batches²) for long documents. What a
	 * crash loses here the jsonl sink's own record makes up for. */
	if (now_mono_ms() - job->saved_mono >= 1000) {
		/* The memory log as far as the manifest goes (a write, no fsync). */
		if (job->memlog)
			memlog_flush(job->memlog, false);
		artifacts_write_progress(jr, job->cfg);
		job_save(job);
		job->saved_mono = now_mono_ms();
	}
}

static void pump(struct job *job);

static void exec_free_cb(evutil_socket_t fd, short what, void *arg)
{
	sink_exec_free(arg);
}

static void exec_done(void *arg, int r, const char *err)
{
	struct job *job = arg;
	struct batch_rec rec = job->exec_rec;
	struct timeval zero = { 0, 0 };
	struct sink_exec *x = job->exec;

	/* Its callback is running: free it after that returns. */
	job->exec = NULL;
	if (event_base_once(job->base, -1, EV_TIMEOUT, exec_free_cb, x, &zero) < 0)
		sink_exec_free(x);
	batch_flushed(job, &rec, r, err);
	pump(job);
}

/* Returns 0, 1 when the flush went asynchronous (exec sink), or a
 * negative errno for a malformed batch. */
static int frame_batch(struct job *job, yajl_val v, const char *body, size_t len)
{
	struct job_record *jr = &job->r;
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
	/* The chunks of the batch's last page, at its end. */
	for (size_t i = rec.chunks; i > 0; i--) {
		uint64_t p = 0;
		json_get_u64(chunks->u.array.values[i - 1], "page", &p);
		if (p != last)
			break;
		rec.tail_chunks++;
	}
	rec.started_ms = t0 ? t0 : now_real_ms();
	rec.rss_mb = job_worker_rss_mb(job);
	if ((job->output += len) > output_cap(jr->size)) {
		record_set_message(jr, "the worker's output passed %" PRIu64 " MB for a document "
				   "of %" PRIu64 " MB, more than any document yields (a worker fault)",
				   job->output >> 20, jr->size >> 20);
		return -EPROTO;
	}
	jr->batches++;
	jr->chunks += rec.chunks;
	jr->last_batch_id = rec.id;
	if (jr->sink == SINK_EXEC) {
		r = sink_exec_start(jr, job, job->base, job->cfg, job->cg, body, len,
				    exec_done, &job->exec, err, sizeof err);
		if (r == 0) {
			job->exec_rec = rec;
			return 1;
		}
	} else {
		r = sink_flush(jr, job->cfg->state_dir, v, err, sizeof err);
	}
	batch_flushed(job, &rec, r, err);
	return 0;
}

/* A list of strings as one, joined by sep (what does not fit is dropped). */
static void join(yajl_val arr, char sep, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		const char *s = YAJL_IS_STRING(arr->u.array.values[i]) ?
				arr->u.array.values[i]->u.string : NULL;
		int w;

		if (!s)
			continue;
		w = snprintf(buf + n, size - n, "%s%s", n ? (char[]){ sep, 0 } : "", s);
		if (w < 0 || (size_t)w >= size - n) {
			buf[n] = '\0';
			return;
		}
		n += (size_t)w;
	}
}

/* What the worker's sandbox applied: recorded, for container_manifest.json. */
static void record_sandbox(struct job_record *jr, yajl_val v)
{
	struct job_sandbox *sb = &jr->sandbox;
	const char *fs = "";
	int64_t abi = 0;
	bool b = false;

	*sb = (struct job_sandbox){ .reported = true };
	join(json_get(v, "namespaces"), ',', sb->namespaces, sizeof sb->namespaces);
	join(json_get(v, "readable"), ':', sb->readable, sizeof sb->readable);
	json_get_str(v, "filesystem", &fs);
	snprintf(sb->filesystem, sizeof sb->filesystem, "%s", fs);
	if (json_get_i64(v, "landlock_abi", &abi) == 0 && abi > 0 && abi < 1000)
		sb->landlock_abi = (int)abi;
	if (json_get_bool(v, "capability_bounding_set_empty", &b) == 0)
		sb->bounding_set_empty = b;
	b = false;
	if (json_get_bool(v, "seccomp", &b) == 0)
		sb->seccomp = b;
}

/* Act on one frame: 0, 1 when a flush holds further frames back, or a
 * negative errno for a worker fault. */
static int frame(struct job *job, const char *body, size_t len)
{
	struct job_record *jr = &job->r;
	_cleanup_json_ yajl_val v = NULL;
	const char *t, *s;
	uint64_t n;
	char err[160];

	/* Bounded work before any tree is built: a frame within the size cap
	 * may still hold millions of empty chunks. */
	if (frame_check(body, len, &(struct frame_limits){
			.batch_size = jr->batch_size, .chunk_size = job->chunk_size,
			.max_bytes = jr->max_bytes, .pages = jr->pages }, err, sizeof err) < 0) {
		record_set_message(jr, "the worker sent a frame its job does not allow: %s "
				   "(a worker fault)", err);
		return -EPROTO;
	}
	if (json_parse(body, len, &v, err, sizeof err) < 0 || json_get_str(v, "t", &t) < 0)
		return -EBADMSG;
	switch (frame_type_from_string(t)) {
	case FRAME_PAGE:
		job->page_mono = now_mono_ms();
		/* fall through */
	case FRAME_DOC:
		if (json_get_u64(v, "pages", &n) == 0 && n <= UINT32_MAX)
			jr->pages = (unsigned)n;
		if (json_get_u64(v, "page", &n) == 0 && n <= UINT32_MAX)
			jr->page = (unsigned)n;
		events_progress(job);
		return 0;
	case FRAME_BATCH:
		return frame_batch(job, v, body, len);
	case FRAME_PAGE_ERROR:
		if (json_get_u64(v, "page", &n) < 0 || json_get_str(v, "message", &s) < 0)
			return -EBADMSG;
		log_job(LOG_WARNING, jr->id, NULL, "page %" PRIu64 " skipped: %s", n, s);
		return 0;
	case FRAME_PRESSURE:
		if (json_get_u64(v, "mb", &n) == 0)
			jr->pressure_mb = MAX(jr->pressure_mb, n);
		return 0;
	case FRAME_END:
		job->saw_end = true;
		if (json_get_u64(v, "pages", &n) == 0 && n <= UINT32_MAX)
			jr->pages = (unsigned)n;
		return 0;
	case FRAME_SANDBOX:
		record_sandbox(jr, v);
		return 0;
	case FRAME_FATAL:
		if (json_get_str(v, "reason", &t) < 0 || json_get_str(v, "message", &s) < 0)
			return -EBADMSG;
		free(job->fatal_reason);
		job->fatal_reason = strdup(t);
		record_set_message(jr, "%s", s);
		return 0;
	default:
		return -EBADMSG;
	}
}

/* ---- following the worker ----------------------------------------------- */

/* Move the job forward: act on buffered frames, read more when there are
 * none, and hand over once the worker is reaped and its pipe is drained.
 * A flush in progress (exec sink) holds everything until it ends. */
static void pump(struct job *job)
{
	/* Cancelled or timed out: stop at once. What the worker wrote
	 * before it was killed is not flushed (through a slow exec sink,
	 * each batch would hold the end back); the batch it was on is
	 * recorded as killed when the job ends. */
	if (job->cancelled || job->timed_out || job->page_timed_out || job->flush_stopped)
		job->out_eof = true;
	while (!job->exec && !job->out_eof) {
		const char *body;
		size_t len;
		int r = frame_reader_next(&job->fr, &body, &len);

		if (r == 1)
			r = frame(job, body, len);
		if (r == 1)
			break;           /* an asynchronous flush started */
		if (r < 0) {
			if (r != -EPROTO)   /* else the message says what it was */
				record_set_message(&job->r, r == -EMSGSIZE ?
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
		job->gone(job);
}

static void out_cb(evutil_socket_t fd, short what, void *arg)
{
	pump(arg);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	struct rusage ru;

	if (spawn_reap(job->pidfd, &job->exit_info, &ru) < 0)
		return;
	event_del(job->ev_exit);
	job->reaped = true;
	job->r.peak_rss_kb = (uint64_t)ru.ru_maxrss;
	pump(job);
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

/* The worker's stderr: what glib, poppler or the worker itself says. A
 * compromised worker must not forge the daemon's log lines or flood the
 * journal: each line is logged as the job's (log_job escapes it), cut at
 * ERR_LINE_MAX bytes, at most ERR_LINES_PER_S a second; the rest is
 * counted and the count logged. */
#define ERR_LINE_MAX 512
#define ERR_LINES_PER_S 20

static void err_line(struct job *job, const char *line, size_t len)
{
	uint64_t now = now_mono_ms();

	if (now - job->err_window_ms >= 1000) {
		if (job->err_dropped)
			log_job(LOG_WARNING, job->r.id, NULL, "worker: %u more lines on stderr "
				"were not logged (more than %d a second)", job->err_dropped,
				ERR_LINES_PER_S);
		job->err_window_ms = now;
		job->err_lines = job->err_dropped = 0;
	}
	if (job->err_lines++ >= ERR_LINES_PER_S) {
		job->err_dropped++;
		return;
	}
	log_job(LOG_NOTICE, job->r.id, NULL, "worker: %.*s", (int)len, line);
}

static void err_drain(struct job *job, bool eof)
{
	size_t start = 0;

	for (size_t i = 0; i < job->err_len; i++)
		if (job->err_buf[i] == '\n') {
			err_line(job, job->err_buf + start, i - start);
			start = i + 1;
		}
	if (job->err_len - start >= ERR_LINE_MAX || (eof && job->err_len > start)) {
		err_line(job, job->err_buf + start, job->err_len - start);
		start = job->err_len;
	}
	memmove(job->err_buf, job->err_buf + start, job->err_len - start);
	job->err_len -= start;
}

static void err_close(struct job *job)
{
	/* What the worker wrote just before it ended. */
	for (int rounds = 0; job->err_fd >= 0 && job->err_buf && rounds < 16; rounds++) {
		ssize_t n = read(job->err_fd, job->err_buf + job->err_len,
				 ERR_LINE_MAX - job->err_len);
		if (n <= 0)
			break;
		job->err_len += (size_t)n;
		err_drain(job, false);
	}
	if (job->ev_err)
		event_free(job->ev_err);
	job->ev_err = NULL;
	if (job->err_fd >= 0)
		close(job->err_fd);
	job->err_fd = -1;
	if (job->err_buf)
		err_drain(job, true);
	if (job->err_dropped)
		log_job(LOG_WARNING, job->r.id, NULL, "worker: %u more lines on stderr were not "
			"logged (more than %d a second)", job->err_dropped, ERR_LINES_PER_S);
	job->err_dropped = 0;
	free(job->err_buf);
	job->err_buf = NULL;
	job->err_len = 0;
}

static void err_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(job->err_fd, job->err_buf + job->err_len, ERR_LINE_MAX - job->err_len);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			err_close(job);
			return;
		}
		job->err_len += (size_t)n;
		err_drain(job, false);
	}
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;

	job->timed_out = true;
	record_set_message(&job->r, "the job ran longer than its timeout (%" PRIu64 " ms)",
			   job->r.timeout_ms);
	cgroup_job_kill(job->cg);
}

bool attempt_check_page_time(struct job *job, uint64_t now_mono)
{
	const struct job_record *r = &job->r;

	if (!r->page_timeout_ms || !job->page_mono || job->page_timed_out || job->reaped ||
	    now_mono - job->page_mono <= r->page_timeout_ms)
		return false;
	job->page_timed_out = true;
	record_set_message(&job->r, "page %u took longer than page_timeout (%.0f s): a page "
			   "this slow holds a slot too long; raise [job] page_timeout if such "
			   "documents are expected", r->page, (double)r->page_timeout_ms / 1000.0);
	cgroup_job_kill(job->cg);
	return true;
}

void attempt_record_killed_batch(struct job *job, enum job_end end)
{
	struct job_record *r = &job->r;
	struct batch_rec rec = { .id = r->last_batch_id + 1, .status = BATCH_KILLED,
				 .first_page = r->flushed_page + 1, .last_page = r->page,
				 .started_ms = r->started_ms, .finished_ms = now_real_ms(),
				 .rss_mb = (double)r->peak_rss_sampled / 1048576.0 };

	if (r->n_batch_recs)
		rec.started_ms = r->batch_recs[r->n_batch_recs - 1].finished_ms;
	if (rec.first_page > rec.last_page)
		rec.first_page = rec.last_page;
	snprintf(rec.error, sizeof rec.error, "the worker was %s on page %u",
		 end == END_OOM_KILL ? "OOM-killed" : "killed", r->page);
	record_add_batch(r, &rec);
}

/* ---- starting and dropping a worker ------------------------------------- */

int attempt_start(struct job *job, struct cgroup_root *root, const char *spool_dir)
{
	const struct config *cfg = job->cfg;
	struct job_record *jr = &job->r;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, scratch = -1, r;
	struct spawn_args sa = { .path = cfg->worker_path, .cgroup_dirfd = -1,
				 .procs_fds = { -1, -1 } };
	/* A bigger malloc tcache spares poppler-glib's per-page allocation
	 * churn: measured 1.10x pdftotext's pages/s on 1,000 pages instead
	 * of 0.98x (tests/bench/bench-extract.sh). */
	char *envp[] = { "PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8",
			 "GLIBC_TUNABLES=glibc.malloc.tcache_count=1000", NULL };
	struct argv_builder argv = { .argc = 0 };

	if (!job->cg && (r = cgroup_job_create(root, jr->id, &jr->lim, &job->cg)) < 0) {
		record_set_message(jr, "could not create its cgroup under %s: %s",
				   cgroup_jobs_path(root), strerror(-r));
		return r;
	}
	worker_argv(&argv, job);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if (jr->kind == JOB_INGEST) {
		/* The worker assembles a PDF here: an unlinked file in the
		 * spool, so a large document costs disk, not memory. */
		scratch = open(spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (scratch < 0) {
			r = -errno;
			goto fail;
		}
	}
	r = cgroup_job_procs_fds(job->cg, sa.procs_fds, 2);
	if (r < 0)
		goto fail;
	sa.argv = argv.argv;
	sa.envp = envp;
	sa.cgroup_dirfd = cgroup_job_dirfd(job->cg);
	sa.fds[WORKER_FD_INPUT] = in[0];
	sa.fds[WORKER_FD_FRAMES] = out[1];
	sa.fds[WORKER_FD_STDERR] = err[1];
	sa.fds[WORKER_FD_SCRATCH] = scratch;
	sa.fds[WORKER_FD_SCRATCH + 1] = -1;
	r = spawn_process(&sa, &job->pid, &job->pidfd);
	for (int i = 0; i < 2; i++)
		if (sa.procs_fds[i] >= 0)
			close(sa.procs_fds[i]);
	if (r < 0)
		goto fail;
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (scratch >= 0)
		close(scratch);
	job->in_fd = in[1];
	job->out_fd = out[0];
	job->err_fd = err[0];
	evutil_make_socket_nonblocking(job->err_fd);
	job->err_buf = malloc(ERR_LINE_MAX);
	job->ev_err = event_new(job->base, job->err_fd, EV_READ | EV_PERSIST, err_cb, job);
	evutil_make_socket_nonblocking(job->in_fd);
	evutil_make_socket_nonblocking(job->out_fd);
	frame_reader_init(&job->fr, frame_cap(jr->max_bytes));
	job->chunk_size = cfg->chunk_size;   /* what this worker was told */

	job->ev_exit = event_new(job->base, job->pidfd, EV_READ | EV_PERSIST, exit_cb, job);
	job->ev_out = event_new(job->base, job->out_fd, EV_READ | EV_PERSIST, out_cb, job);
	if (jr->kind == JOB_INGEST) {
		/* Its own size: a reload may change stream_buffer_size. */
		job->in_cap = cfg->stream_buffer_size;
		job->in_buf = malloc(job->in_cap);
		job->ev_in = event_new(job->base, job->in_fd, EV_WRITE | EV_PERSIST, in_cb, job);
	} else {
		close(job->in_fd);
		job->in_fd = -1;
	}
	if (jr->timeout_ms && !job->ev_timeout)
		job->ev_timeout = evtimer_new(job->base, timeout_cb, job);
	if (!job->ev_exit || !job->ev_out || !job->ev_err || !job->err_buf ||
	    (jr->kind == JOB_INGEST && (!job->in_buf || !job->ev_in)) ||
	    (jr->timeout_ms && !job->ev_timeout)) {
		/* The worker is already running: kill it and let the loop
		 * reap it; the caller finishes the job. */
		cgroup_job_kill(job->cg);
		spawn_abandon(job->base, job->pidfd);
		job->pidfd = -1;
		record_set_message(jr, "out of memory in the daemon while starting the worker");
		return -ENOMEM;
	}
	event_add(job->ev_exit, NULL);
	event_add(job->ev_out, NULL);
	event_add(job->ev_err, NULL);
	if (job->ev_in)
		event_add(job->ev_in, NULL);
	if (job->ev_timeout && !evtimer_pending(job->ev_timeout, NULL)) {
		struct timeval tv = { (time_t)(jr->timeout_ms / 1000),
				      (suseconds_t)(jr->timeout_ms % 1000) * 1000 };
		event_add(job->ev_timeout, &tv);
	}
	return 0;
fail:
	record_set_message(jr, "could not start the worker %s: %s", cfg->worker_path,
			   strerror(-r));
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	if (scratch >= 0)
		close(scratch);
	return r;
}

void attempt_reset(struct job *job)
{
	if (job->ev_exit)
		event_free(job->ev_exit);
	if (job->ev_in)
		event_free(job->ev_in);
	if (job->ev_out)
		event_free(job->ev_out);
	job->ev_exit = job->ev_in = job->ev_out = NULL;
	job->exec = sink_exec_free(job->exec);
	err_close(job);
	if (job->pidfd >= 0 && !job->reaped)   /* never a zombie left behind */
		spawn_abandon(job->base, job->pidfd);
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
	job->saw_end = job->reaped = job->out_eof = job->flush_stopped = false;
	job->page_mono = 0;
	free(job->fatal_reason);
	job->fatal_reason = NULL;
}

void attempt_release(struct job *job)
{
	attempt_reset(job);
	if (job->ev_timeout)
		event_free(job->ev_timeout);
	job->ev_timeout = NULL;
}
