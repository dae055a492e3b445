/* Pushed job events: subscribers, their bounded queues, and the hooks. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "events.h"
#include "json.h"
#include "log.h"
#include "protocol.h"
#include "util.h"

/* One message, shared by every subscriber it is queued for. */
struct msg {
	unsigned refs;
	size_t len;
	char data[];
};

struct events_sub {
	TAILQ_ENTRY(events_sub) entry;
	int fd;                      /* the connection's; not ours to close */
	uid_t uid;
	bool admin;                  /* sees every job */
	bool all;                    /* follows every job it may see */
	bool broken;                 /* a send failed: the peer is going */
	uint64_t ids[PROTOCOL_WATCH_MAX];
	size_t n_ids;
	struct msg *q[EVENTS_QUEUE_MAX];  /* ring: head, n */
	size_t head, n, bytes;
	uint64_t dropped;            /* events lost since the last "lagged" */
	int outq;                    /* bytes the peer had not read when it filled */
	struct event *ev_write, *ev_stall;
	void (*drop)(void *arg);
	void *arg;
};

/* A job whose progress event waits for EVENTS_PROGRESS_MS to pass. */
struct pending {
	TAILQ_ENTRY(pending) entry;
	struct job *job;
	uint64_t last_ms;            /* monotonic: its last progress event */
	struct event *ev;
};

static TAILQ_HEAD(, events_sub) subs = TAILQ_HEAD_INITIALIZER(subs);
static TAILQ_HEAD(, pending) pendings = TAILQ_HEAD_INITIALIZER(pendings);
/* Jobs that have ended and whose end is still being written. */
static uint64_t *ending;
static size_t n_ending, cap_ending;

static bool is_ending(uint64_t id)
{
	for (size_t i = 0; i < n_ending; i++)
		if (ending[i] == id)
			return true;
	return false;
}

static struct msg *msg_unref(struct msg *m)
{
	if (m && --m->refs == 0)
		free(m);
	return NULL;
}

static struct msg *msg_new(const char *s, size_t len)
{
	struct msg *m = malloc(sizeof *m + len + 1);

	if (!m)
		return NULL;
	m->refs = 1;
	m->len = len;
	memcpy(m->data, s, len + 1);
	return m;
}

static void clear(struct events_sub *s)
{
	while (s->n > 0) {
		s->q[s->head] = msg_unref(s->q[s->head]);
		s->head = (s->head + 1) % EVENTS_QUEUE_MAX;
		s->n--;
	}
	s->bytes = 0;
}

/* Send what the queue holds until the socket is full. */
static void flush(struct events_sub *s)
{
	while (s->n > 0 && !s->broken) {
		struct msg *m = s->q[s->head];

		if (send(s->fd, m->data, m->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			s->broken = true;    /* the read side sees it close */
			break;
		}
		s->bytes -= m->len;
		s->q[s->head] = msg_unref(m);
		s->head = (s->head + 1) % EVENTS_QUEUE_MAX;
		s->n--;
	}
	if (s->broken)
		clear(s);
	if (s->n == 0)
		event_del(s->ev_write);
	else
		event_add(s->ev_write, NULL);
}

static bool full(const struct events_sub *s, size_t len)
{
	return s->n == EVENTS_QUEUE_MAX || s->bytes + len > EVENTS_QUEUE_BYTES;
}

/* Bytes sent that the peer has not read yet. */
static int outq(const struct events_sub *s)
{
	int n = 0;

	return ioctl(s->fd, SIOCOUTQ, &n) < 0 ? 0 : n;
}

static void arm_stall(struct events_sub *s)
{
	struct timeval tv = { EVENTS_STALL_MS / 1000, (EVENTS_STALL_MS % 1000) * 1000 };

	s->outq = outq(s);
	evtimer_add(s->ev_stall, &tv);
}

/* Queue m (sending at once when nothing waits); a full queue loses it. */
static void push(struct events_sub *s, struct msg *m)
{
	if (s->broken)
		return;
	if (full(s, m->len)) {
		s->dropped++;
		if (!evtimer_pending(s->ev_stall, NULL))
			arm_stall(s);
		return;
	}
	m->refs++;
	s->q[(s->head + s->n) % EVENTS_QUEUE_MAX] = m;
	s->n++;
	s->bytes += m->len;
	if (s->n == 1)
		flush(s);
}

static void push_str(struct events_sub *s, const char *str)
{
	struct msg *m;

	if (!str || !(m = msg_new(str, strlen(str))))
		return;
	push(s, m);
	msg_unref(m);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct events_sub *s = arg;

	flush(s);
	if (s->dropped && !full(s, 128)) {
		char lag[128];

		snprintf(lag, sizeof lag, "{\"v\":%d,\"event\":\"%s\",\"t_ms\":%" PRIu64
			 ",\"dropped\":%" PRIu64 "}", PROTOCOL_VERSION, EVENT_LAGGED,
			 now_real_ms(), s->dropped);
		s->dropped = 0;
		push_str(s, lag);
	}
	if (!full(s, 4096))
		evtimer_del(s->ev_stall);
}

static void stall_cb(evutil_socket_t fd, short what, void *arg)
{
	struct events_sub *s = arg;

	if (!full(s, 4096))
		return;
	/* Still full, but the peer reads (the socket holds less than when
	 * it filled, only not yet little enough to be writable): slow, not
	 * stalled. */
	if (outq(s) < s->outq) {
		arm_stall(s);
		return;
	}
	log_msg(LOG_NOTICE, "dropping an event subscriber (uid %u): it has not read its "
		"events for %d ms", (unsigned)s->uid, EVENTS_STALL_MS);
	s->drop(s->arg);   /* frees s */
}

struct events_sub *events_sub_new(struct event_base *base, int fd, uid_t uid, bool admin,
				  void (*drop)(void *arg), void *arg)
{
	struct events_sub *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->fd = fd;
	s->uid = uid;
	s->admin = admin;
	s->drop = drop;
	s->arg = arg;
	s->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, s);
	s->ev_stall = evtimer_new(base, stall_cb, s);
	TAILQ_INSERT_TAIL(&subs, s, entry);
	if (!s->ev_write || !s->ev_stall)
		return events_sub_free(s);
	return s;
}

