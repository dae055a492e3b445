/* The control socket: connections, peer credentials, limits and requests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "events.h"
#include "json.h"
#include "log.h"
#include "protocol.h"
#include "server.h"
#include "spool.h"
#include "submit.h"
#include "util.h"

/* Connections kept for root and the admin group (a quarter of
 * max_connections when that is smaller). */
#define ADMIN_CONNECTIONS 4

/* Per-connection state. */
struct conn {
	TAILQ_ENTRY(conn) entry;
	struct server *srv;
	int fd;
	struct event *ev;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool admin;        /* root or member of admin_group: sees every job */
	struct job *pending; /* a submit whose document is still spooling */
	struct events_sub *sub; /* after a watch: the events it is sent */
	uint64_t waiting_end; /* a reply about this job waits for its end on disk */
};

struct server {
	struct event_base *base;
	struct jobs *jobs;
	const struct config *cfg;
	int fd;
	bool activated;
	bool stopped;       /* server_stop_accepting: never accept again */
	struct event *ev_accept, *ev_backoff;
	TAILQ_HEAD(, conn) conns;
	unsigned nconns;
	char *bound_path;   /* unlinked at exit when we made it */
	char buf[PROTOCOL_MAX_MSG + 1];
};

bool server_activated(const struct server *srv) { return srv->activated; }

