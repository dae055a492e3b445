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
	}
	if (geteuid() == 0) {
		arg(b, "--user");
		arg(b, cfg->worker_user);
	}
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
		log_job(LOG_WARNING, jr->id, NULL, "batch %" PRIu64 " failed to flush: %s",
			rec->id, err);
	} else {
		jr->batches_flushed++;
		jr->flushed_page = rec->last_page;
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
	rec.started_ms = t0 ? t0 : now_real_ms();
	rec.rss_mb = job_worker_rss_mb(job);
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

/* Act on one frame: 0, 1 when a flush holds further frames back, or a
 * negative errno for a worker fault. */
static int frame(struct job *job, const char *body, size_t len)
{
	struct job_record *jr = &job->r;
	_cleanup_json_ yajl_val v = NULL;
	const char *t, *s;
	uint64_t n;
	char err[128];

	if (json_parse(body, len, &v, err, sizeof err) < 0 || json_get_str(v, "t", &t) < 0)
		return -EBADMSG;
	switch (frame_type_from_string(t)) {
	case FRAME_PAGE:
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
	if (job->cancelled || job->timed_out)
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

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;

	job->timed_out = true;
	record_set_message(&job->r, "the job ran longer than its timeout (%" PRIu64 " ms)",
			   job->r.timeout_ms);
	cgroup_job_kill(job->cg);
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
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, scratch = -1, r;
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
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
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
	sa.fds[WORKER_FD_STDERR] = STDERR_FILENO;
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
	if (scratch >= 0)
		close(scratch);
	job->in_fd = in[1];
	job->out_fd = out[0];
	evutil_make_socket_nonblocking(job->in_fd);
	evutil_make_socket_nonblocking(job->out_fd);
	frame_reader_init(&job->fr, frame_cap(jr->max_bytes));

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
	if (!job->ev_exit || !job->ev_out ||
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
	job->saw_end = job->reaped = job->out_eof = false;
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
