/* The end of a job, written off the loop by a thread of its own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "artifacts.h"
#include "ends.h"
#include "log.h"
#include "sampler.h"
#include "state.h"
#include "util.h"

/* One job's end being written. The thread owns it until it writes its
 * pointer into the pipe; then the loop does. */
struct end {
	TAILQ_ENTRY(end) entry;
	struct ends *owner;
	pthread_t thread;
	bool joinable;
	bool start;              /* the artifacts of a start, not an end */
	bool queued;             /* waits for the job's write before (chained) */
	struct end *next;        /* the job's next write, waiting for this one */
	struct job_record r;     /* a deep copy: record_done frees it */
	struct config cfg;       /* a deep copy: a reload frees the daemon's */
	bool have_cfg;
	const struct cgroup_root *cg;
	char kmsg_status[256];
	struct memlog *memlog;
	char *dmesg;
	size_t dmesg_len;
	int e_dmesg, e_artifacts, e_state;
};

struct ends {
	int fd[2];               /* threads write a finished struct end * */
	struct event *ev;
	TAILQ_HEAD(, end) list;  /* being written, or written and not yet done */
	void (*done)(void *arg, uint64_t id);
	void *arg;
};

/* Test hook: with MEMSAFED_CRASH_AT=job-end in its environment (which
 * only whoever starts it controls), memsafed kills itself between a job's
 * artifacts and its job.json: the window restart.test checks. */
static bool crash_at(const char *point)
{
	const char *v = getenv("MEMSAFED_CRASH_AT");

	return v && strcmp(v, point) == 0;
}

/* The memory log and the kernel log excerpt, beside the artifacts. */
static void *logs_thread(void *arg)
{
	struct end *x = arg;

	x->memlog = memlog_close(x->memlog);
	if (x->dmesg)
		x->e_dmesg = write_atomic_owned(x->r.dir, "dmesg_excerpt.txt", x->dmesg,
						x->dmesg_len, x->r.uid, x->r.gid, 0600);
	return NULL;
}

/* After this write the loop owns x; a pointer is less than PIPE_BUF, so
 * it is written whole. */
static void hand_back(struct end *x)
{
	while (write(x->owner->fd[1], &x, sizeof x) < 0 && errno == EINTR)
		;
}

static void *end_thread(void *arg)
{
	struct end *x = arg;
	pthread_t logs;
	bool side;

	if (x->start) {
		x->e_artifacts = artifacts_write(&x->r, &x->cfg, x->cg, x->kmsg_status);
		x->e_state = state_save(&x->r);
		hand_back(x);
		return NULL;
	}
	side = pthread_create(&logs, NULL, logs_thread, x) == 0;

	/* Side by side, their fsyncs share journal commits. */
	if (!side)
		logs_thread(x);
	x->e_artifacts = artifacts_write(&x->r, &x->cfg, x->cg, x->kmsg_status);
	if (side)
		pthread_join(logs, NULL);
	if (crash_at("job-end"))
		raise(SIGKILL);
	x->e_state = state_save(&x->r);
	hand_back(x);
	return NULL;
}

static void run(struct end *x)
{
	x->queued = false;
	if (pthread_create(&x->thread, NULL, end_thread, x) == 0)
		x->joinable = true;
	else
		end_thread(x);   /* here, then back through the pipe all the same */
}

static void *memdup_n(const void *p, size_t n, size_t size)
{
	void *c = n ? malloc(n * size) : NULL;

	if (c)
		memcpy(c, p, n * size);
	return c;
}

/* A deep copy of the record, which record_done frees; false when out of
 * memory (nothing left to free). */
static bool record_copy(struct job_record *c, const struct job_record *r)
{
	*c = *r;
	c->dir = strdup(r->dir);
	c->message = r->message ? strdup(r->message) : NULL;
	c->syscall = r->syscall ? strdup(r->syscall) : NULL;
	c->events = memdup_n(r->events, r->n_events, sizeof *r->events);
	c->attempts = memdup_n(r->attempts, r->n_attempts, sizeof *r->attempts);
	c->batch_recs = memdup_n(r->batch_recs, r->n_batch_recs, sizeof *r->batch_recs);
	c->cap_batch_recs = r->n_batch_recs;
	if (!c->dir || (r->message && !c->message) || (r->syscall && !c->syscall) ||
	    (r->n_events && !c->events) || (r->n_attempts && !c->attempts) ||
	    (r->n_batch_recs && !c->batch_recs)) {
		record_done(c);
		return false;
	}
	return true;
}

static void end_done(struct ends *e, struct end *x)
{
	uint64_t id = x->r.id;
	bool start = x->start;

	if (x->joinable)
		pthread_join(x->thread, NULL);
	TAILQ_REMOVE(&e->list, x, entry);
	if (x->next)
		run(x->next);    /* the job's next write may go now */
	if (x->e_dmesg < 0)
		log_job(LOG_ERR, id, NULL, "could not write dmesg_excerpt.txt");
	if (x->e_artifacts < 0)
		log_job(LOG_ERR, id, NULL, "could not write its artifacts in %s: %s", x->r.dir,
			strerror(-x->e_artifacts));
	if (x->e_state < 0)
		log_job(LOG_ERR, id, NULL, "cannot write %s/job.json: %s", x->r.dir,
			strerror(-x->e_state));
	free(x->dmesg);
	if (x->have_cfg)
		config_done(&x->cfg);
	record_done(&x->r);
	free(x);
	if (!start)
		e->done(e->arg, id);
}