static void conn_send(struct conn *c, const char *msg)
{
	/* A peer that does not read its replies loses them, not us. A
	 * subscriber's replies keep their place among its events. */
	if (c->sub)
		events_sub_send(c->sub, msg);
	else if (send(c->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_msg(LOG_DEBUG, "reply to pid %d lost: %s", (int)c->pid, strerror(errno));
}

static void conn_error(struct conn *c, const char *code, const char *fmt, ...) _printf_(3, 4);
static void conn_error(struct conn *c, const char *code, const char *fmt, ...)
{
	char msg[512];
	_cleanup_free_ char *reply = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	reply = protocol_error_reply(code, msg);
	if (reply)
		conn_send(c, reply);
}

static yajl_gen reply_begin(void)
{
	yajl_gen g = json_gen_new(false);

	yajl_gen_map_open(g);
	json_kint(g, "v", PROTOCOL_VERSION);
	json_kbool(g, "ok", true);
	return g;
}

static void reply_end(struct conn *c, yajl_gen g)
{
	_cleanup_free_ char *s = NULL;

	yajl_gen_map_close(g);
	s = json_gen_dup(g, NULL);
	yajl_gen_free(g);
	if (s)
		conn_send(c, s);
}

static void conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	event_free(c->ev);
	free(c);
}

static void conn_close(struct conn *c)
{
	struct server *srv = c->srv;
	struct timeval zero = { 0, 0 };

	if (c->pending)
		submit_abandon(c->pending);
	c->sub = events_sub_free(c->sub);
	event_del(c->ev);
	close(c->fd);
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nconns--;
	/* Our own callback may be running: free after it returns. */
	if (event_base_once(srv->base, -1, EV_TIMEOUT, conn_free_cb, c, &zero) < 0)
		conn_free_cb(-1, 0, c);
	if (srv->ev_accept && !srv->stopped && !event_pending(srv->ev_accept, EV_READ, NULL) &&
	    !event_pending(srv->ev_backoff, EV_TIMEOUT, NULL) && srv->fd >= 0)
		event_add(srv->ev_accept, NULL);
}

static bool conn_may_see(const struct conn *c, const struct job *job)
{
	return c->admin || job->r.uid == c->uid;
}

static void reply_job(struct conn *c, const struct job *job)
{
	yajl_gen g = reply_begin();

	json_kuint(g, "id", job->r.id);
	json_key(g, "job");
	job_to_json(job, g);
	reply_end(c, g);
}

static void submitted_cb(struct job *job, int error, const char *code, const char *msg,
			 void *arg)
{
	struct conn *c = arg;

	c->pending = NULL;
	if (error < 0) {
		conn_error(c, code, "%s", msg);
		return;
	}
	reply_job(c, job);
}

/* Find a job the peer may see; a job of someone else's reads as absent. */
static struct job *conn_job(struct conn *c, uint64_t id)
{
	struct job *job = jobs_find(c->srv->jobs, id);

	if (!job || !conn_may_see(c, job)) {
		conn_error(c, ERR_NOT_FOUND, "no job %" PRIu64 " (or it is not yours); "
			   "`memsafectl list` shows your jobs", id);
		return NULL;
	}
	return job;
}

/* The jobs the peer may see, newest first until the reply would not fit
 * in one message, then sent oldest first; "omitted" counts the older ones
 * left out (status still answers for each of them). */
static void reply_list(struct conn *c)
{
	enum { BUDGET = PROTOCOL_MAX_MSG - 1024 };
	struct job *job;
	char **parts = NULL, *out, hdr[96];
	size_t n = 0, cap = 0, total = 0, omitted = 0;

	for (job = jobs_last(c->srv->jobs); job; job = jobs_prev(job)) {
		_cleanup_json_gen_ yajl_gen g = NULL;
		char *s;
		size_t len;

		if (!conn_may_see(c, job))
			continue;
		if (total >= BUDGET) {
			omitted++;
			continue;
		}
		g = json_gen_new(false);
		job_to_json(job, g);
		s = json_gen_dup(g, &len);
		if (!s || total + len + 1 > BUDGET) {
			free(s);
			total = BUDGET;
			omitted++;
			continue;
		}
		if (n == cap) {
			char **p = realloc(parts, (cap = cap ? cap * 2 : 64) * sizeof *parts);
			if (!p) {
				free(s);
				break;
			}
			parts = p;
		}
		parts[n++] = s;
		total += len + 1;
	}
	snprintf(hdr, sizeof hdr, "{\"v\":%d,\"ok\":true,\"omitted\":%zu,\"jobs\":[",
		 PROTOCOL_VERSION, omitted);
	out = malloc(strlen(hdr) + total + 3);
	if (out) {
		char *p = stpcpy(out, hdr);
		for (size_t i = n; i-- > 0;) {
			p = stpcpy(p, parts[i]);
			if (i)
				*p++ = ',';
		}
		strcpy(p, "]}");
		conn_send(c, out);
		free(out);
	}
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	free(parts);
}

static void sub_drop(void *arg)
{
	conn_close(arg);
}

/* watch and unwatch: named jobs must be the peer's, as for status. */
/* A job whose end is being written is answered for once it is on disk:
 * a status that says "done" means summary.json says so too. The
 * connection reads nothing more meanwhile (replies stay in order). */
static void reply_job_when_written(struct conn *c, struct job *job)
{
	if (!job->ending) {
		reply_job(c, job);
		return;
	}
	c->waiting_end = job->r.id;
	event_del(c->ev);
}

static void job_ended_cb(void *arg, struct job *job)
{
	struct server *srv = arg;
	struct conn *c;

	TAILQ_FOREACH(c, &srv->conns, entry)
		if (c->waiting_end == job->r.id) {
			c->waiting_end = 0;
			reply_job(c, job);
			event_add(c->ev, NULL);
		}
}

static void handle_watch(struct conn *c, const struct request *rq)
{
	struct job *jobs[PROTOCOL_WATCH_MAX];
	int r;

	for (size_t i = 0; i < rq->n_ids; i++)
		if (!(jobs[i] = conn_job(c, rq->ids[i])))
			return;
	if (!c->sub && !(c->sub = events_sub_new(c->srv->base, c->fd, c->uid, c->admin,
						 sub_drop, c))) {
		conn_error(c, ERR_INTERNAL, "out of memory");
		return;
	}
	if (rq->op == OP_UNWATCH)
		events_sub_unwatch(c->sub, rq->ids, rq->n_ids, rq->all);
	else if ((r = events_sub_watch(c->sub, jobs, rq->n_ids, rq->all)) < 0)
		conn_error(c, r == -ENOSPC ? ERR_LIMIT : ERR_INTERNAL, r == -ENOSPC ?
			   "a connection may watch at most %d jobs by id; watch \"all\" instead" :
			   "out of memory", PROTOCOL_WATCH_MAX);
}

static void handle(struct conn *c, const struct request *rq, int fd)
{
	struct server *srv = c->srv;
	struct job *job;
	const char *code;
	char msg[512];
	int r;

	switch (rq->op) {
	case OP_PING: {
		yajl_gen g = reply_begin();
		json_kstr(g, "version", PACKAGE_VERSION);
		json_kint(g, "pid", getpid());
		json_kuint(g, "running", jobs_running(srv->jobs));
		json_kuint(g, "queued", jobs_queued(srv->jobs));
		reply_end(c, g);
		break;
	}
	case OP_STATUS:
		if ((job = conn_job(c, rq->id)))
			reply_job_when_written(c, job);
		break;
	case OP_LIST:
		reply_list(c);
		break;
	case OP_WATCH:
	case OP_UNWATCH:
		handle_watch(c, rq);
		break;
	case OP_CANCEL:
		if (!(job = conn_job(c, rq->id)))
			break;
		if (jobs_cancel(job) == -EALREADY) {
			conn_error(c, ERR_BAD_REQUEST, "job %" PRIu64 " has already ended (%s)",
				   job->r.id, job_state_to_string(job->r.state));
			break;
		}
		reply_job_when_written(c, job);
		break;
	case OP_SUBMIT:
	case OP_PRESSURE:
		if (rq->op == OP_SUBMIT && fd < 0) {
			conn_error(c, ERR_BAD_FD, "submit needs the document as a passed "
				   "file descriptor (SCM_RIGHTS); memsafectl submit does this");
			break;
		}
		if (c->pending) {
			conn_error(c, ERR_LIMIT, "one submit at a time per connection");
			break;
		}
		r = submit_job(srv->jobs, rq, c->uid, c->gid, c->admin, rq->op == OP_SUBMIT ? fd : -1,
				&job, &code, msg, sizeof msg);
		if (r < 0) {
			conn_error(c, code, "%s", msg);
			break;
		}
		if (rq->op == OP_SUBMIT)
			fd = -1; /* the job owns it now */
		if (r == 1) {
			reply_job(c, job);
		} else {
			c->pending = job;
			job->submitted = submitted_cb;
			job->submitted_arg = c;
		}
		break;
	}
	if (fd >= 0)
		close(fd);
}

static void conn_cb(evutil_socket_t sfd, short what, void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct iovec iov = { srv->buf, sizeof srv->buf };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
	struct request rq;
	const char *code;
	char msg[256];
	int fds[4], nfds = 0, fd = -1;
	ssize_t n;

	n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fds + nfds, CMSG_DATA(h), MIN(k, (size_t)(4 - nfds)) * sizeof(int));
		nfds += (int)MIN(k, (size_t)(4 - nfds));
	}
	if (nfds > 0)
		fd = fds[0];
	for (int i = 1; i < nfds; i++)
		close(fds[i]);
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (fd >= 0)
			close(fd);
		conn_error(c, mh.msg_flags & MSG_TRUNC ? ERR_BAD_REQUEST : ERR_BAD_FD,
			   mh.msg_flags & MSG_TRUNC ? "message larger than %d bytes" :
			   "too many file descriptors (at most one, the document)",
			   PROTOCOL_MAX_MSG);
		return;
	}
	if (protocol_parse_request(srv->buf, (size_t)n, &rq, &code, msg, sizeof msg) < 0) {
		if (fd >= 0)
			close(fd);
		conn_error(c, code, "%s", msg);
		return;
	}
	if (fd >= 0 && rq.op != OP_SUBMIT) {
		close(fd);
		fd = -1;
	}
	handle(c, &rq, fd);
}

