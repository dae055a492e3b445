/* Unit tests for worker/chunker.c: boundaries, UTF-8, overlap, pages,
 * every batch-closing rule, errors, and a 50 MB streaming run that checks
 * memory stays bounded and reports throughput. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "chunker.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NEVER ((uint64_t)1 << 40)

/* ---- what the callback saw ------------------------------------------- */

struct rec_chunk {
	char *text;
	size_t len;
	unsigned page;
};

struct rec_batch {
	uint64_t id;
	size_t n, bytes;
	unsigned first_page, last_page;
	uint64_t at_ms; /* the test's clock when the batch arrived */
};

struct rec {
	struct rec_chunk *c;
	size_t nc, cap_c;
	struct rec_batch *b;
	size_t nb, cap_b;
	uint64_t now;    /* the clock the test is at */
	size_t fail_at;  /* batch number (1-based) whose callback fails, 0 = none */
	int fail_rc;
	size_t calls;
	bool keep;       /* record chunks and batches (off for the big run) */
	bool bad;        /* a batch was inconsistent (see rec_cb) */
	size_t max_batch_bytes, max_chunk_len, max_batch_n;
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		abort();
	return p;
}

static int rec_cb(const struct batch *b, void *arg)
{
	struct rec *r = arg;
	size_t sum = 0;

	r->calls++;
	if (r->fail_at && r->calls == r->fail_at)
		return r->fail_rc;
	if (b->n == 0 || b->chunks[0].page != b->first_page ||
	    b->chunks[b->n - 1].page != b->last_page)
		r->bad = true;
	for (size_t i = 0; i < b->n; i++) {
		const struct chunk *ch = &b->chunks[i];

		if (strlen(ch->text) != ch->len)
			r->bad = true;
		sum += ch->len;
		if (ch->len > r->max_chunk_len)
			r->max_chunk_len = ch->len;
		if (!r->keep)
			continue;
		if (r->nc == r->cap_c) {
			r->cap_c = r->cap_c ? 2 * r->cap_c : 64;
			r->c = xrealloc(r->c, r->cap_c * sizeof *r->c);
		}
		r->c[r->nc++] = (struct rec_chunk){
			.text = strdup(ch->text), .len = ch->len, .page = ch->page,
		};
	}
	if (sum != b->bytes)
		r->bad = true;
	if (b->bytes > r->max_batch_bytes)
		r->max_batch_bytes = b->bytes;
	if (b->n > r->max_batch_n)
		r->max_batch_n = b->n;
	if (!r->keep) {
		r->nb++;
		return 0;
	}
	if (r->nb == r->cap_b) {
		r->cap_b = r->cap_b ? 2 * r->cap_b : 16;
		r->b = xrealloc(r->b, r->cap_b * sizeof *r->b);
	}
	r->b[r->nb++] = (struct rec_batch){
		.id = b->id, .n = b->n, .bytes = b->bytes, .first_page = b->first_page,
		.last_page = b->last_page, .at_ms = r->now,
	};
	return 0;
}

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof *r);
	r->keep = true;
}

static void rec_free(struct rec *r)
{
	for (size_t i = 0; i < r->nc; i++)
		free(r->c[i].text);
	free(r->c);
	free(r->b);
	memset(r, 0, sizeof *r);
}

/* Chunk texts joined with '|', for comparing with a table. */
static char *rec_join(const struct rec *r)
{
	size_t n = 1, at = 0;
	char *s;

	for (size_t i = 0; i < r->nc; i++)
		n += r->c[i].len + 1;
	s = xrealloc(NULL, n);
	for (size_t i = 0; i < r->nc; i++) {
		if (i)
			s[at++] = '|';
		memcpy(s + at, r->c[i].text, r->c[i].len);
		at += r->c[i].len;
	}
	s[at] = '\0';
	return s;
}

static struct chunker_opts opts(size_t chunk_size, size_t overlap)
{
	return (struct chunker_opts){
		.chunk_size = chunk_size,
		.overlap = overlap,
		.batch_size = 100000,
		.max_bytes = 1 << 30,
		.max_wait_ms = NEVER,
		.first_batch_id = 0,
	};
}

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t rnd_below(size_t n)
{
	return (size_t)(rnd() % n);
}

enum split { WHOLE, BYTES, RANDOM };
static const char *const split_name[] = { "whole", "byte by byte", "random splits" };

/* Feed s in the given way; returns the first error. */
static int feed(struct chunker *c, const char *s, size_t len, unsigned page, enum split how,
		uint64_t now)
{
	size_t at = 0;

	if (len == 0)
		return chunker_feed(c, s, 0, page, now);
	while (at < len) {
		size_t n = how == WHOLE ? len : how == BYTES ? 1 : 1 + rnd_below(37);
		int r;

		if (n > len - at)
			n = len - at;
		r = chunker_feed(c, s + at, n, page, now);
		if (r < 0)
			return r;
		at += n;
	}
	return 0;
}

/* Strict UTF-8 (RFC 3629): no overlongs, surrogates or > U+10FFFF. */
static bool valid_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;

	while (p < e) {
		unsigned char b = *p++, lo = 0x80, hi = 0xBF;
		int need;

		if (b < 0x80)
			continue;
		if (b >= 0xC2 && b <= 0xDF)
			need = 1;
		else if (b >= 0xE0 && b <= 0xEF)
			need = 2;
		else if (b >= 0xF0 && b <= 0xF4)
			need = 3;
		else
			return false;
		if (b == 0xE0)
			lo = 0xA0;
		else if (b == 0xED)
			hi = 0x9F;
		else if (b == 0xF0)
			lo = 0x90;
		else if (b == 0xF4)
			hi = 0x8F;
		for (; need; need--, lo = 0x80, hi = 0xBF) {
			if (p == e || *p < lo || *p > hi)
				return false;
			p++;
		}
	}
	return true;
}

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\n' || ch == '\t';
}

static bool has_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_ws(s[i]))
			return true;
	return false;
}

/* Longest k <= max such that b starts with the last k bytes of a. */
static size_t overlap_len(const struct rec_chunk *a, const struct rec_chunk *b, size_t max)
{
	for (size_t k = max < a->len ? max : a->len; k > 0; k--)
		if (k <= b->len && memcmp(a->text + a->len - k, b->text, k) == 0)
			return k;
	return 0;
}

