/* Frames to the daemon, written by hand rather than with yajl_gen.
 *
 * The frames have a fixed shape (see common/frame.h), and a batch frame
 * is most of the worker's output: building it with yajl cost a generator
 * allocation per frame, a buffer that doubled its way up every time, and
 * a per-byte UTF-8 check of text the chunker has already made valid. Here
 * one buffer is kept for the life of the process (it grows to the largest
 * frame, which max_bytes bounds), the 4-byte length goes in front of the
 * body in the same buffer, and the frame leaves in one write.
 *
 * Strings are still checked: anything that is not UTF-8 becomes U+FFFD,
 * so a frame is always valid JSON whatever a message contains. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"
#include "frame.h"

#define OUT_FD WORKER_FD_FRAMES
#define FFFD "\xEF\xBF\xBD"

uint64_t emit_start_ms;

/* A frame being built: header space, then the JSON body. A buffer with
 * fixed set cannot grow (emit_fatal's, which must work when memory is
 * gone); one that cannot take more sets full and drops the rest. */
struct jbuf {
	char *p;
	size_t len, cap;
	bool fixed, full;
};

static struct jbuf out; /* reused by every frame but fatal ones */

static bool reserve(struct jbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->full)
		return false;
	if (n <= b->cap - b->len)
		return true;
	if (b->fixed || n > SIZE_MAX / 4 - b->len)
		goto full;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		goto full;
	b->p = p;
	b->cap = cap;
	return true;
full:
	b->full = true;
	return false;
}

static void put(struct jbuf *b, const char *s, size_t n)
{
	if (reserve(b, n)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

#define PUT_LIT(b, s) put(b, s, sizeof(s) - 1)

/* What a byte needs inside a JSON string: 0 copy it, 1 escape it,
 * 2 check a UTF-8 sequence starting here. */
static const unsigned char jclass[256] = {
	[0x00 ... 0x1F] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xFF] = 2,
};

/* Length of the well-formed UTF-8 sequence at s[0, n), or 0. Overlongs,
 * surrogates and code points above U+10FFFF are ill-formed. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t need;

	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n <= need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return need + 1;
}

/* s[0, n) as a JSON string. */
static void put_str(struct jbuf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str, *end = s + n;

	/* Most strings need no escaping: make room for that at once. */
	reserve(b, n + 2);
	put(b, "\"", 1);
	while (s < end) {
		const unsigned char *run = s;
		size_t k;

		while (s < end && jclass[*s] == 0)
			s++;
		put(b, (const char *)run, (size_t)(s - run));
		if (s == end)
			break;
		if (jclass[*s] == 2) {
			k = utf8_seq(s, (size_t)(end - s));
			if (k)
				put(b, (const char *)s, k);
			else
				PUT_LIT(b, FFFD);
			s += k ? k : 1;
			continue;
		}
		switch (*s) {
		case '"': PUT_LIT(b, "\\\""); break;
		case '\\': PUT_LIT(b, "\\\\"); break;
		case '\n': PUT_LIT(b, "\\n"); break;
		case '\t': PUT_LIT(b, "\\t"); break;
		case '\r': PUT_LIT(b, "\\r"); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[*s >> 4], hex[*s & 15] };

			put(b, u, sizeof u);
		}
		}
		s++;
	}
	put(b, "\"", 1);
}

/* ,"key": (keys are our own literals: nothing to escape). */
static void put_key(struct jbuf *b, const char *key)
{
	put(b, ",\"", 2);
	put(b, key, strlen(key));
	put(b, "\":", 2);
}

static void put_uint(struct jbuf *b, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRIu64, v);

	put(b, num, (size_t)n);
}

static void put_kuint(struct jbuf *b, const char *key, uint64_t v)
{
	put_key(b, key);
	put_uint(b, v);
}

static void put_kstr(struct jbuf *b, const char *key, const char *s)
{
	put_key(b, key);
	put_str(b, s, strlen(s));
}

/* Start a frame of type t: room for the header, then {"t":"<t>". */
static void begin(struct jbuf *b, const char *t)
{
	b->len = 0;
	b->full = false;
	if (reserve(b, FRAME_HEADER)) {
		memset(b->p, 0, FRAME_HEADER);
		b->len = FRAME_HEADER;
	}
	PUT_LIT(b, "{\"t\":\"");
	put(b, t, strlen(t));
	put(b, "\"", 1);
}

/* Close the object, fill in the length, write the frame. */
static int finish(struct jbuf *b)
{
	size_t n;

	put(b, "}", 1);
	if (b->full)
		return -ENOMEM;
	n = b->len - FRAME_HEADER;
	if (n > UINT32_MAX)
		return -EMSGSIZE;
	b->p[0] = (char)(n >> 24);
	b->p[1] = (char)(n >> 16);
	b->p[2] = (char)(n >> 8);
	b->p[3] = (char)n;
	return write_full(OUT_FD, b->p, b->len);
}

int emit_doc(unsigned pages)
{
	begin(&out, frame_type_to_string(FRAME_DOC));
	put_kuint(&out, "pages", pages);
	return finish(&out);
}