/* Root and members of admin_group see every job. */
static bool peer_is_admin(const struct config *cfg, const struct ucred *cr)
{
	struct group *gr;
	char path[64], buf[4096], *p;

	if (cr->uid == 0)
		return true;
	if (!cfg->admin_group || !(gr = getgrnam(cfg->admin_group)))
		return false;
	if (cr->gid == gr->gr_gid)
		return true;
	snprintf(path, sizeof path, "/proc/%d/status", (int)cr->pid);
	if (read_small_file(path, buf, sizeof buf) < 0 || !(p = strstr(buf, "\nGroups:")))
		return false;
	for (p += 8; *p && *p != '\n';) {
		char *e;
		unsigned long g = strtoul(p, &e, 10);
		if (e == p)
			break;
		if (g == gr->gr_gid)
			return true;
		p = e;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	return false;
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	if (srv->fd >= 0 && !srv->stopped)
		event_add(srv->ev_accept, NULL);
}

/* The connections a peer may find open and still be served. The last few
 * are kept for root and the admin group, so that users who together fill
 * max_connections cannot lock out the people who could stop them. */
static unsigned max_conns(const struct config *cfg, bool admin)
{
	unsigned kept = MIN(ADMIN_CONNECTIONS, cfg->max_connections / 4);

	return admin ? cfg->max_connections : cfg->max_connections - kept;
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct server *srv = arg;
	struct ucred cr;
	socklen_t len = sizeof cr;
	struct conn *c, *it;
	unsigned mine = 0;
	bool admin;
	int fd;

	fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Out of fds: stop accepting for a second instead of
			 * spinning on a listen socket that stays readable. */
			struct timeval tv = { 1, 0 };
			log_msg(LOG_WARNING, "accept: %s; pausing new connections for 1 s",
				strerror(errno));
			event_del(srv->ev_accept);
			event_add(srv->ev_backoff, &tv);
		}
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		close(fd);
		return;
	}
	TAILQ_FOREACH(it, &srv->conns, entry)
		if (it->uid == cr.uid)
			mine++;
	admin = peer_is_admin(srv->cfg, &cr);
	if (srv->nconns >= max_conns(srv->cfg, admin) ||
	    (cr.uid != 0 && mine >= srv->cfg->max_connections_per_user)) {
		char *reply = protocol_error_reply(ERR_LIMIT, srv->nconns >= max_conns(srv->cfg, admin) ?
			"memsafed has too many connections; try again shortly" :
			"you have too many connections to memsafed open; close some");
		if (reply)
			(void)!send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
		free(reply);
		/* Closing with the client's request unread would reset the
		 * connection and discard our reply on its side: drain first. */
		while (recv(fd, srv->buf, sizeof srv->buf, MSG_DONTWAIT) > 0)
			;
		close(fd);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->uid = cr.uid;
	c->gid = cr.gid;
	c->pid = cr.pid;
	c->admin = admin;
	c->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_cb, c);
	if (!c->ev) {
		close(fd);
		free(c);
		return;
	}
	event_add(c->ev, NULL);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
}

