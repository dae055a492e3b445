/* Text -> chunks -> batches: see chunker.h for the contract.
 *
 * Text flows through three stages, each bounded:
 *
 *  1. A streaming UTF-8 decoder (at most 3 bytes of an unfinished sequence
 *     are held between feeds) that replaces each maximal ill-formed subpart
 *     with U+FFFD, as Unicode recommends (chapter 3, "U+FFFD Substitution of
 *     Maximal Subparts"), turns \r\n, \r, \v and \f into \n and drops NUL,
 *     the other C0 controls and DEL.
 *  2. The pending buffer of the current page, exactly chunk_size bytes.
 *     Its head repeats the end of the previous chunk (the overlap). Nothing
 *     is searched while text is appended; only when the next character
 *     does not fit is the buffer scanned backwards, once, for the cut.
 *  3. The open batch: chunk texts packed in one arena that never holds more
 *     than max_bytes of text (plus a NUL per chunk).
 *
 * The cut is searched only in the back part of the buffer,
 * [lo, chunk_size] with lo = overlap + (chunk_size - overlap) / 2. A
 * boundary earlier than that would make a short chunk; more to the point,
 * it keeps the whole thing O(n): every cut scans at most chunk_size / 2
 * bytes and moves at least chunk_size / 4 new bytes out of the buffer, and
 * it leaves room for the character that did not fit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"

#define NO_TEXT SIZE_MAX
#define FFFD "\xEF\xBF\xBD"

struct chunker {
	struct chunker_opts o;
	batch_cb cb;
	void *arg;
	int err; /* first failure (callback or ENOMEM); every later call returns it */

	/* Pending text of the current page, valid UTF-8, starting with the
	 * overlap: the end of the previous chunk. text_at is the first
	 * non-whitespace byte after the overlap, or NO_TEXT: a chunk with
	 * nothing new but whitespace is dropped. */
	unsigned char *buf;
	size_t len, text_at;
	unsigned page;
	bool have_page;

	/* UTF-8 decoder: the unfinished sequence and the range its next byte
	 * must fall in. after_cr swallows the \n of a \r\n. */
	unsigned char seq[4];
	unsigned seq_len, seq_need;
	unsigned char seq_lo, seq_hi;
	bool after_cr;

	/* The open batch. Chunk texts are packed in arena, each followed by
	 * its NUL; the text pointers are set just before the callback, as
	 * the arena may move while the batch fills. */
	char *arena;
	size_t arena_len, arena_cap, arena_max;
	struct chunk *chunks;
	size_t n, n_cap, n_max;
	size_t bytes;
	uint64_t opened_ms; /* now_ms of the batch's first chunk */

	uint64_t next_id, total_chunks, total_batches;
	size_t skip_left;   /* chunks of o.skip_page still to drop */
};

/* Bytes that go straight from input to buffer: printable ASCII, \t, \n. */
static const unsigned char plain[256] = {
	['\t'] = 1, ['\n'] = 1,
	[0x20 ... 0x7e] = 1,
};

static inline bool is_ws(unsigned char ch)
{
	return ch == ' ' || ch == '\n' || ch == '\t';
}

static inline bool is_cont(unsigned char ch)
{
	return (ch & 0xC0) == 0x80;
}

/* For a UTF-8 lead byte: how many continuation bytes follow, and the
 * range the first of them must fall in, which rules out overlongs (E0, F0),
 * surrogates (ED) and code points above U+10FFFF (F4). need 0: not a
 * lead byte (ASCII, continuation bytes, 0xC0, 0xC1, 0xF5..0xFF). */
static const struct lead {
	unsigned char need, lo, hi;
} leads[256] = {
	[0xC2 ... 0xDF] = { 1, 0x80, 0xBF },
	[0xE0] = { 2, 0xA0, 0xBF },
	[0xE1 ... 0xEC] = { 2, 0x80, 0xBF },
	[0xED] = { 2, 0x80, 0x9F },
	[0xEE ... 0xEF] = { 2, 0x80, 0xBF },
	[0xF0] = { 3, 0x90, 0xBF },
	[0xF1 ... 0xF3] = { 3, 0x80, 0xBF },
	[0xF4] = { 3, 0x80, 0x8F },
};