int emit_page(unsigned page, unsigned pages)
{
	begin(&out, frame_type_to_string(FRAME_PAGE));
	put_kuint(&out, "page", page);
	put_kuint(&out, "pages", pages);
	return finish(&out);
}

int emit_batch(const struct batch *b)
{
	/* A batch starts where the previous one ended (or the worker began). */
	static uint64_t started_ms;
	int r;

	if (!started_ms)
		started_ms = emit_start_ms;
	begin(&out, frame_type_to_string(FRAME_BATCH));
	put_kuint(&out, "batch", b->id);
	put_kuint(&out, "first_page", b->first_page);
	put_kuint(&out, "last_page", b->last_page);
	put_kuint(&out, "bytes", b->bytes);
	put_kuint(&out, "started_ms", started_ms);
	put_key(&out, "chunks");
	/* Chunk text is about all of it: reserve it in one go. */
	reserve(&out, b->bytes + b->n * 32 + 2);
	put(&out, "[", 1);
	for (size_t i = 0; i < b->n; i++) {
		if (i)
			put(&out, ",", 1);
		PUT_LIT(&out, "{\"page\":");
		put_uint(&out, b->chunks[i].page);
		PUT_LIT(&out, ",\"text\":");
		put_str(&out, b->chunks[i].text, b->chunks[i].len);
		put(&out, "}", 1);
	}
	put(&out, "]", 1);
	r = finish(&out);
	started_ms = now_real_ms();
	return r;
}

int emit_page_error(unsigned page, const char *msg)
{
	begin(&out, frame_type_to_string(FRAME_PAGE_ERROR));
	put_kuint(&out, "page", page);
	put_kstr(&out, "message", msg);
	return finish(&out);
}

int emit_pressure(const char *phase, uint64_t mb, uint64_t target_mb)
{
	begin(&out, frame_type_to_string(FRAME_PRESSURE));
	put_kstr(&out, "phase", phase);
	put_kuint(&out, "mb", mb);
	put_kuint(&out, "target_mb", target_mb);
	return finish(&out);
}

static void put_kbool(struct jbuf *b, const char *key, bool v)
{
	put_key(b, key);
	if (v)
		PUT_LIT(b, "true");
	else
		PUT_LIT(b, "false");
}

int emit_sandbox(const struct sandbox_report *r)
{
	static const char *const ns[] = { "user", "network", "ipc", "mount", "pid" };
	bool has[] = { r->user_ns, true, true, r->mount_ns, r->pid_ns };
	bool first = true;

	begin(&out, frame_type_to_string(FRAME_SANDBOX));
	if (r->user)
		put_kstr(&out, "user", r->user);
	put_key(&out, "namespaces");
	put(&out, "[", 1);
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
		if (has[i]) {
			if (!first)
				put(&out, ",", 1);
			put_str(&out, ns[i], strlen(ns[i]));
			first = false;
		}
	put(&out, "]", 1);
	put_kstr(&out, "filesystem", r->fs ? r->fs : "none");
	if (r->landlock_abi > 0)
		put_kuint(&out, "landlock_abi", (uint64_t)r->landlock_abi);
	put_key(&out, "readable");
	put(&out, "[", 1);
	for (size_t i = 0; i < r->n_readable; i++) {
		if (i)
			put(&out, ",", 1);
		put_str(&out, r->readable[i], strlen(r->readable[i]));
	}
	put(&out, "]", 1);
	put_kbool(&out, "capability_bounding_set_empty", r->bounding_set_empty);
	put_kbool(&out, "seccomp", r->seccomp);
	return finish(&out);
}

int emit_end(unsigned pages, uint64_t chunks, uint64_t batches)
{
	begin(&out, frame_type_to_string(FRAME_END));
	put_kuint(&out, "pages", pages);
	put_kuint(&out, "chunks", chunks);
	put_kuint(&out, "batches", batches);
	return finish(&out);
}

int emit_fatal(const char *reason, const char *fmt, ...)
{
	/* Its own fixed buffer: this must work when memory has run out. */
	char msg[512], frame[FRAME_HEADER + 6 * sizeof msg + 256]; /* \u00XX: 6 out per byte in */
	struct jbuf b = { .p = frame, .cap = sizeof frame, .fixed = true };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	begin(&b, frame_type_to_string(FRAME_FATAL));
	put_kstr(&b, "reason", reason);
	put_kstr(&b, "message", msg);
	finish(&b);
	/* stderr reaches the daemon's journal too, for setup failures that
	 * happen before the daemon reads frames. */
	{
		/* Escaped: the message may quote the document. */
		char safe[4 * sizeof msg];

		str_escape(safe, sizeof safe, msg);
		fprintf(stderr, "memsafe-worker: %s\n", safe);
	}
	if (strcmp(reason, "bad_document") == 0)
		return WORKER_EXIT_BAD_DOCUMENT;
	if (strcmp(reason, "setup") == 0)
		return WORKER_EXIT_SETUP;
	return WORKER_EXIT_INTERNAL;
}