/* The text of the chunks with the overlaps taken out: what was fed.
 * Overlaps never cross pages. */
static char *reconstruct(const struct rec *r, size_t ov, size_t *ret_len)
{
	size_t n = 1, at = 0;
	char *s;

	for (size_t i = 0; i < r->nc; i++)
		n += r->c[i].len;
	s = xrealloc(NULL, n);
	for (size_t i = 0; i < r->nc; i++) {
		size_t k = 0;

		if (i > 0 && r->c[i - 1].page == r->c[i].page)
			k = overlap_len(&r->c[i - 1], &r->c[i], ov);
		memcpy(s + at, r->c[i].text + k, r->c[i].len - k);
		at += r->c[i].len - k;
	}
	s[at] = '\0';
	*ret_len = at;
	return s;
}

/* Words in several scripts, with sentences and paragraphs. */
static const char *const vocab[] = {
	"the", "chunker", "splits", "text", "into", "pieces", "of", "bounded", "size",
	"memory", "worker", "sandbox", "page", "batch", "a", "is", "on", "stream",
	"café", "naïve", "Straße", "façade", "κείμενο", "λέξη", "текст", "слово",
	"日本語の", "文章", "中文", "한국어", "😀", "🚀x", "∑ᵢ", "עברית", "عربي",
};

/* Append about n bytes of generated text to *s (cap *cap, length *len). */
static void gen_text(char **s, size_t *len, size_t *cap, size_t n, bool ascii_only)
{
	size_t end = *len + n, words = 0;

	while (*len < end) {
		const char *w = vocab[rnd_below(ascii_only ? 18 : ARRAY_SIZE(vocab))];
		size_t wl = strlen(w);
		const char *sep = " ";

		words++;
		if (words % 97 == 0)
			sep = ".\n\n";
		else if (words % 11 == 0)
			sep = ". ";
		else if (words % 29 == 0)
			sep = "! ";
		else if (words % 13 == 0)
			sep = "\n";
		else if (!ascii_only && words % 31 == 0)
			sep = "。";
		if (*len + wl + 4 >= *cap) {
			*cap = (*cap + wl + 4) * 2;
			*s = xrealloc(*s, *cap);
		}
		memcpy(*s + *len, w, wl);
		*len += wl;
		memcpy(*s + *len, sep, strlen(sep));
		*len += strlen(sep);
	}
	/* end on text, so that no whitespace-only tail is dropped */
	memcpy(*s + *len, "end", 3);
	*len += 3;
	(*s)[*len] = '\0';
}

static struct chunker *mk(const struct chunker_opts *o, struct rec *r)
{
	struct chunker *c = chunker_new(o, rec_cb, r);

	if (!c) {
		printf("Bail out! chunker_new: %s\n", strerror(errno));
		exit(1);
	}
	return c;
}

/* ---- tests ------------------------------------------------------------- */