/* Bind the socket ourselves: 0660, group socket_group when it exists. */
static int bind_socket(struct server *srv, char **err)
{
	const char *path = srv->cfg->socket_path;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	struct group *gr;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof sa.sun_path) {
		if (asprintf(err, "socket path %s is longer than %zu bytes", path,
			     sizeof sa.sun_path - 1) < 0)
			*err = NULL;
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	snprintf(dir, sizeof dir, "%s", path);
	if ((r = mkdir_p(dirname(dir), 0755)) < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	/* A socket file with nobody listening is stale; a live one means
	 * another memsafed is running. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
		close(fd);
		if (asprintf(err, "another memsafed is already listening on %s", path) < 0)
			*err = NULL;
		return -EADDRINUSE;
	}
	if (errno == ECONNREFUSED)
		unlink(path);
	old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		goto fail;
	}
	if (geteuid() == 0 && srv->cfg->socket_group && (gr = getgrnam(srv->cfg->socket_group)))
		(void)!chown(path, 0, gr->gr_gid);
	srv->bound_path = strdup(path);
	srv->fd = fd;
	return 0;
fail:
	if (asprintf(err, "cannot listen on %s: %s", path, strerror(-r)) < 0)
		*err = NULL;
	return r;
}

int server_new(struct event_base *base, struct jobs *jobs, const struct config *cfg,
	       struct server **ret, char **err)
{
	struct server *srv = calloc(1, sizeof *srv);
	int n, r;

	if (!srv)
		return -ENOMEM;
	srv->base = base;
	srv->jobs = jobs;
	jobs_set_ended_cb(jobs, job_ended_cb, srv);
	srv->cfg = cfg;
	srv->fd = -1;
	TAILQ_INIT(&srv->conns);
	n = sd_listen_fds(1);
	if (n > 1) {
		if (asprintf(err, "systemd passed %d sockets; memsafed.socket should pass one", n) < 0)
			*err = NULL;
		free(srv);
		return -EINVAL;
	}
	if (n == 1) {
		if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
			if (asprintf(err, "the socket systemd passed is not a listening "
				     "AF_UNIX SOCK_SEQPACKET socket") < 0)
				*err = NULL;
			free(srv);
			return -EINVAL;
		}
		srv->fd = SD_LISTEN_FDS_START;
		srv->activated = true;
		fcntl(srv->fd, F_SETFD, FD_CLOEXEC);
		evutil_make_socket_nonblocking(srv->fd);
	} else if ((r = bind_socket(srv, err)) < 0) {
		free(srv);
		return r;
	}
	srv->ev_accept = event_new(base, srv->fd, EV_READ | EV_PERSIST, accept_cb, srv);
	srv->ev_backoff = evtimer_new(base, backoff_cb, srv);
	if (!srv->ev_accept || !srv->ev_backoff) {
		server_free(srv);
		return -ENOMEM;
	}
	event_add(srv->ev_accept, NULL);
	*ret = srv;
	return 0;
}

void server_stop_accepting(struct server *srv)
{
	srv->stopped = true;
	event_del(srv->ev_accept);
	event_del(srv->ev_backoff);
}

struct server *server_free(struct server *srv)
{
	struct conn *c;

	if (!srv)
		return NULL;
	jobs_set_ended_cb(srv->jobs, NULL, NULL);
	while ((c = TAILQ_FIRST(&srv->conns))) {
		if (c->pending)
			c->pending->submitted = NULL;
		c->sub = events_sub_free(c->sub);
		TAILQ_REMOVE(&srv->conns, c, entry);
		close(c->fd);
		event_free(c->ev);
		free(c);
	}
	if (srv->ev_accept)
		event_free(srv->ev_accept);
	if (srv->ev_backoff)
		event_free(srv->ev_backoff);
	if (srv->fd >= 0)
		close(srv->fd);
	if (srv->bound_path) {
		unlink(srv->bound_path);
		free(srv->bound_path);
	}
	free(srv);
	return NULL;
}
