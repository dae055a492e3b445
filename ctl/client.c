/* memsafectl's side of the socket: connect, send a request, read the reply. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "json.h"
#include "protocol.h"
#include "util.h"

struct client {
	int fd;
	char buf[PROTOCOL_MAX_MSG + 1];
};

int client_connect(const char *path, struct client **ret, char *err, size_t errsz)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client *c;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errsz, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			snprintf(err, errsz, "memsafed is not running (nothing listens on %s); "
				 "start it with `systemctl start memsafed` or pass --socket", path);
		else if (e == EACCES)
			snprintf(err, errsz, "permission denied on %s: join the memsafe group "
				 "(usermod -aG memsafe $USER, then log in again)", path);
		else
			snprintf(err, errsz, "cannot connect to %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	c = malloc(sizeof *c);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	*ret = c;
	return 0;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int client_send(struct client *c, const char *req, char *err, size_t errsz)
{
	if (send(c->fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
		snprintf(err, errsz, "sending to memsafed failed: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int client_recv(struct client *c, int timeout_ms, yajl_val *ret, char *err, size_t errsz)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	ssize_t n;
	int k = poll(&p, 1, timeout_ms);

	if (k < 0 && errno == EINTR)
		return -EINTR;
	if (k == 0)
		return -ETIMEDOUT;
	do
		n = recv(c->fd, c->buf, sizeof c->buf - 1, MSG_TRUNC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return -ETIMEDOUT;
	if (n > (ssize_t)sizeof c->buf - 1) {
		snprintf(err, errsz, "a message from memsafed (%zd bytes) is larger than a "
			 "message may be (%d bytes)", n, PROTOCOL_MAX_MSG);
		return -EMSGSIZE;
	}
	if (n <= 0) {
		snprintf(err, errsz, "memsafed closed the connection%s%s (it stopped, or "
			 "dropped us for reading its events too slowly)",
			 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		return n < 0 ? -errno : -ECONNRESET;
	}
	return json_parse(c->buf, (size_t)n, ret, err, errsz);
}

int client_call(struct client *c, const char *req, int fd, uint64_t timeout_ms,
		yajl_val *ret, char *err, size_t errsz)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { (void *)req, strlen(req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof cm.buf;
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
	}
	if (sendmsg(c->fd, &mh, MSG_NOSIGNAL) < 0) {
		int e = errno;
		/* A daemon at a limit answers at accept and closes: its reply
		 * is waiting even though the send failed. */
		n = recv(c->fd, c->buf, sizeof c->buf - 1, MSG_DONTWAIT);
		if (n > 0)
			return json_parse(c->buf, (size_t)n, ret, err, errsz);
		snprintf(err, errsz, "sending to memsafed failed: %s", strerror(e));
		return -e;
	}
	if (fd < 0) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int timeout = timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms, k;

		do
			k = poll(&p, 1, timeout);
		while (k < 0 && errno == EINTR);
		if (k == 0) {
			snprintf(err, errsz, "memsafed did not answer within %.1f s: it may be "
				 "stopping or overloaded (`journalctl -u memsafed` tells); try "
				 "again, or wait longer with --reply-timeout",
				 (double)timeout_ms / 1000.0);
			return -ETIMEDOUT;
		}
	}
	/* MSG_TRUNC: learn the real length of a reply too big for us. */
	do
		n = recv(c->fd, c->buf, sizeof c->buf - 1, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n > (ssize_t)sizeof c->buf - 1) {
		snprintf(err, errsz, "memsafed's reply (%zd bytes) is larger than a message may "
			 "be (%d bytes); for `list`, memsafed knows too many jobs to describe "
			 "in one reply", n, PROTOCOL_MAX_MSG);
		return -EMSGSIZE;
	}
	if (n <= 0) {
		snprintf(err, errsz, "memsafed closed the connection without replying%s%s",
			 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		return n < 0 ? -errno : -ECONNRESET;
	}
	return json_parse(c->buf, (size_t)n, ret, err, errsz);
}
