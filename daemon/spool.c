#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <glib.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "spool.h"
#include "util.h"

struct spool {
	struct event *ev;
	int src, dst;
	bool is_pipe;
	uint64_t size, max;
	size_t chunk;
	struct timeval idle;
	GChecksum *sum;
	char hex[65];
	char *buf;
	spool_done_fn done;
	void *arg;
};

static void finish(struct spool *sp, int error, const char *msg)
{
	event_del(sp->ev);
	if (error == 0) {
		snprintf(sp->hex, sizeof sp->hex, "%s", g_checksum_get_string(sp->sum));
		if (fsync(sp->dst) < 0) {
			error = -errno;
			msg = "could not write the spool file to disk";
		}
	}
	free(sp->buf);
	sp->buf = NULL;
	sp->done(sp, error, msg, sp->arg);
}

static void spool_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	char msg[256];
	ssize_t n;

	if (what & EV_TIMEOUT && sp->is_pipe) {
		snprintf(msg, sizeof msg, "the pipe sent nothing for %ld s; "
			 "close its write end when the document is complete",
			 (long)sp->idle.tv_sec);
		finish(sp, -ETIMEDOUT, msg);
		return;
	}
	do
		n = read(sp->src, sp->buf, sp->chunk);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		event_add(sp->ev, &sp->idle);
		return;
	}
	if (n < 0) {
		snprintf(msg, sizeof msg, "reading the document failed: %s", strerror(errno));
		finish(sp, -errno, msg);
		return;
	}
	if (n == 0) {
		finish(sp, 0, NULL);
		return;
	}
	if (sp->size + (uint64_t)n > sp->max) {
		snprintf(msg, sizeof msg, "the document is larger than max_file_size "
			 "(%" PRIu64 " bytes); split it or raise max_file_size in "
			 "memsafed.conf", sp->max);
		finish(sp, -EFBIG, msg);
		return;
	}
	if (write_full(sp->dst, sp->buf, (size_t)n) < 0) {
		snprintf(msg, sizeof msg, "writing the spool failed: %s "
			 "(is the state directory's disk full?)", strerror(errno));
		finish(sp, -EIO, msg);
		return;
	}
	g_checksum_update(sp->sum, (const guchar *)sp->buf, n);
	sp->size += (uint64_t)n;
	/* Regular files are always readable: yield to the loop between
	 * buffers with a zero timeout. */
	if (sp->is_pipe) {
		event_add(sp->ev, &sp->idle);
	} else {
		struct timeval zero = { 0, 0 };
		event_add(sp->ev, &zero);
	}
}

int spool_start(struct event_base *base, int src_fd, int dst_fd, uint64_t max_size,
		size_t chunk_size, uint64_t idle_timeout_ms, spool_done_fn done,
		void *arg, struct spool **ret, char *msg, size_t msgsz)
{
	struct spool *sp;
	struct stat st;
	int fl;

	if (fstat(src_fd, &st) < 0) {
		snprintf(msg, msgsz, "the passed file descriptor cannot be examined: %s",
			 strerror(errno));
		return -EBADF;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		snprintf(msg, msgsz, "the document is %s; pass a regular file or a pipe",
			 S_ISDIR(st.st_mode) ? "a directory" :
			 S_ISSOCK(st.st_mode) ? "a socket" :
			 S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" :
			 "not a regular file");
		return -EINVAL;
	}
	fl = fcntl(src_fd, F_GETFL);
	if (fl < 0 || ((fl & O_ACCMODE) != O_RDONLY && (fl & O_ACCMODE) != O_RDWR)) {
		snprintf(msg, msgsz, "the passed file descriptor is not open for reading");
		return -EBADF;
	}
	if (S_ISFIFO(st.st_mode) && !(fl & O_NONBLOCK) &&
	    fcntl(src_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		snprintf(msg, msgsz, "cannot make the pipe non-blocking: %s", strerror(errno));
		return -errno;
	}
	sp = calloc(1, sizeof *sp);
	if (!sp) {
		snprintf(msg, msgsz, "memsafed ran out of memory");
		return -ENOMEM;
	}
	sp->src = src_fd;
	sp->dst = dst_fd;
	sp->is_pipe = S_ISFIFO(st.st_mode);
	sp->max = max_size;
	sp->chunk = chunk_size;
	sp->idle.tv_sec = (time_t)(idle_timeout_ms / 1000);
	sp->idle.tv_usec = (suseconds_t)(idle_timeout_ms % 1000) * 1000;
	sp->done = done;
	sp->arg = arg;
	sp->buf = malloc(chunk_size);
	sp->sum = g_checksum_new(G_CHECKSUM_SHA256);
	sp->ev = event_new(base, sp->is_pipe ? src_fd : -1, sp->is_pipe ? EV_READ : 0,
			   spool_cb, sp);
	if (!sp->buf || !sp->ev) {
		spool_free(sp);
		snprintf(msg, msgsz, "memsafed ran out of memory");
		return -ENOMEM;
	}
	if (sp->is_pipe) {
		event_add(sp->ev, &sp->idle);
	} else {
		struct timeval zero = { 0, 0 };
		event_add(sp->ev, &zero);
	}
	*ret = sp;
	return 0;
}

struct spool *spool_free(struct spool *sp)
{
	if (!sp)
		return NULL;
	if (sp->ev)
		event_free(sp->ev);
	if (sp->sum)
		g_checksum_free(sp->sum);
	free(sp->buf);
	free(sp);
	return NULL;
}

uint64_t spool_size(const struct spool *sp) { return sp->size; }
const char *spool_sha256(const struct spool *sp) { return sp->hex; }