/* Whether the 8 bytes at p are all printable ASCII (0x20..0x7E): no high
 * bit, no byte below 0x20, no 0x7F (Bit Twiddling Hacks' hasless and
 * haszero, exact once the high bits are known to be clear). */
static inline bool word_printable(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t x;

	memcpy(&x, p, sizeof x);
	if (x & highs)
		return false;
	return ((((x - 0x20 * ones) & ~x) | ((x ^ 0x7F * ones) - ones)) & highs) == 0;
}

/* Length of the longest prefix of p[0, end) that goes to the buffer as it
 * is: plain ASCII and complete, well-formed multi-byte sequences. */
static size_t valid_run(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *q = p;

	while (q < end) {
		const struct lead *l;

		if (*q < 0x80) {
			if (!plain[*q])
				break;
			q++;
			while (end - q >= 8 && word_printable(q))
				q += 8;
			continue;
		}
		l = &leads[*q];
		if (l->need == 0 || (size_t)(end - q) <= l->need || q[1] < l->lo || q[1] > l->hi ||
		    (l->need > 1 && !is_cont(q[2])) || (l->need > 2 && !is_cont(q[3])))
			break;
		q += 1 + l->need;
	}
	return (size_t)(q - p);
}

/* Index of the first non-whitespace byte in b[from, to), or NO_TEXT. */
static size_t first_text(const unsigned char *b, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (!is_ws(b[i]))
			return i;
	return NO_TEXT;
}

/* Non-ASCII punctuation that matters for sentence ends. */
enum mark_kind {
	STOP_TIGHT,  /* ends a sentence even with no space after it (CJK) */
	STOP_SPACED, /* ends a sentence when whitespace follows, like . ! ? */
	CLOSER,      /* closing quote or bracket: `end.” Next`, `終わり。」次` */
};

static const struct mark {
	char s[4];
	unsigned char len;
	enum mark_kind kind;
} marks[] = {
	{ "\xE3\x80\x82", 3, STOP_TIGHT },  /* 。 U+3002 */
	{ "\xEF\xBC\x81", 3, STOP_TIGHT },  /* ！ U+FF01 */
	{ "\xEF\xBC\x9F", 3, STOP_TIGHT },  /* ？ U+FF1F */
	{ "\xEF\xBC\x8E", 3, STOP_TIGHT },  /* ． U+FF0E */
	{ "\xEF\xBD\xA1", 3, STOP_TIGHT },  /* ｡ U+FF61 */
	{ "\xE2\x80\xA6", 3, STOP_SPACED }, /* … U+2026 */
	{ "\xD8\x9F", 2, STOP_SPACED },      /* ؟ U+061F */
	{ "\xDB\x94", 2, STOP_SPACED },      /* ۔ U+06D4 */
	{ "\xE0\xA5\xA4", 3, STOP_SPACED }, /* । U+0964 */
	{ "\xE0\xA5\xA5", 3, STOP_SPACED }, /* ॥ U+0965 */
	{ "\xE2\x80\x9D", 3, CLOSER },      /* ” */
	{ "\xE2\x80\x99", 3, CLOSER },      /* ’ */
	{ "\xC2\xBB", 2, CLOSER },           /* » */
	{ "\xE3\x80\x8D", 3, CLOSER },      /* 」 */
	{ "\xE3\x80\x8F", 3, CLOSER },      /* 』 */
	{ "\xEF\xBC\x89", 3, CLOSER },      /* ） */
	{ "\xE3\x80\x91", 3, CLOSER },      /* 】 */
};