static void pending_free(struct pending *p)
{
	TAILQ_REMOVE(&pendings, p, entry);
	event_free(p->ev);
	free(p);
}

struct events_sub *events_sub_free(struct events_sub *s)
{
	if (!s)
		return NULL;
	TAILQ_REMOVE(&subs, s, entry);
	if (s->ev_write)
		event_free(s->ev_write);
	if (s->ev_stall)
		event_free(s->ev_stall);
	clear(s);
	free(s);
	/* Nobody left to tell: nothing waits to be told. */
	if (TAILQ_EMPTY(&subs))
		while (!TAILQ_EMPTY(&pendings))
			pending_free(TAILQ_FIRST(&pendings));
	return NULL;
}

void events_sub_send(struct events_sub *s, const char *msg)
{
	push_str(s, msg);
}

static bool follows(const struct events_sub *s, const struct job *job)
{
	if (s->all && (s->admin || job->r.uid == s->uid))
		return true;
	for (size_t i = 0; i < s->n_ids; i++)
		if (s->ids[i] == job->r.id)
			return true;
	return false;
}

static bool anyone_follows(const struct job *job)
{
	struct events_sub *s;

	TAILQ_FOREACH(s, &subs, entry)
		if (follows(s, job))
			return true;
	return false;
}

/* An event's members of its own. */
typedef void (*members_fn)(yajl_gen g, const struct job *job, const void *arg);

static struct msg *build(const struct job *job, const char *event, members_fn members,
			 const void *arg)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(false);
	const unsigned char *buf;
	size_t len;

	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	json_kint(g, "v", PROTOCOL_VERSION);
	json_kstr(g, "event", event);
	json_kuint(g, "id", job->r.id);
	json_kuint(g, "t_ms", now_real_ms());
	if (members)
		members(g, job, arg);
	json_key(g, "job");
	job_to_json(job, g);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return NULL;
	return msg_new((const char *)buf, len);
}

/* Build the event once and queue it for every subscriber following job
 * (or for only when only is not NULL). */
static void emit(const struct job *job, struct events_sub *only, const char *event,
		 members_fn members, const void *arg)
{
	struct events_sub *s;
	struct msg *m;

	if (!only && !anyone_follows(job))
		return;
	if (!(m = build(job, event, members, arg))) {
		log_job(LOG_ERR, job->r.id, NULL, "out of memory for a %s event", event);
		return;
	}
	TAILQ_FOREACH(s, &subs, entry)
		if (only ? s == only : follows(s, job))
			push(s, m);
	msg_unref(m);
}

static void state_members(yajl_gen g, const struct job *job, const void *arg)
{
	json_kstr(g, "change", arg);
	json_kstr(g, "state", job_state_to_string(job->r.state));
}

static void end_members(yajl_gen g, const struct job *job, const void *arg)
{
	json_kstr(g, "state", job_state_to_string(job->r.state));
	json_kstr(g, "end_reason", job_end_to_string(job->r.end));
	json_kstr(g, "message", job->r.message);
}

static const char *state_now(const struct job *job)
{
	return job->paused ? "paused" : job_state_to_string(job->r.state);
}

int events_sub_watch(struct events_sub *s, struct job *const *jobs, size_t n, bool all)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(false);
	_cleanup_free_ char *reply = NULL;

	for (size_t i = 0; i < n; i++) {
		bool have = false;
		for (size_t k = 0; k < s->n_ids; k++)
			have |= s->ids[k] == jobs[i]->r.id;
		if (!have && s->n_ids == PROTOCOL_WATCH_MAX)
			return -ENOSPC;
	}
	if (!g)
		return -ENOMEM;
	yajl_gen_map_open(g);
	json_kint(g, "v", PROTOCOL_VERSION);
	json_kbool(g, "ok", true);
	json_kbool(g, "all", all || s->all);
	json_key(g, "ids");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++)
		yajl_gen_integer(g, (long long)jobs[i]->r.id);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	if (!(reply = json_gen_dup(g, NULL)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bool have = false;
		for (size_t k = 0; k < s->n_ids; k++)
			have |= s->ids[k] == jobs[i]->r.id;
		if (!have)
			s->ids[s->n_ids++] = jobs[i]->r.id;
	}
	s->all |= all;
	push_str(s, reply);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->r.state > JOB_RUNNING && is_ending(jobs[i]->r.id))
			emit(jobs[i], s, EVENT_STATE, state_members, "ending");
		else if (jobs[i]->r.state > JOB_RUNNING)
			emit(jobs[i], s, EVENT_END, end_members, NULL);
		else
			emit(jobs[i], s, EVENT_STATE, state_members, state_now(jobs[i]));
	}
	return 0;
}