static void pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ends *e = arg;
	struct end *x;

	while (read(fd, &x, sizeof x) == (ssize_t)sizeof x)
		end_done(e, x);
}

int ends_new(struct event_base *base, void (*done)(void *arg, uint64_t id), void *arg,
	     struct ends **ret)
{
	struct ends *e = calloc(1, sizeof *e);

	if (!e)
		return -ENOMEM;
	TAILQ_INIT(&e->list);
	e->done = done;
	e->arg = arg;
	/* The loop reads without blocking; threads write blocking, so
	 * that no end is ever lost to a full pipe. */
	if (pipe2(e->fd, O_CLOEXEC) < 0) {
		free(e);
		return -errno;
	}
	fcntl(e->fd[0], F_SETFL, O_NONBLOCK);
	e->ev = event_new(base, e->fd[0], EV_READ | EV_PERSIST, pipe_cb, e);
	if (!e->ev || event_add(e->ev, NULL) < 0) {
		ends_free(e);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
}

struct ends *ends_free(struct ends *e)
{
	if (!e)
		return NULL;
	while (!TAILQ_EMPTY(&e->list)) {
		struct end *x, *got;

		/* One that is running (a chained one runs once the one
		 * before it is done). */
		TAILQ_FOREACH(x, &e->list, entry)
			if (!x->queued)
				break;
		if (x && x->joinable) {
			pthread_join(x->thread, NULL);
			x->joinable = false;
		}
		while (read(e->fd[0], &got, sizeof got) == (ssize_t)sizeof got)
			end_done(e, got);
	}
	if (e->ev)
		event_free(e->ev);
	close(e->fd[0]);
	close(e->fd[1]);
	free(e);
	return NULL;
}

/* The copies a thread works on: false when out of memory. */
static bool fill(struct end *x, struct ends *e, const struct config *cfg,
		 const struct cgroup_root *cg, const char *kmsg_status)
{
	x->owner = e;
	/* The whole configuration: container_manifest.json records it. */
	if (config_copy(&x->cfg, cfg) < 0)
		return false;
	x->have_cfg = true;
	x->cg = cg;
	snprintf(x->kmsg_status, sizeof x->kmsg_status, "%s", kmsg_status);
	return true;
}

/* Start x now, or after the job's write still in progress. */
static void submit(struct ends *e, struct end *x)
{
	struct end *last = NULL, *it;

	TAILQ_FOREACH(it, &e->list, entry)
		if (it->r.id == x->r.id)
			last = it;
	TAILQ_INSERT_TAIL(&e->list, x, entry);
	if (last) {
		while (last->next)
			last = last->next;
		last->next = x;
		x->queued = true;
		return;
	}
	run(x);
}

void ends_write_start(struct ends *e, const struct job_record *r, const struct config *cfg,
		      const struct cgroup_root *cg, const char *kmsg_status)
{
	struct end *x = calloc(1, sizeof *x);

	if (x && record_copy(&x->r, r)) {
		x->start = true;
		if (fill(x, e, cfg, cg, kmsg_status)) {
			submit(e, x);
			return;
		}
		record_done(&x->r);
	}
	free(x);
	log_job(LOG_WARNING, r->id, NULL, "out of memory: its starting artifacts are written "
		"on the loop");
	artifacts_write(r, cfg, cg, kmsg_status);
	state_save(r);
}

/* No copy, no thread: the job's own record, on the loop. */
static void end_on_loop(struct ends *e, const struct job_record *r, const struct config *cfg,
			const struct cgroup_root *cg, const char *kmsg_status, struct memlog *ml,
			char *dmesg, size_t dmesg_len)
{
	log_job(LOG_WARNING, r->id, NULL, "out of memory: its end is written on the loop");
	memlog_close(ml);
	if (dmesg)
		write_atomic_owned(r->dir, "dmesg_excerpt.txt", dmesg, dmesg_len, r->uid, r->gid,
				   0600);
	free(dmesg);
	artifacts_write(r, cfg, cg, kmsg_status);
	if (crash_at("job-end"))
		raise(SIGKILL);
	state_save(r);
	e->done(e->arg, r->id);
}

void ends_write(struct ends *e, const struct job_record *r, const struct config *cfg,
		const struct cgroup_root *cg, const char *kmsg_status, struct memlog *ml,
		char *dmesg, size_t dmesg_len)
{
	struct end *x = calloc(1, sizeof *x);

	if (x && record_copy(&x->r, r)) {
		if (fill(x, e, cfg, cg, kmsg_status)) {
			x->memlog = ml;
			x->dmesg = dmesg;
			x->dmesg_len = dmesg_len;
			submit(e, x);
			return;
		}
		record_done(&x->r);
	}
	free(x);
	end_on_loop(e, r, cfg, cg, kmsg_status, ml, dmesg, dmesg_len);
}

bool ends_pending(const struct ends *e, uint64_t id)
{
	const struct end *x;

	TAILQ_FOREACH(x, &e->list, entry)
		if (x->r.id == id && !x->start)
			return true;
	return false;
}