/* The mark that b[0, end) ends with, or NULL. */
static const struct mark *mark_at(const unsigned char *b, size_t end)
{
	for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
		const struct mark *m = &marks[i];

		if ((unsigned char)m->s[m->len - 1] == b[end - 1] && m->len <= end &&
		    memcmp(b + end - m->len, m->s, m->len) == 0)
			return m;
	}
	return NULL;
}

/* Whether b[0, end) ends a sentence; ws_next says whitespace follows.
 * Up to three closing quotes or brackets may follow the mark. */
static bool sentence_end(const unsigned char *b, size_t end, bool ws_next)
{
	for (int k = 0; end > 0; k++) {
		unsigned char ch = b[end - 1];
		const struct mark *m;

		if (ch == '.' || ch == '!' || ch == '?')
			return ws_next;
		if (ch < 0x80) {
			if (k < 3 && (ch == '"' || ch == '\'' || ch == ')' || ch == ']')) {
				end--;
				continue;
			}
			return false;
		}
		m = mark_at(b, end);
		if (!m)
			return false;
		if (m->kind == STOP_TIGHT)
			return true;
		if (m->kind == STOP_SPACED)
			return ws_next;
		if (k == 3)
			return false;
		end -= m->len;
	}
	return false;
}

/* Whether b[0, end) ends with a newline followed only by blanks. */
static bool newline_before(const unsigned char *b, size_t end)
{
	while (end > 0 && (b[end - 1] == ' ' || b[end - 1] == '\t'))
		end--;
	return end > 0 && b[end - 1] == '\n';
}

/* Where to cut b[0, len), which holds whole characters: the last paragraph
 * break, else the last sentence end, else the last whitespace, whose
 * whitespace run ends in [lo, len]; else len. The cut goes after the
 * separating whitespace, so the next chunk starts with the next word.
 * next is the first byte of the character that follows (-1 if none):
 * when it is whitespace, len itself is a boundary. 1 <= lo <= len. */
static size_t find_cut(const unsigned char *b, size_t len, size_t lo, int next)
{
	bool next_ws = next >= 0 && is_ws((unsigned char)next);
	size_t sent = 0, space = 0, run_end = len;

	if (next_ws) {
		if (next == '\n' && newline_before(b, len))
			return len;
		space = len;
		if (!is_ws(b[len - 1]) && sentence_end(b, len, true))
			sent = len;
	}
	for (size_t i = len; i-- > lo - 1;) {
		unsigned char ch = b[i];

		if (sent && space) {
			/* Only a paragraph break can do better: go from newline
			 * to newline. */
			const unsigned char *nl = memrchr(b + lo - 1, '\n', i + 1 - (lo - 1));

			if (!nl)
				break;
			i = (size_t)(nl - b);
			if (newline_before(b, i)) {
				for (run_end = i + 1; run_end < len && is_ws(b[run_end]); run_end++)
					;
				return run_end;
			}
			continue;
		}
		if (is_ws(ch)) {
			if (i + 1 == len || !is_ws(b[i + 1]))
				run_end = i + 1;
			if (ch == '\n' && newline_before(b, i))
				return run_end;
			if (!space)
				space = run_end;
			if (!sent && i > 0 && !is_ws(b[i - 1]) && sentence_end(b, i, true))
				sent = run_end;
		} else if (!sent && ch >= 0x80 &&
			   (i + 1 == len ? !next_ws : !is_ws(b[i + 1]) && !is_cont(b[i + 1]))) {
			/* a CJK full stop with no space after it */
			if (sentence_end(b, i + 1, false))
				sent = i + 1;
		}
	}
	return sent ? sent : space ? space : len;
}

/* Start of the overlap the next chunk repeats from b[0, cut): about the
 * last ov bytes, moved forward to a character boundary and, if one is
 * near, to the start of a word. Returns cut for no overlap. */
