/* Length-prefixed frames from the worker: reading, capping, writing, type names. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <yajl/yajl_parse.h>

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
	[FRAME_END] = "end", [FRAME_FATAL] = "fatal", [FRAME_SANDBOX] = "sandbox",
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

/* ---- checking a frame before it is parsed into a tree ---------------- */

struct check {
	const struct frame_limits *lim;
	unsigned depth;
	bool in_chunks;        /* inside the top-level "chunks" array */
	bool key_chunks;       /* the last top-level key was "chunks" */
	bool key_text, key_page; /* the last key of a chunk */
	size_t chunks, text;
	char *err;
	size_t errsz;
};

static int bad(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errsz, fmt, ap);
	va_end(ap);
	return 0;   /* stops the parse */
}

static int c_open(struct check *c, bool array)
{
	if (++c->depth > 4)
		return bad(c, "the frame nests deeper than 4 levels");
	if (c->depth == 2 && array && c->key_chunks)
		c->in_chunks = true;
	else if (c->depth == 3 && c->in_chunks && !array &&
		 ++c->chunks > c->lim->batch_size)
		return bad(c, "the batch holds more than batch_size (%zu) chunks",
			   c->lim->batch_size);
	c->key_chunks = false;
	return 1;
}

static int c_start_map(void *ctx) { return c_open(ctx, false); }
static int c_start_array(void *ctx) { return c_open(ctx, true); }

static int c_close(void *ctx)
{
	struct check *c = ctx;

	if (c->depth == 2)
		c->in_chunks = false;
	c->depth--;
	return 1;
}

static int c_key(void *ctx, const unsigned char *k, size_t n)
{
	struct check *c = ctx;

	if (c->depth == 1)
		c->key_chunks = n == 6 && memcmp(k, "chunks", 6) == 0;
	if (c->depth == 3 && c->in_chunks) {
		c->key_text = n == 4 && memcmp(k, "text", 4) == 0;
		c->key_page = n == 4 && memcmp(k, "page", 4) == 0;
	}
	return 1;
}

static int c_string(void *ctx, const unsigned char *s, size_t n)
{
	struct check *c = ctx;

	c->key_chunks = false;
	if (c->depth != 3 || !c->in_chunks || !c->key_text)
		return 1;
	if (n > c->lim->chunk_size)
		return bad(c, "a chunk holds %zu bytes of text, more than chunk_size (%zu)",
			   n, c->lim->chunk_size);
	c->text += n;
	if (c->text > c->lim->max_bytes)
		return bad(c, "the batch holds more than max_bytes (%zu) bytes of text",
			   c->lim->max_bytes);
	return 1;
}

static int c_integer(void *ctx, long long v)
{
	struct check *c = ctx;

	c->key_chunks = false;
	if (c->depth == 3 && c->in_chunks && c->key_page &&
	    (v < 0 || (c->lim->pages && (unsigned long long)v > c->lim->pages)))
		return bad(c, "a chunk names page %lld of a document of %u pages", v,
			   c->lim->pages);
	return 1;
}

static int c_scalar(void *ctx)
{
	((struct check *)ctx)->key_chunks = false;
	return 1;
}
static int c_null(void *ctx) { return c_scalar(ctx); }
static int c_bool(void *ctx, int b) { return c_scalar(ctx); }
static int c_double(void *ctx, double d) { return c_scalar(ctx); }

int frame_check(const char *body, size_t len, const struct frame_limits *lim,
		char *err, size_t errsz)
{
	static const yajl_callbacks cb = {
		.yajl_null = c_null, .yajl_boolean = c_bool, .yajl_integer = c_integer,
		.yajl_double = c_double, .yajl_string = c_string,
		.yajl_start_map = c_start_map, .yajl_map_key = c_key, .yajl_end_map = c_close,
		.yajl_start_array = c_start_array, .yajl_end_array = c_close,
	};
	struct check c = { .lim = lim, .err = err, .errsz = errsz };
	yajl_handle h = yajl_alloc(&cb, NULL, &c);
	yajl_status st;

	if (!h)
		return -ENOMEM;
	err[0] = '\0';
	st = yajl_parse(h, (const unsigned char *)body, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	if (st == yajl_status_ok)
		return 0;
	if (!err[0])
		snprintf(err, errsz, "the frame is not valid JSON");
	return -EBADMSG;
}
