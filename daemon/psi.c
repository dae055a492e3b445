/* PSI triggers in one epoll fd, watched from the event loop. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "procfs.h"
#include "psi.h"
#include "util.h"

/* How often the trigger epoll is asked for events. */
#define PSI_POLL_MS 100

struct psi_watch {
	int epfd;
	struct event *ev;
};

struct psi_trigger {
	struct psi_watch *w;
	int fd;
	psi_fn fn;
	void *arg;
};

static void epoll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct psi_watch *w = arg;
	struct epoll_event evs[16];
	int n = epoll_wait(w->epfd, evs, ARRAY_SIZE(evs), 0);

	for (int i = 0; i < n; i++) {
		struct psi_trigger *t = evs[i].data.ptr;
		bool gone = evs[i].events & EPOLLERR;

		/* A dead trigger stays readable forever: stop watching it. */
		if (gone)
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, t->fd, NULL);
		t->fn(t->arg, gone);
	}
}

int psi_watch_new(struct event_base *base, struct psi_watch **ret)
{
	struct psi_watch *w = calloc(1, sizeof *w);

	if (!w)
		return -ENOMEM;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		int r = -errno;
		free(w);
		return r;
	}
	/* The epoll fd is asked from a timer, never watched for EV_READ by
	 * libevent's own epoll: a PSI trigger's poll() clears its event
	 * (psi_trigger_poll's cmpxchg), so when the outer epoll checks the
	 * inner one for readiness the event is consumed there and our
	 * epoll_wait then finds nothing. Seen on Debian's 6.1 in the VM:
	 * the outer epoll woke, the inner returned 0 events, every time. */
	w->ev = event_new(base, -1, EV_PERSIST, epoll_cb, w);
	struct timeval tv = { 0, PSI_POLL_MS * 1000 };
	if (!w->ev || event_add(w->ev, &tv) < 0) {
		psi_watch_free(w);
		return -ENOMEM;
	}
	*ret = w;
	return 0;
}

struct psi_watch *psi_watch_free(struct psi_watch *w)
{
	if (!w)
		return NULL;
	if (w->ev)
		event_free(w->ev);
	close(w->epfd);
	free(w);
	return NULL;
}

int psi_trigger_add(struct psi_watch *w, int dirfd, const char *name,
		    uint64_t threshold_us, uint64_t window_us, psi_fn fn, void *arg,
		    struct psi_trigger **ret)
{
	struct epoll_event ev = { .events = EPOLLPRI };
	struct psi_trigger *t;
	bool opened;
	int fd, r;

	if ((r = procfs_psi_trigger(dirfd, name, threshold_us, window_us, &fd, &opened)) < 0)
		return r;
	t = calloc(1, sizeof *t);
	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	*t = (struct psi_trigger){ .w = w, .fd = fd, .fn = fn, .arg = arg };
	ev.data.ptr = t;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		r = -errno;
		close(fd);
		free(t);
		return r;
	}
	*ret = t;
	return 0;
}

struct psi_trigger *psi_trigger_free(struct psi_trigger *t)
{
	if (!t)
		return NULL;
	epoll_ctl(t->w->epfd, EPOLL_CTL_DEL, t->fd, NULL);
	close(t->fd);
	free(t);
	return NULL;
}