void events_sub_unwatch(struct events_sub *s, const uint64_t *ids, size_t n, bool all)
{
	char reply[64];

	if (all) {
		s->all = false;
		s->n_ids = 0;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < s->n_ids; k++)
			if (s->ids[k] == ids[i]) {
				s->ids[k] = s->ids[--s->n_ids];
				break;
			}
	snprintf(reply, sizeof reply, "{\"v\":%d,\"ok\":true}", PROTOCOL_VERSION);
	push_str(s, reply);
}

/* ---- hooks ---------------------------------------------------------------- */

void events_state(struct job *job, const char *change)
{
	emit(job, NULL, EVENT_STATE, state_members, change);
}

static void progress_members(yajl_gen g, const struct job *job, const void *arg)
{
	json_kuint(g, "page", job->r.page);
	json_kuint(g, "pages", job->r.pages);
	json_kuint(g, "batches", job->r.batches);
	json_kuint(g, "batches_flushed", job->r.batches_flushed);
}

static void pending_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	p->last_ms = now_mono_ms();
	emit(p->job, NULL, EVENT_PROGRESS, progress_members, NULL);
}

void events_progress(struct job *job)
{
	uint64_t now = now_mono_ms();
	struct pending *p;

	if (!anyone_follows(job))
		return;
	TAILQ_FOREACH(p, &pendings, entry)
		if (p->job == job)
			break;
	if (!p) {
		if (!(p = calloc(1, sizeof *p)) ||
		    !(p->ev = evtimer_new(job->base, pending_cb, p))) {
			free(p);
			return;
		}
		p->job = job;
		TAILQ_INSERT_TAIL(&pendings, p, entry);
	}
	if (evtimer_pending(p->ev, NULL))
		return;   /* coalesced into the one already due */
	if (now - p->last_ms >= EVENTS_PROGRESS_MS) {
		p->last_ms = now;
		emit(job, NULL, EVENT_PROGRESS, progress_members, NULL);
	} else {
		uint64_t wait = EVENTS_PROGRESS_MS - (now - p->last_ms);
		struct timeval tv = { 0, (suseconds_t)wait * 1000 };
		evtimer_add(p->ev, &tv);
	}
}

static void memory_members(yajl_gen g, const struct job *job, const void *arg)
{
	const struct job_event *e = arg;

	json_kstr(g, "name", e->name);
	json_kuint(g, "count", e->count);
	json_kuint(g, "page", e->page);
	json_kuint(g, "batch_id", e->batch_id);
}

void events_check(struct job *job)
{
	size_t n0 = job->r.n_events;

	job_check_events(job);
	for (size_t i = n0; i < job->r.n_events; i++)
		emit(job, NULL, EVENT_MEMORY, memory_members, &job->r.events[i]);
}

static void pressure_members(yajl_gen g, const struct job *job, const void *arg)
{
	json_kstr(g, "action", arg);
}

void events_pressure(struct job *job, const char *action)
{
	emit(job, NULL, EVENT_PRESSURE, pressure_members, action);
}

static void sample_members(yajl_gen g, const struct job *job, const void *arg)
{
	json_kdouble(g, "rss_mb", (double)job->last_rss / 1048576.0);
	json_kdouble(g, "cgroup_mb", (double)job->r.cgstats.current / 1048576.0);
	json_kdouble(g, "psi_some_avg10", job->last_psi_some);
}

void events_sample(struct job *job)
{
	emit(job, NULL, EVENT_SAMPLE, sample_members, NULL);
}

void events_ending(struct job *job)
{
	if (n_ending == cap_ending) {
		size_t nc = cap_ending ? 2 * cap_ending : 16;
		uint64_t *p = realloc(ending, nc * sizeof *p);
		if (!p)
			return;   /* a watch meanwhile would see its end early */
		ending = p;
		cap_ending = nc;
	}
	ending[n_ending++] = job->r.id;
}

void events_end(struct job *job)
{
	struct pending *p;

	for (size_t i = 0; i < n_ending; i++)
		if (ending[i] == job->r.id) {
			ending[i] = ending[--n_ending];
			break;
		}
	if (n_ending == 0) {
		free(ending);
		ending = NULL;
		cap_ending = 0;
	}

	TAILQ_FOREACH(p, &pendings, entry)
		if (p->job == job) {
			pending_free(p);
			break;
		}
	emit(job, NULL, EVENT_END, end_members, NULL);
}
