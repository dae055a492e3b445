/* Length-prefixed frames from the worker: reading, capping, writing, type names. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <string.h>
#include <sys/uio.h>

#include "frame.h"
#include "util.h"

void frame_reader_init(struct frame_reader *fr, size_t max)
{
	*fr = (struct frame_reader){ .max = max };
}

void frame_reader_done(struct frame_reader *fr)
{
	free(fr->buf);
	*fr = (struct frame_reader){0};
}

static int reserve(struct frame_reader *fr, size_t extra)
{
	size_t want = fr->len + extra, cap = fr->cap ? fr->cap : 65536;
	uint8_t *p;

	if (want <= fr->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	p = realloc(fr->buf, cap);
	if (!p)
		return -ENOMEM;
	fr->buf = p;
	fr->cap = cap;
	return 0;
}

int frame_reader_feed(struct frame_reader *fr, const void *data, size_t len)
{
	int r = reserve(fr, len);

	if (r < 0)
		return r;
	memcpy(fr->buf + fr->len, data, len);
	fr->len += len;
	return 0;
}

ssize_t frame_reader_fill(struct frame_reader *fr, int fd)
{
	ssize_t n;
	int r = reserve(fr, 65536);

	if (r < 0)
		return r;
	do
		n = read(fd, fr->buf + fr->len, fr->cap - fr->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	fr->len += (size_t)n;
	return n;
}

int frame_reader_next(struct frame_reader *fr, const char **body, size_t *len)
{
	size_t n;

	/* Drop the frame handed out last time: its body was valid until now. */
	if (fr->taken) {
		memmove(fr->buf, fr->buf + fr->taken, fr->len - fr->taken);
		fr->len -= fr->taken;
		fr->taken = 0;
	}
	if (fr->len < FRAME_HEADER)
		return 0;
	n = (size_t)fr->buf[0] << 24 | (size_t)fr->buf[1] << 16 |
	    (size_t)fr->buf[2] << 8 | fr->buf[3];
	if (n == 0)
		return -EBADMSG;
	if (n > fr->max)
		return -EMSGSIZE;
	if (fr->len - FRAME_HEADER < n)
		return 0;
	*body = (const char *)fr->buf + FRAME_HEADER;
	*len = n;
	fr->taken = FRAME_HEADER + n;
	return 1;
}

int frame_write(int fd, const void *body, size_t len)
{
	uint8_t hdr[FRAME_HEADER] = { len >> 24, len >> 16, len >> 8, len };
	struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *)body, len } };
	size_t total = sizeof hdr + len;
	ssize_t n;

	if (len == 0 || len > UINT32_MAX)
		return -EINVAL;
	do
		n = writev(fd, iov, 2);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n == total)
		return 0;
	/* A short write into a pipe: finish byte-exactly. */
	if ((size_t)n < sizeof hdr) {
		int r = write_full(fd, hdr + n, sizeof hdr - (size_t)n);
		if (r < 0)
			return r;
		return write_full(fd, body, len);
	}
	return write_full(fd, (const char *)body + (n - (ssize_t)sizeof hdr),
			  total - (size_t)n);
}

static const char *const frame_type_table[_FRAME_TYPE_MAX] = {
	[FRAME_DOC] = "doc", [FRAME_PAGE] = "page", [FRAME_BATCH] = "batch",
	[FRAME_PAGE_ERROR] = "page_error", [FRAME_PRESSURE] = "pressure",
	[FRAME_END] = "end", [FRAME_FATAL] = "fatal",
};

const char *frame_type_to_string(enum frame_type t)
{
	return (unsigned)t < _FRAME_TYPE_MAX ? frame_type_table[t] : NULL;
}

int frame_type_from_string(const char *s)
{
	for (int t = 0; s && t < _FRAME_TYPE_MAX; t++)
		if (strcmp(frame_type_table[t], s) == 0)
			return t;
	return -1;
}