static size_t overlap_start(const unsigned char *b, size_t cut, size_t ov)
{
	size_t s, lim;

	if (ov == 0 || ov >= cut)
		return cut;
	s = cut - ov;
	while (s < cut && is_cont(b[s]))
		s++;
	if (!is_ws(b[s - 1])) {
		lim = s + ov / 2 < cut ? s + ov / 2 : cut;
		for (size_t i = s; i < lim; i++)
			if (is_ws(b[i])) {
				s = i;
				break;
			}
	}
	while (s < cut && is_ws(b[s]))
		s++;
	return s;
}

static int fail(struct chunker *c, int r)
{
	if (!c->err)
		c->err = r;
	return r;
}

static bool expired(const struct chunker *c, uint64_t now_ms)
{
	return c->n > 0 && now_ms >= c->opened_ms && now_ms - c->opened_ms >= c->o.max_wait_ms;
}

/* Hand the open batch to the callback and empty it. */
static int batch_close(struct chunker *c)
{
	struct batch b;
	int r;

	if (c->n == 0)
		return 0;
	for (size_t i = 0, at = 0; i < c->n; at += c->chunks[i++].len + 1)
		c->chunks[i].text = c->arena + at;
	b = (struct batch){
		.id = c->next_id,
		.chunks = c->chunks,
		.n = c->n,
		.bytes = c->bytes,
		.first_page = c->chunks[0].page,
		.last_page = c->chunks[c->n - 1].page,
	};
	r = c->cb(&b, c->arg);
	c->n = 0;
	c->bytes = 0;
	c->arena_len = 0;
	if (r < 0)
		return fail(c, r);
	c->next_id++;
	c->total_batches++;
	c->total_chunks += b.n;
	return 0;
}

/* Grow the array at *pp (*cap elements of sz bytes) to hold need,
 * doubling, but never past max. */
static int grow(void *pp, size_t *cap, size_t need, size_t max, size_t sz)
{
	size_t ncap = *cap ? *cap : 64;
	void *p, *q;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
	if (ncap > max)
		ncap = max;
	if (ncap < need || ncap > SIZE_MAX / sz)
		return -ENOMEM;
	memcpy(&p, pp, sizeof p);
	q = realloc(p, ncap * sz);
	if (!q)
		return -ENOMEM;
	memcpy(pp, &q, sizeof q);
	*cap = ncap;
	return 0;
}

/* Add one chunk of at most max_bytes to the open batch, closing the batch
 * first if the chunk does not fit or its time is up, and after if full. */
static int batch_add(struct chunker *c, const unsigned char *t, size_t len, uint64_t now_ms)
{
	int r;

	if (c->skip_left && c->page == c->o.skip_page) {
		c->skip_left--;   /* flushed by an earlier attempt */
		return 0;
	}
	if (c->n > 0 && (len > c->o.max_bytes - c->bytes || expired(c, now_ms))) {
		r = batch_close(c);
		if (r < 0)
			return r;
	}
	if (grow(&c->chunks, &c->n_cap, c->n + 1, c->n_max, sizeof *c->chunks) < 0 ||
	    grow(&c->arena, &c->arena_cap, c->arena_len + len + 1, c->arena_max, 1) < 0)
		return fail(c, -ENOMEM);
	memcpy(c->arena + c->arena_len, t, len);
	c->arena[c->arena_len + len] = '\0';
	c->chunks[c->n] = (struct chunk){ .text = NULL, .len = len, .page = c->page };
	c->arena_len += len + 1;
	c->bytes += len;
	if (c->n++ == 0)
		c->opened_ms = now_ms;
	if (c->n >= c->o.batch_size || c->bytes >= c->o.max_bytes)
		return batch_close(c);
	return 0;
}

/* Batch a chunk, splitting it first if it is larger than max_bytes. The
 * caller has checked it holds more than whitespace; split pieces are
 * checked here. */
static int emit(struct chunker *c, const unsigned char *t, size_t len, uint64_t now_ms)
{
	bool split = false;
	int r;

	while (len > c->o.max_bytes) {
		size_t end = c->o.max_bytes, cut;

		while (is_cont(t[end]))
			end--;
		cut = find_cut(t, end, end / 2, t[end]);
		if (first_text(t, 0, cut) != NO_TEXT) {
			r = batch_add(c, t, cut, now_ms);
			if (r < 0)
				return r;
		}
		t += cut;
		len -= cut;
		split = true;
	}
	if (split && first_text(t, 0, len) == NO_TEXT)
		return 0;
	return batch_add(c, t, len, now_ms);
}