static void test_options(void)
{
	static const struct {
		const char *name;
		struct chunker_opts o;
		bool valid;
	} t[] = {
		{ "defaults", { 1000, 100, 10, 5000000, 5000, 0 }, true },
		{ "smallest", { 64, 31, 1, 64, 1, 7 }, true },
		{ "chunk_size < 64", { 63, 0, 10, 5000, 5000, 0 }, false },
		{ "overlap = chunk_size/2", { 100, 50, 10, 5000, 5000, 0 }, false },
		{ "overlap just under half an odd size", { 65, 32, 10, 5000, 5000, 0 }, true },
		{ "overlap at half an odd size", { 65, 33, 10, 5000, 5000, 0 }, false },
		{ "batch_size 0", { 100, 10, 0, 5000, 5000, 0 }, false },
		{ "max_bytes < 64", { 100, 10, 10, 63, 5000, 0 }, false },
		{ "max_wait_ms 0", { 100, 10, 10, 5000, 0, 0 }, false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct rec r;
		struct chunker *c;

		rec_init(&r);
		errno = 0;
		c = chunker_new(&t[i].o, rec_cb, &r);
		if (t[i].valid)
			ok(c != NULL, "options: %s accepted", t[i].name);
		else
			ok(c == NULL && errno == EINVAL, "options: %s rejected with EINVAL", t[i].name);
		chunker_free(c);
	}
	errno = 0;
	ok(chunker_new(&t[0].o, NULL, NULL) == NULL && errno == EINVAL,
	   "options: no callback rejected with EINVAL");
	chunker_free(NULL);
	ok(1, "chunker_free(NULL) is a no-op");
}

/* chunk_size 64 (65 where noted), no overlap: the first cut may fall only
 * in the back half of the buffer, [32, 64]. */
static void test_boundaries(void)
{
	static const struct {
		const char *name;
		size_t size;
		const char *in, *want;
	} t[] = {
		{ "paragraph preferred over a later sentence", 64,
		  "First paragraph has some words.\n\nSecond one. It goes on and on beyond the limit.",
		  "First paragraph has some words.\n\n|Second one. It goes on and on beyond the limit." },
		{ "blank line of spaces is a paragraph break", 64,
		  "Para one, right here and fine.\n \nPara two. More words run past the limit",
		  "Para one, right here and fine.\n \n|Para two. More words run past the limit" },
		{ "sentence preferred over a later space", 64,
		  "The quick brown fox jumps over it. Then the lazy dog sleeps all day long",
		  "The quick brown fox jumps over it. |Then the lazy dog sleeps all day long" },
		{ "last of several sentence ends (? and !)", 64,
		  "Is this the question we all ask? Yes! It is the one we ask every day",
		  "Is this the question we all ask? Yes! |It is the one we ask every day" },
		{ "sentence end inside closing quote", 64,
		  "He said: \"we are done here today.\" Then they left the room quietly and slowly.",
		  "He said: \"we are done here today.\" |Then they left the room quietly and slowly." },
		{ "no sentence end at a decimal point", 64,
		  "Pi is close to 3.14159 and e is close to 2.71828 but neither of them ends",
		  "Pi is close to 3.14159 and e is close to 2.71828 but neither of |them ends" },
		{ "whitespace preferred over a hard cut", 64,
		  "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor",
		  "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do |eiusmod tempor" },
		{ "a paragraph break too early is not used", 64,
		  "Tiny.\n\nThen a long sentence goes here. And more words after that go on",
		  "Tiny.\n\nThen a long sentence goes here. |And more words after that go on" },
		{ "a word ending exactly at the limit stays whole", 64,
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbb c",
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbb| c" },
		{ "hard cut without any boundary", 64,
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
		{ "hard cut at a character boundary (3-byte)", 64,
		  "€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€",
		  "€€€€€€€€€€€€€€€€€€€€€|€€€€€€€€€" },
		{ "hard cut at a character boundary (2-byte)", 65,
		  "éééééééééééééééééééééééééééééééééééééééé",
		  "éééééééééééééééééééééééééééééééé|éééééééé" },
		{ "CJK full stop needs no space", 64,
		  "あいうえおかきくけこ。さしすせそたちつてとなにぬねのはひふへほ",
		  "あいうえおかきくけこ。|さしすせそたちつてとなにぬねのはひふへほ" },
		{ "CJK full stop with closing bracket", 64,
		  "「あいうえおかきくけ。」さしすせそたちつてとなにぬねのはひふへほ",
		  "「あいうえおかきくけ。」|さしすせそたちつてとなにぬねのはひふへほ" },
		{ "short text is one chunk, kept as-is", 64,
		  "  two  spaces\tand a tab  ",
		  "  two  spaces\tand a tab  " },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		for (enum split how = WHOLE; how <= BYTES; how++) {
			struct chunker_opts o = opts(t[i].size, 0);
			struct rec r;
			struct chunker *c;
			char *got;
			int rc;

			rec_init(&r);
			c = mk(&o, &r);
			rc = feed(c, t[i].in, strlen(t[i].in), 0, how, 0);
			if (rc == 0)
				rc = chunker_finish(c, 0);
			got = rec_join(&r);
			if (rc != 0)
				printf("# error %d\n", rc);
			is_str(rc == 0 ? got : "(error)", t[i].want, "boundary: %s (%s)", t[i].name,
			       split_name[how]);
			free(got);
			chunker_free(c);
			rec_free(&r);
		}
	}
}

static void test_invalid_utf8(void)
{
	static const struct {
		const char *name, *in, *want;
		size_t len; /* 0: strlen(in) */
	} t[] = {
		{ "stray byte", "a\xFF" "b", "a\uFFFDb", 0 },
		{ "lone continuation", "a\x80\x80" "b", "a\uFFFD\uFFFDb", 0 },
		{ "truncated at end", "abc\xC3", "abc\uFFFD", 0 },
		{ "truncated 3-byte before ASCII", "x\xE2\x82" "y", "x\uFFFDy", 0 },
		{ "overlong 2-byte", "\xC0\xAF", "\uFFFD\uFFFD", 0 },
		{ "overlong 3-byte", "\xE0\x80\xAF", "\uFFFD\uFFFD\uFFFD", 0 },
		{ "surrogate", "\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD", 0 },
		{ "above U+10FFFF", "\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD", 0 },
		{ "F5 lead", "\xF5\x80", "\uFFFD\uFFFD", 0 },
		{ "valid 4-byte kept", "\xF0\x9F\x98\x80!", "\xF0\x9F\x98\x80!", 0 },
		{ "valid edge U+10FFFF kept", "\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF", 0 },
		{ "CRLF and CR become LF", "a\r\nb\rc\r\r\nd", "a\nb\nc\n\nd", 0 },
		{ "NUL and C0 dropped, tab kept", "a\0b\x01\x1B\tc\x7F", "ab\tc", 8 },
		{ "form feed becomes LF", "a\fb", "a\nb", 0 },
		{ "whitespace kept as-is", " a  b\t\tc \n d ", " a  b\t\tc \n d ", 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		size_t len = t[i].len ? t[i].len : strlen(t[i].in);

		for (enum split how = WHOLE; how <= BYTES; how++) {
			struct chunker_opts o = opts(1000, 100);
			struct rec r;
			struct chunker *c;
			char *got;

			rec_init(&r);
			c = mk(&o, &r);
			feed(c, t[i].in, len, 1, how, 0);
			chunker_finish(c, 0);
			got = rec_join(&r);
			is_str(got, t[i].want, "utf-8: %s (%s)", t[i].name, split_name[how]);
			free(got);
			chunker_free(c);
			rec_free(&r);
		}
	}
}

/* U+FFFD is three bytes for one: chunk_size still holds. */
static void test_replacement_size(void)
{
	static const struct {
		const char *name, *unit;
		size_t bad; /* replacements per unit */
	} t[] = {
		{ "all invalid", "\xFF", 1 },
		{ "ASCII and invalid", "ab\xFF", 1 },
		{ "words and invalid", "w \x80\x80 ", 2 },
		{ "invalid and 4-byte", "\xC0\xF0\x9F\x98\x80", 1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		for (size_t ov = 0; ov <= 10; ov += 10) {
			struct chunker_opts o = opts(64, ov);
			struct rec r;
			struct chunker *c;
			size_t ul = strlen(t[i].unit), fffd = 0;
			bool fits = true, valid = true;

			rec_init(&r);
			c = mk(&o, &r);
			for (int k = 0; k < 200; k++)
				chunker_feed(c, t[i].unit, ul, 0, 0);
			chunker_finish(c, 0);
			for (size_t j = 0; j < r.nc; j++) {
				fits &= r.c[j].len <= 64;
				valid &= valid_utf8(r.c[j].text, r.c[j].len);
			}
			ok(r.nc > 3 && fits, "U+FFFD: %s, overlap %zu: %zu chunks, all <= chunk_size",
			   t[i].name, ov, r.nc);
			ok(valid, "U+FFFD: %s, overlap %zu: every chunk valid UTF-8", t[i].name, ov);
			if (ov == 0) {
				/* without overlap the chunks are the text */
				for (size_t j = 0; j < r.nc; j++)
					for (char *p = r.c[j].text; (p = strstr(p, "\uFFFD")); p += 3)
						fffd++;
				is_int(fffd, 200 * t[i].bad, "U+FFFD: %s: one per maximal bad subpart",
				       t[i].name);
			}
			chunker_free(c);
			rec_free(&r);
		}
	}

	/* hard case: all U+FFFD, no overlap, exact sizes */
	{
		struct chunker_opts o = opts(64, 0);
		struct rec r;
		struct chunker *c;
		char bad[200];
		bool all63 = true;

		memset(bad, 0xFF, sizeof bad);
		rec_init(&r);
		c = mk(&o, &r);
		chunker_feed(c, bad, sizeof bad, 0, 0);
		chunker_finish(c, 0);
		for (size_t j = 0; j + 1 < r.nc; j++)
			all63 &= r.c[j].len == 63;
		is_int(r.nc, 10, "U+FFFD: 200 bad bytes -> 600 bytes -> 10 chunks");
		ok(all63 && r.nc == 10 && r.c[9].len == 33,
		   "U+FFFD: chunks of 63 bytes (21 x U+FFFD), last 33");
		chunker_free(c);
		rec_free(&r);
	}
}

/* Multilingual text fed whole, byte by byte and in random splits: every
 * chunk is valid UTF-8 and within chunk_size, all three runs agree, and the
 * chunks minus their overlaps are the input. */
static void test_utf8_streaming(void)
{
	static const struct {
		size_t size, overlap;
	} t[] = { { 64, 0 }, { 97, 20 }, { 200, 60 }, { 1000, 100 } };
	char *in = NULL;
	size_t inlen = 0, cap = 0;

	gen_text(&in, &inlen, &cap, 200000, false);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct rec r[3];
		bool valid = true, fits = true, same = true;

		for (enum split how = WHOLE; how <= RANDOM; how++) {
			struct chunker_opts o = opts(t[i].size, t[i].overlap);
			struct chunker *c;

			rec_init(&r[how]);
			c = mk(&o, &r[how]);
			feed(c, in, inlen, 0, how, 0);
			chunker_finish(c, 0);
			chunker_free(c);
		}
		for (size_t j = 0; j < r[0].nc; j++) {
			valid &= valid_utf8(r[0].c[j].text, r[0].c[j].len);
			fits &= r[0].c[j].len <= t[i].size && r[0].c[j].len > 0;
		}
		for (int k = 1; k < 3; k++) {
			same &= r[k].nc == r[0].nc;
			for (size_t j = 0; same && j < r[0].nc; j++)
				same &= strcmp(r[k].c[j].text, r[0].c[j].text) == 0;
		}
		ok(valid, "streaming %zu/%zu: %zu chunks, all valid UTF-8", t[i].size,
		   t[i].overlap, r[0].nc);
		ok(fits, "streaming %zu/%zu: all chunks within chunk_size", t[i].size, t[i].overlap);
		ok(same, "streaming %zu/%zu: whole, byte-by-byte and random feeds agree",
		   t[i].size, t[i].overlap);
		{
			size_t len;
			char *s = reconstruct(&r[2], t[i].overlap, &len);

			ok(len == inlen && memcmp(s, in, len) == 0,
			   "streaming %zu/%zu: chunks minus overlaps reproduce the input", t[i].size,
			   t[i].overlap);
			free(s);
		}
		for (int k = 0; k < 3; k++)
			rec_free(&r[k]);
	}
	free(in);
}

/* The next chunk starts with the previous chunk's last `overlap`-ish
 * bytes: at most overlap, at least overlap/2 minus a word, starting at a
 * word start. */
static void test_overlap(void)
{
	static const size_t ovs[] = { 16, 40, 99 };
	char *in = NULL;
	size_t inlen = 0, cap = 0;

	gen_text(&in, &inlen, &cap, 30000, true);
	for (size_t i = 0; i < ARRAY_SIZE(ovs); i++) {
		struct chunker_opts o = opts(200, ovs[i]);
		struct rec r;
		struct chunker *c;
		bool range = true, word = true, exact = true;
		size_t kmin = SIZE_MAX, kmax = 0, len;
		char *s;

		rec_init(&r);
		c = mk(&o, &r);
		feed(c, in, inlen, 3, RANDOM, 0);
		chunker_finish(c, 0);
		for (size_t j = 1; j < r.nc; j++) {
			const struct rec_chunk *a = &r.c[j - 1], *b = &r.c[j];
			/* where the overlap should start: ovs[i] bytes back, then
			 * at the next word start (words are at most 8 bytes) */
			size_t st = a->len - ovs[i], k;

			if (!is_ws(a->text[st - 1]))
				while (st < a->len && !is_ws(a->text[st]))
					st++;
			while (st < a->len && is_ws(a->text[st]))
				st++;
			k = a->len - st;
			exact &= b->len >= k && memcmp(b->text, a->text + st, k) == 0;
			range &= k <= ovs[i] && k + 10 >= ovs[i] / 2;
			word &= k > 0 && is_ws(a->text[st - 1]) && !is_ws(b->text[0]);
			kmin = k < kmin ? k : kmin;
			kmax = k > kmax ? k : kmax;
		}
		ok(r.nc > 100 && exact, "overlap %zu: each chunk starts with the end of the previous",
		   ovs[i]);
		ok(range, "overlap %zu: overlap length in [%zu, %zu]", ovs[i], kmin, kmax);
		ok(word, "overlap %zu: overlap starts at a word start", ovs[i]);
		s = reconstruct(&r, ovs[i], &len);
		ok(len == inlen && memcmp(s, in, len) == 0,
		   "overlap %zu: chunks minus overlaps reproduce the input", ovs[i]);
		free(s);
		chunker_free(c);
		rec_free(&r);
	}
	free(in);
}

static void test_pages(void)
{
	struct chunker_opts o = opts(64, 16);
	struct rec r;
	struct chunker *c;
	char p1[400] = "", p2[400] = "", p3[400] = "";
	bool own = true, order = true, starts = true;
	unsigned seen[5] = { 0 };

	for (int i = 0; i < 12; i++) {
		strcat(p1, "Page one text. ");
		strcat(p2, "Page two text. ");
		strcat(p3, "Page six text. ");
	}
	rec_init(&r);
	c = mk(&o, &r);
	feed(c, p1, strlen(p1) - 1, 1, RANDOM, 0);
	/* a change of page ends the chunk without end_page */
	feed(c, p2, strlen(p2) - 1, 2, RANDOM, 0);
	chunker_end_page(c, 0);
	feed(c, "   \n\n \t ", 8, 3, WHOLE, 0);
	chunker_end_page(c, 0);
	feed(c, p3, strlen(p3) - 1, 6, BYTES, 0);
	chunker_finish(c, 0);

	for (size_t j = 0; j < r.nc; j++) {
		const char *mine = r.c[j].page == 1 ? "one" : r.c[j].page == 2 ? "two" : "six";
		const char *words[] = { "one", "two", "six" };

		for (int w = 0; w < 3; w++)
			if (strcmp(words[w], mine) != 0 && strstr(r.c[j].text, words[w]))
				own = false;
		if (j > 0 && r.c[j].page < r.c[j - 1].page)
			order = false;
		if ((j == 0 || r.c[j].page != r.c[j - 1].page) && strncmp(r.c[j].text, "Page", 4))
			starts = false;
		if (r.c[j].page < 5)
			seen[r.c[j].page]++;
	}
	ok(own, "pages: no chunk holds text of two pages");
	ok(order, "pages: chunks come in page order");
	ok(starts, "pages: no overlap carried into a new page");
	ok(seen[1] > 2 && seen[2] > 2 && seen[3] == 0,
	   "pages: page numbers kept (1: %u, 2: %u), whitespace-only page 3 has none", seen[1],
	   seen[2]);
	ok(r.nc > 0 && r.c[r.nc - 1].page == 6, "pages: last chunk on page 6");
	is_int(r.nb, 1, "pages: one batch");
	ok(r.nb == 1 && r.b[0].first_page == 1 && r.b[0].last_page == 6,
	   "pages: batch spans pages 1..6");
	{
		size_t len, want = strlen(p1) - 1 + strlen(p2) - 1 + strlen(p3) - 1;
		char *s = reconstruct(&r, 16, &len), *w = xrealloc(NULL, want + 1);

		snprintf(w, want + 1, "%.*s%.*s%.*s", (int)strlen(p1) - 1, p1,
			 (int)strlen(p2) - 1, p2, (int)strlen(p3) - 1, p3);
		is_str(s, w, "pages: chunks minus overlaps are the pages' text");
		free(s);
		free(w);
	}
	ok(!r.bad, "pages: batches consistent");
	chunker_free(c);
	rec_free(&r);

	/* a UTF-8 sequence cut by the end of a page is replaced on each side */
	rec_init(&r);
	o = opts(64, 0);
	c = mk(&o, &r);
	chunker_feed(c, "abc\xC3", 4, 1, 0);
	ok(chunker_deadline(c, 0) == UINT64_MAX, "pages: nothing batched yet");
	chunker_feed(c, NULL, 0, 2, 0);
	ok(chunker_deadline(c, 0) != UINT64_MAX, "pages: an empty feed on a new page ends the last");
	chunker_feed(c, "\xA9" "def", 4, 2, 0);
	chunker_feed(c, "plain", 5, 0, 0);
	chunker_finish(c, 0);
	ok(r.nc == 3 && strcmp(r.c[0].text, "abc\uFFFD") == 0 && r.c[0].page == 1 &&
		   strcmp(r.c[1].text, "\uFFFDdef") == 0 && r.c[1].page == 2 &&
		   strcmp(r.c[2].text, "plain") == 0 && r.c[2].page == 0,
	   "pages: sequence split across pages -> U+FFFD on each page; page 0 for plain text");
	chunker_free(c);
	rec_free(&r);
}

static void test_whitespace_dropped(void)
{
	struct chunker_opts o = opts(64, 0);
	struct rec r;
	struct chunker *c;
	char in[320];
	bool text = true;

	memset(in, ' ', sizeof in);
	memcpy(in, "alpha", 5);
	memcpy(in + sizeof in - 5, "omega", 5);
	rec_init(&r);
	c = mk(&o, &r);
	chunker_feed(c, in, sizeof in, 0, 0);
	chunker_feed(c, "\n\n\t\n", 4, 1, 0);
	chunker_finish(c, 0);
	for (size_t j = 0; j < r.nc; j++)
		text &= has_text(r.c[j].text, r.c[j].len);
	ok(text, "whitespace: no whitespace-only chunk");
	ok(r.nc == 2 && strncmp(r.c[0].text, "alpha", 5) == 0 &&
		   strcmp(r.c[1].text + r.c[1].len - 5, "omega") == 0,
	   "whitespace: 300 spaces between two words give 2 chunks (%zu)", r.nc);
	is_int(chunker_chunks(c), 2, "whitespace: dropped chunks are not counted");
	chunker_free(c);
	rec_free(&r);
}

static void test_batch_size(void)
{
	struct chunker_opts o = opts(64, 0);
	struct rec r;
	struct chunker *c;
	char x[640];

	memset(x, 'x', sizeof x);
	o.batch_size = 3;
	rec_init(&r);
	c = mk(&o, &r);
	chunker_feed(c, x, sizeof x, 0, 0);
	is_int(r.nb, 3, "batch_size 3: 9 chunks cut -> 3 batches before finish");
	chunker_finish(c, 0);
	is_int(r.nb, 4, "batch_size 3: 10 chunks -> 4 batches");
	ok(r.nb == 4 && r.b[0].n == 3 && r.b[1].n == 3 && r.b[2].n == 3 && r.b[3].n == 1,
	   "batch_size 3: 3+3+3+1 chunks");
	ok(r.nb == 4 && r.b[0].id == 1 && r.b[1].id == 2 && r.b[2].id == 3 && r.b[3].id == 4,
	   "batch ids 1..4 when first_batch_id is 0");
	is_int(chunker_chunks(c), 10, "totals: 10 chunks");
	is_int(chunker_batches(c), 4, "totals: 4 batches");
	ok(!r.bad, "batch_size: batches consistent");
	chunker_free(c);
	rec_free(&r);
}

static void test_first_batch_id(void)
{
	struct chunker_opts o = opts(64, 0);
	struct rec r;
	struct chunker *c;
	char x[300];

	memset(x, 'x', sizeof x);
	o.batch_size = 2;
	o.first_batch_id = 41;
	rec_init(&r);
	c = mk(&o, &r);
	chunker_feed(c, x, sizeof x, 7, 0);
	chunker_finish(c, 0);
	ok(r.nb == 3 && r.b[0].id == 41 && r.b[1].id == 42 && r.b[2].id == 43,
	   "first_batch_id 41: ids 41, 42, 43 (resume)");
	is_int(chunker_batches(c), 3, "first_batch_id: chunker_batches counts batches, not ids");
	chunker_free(c);
	rec_free(&r);
}

static void test_max_bytes(void)
{
	static const struct {
		size_t max_bytes;
		size_t before_finish, after_finish; /* batches */
	} t[] = {
		{ 150, 4, 5 }, /* 64+64 fits, a third would not: close before it */
		{ 128, 4, 5 }, /* 64+64 reaches max_bytes: close at once */
		{ 127, 8, 10 },/* one chunk each */
	};
	char x[640];

	memset(x, 'x', sizeof x);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct chunker_opts o = opts(64, 0);
		struct rec r;
		struct chunker *c;

		o.max_bytes = t[i].max_bytes;
		rec_init(&r);
		c = mk(&o, &r);
		chunker_feed(c, x, sizeof x, 0, 0);
		is_int(r.nb, t[i].before_finish, "max_bytes %zu: batches after 9 chunks",
		       t[i].max_bytes);
		chunker_finish(c, 0);
		is_int(r.nb, t[i].after_finish, "max_bytes %zu: batches after 10 chunks",
		       t[i].max_bytes);
		ok(r.max_batch_bytes <= t[i].max_bytes && !r.bad,
		   "max_bytes %zu: largest batch %zu bytes", t[i].max_bytes, r.max_batch_bytes);
		chunker_free(c);
		rec_free(&r);
	}

	/* a chunk larger than max_bytes is split before batching */
	{
		static const size_t ovs[] = { 0, 100 };
		char *in = NULL;
		size_t inlen = 0, cap = 0;

		gen_text(&in, &inlen, &cap, 20000, false);
		for (size_t i = 0; i < ARRAY_SIZE(ovs); i++) {
			struct chunker_opts o = opts(300, ovs[i]), o2 = opts(300, ovs[i]);
			struct rec r, whole;
			struct chunker *c;
			bool valid = true, small = true;

			o.max_bytes = 100;
			o.batch_size = 5;
			rec_init(&r);
			rec_init(&whole);
			c = mk(&o, &r);
			feed(c, in, inlen, 0, RANDOM, 0);
			chunker_finish(c, 0);
			chunker_free(c);
			c = mk(&o2, &whole);
			feed(c, in, inlen, 0, WHOLE, 0);
			chunker_finish(c, 0);
			chunker_free(c);
			for (size_t j = 0; j < r.nc; j++) {
				valid &= valid_utf8(r.c[j].text, r.c[j].len);
				small &= r.c[j].len <= 100;
			}
			ok(r.max_batch_bytes <= 100 && small && !r.bad,
			   "oversize (overlap %zu): no batch or chunk over max_bytes (largest %zu)",
			   ovs[i], r.max_batch_bytes);
			ok(valid, "oversize (overlap %zu): pieces split at character boundaries",
			   ovs[i]);
			{
				/* the pieces, joined, are the unsplit chunks */
				size_t a = 0, b = 0, off = 0;
				bool same = true;

				while (same && a < whole.nc && b < r.nc) {
					const struct rec_chunk *w = &whole.c[a], *p = &r.c[b];

					if (off > 0 && !has_text(w->text + off, w->len - off)) {
						/* a whitespace-only piece is dropped */
						a++;
						off = 0;
						continue;
					}
					same = off + p->len <= w->len &&
					       memcmp(w->text + off, p->text, p->len) == 0;
					off += p->len;
					b++;
					if (off == w->len) {
						a++;
						off = 0;
					}
				}
				if (a + 1 == whole.nc && off > 0 &&
				    !has_text(whole.c[a].text + off, whole.c[a].len - off))
					a++;
				ok(same && a == whole.nc && b == r.nc,
				   "oversize (overlap %zu): %zu chunks split into %zu pieces, nothing lost",
				   ovs[i], whole.nc, r.nc);
			}
			rec_free(&r);
			rec_free(&whole);
		}
		free(in);
	}
}

/* A slow source: the clock is injected. */
static void test_max_wait(void)
{
	struct chunker_opts o = opts(64, 0);
	struct rec r;
	struct chunker *c;

	o.max_wait_ms = 1000;
	rec_init(&r);
	c = mk(&o, &r);
	ok(chunker_deadline(c, 0) == UINT64_MAX, "max_wait: no deadline without a batch");
	chunker_feed(c, "first chunk", 11, 1, 0);
	ok(chunker_deadline(c, 0) == UINT64_MAX,
	   "max_wait: pending text alone does not open a batch");
	chunker_end_page(c, 0);
	is_int(r.nb, 0, "max_wait: end_page does not close the batch");
	is_int(chunker_deadline(c, 0), 1000, "max_wait: deadline 1000 ms at t=0");
	is_int(chunker_deadline(c, 400), 600, "max_wait: deadline 600 ms at t=400");
	r.now = 500;
	chunker_feed(c, "second chunk", 12, 2, 500);
	chunker_end_page(c, 500);
	is_int(chunker_deadline(c, 500), 500,
	       "max_wait: deadline runs from the batch's first chunk, not the last");
	r.now = 999;
	is_int(chunker_tick(c, 999), 0, "max_wait: tick at t=999 ok");
	is_int(r.nb, 0, "max_wait: tick at t=999 emits nothing");
	is_int(chunker_deadline(c, 999), 1, "max_wait: deadline 1 ms at t=999");
	r.now = 1000;
	is_int(chunker_tick(c, 1000), 0, "max_wait: tick at t=1000 ok");
	ok(r.nb == 1 && r.b[0].n == 2 && r.b[0].at_ms == 1000 && r.b[0].first_page == 1 &&
		   r.b[0].last_page == 2,
	   "max_wait: tick at t=1000 emits the batch of 2 chunks");
	ok(chunker_deadline(c, 1000) == UINT64_MAX, "max_wait: no deadline after the flush");
	is_int(chunker_tick(c, 5000), 0, "max_wait: tick with no batch");
	is_int(r.nb, 1, "max_wait: tick with no batch emits nothing");

	/* a feed after the deadline closes the old batch before adding */
	r.now = 2000;
	chunker_feed(c, "third", 5, 3, 2000);
	chunker_end_page(c, 2000);
	r.now = 3500;
	chunker_feed(c, "fourth", 6, 4, 3500);
	is_int(r.nb, 2, "max_wait: a late feed closes the expired batch first");
	ok(r.nb == 2 && r.b[1].n == 1 && r.b[1].first_page == 3 && r.b[1].at_ms == 3500,
	   "max_wait: the expired batch holds only the old chunk");
	chunker_end_page(c, 3500);
	is_int(chunker_deadline(c, 3600), 900, "max_wait: new batch, new deadline");
	r.now = 3600;
	chunker_finish(c, 3600);
	ok(r.nb == 3 && r.b[2].n == 1 && r.b[2].first_page == 4,
	   "max_wait: finish flushes the last batch early");
	ok(r.nb == 3 && r.b[0].id == 1 && r.b[1].id == 2 && r.b[2].id == 3,
	   "max_wait: ids in order");
	chunker_free(c);
	rec_free(&r);
}

static void test_callback_error(void)
{
	struct chunker_opts o = opts(64, 0);
	struct rec r;
	struct chunker *c;
	char x[640];
	int rc;

	memset(x, 'x', sizeof x);
	o.batch_size = 1;
	rec_init(&r);
	r.fail_at = 2;
	r.fail_rc = -EIO;
	c = mk(&o, &r);
	rc = chunker_feed(c, x, sizeof x, 0, 0);
	is_int(rc, -EIO, "error: feed returns the callback's error");
	is_int(r.calls, 2, "error: the pipeline stopped at the failing batch");
	is_int(chunker_feed(c, "more", 4, 0, 0), -EIO, "error: later feed returns it too");
	is_int(chunker_end_page(c, 0), -EIO, "error: end_page returns it");
	is_int(chunker_tick(c, NEVER * 2), -EIO, "error: tick returns it");
	is_int(chunker_finish(c, 0), -EIO, "error: finish returns it");
	is_int(r.calls, 2, "error: no callback after the failure");
	is_int(chunker_batches(c), 1, "error: only the delivered batch is counted");
	is_int(chunker_chunks(c), 1, "error: only the delivered chunk is counted");
	chunker_free(c);
	rec_free(&r);

	/* an error from a flush by tick */
	o = opts(64, 0);
	o.max_wait_ms = 10;
	rec_init(&r);
	r.fail_at = 1;
	r.fail_rc = -ENOSPC;
	c = mk(&o, &r);
	chunker_feed(c, "hello", 5, 0, 0);
	is_int(chunker_end_page(c, 0), 0, "error: end_page before the failure is fine");
	is_int(chunker_tick(c, 9), 0, "error: tick before the deadline is fine");
	is_int(chunker_tick(c, 10), -ENOSPC, "error: tick returns the callback's error");
	is_int(chunker_finish(c, 11), -ENOSPC, "error: finish after it returns it");
	chunker_free(c);
	rec_free(&r);

	/* an error from finish */
	o = opts(64, 0);
	rec_init(&r);
	r.fail_at = 1;
	r.fail_rc = -EPIPE;
	c = mk(&o, &r);
	chunker_feed(c, "hello", 5, 0, 0);
	is_int(chunker_finish(c, 0), -EPIPE, "error: finish returns the callback's error");
	chunker_free(c);
	rec_free(&r);
}

/* Random bytes (invalid UTF-8, controls, CR), random options, random
 * splits, pages and ticks: the invariants hold whatever comes in. */
static void test_random_input(void)
{
	static const struct chunker_opts t[] = {
		{ 64, 0, 1, 64, 1, 0 },
		{ 64, 31, 3, 100, 5, 9 },
		{ 65, 32, 2, 64, 3, 0 },
		{ 100, 40, 7, 256, 20, 0 },
		{ 1000, 100, 20, 800, 50, 1 },
		{ 4096, 1000, 100, 1 << 20, 1000, 0 },
	};
	static const char alphabet[] = "ab c.\n!?\r\t\0\x01\x80\xBF\xC3\xA9\xE3\x80\x82\xF0\x9F\x98\x80\xFF\xED";

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct rec r;
		struct chunker *c;
		bool inv = true, ids = true, pages = true, batches = true;
		uint64_t now = 0;
		unsigned page = 1;
		int rc = 0;

		rec_init(&r);
		c = mk(&t[i], &r);
		for (int round = 0; round < 400 && rc == 0; round++) {
			char buf[300];
			size_t n = rnd_below(sizeof buf);

			for (size_t j = 0; j < n; j++)
				buf[j] = alphabet[rnd_below(sizeof alphabet - 1)];
			now += rnd_below(4);
			r.now = now;
			rc = chunker_feed(c, buf, n, page, now);
			if (rnd_below(8) == 0 && rc == 0)
				rc = chunker_end_page(c, now);
			if (rnd_below(10) == 0)
				page++;
			if (rnd_below(3) == 0 && rc == 0)
				rc = chunker_tick(c, now);
		}
		if (rc == 0)
			rc = chunker_finish(c, now);
		for (size_t j = 0; j < r.nc; j++) {
			const char *s = r.c[j].text;

			inv &= valid_utf8(s, r.c[j].len) && r.c[j].len <= t[i].chunk_size &&
			       r.c[j].len <= t[i].max_bytes && has_text(s, r.c[j].len);
			for (size_t k = 0; k < r.c[j].len; k++)
				inv &= (unsigned char)s[k] >= 0x20 || s[k] == '\n' || s[k] == '\t';
			if (j > 0 && r.c[j].page < r.c[j - 1].page)
				pages = false;
		}
		for (size_t j = 0; j < r.nb; j++) {
			ids &= r.b[j].id == (t[i].first_batch_id ? t[i].first_batch_id : 1) + j;
			batches &= r.b[j].n <= t[i].batch_size && r.b[j].bytes <= t[i].max_bytes;
		}
		is_int(rc, 0, "random %zu: no error", i);
		ok(inv && r.nc > 10,
		   "random %zu: %zu chunks valid, within limits, no controls, not blank", i, r.nc);
		ok(batches && !r.bad, "random %zu: %zu batches within batch_size and max_bytes", i,
		   r.nb);
		ok(ids, "random %zu: consecutive ids from first_batch_id", i);
		ok(pages, "random %zu: pages in order", i);
		ok(chunker_chunks(c) == r.nc && chunker_batches(c) == r.nb,
		   "random %zu: totals match what the callback saw", i);
		chunker_free(c);
		rec_free(&r);
	}
}

/* ---- 50 MB streaming run ----------------------------------------------- */

struct big {
	struct rec r;
	size_t base, peak; /* heap in use before, most seen in a callback */
};

static size_t heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

static int big_cb(const struct batch *b, void *arg)
{
	struct big *g = arg;
	size_t h = heap_in_use();

	if (h > g->peak)
		g->peak = h;
	return rec_cb(b, &g->r);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_big_stream(void)
{
	const size_t total = 50u << 20, block = 1u << 20, slice = 64u << 10;
	struct chunker_opts o = opts(1000, 100);
	struct big g;
	struct chunker *c;
	char *text = NULL;
	size_t textlen = 0, cap = 0, fed = 0, bound;
	double t0, t1;
	bool measurable;
	int rc = 0;

	/* a 1 MiB block of mixed text, fed round and round in 64 KiB slices
	 * (which fall inside UTF-8 sequences) */
	gen_text(&text, &textlen, &cap, block, false);
	o.batch_size = 1000;
	o.max_bytes = 64 << 10;
	memset(&g, 0, sizeof g);
	g.base = heap_in_use();
	c = chunker_new(&o, big_cb, &g);
	ok(c != NULL, "50 MB: chunker created");
	if (!c)
		return;
	t0 = now_s();
	while (fed < total && rc == 0) {
		size_t off = fed % textlen, n = slice;

		if (n > textlen - off)
			n = textlen - off;
		rc = chunker_feed(c, text + off, n, 0, 0);
		fed += n;
	}
	if (rc == 0)
		rc = chunker_finish(c, 0);
	t1 = now_s();

	is_int(rc, 0, "50 MB: streamed without error");
	ok(g.r.max_batch_bytes <= o.max_bytes && g.r.max_batch_n <= o.batch_size && !g.r.bad,
	   "50 MB: no batch over max_bytes (largest %zu of %zu)", g.r.max_batch_bytes,
	   o.max_bytes);
	ok(g.r.max_chunk_len <= o.chunk_size, "50 MB: no chunk over chunk_size (largest %zu)",
	   g.r.max_chunk_len);
	ok(chunker_chunks(c) > total / o.chunk_size && chunker_batches(c) == g.r.nb,
	   "50 MB: %llu chunks in %llu batches", (unsigned long long)chunker_chunks(c),
	   (unsigned long long)chunker_batches(c));

	/* What the chunker may hold: the pending buffer, the open batch's
	 * text and a NUL per chunk, its chunk array; plus allocator slack.
	 * The test records nothing in this run, so the heap is the chunker's. */
	bound = o.chunk_size + o.max_bytes + o.batch_size * (1 + sizeof(struct chunk)) + (16 << 10);
	measurable = g.base > 0 && g.peak > g.base;
#if defined(__SANITIZE_ADDRESS__)
	measurable = false;
#endif
	if (measurable)
		ok(g.peak - g.base <= bound,
		   "50 MB: heap in use stayed bounded: peak +%zu KiB (bound %zu KiB)",
		   (g.peak - g.base) >> 10, bound >> 10);
	else
		ok(1, "50 MB: heap in use stayed bounded # SKIP mallinfo2 does not see this allocator");
	printf("# chunker throughput: %zu MiB of mixed-script text in %.3f s = %.0f MB/s\n",
	       fed >> 20, t1 - t0, fed / 1e6 / (t1 - t0));
	chunker_free(c);
	rec_free(&g.r);
	free(text);
}

/* Resuming inside a page: the chunks an earlier attempt flushed are
 * dropped, so the two attempts together give exactly the chunks of one
 * uninterrupted run, whatever the batch size. */
static void test_skip_chunks(void)
{
	struct chunker_opts o = opts(64, 8);
	struct rec whole, resumed;
	struct chunker *c;
	char *text = NULL;
	size_t len = 0, cap = 0, on_page2 = 0, skip;

	gen_text(&text, &len, &cap, 2000, true);
	rec_init(&whole);
	c = mk(&o, &whole);
	for (unsigned p = 1; p <= 3; p++) {
		chunker_feed(c, text, len, p, 0);
		chunker_end_page(c, 0);
	}
	chunker_finish(c, 0);
	chunker_free(c);
	for (size_t i = 0; i < whole.nc; i++)
		on_page2 += whole.c[i].page == 2;
	skip = on_page2 / 2;
	/* The second attempt starts at page 2 with a different batch size. */
	o.skip_page = 2;
	o.skip_chunks = skip;
	o.batch_size = 3;
	rec_init(&resumed);
	c = mk(&o, &resumed);
	for (unsigned p = 2; p <= 3; p++) {
		chunker_feed(c, text, len, p, 0);
		chunker_end_page(c, 0);
	}
	chunker_finish(c, 0);
	chunker_free(c);
	{
		size_t first = 0;
		bool same = true;
		while (first < whole.nc && whole.c[first].page < 2)
			first++;
		first += skip;   /* what the first attempt flushed of page 2 */
		same = resumed.nc == whole.nc - first;
		for (size_t i = 0; same && i < resumed.nc; i++)
			same = resumed.c[i].page == whole.c[first + i].page &&
			       resumed.c[i].len == whole.c[first + i].len &&
			       memcmp(resumed.c[i].text, whole.c[first + i].text, resumed.c[i].len) == 0;
		ok(on_page2 >= 4, "page 2 makes several chunks (%zu)", on_page2);
		ok(same, "resumed inside page 2 after %zu of its chunks: the rest, exactly (%zu chunks)",
		   skip, resumed.nc);
	}
	rec_free(&whole);
	rec_free(&resumed);
	free(text);
}

int main(void)
{
	test_options();
	test_boundaries();
	test_invalid_utf8();
	test_replacement_size();
	test_utf8_streaming();
	test_overlap();
	test_pages();
	test_whitespace_dropped();
	test_batch_size();
	test_first_batch_id();
	test_skip_chunks();
	test_max_bytes();
	test_max_wait();
	test_callback_error();
	test_random_input();
	test_big_stream();
	return tap_done();
}