/* The buffer cannot take the next character (whose first byte is next):
 * cut a chunk, keep the overlap and the rest. */
static int cut_full(struct chunker *c, int next, uint64_t now_ms)
{
	size_t lo = c->o.overlap + (c->o.chunk_size - c->o.overlap) / 2;
	size_t cut = find_cut(c->buf, c->len, lo, next);
	size_t s = overlap_start(c->buf, cut, c->o.overlap);
	int r = 0;

	if (c->text_at < cut)
		r = emit(c, c->buf, cut, now_ms);
	if (c->text_at != NO_TEXT) {
		size_t t = c->text_at >= cut ? c->text_at : first_text(c->buf, cut, c->len);

		c->text_at = t == NO_TEXT ? NO_TEXT : t - s;
	}
	memmove(c->buf, c->buf + s, c->len - s);
	c->len -= s;
	return r;
}

/* Append one whole character. */
static int put(struct chunker *c, const void *s, size_t k, uint64_t now_ms)
{
	const unsigned char *u = s;

	if (k > c->o.chunk_size - c->len) {
		int r = cut_full(c, u[0], now_ms);

		if (r < 0)
			return r;
	}
	memcpy(c->buf + c->len, u, k);
	if (c->text_at == NO_TEXT && !is_ws(u[0]))
		c->text_at = c->len;
	c->len += k;
	return 0;
}

/* Append a run of whole characters (see valid_run). */
static int put_run(struct chunker *c, const unsigned char *p, size_t n, uint64_t now_ms)
{
	while (n > 0) {
		size_t room = c->o.chunk_size - c->len, k = n;

		if (k > room) {
			k = room;
			while (k > 0 && is_cont(p[k]))
				k--;
		}
		if (k == 0) {
			int r = cut_full(c, p[0], now_ms);

			if (r < 0)
				return r;
			continue;
		}
		memcpy(c->buf + c->len, p, k);
		if (c->text_at == NO_TEXT) {
			size_t t = first_text(p, 0, k);

			if (t != NO_TEXT)
				c->text_at = c->len + t;
		}
		c->len += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* End the current page: a truncated sequence becomes U+FFFD, the pending
 * text becomes the page's last chunk, and no overlap carries over. */
static int end_page(struct chunker *c, uint64_t now_ms)
{
	int r = 0;

	if (c->seq_need) {
		c->seq_need = c->seq_len = 0;
		r = put(c, FFFD, 3, now_ms);
	}
	if (r >= 0 && c->text_at != NO_TEXT)
		r = emit(c, c->buf, c->len, now_ms);
	c->len = 0;
	c->text_at = NO_TEXT;
	c->after_cr = false;
	return r;
}

struct chunker *chunker_new(const struct chunker_opts *o, batch_cb cb, void *arg)
{
	struct chunker *c;

	if (!o || !cb || o->chunk_size < 64 || o->overlap > (o->chunk_size - 1) / 2 ||
	    o->batch_size < 1 || o->max_bytes < 64 || o->max_wait_ms < 1) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->buf = malloc(o->chunk_size);
	if (!c->buf) {
		free(c);
		return NULL;
	}
	c->o = *o;
	c->cb = cb;
	c->arg = arg;
	c->text_at = NO_TEXT;
	c->next_id = o->first_batch_id ? o->first_batch_id : 1;
	c->skip_left = o->skip_chunks;
	/* Every chunk in a batch holds at least one byte. */
	c->n_max = o->batch_size < o->max_bytes ? o->batch_size : o->max_bytes;
	c->arena_max = o->max_bytes > SIZE_MAX - c->n_max ? SIZE_MAX : o->max_bytes + c->n_max;
	return c;
}

void chunker_free(struct chunker *c)
{
	if (!c)
		return;
	free(c->buf);
	free(c->arena);
	free(c->chunks);
	free(c);
}

int chunker_feed(struct chunker *c, const char *text, size_t len, unsigned page,
		 uint64_t now_ms)
{
	const unsigned char *p = (const unsigned char *)text, *end = len ? p + len : p;
	int r;

	if (c->err)
		return c->err;
	if (c->have_page && page != c->page) {
		r = end_page(c, now_ms);
		if (r < 0)
			return r;
	}
	c->page = page;
	c->have_page = true;
	if (expired(c, now_ms)) {
		r = batch_close(c);
		if (r < 0)
			return r;
	}

	while (p < end) {
		unsigned char b = *p;

		if (c->after_cr) {
			c->after_cr = false;
			if (b == '\n') {
				p++;
				continue;
			}
		}
		if (c->seq_need == 0) {
			size_t n = valid_run(p, end);

			if (n > 0) {
				r = put_run(c, p, n, now_ms);
				if (r < 0)
					return r;
				p += n;
				continue;
			}
		}
		if (c->seq_need) {
			if (b >= c->seq_lo && b <= c->seq_hi) {
				c->seq[c->seq_len++] = b;
				c->seq_lo = 0x80;
				c->seq_hi = 0xBF;
				p++;
				if (--c->seq_need == 0) {
					size_t k = c->seq_len;

					c->seq_len = 0;
					r = put(c, c->seq, k, now_ms);
					if (r < 0)
						return r;
				}
				continue;
			}
			/* Truncated: one U+FFFD, then b starts afresh. */
			c->seq_need = c->seq_len = 0;
			r = put(c, FFFD, 3, now_ms);
			if (r < 0)
				return r;
			continue;
		}
		p++;
		if (b < 0x80) {
			/* a control character */
			if (b == '\r' || b == '\v' || b == '\f') {
				r = put(c, "\n", 1, now_ms);
				if (r < 0)
					return r;
				c->after_cr = b == '\r';
			}
			continue;
		}
		if (leads[b].need == 0) {
			/* a stray continuation byte, or 0xC0, 0xC1, 0xF5..0xFF */
			r = put(c, FFFD, 3, now_ms);
			if (r < 0)
				return r;
			continue;
		}
		/* A sequence valid_run could not take whole: cut short by the
		 * end of this feed, or ill-formed further on. */
		c->seq_need = leads[b].need;
		c->seq_lo = leads[b].lo;
		c->seq_hi = leads[b].hi;
		c->seq[0] = b;
		c->seq_len = 1;
	}
	return 0;
}

int chunker_end_page(struct chunker *c, uint64_t now_ms)
{
	if (c->err)
		return c->err;
	if (expired(c, now_ms)) {
		int r = batch_close(c);

		if (r < 0)
			return r;
	}
	return end_page(c, now_ms);
}

int chunker_tick(struct chunker *c, uint64_t now_ms)
{
	if (c->err)
		return c->err;
	return expired(c, now_ms) ? batch_close(c) : 0;
}

uint64_t chunker_deadline(const struct chunker *c, uint64_t now_ms)
{
	uint64_t due;

	if (c->n == 0)
		return UINT64_MAX;
	due = c->opened_ms > UINT64_MAX - c->o.max_wait_ms ? UINT64_MAX
							   : c->opened_ms + c->o.max_wait_ms;
	return now_ms >= due ? 0 : due - now_ms;
}

int chunker_finish(struct chunker *c, uint64_t now_ms)
{
	int r;

	if (c->err)
		return c->err;
	r = end_page(c, now_ms);
	if (r < 0)
		return r;
	c->have_page = false;
	return batch_close(c);
}

uint64_t chunker_chunks(const struct chunker *c)
{
	return c->total_chunks;
}

uint64_t chunker_batches(const struct chunker *c)
{
	return c->total_batches;
}
