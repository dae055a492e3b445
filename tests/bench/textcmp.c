/* textcmp: how much of two extracted texts is the same, after whitespace
 * is normalised (every run of whitespace counts as one space, and so does
 * a bidi embedding mark, U+202A-U+202E, which poppler puts around right-
 * to-left runs, per word in its selection text, per line in pdftotext).
 *
 *   textcmp [--min PERCENT] EXPECTED GOT
 *
 * Both files are split into pages at form feeds (pdftotext ends every page
 * with one; framecat --text does the same), and each pair of pages is
 * aligned word by word with Myers' O(ND) difference algorithm. A word
 * common to both, in order, counts its characters and the space after it
 * as matching; a word that differs in a single character counts as
 * different, so the figure errs low. Prints
 *
 *   pages P chars A B matched M similarity S%
 *
 * where S = 200 M / (A + B). If the page counts differ the files are
 * compared as one page each. Exit: 0 when S >= --min (default 99), 1 when
 * below, 2 for bad usage or an unreadable file.
 *
 *   textcmp --words [--min-recall R] [--max-extra X] [--show N] EXPECTED GOT
 *
 * Word fidelity instead, order aside: words are runs of non-whitespace
 * (bidi marks included, as above), compared byte for byte. Prints
 *
 *   words A B recall R% distinct D extra E extra_rate X%
 *
 * where R is the share of EXPECTED's words (counted with repeats, page by
 * page when both have the same pages) that GOT also has on that page, and
 * X = 100 E / D, E being the distinct words of GOT that appear nowhere in
 * EXPECTED (words glued together, split apart or mangled) out of GOT's D
 * distinct words. --show N lists up to N of those extra words and N of
 * the missed ones on standard error. Exit: 0 when R >= --min-recall
 * (default 99.5) and X <= --max-extra (default 0.2), 1 otherwise, 2 as
 * above. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct word {
	const char *s;
	size_t len;
	uint32_t hash;
};

struct text {
	char *data;
	size_t len;
	struct word *w;     /* every word, pages one after another */
	size_t nw, cap;
	size_t *page_at;    /* index of each page's first word, plus nw */
	size_t npages;
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "textcmp: out of memory\n");
		exit(2);
	}
	return p;
}

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 20, n = 0, r;
	char *buf;

	if (!f) {
		fprintf(stderr, "textcmp: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	buf = xrealloc(NULL, cap);
	while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	fclose(f);
	*ret_len = n;
	return buf;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v';
}

/* Length of the bidi embedding mark at p (U+202A-U+202E, which poppler
 * puts around right-to-left runs, per word or per line), or 0. They
 * separate words like whitespace: where pdftotext and the worker place
 * them differently, the words between them are still the same. */
static size_t bidi_mark(const char *p, size_t left)
{
	return left >= 3 && (unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
	       (unsigned char)p[2] >= 0xAA && (unsigned char)p[2] <= 0xAE ? 3 : 0;
}

/* Split into words and pages (a trailing form feed ends the last page
 * rather than starting an empty one). */
/* Both texts' memory (LeakSanitizer checks this tool too). */
static void text_free(struct text *t)
{
	for (int i = 0; i < 2; i++) {
		free(t[i].data);
		free(t[i].w);
		free(t[i].page_at);
	}
}

static void split(struct text *t, bool pages)
{
	size_t i = 0, page_cap = 16;
	uint32_t h;

	t->page_at = xrealloc(NULL, page_cap * sizeof *t->page_at);
	t->page_at[0] = 0;
	t->npages = 0;
	while (i < t->len) {
		char c = t->data[i];

		if (c == '\f' && pages) {
			if (t->npages + 2 > page_cap)
				t->page_at = xrealloc(t->page_at, (page_cap *= 2) * sizeof *t->page_at);
			t->page_at[++t->npages] = t->nw;
			i++;
			continue;
		}
		if (is_space(c) || c == '\f') {
			i++;
			continue;
		}
		if (bidi_mark(t->data + i, t->len - i)) {
			i += 3;
			continue;
		}
		if (t->nw == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 4096;
			t->w = xrealloc(t->w, t->cap * sizeof *t->w);
		}
		t->w[t->nw].s = t->data + i;
		h = 2166136261u;
		while (i < t->len && !is_space(t->data[i]) && t->data[i] != '\f' &&
		       !bidi_mark(t->data + i, t->len - i))
			h = (h ^ (unsigned char)t->data[i++]) * 16777619u;
		t->w[t->nw].len = (size_t)(t->data + i - t->w[t->nw].s);
		t->w[t->nw].hash = h;
		t->nw++;
	}
	/* Text after the last form feed is one more page. */
	if (t->npages == 0 || t->page_at[t->npages] < t->nw) {
		if (t->npages + 2 > page_cap)
			t->page_at = xrealloc(t->page_at, (page_cap + 2) * sizeof *t->page_at);
		t->page_at[++t->npages] = t->nw;
	}
}

static bool same(const struct word *a, const struct word *b)
{
	return a->hash == b->hash && a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* Characters of a[0, n) and b[0, m) in words common to both, in order:
 * Myers' greedy algorithm, keeping each round's V to walk the path back. */
static uint64_t common_chars(const struct word *a, size_t n, const struct word *b, size_t m)
{
	size_t max = n + m, d, found = SIZE_MAX;
	ptrdiff_t off = (ptrdiff_t)max + 1;
	size_t *v = xrealloc(NULL, (2 * max + 3) * sizeof *v);
	size_t **hist = xrealloc(NULL, (max + 1) * sizeof *hist);
	uint64_t chars = 0;
	ptrdiff_t k;
	size_t x, y;

	v[off + 1] = 0;
	for (d = 0; d <= max && found == SIZE_MAX; d++) {
		for (k = -(ptrdiff_t)d; k <= (ptrdiff_t)d; k += 2) {
			if (k == -(ptrdiff_t)d || (k != (ptrdiff_t)d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			y = (size_t)((ptrdiff_t)x - k);
			while (x < n && y < m && same(&a[x], &b[y]))
				x++, y++;
			v[off + k] = x;
			if (x >= n && y >= m) {
				found = d;
				break;
			}
		}
		/* V after round d, for k in [-d, d]. */
		hist[d] = xrealloc(NULL, (2 * d + 1) * sizeof **hist);
		memcpy(hist[d], &v[off - (ptrdiff_t)d], (2 * d + 1) * sizeof **hist);
	}
	/* Walk back from (n, m), counting the diagonal (matching) steps. */
	x = n;
	y = m;
	for (d = found; ; d--) {
		ptrdiff_t kk = (ptrdiff_t)x - (ptrdiff_t)y, pk;
		size_t px, py;

		if (d == 0) {
			for (; x > 0; x--)
				chars += a[x - 1].len + 1;
			break;
		}
#define H(dd, kk_) (hist[dd][(kk_) + (ptrdiff_t)(dd)])
		if (kk == -(ptrdiff_t)d || (kk != (ptrdiff_t)d && H(d - 1, kk - 1) < H(d - 1, kk + 1)))
			pk = kk + 1;
		else
			pk = kk - 1;
		px = H(d - 1, pk);
#undef H
		py = (size_t)((ptrdiff_t)px - pk);
		/* The snake of round d starts right after the one edit. */
		while (x > px + (pk == kk - 1) && y > py + (pk == kk + 1)) {
			chars += a[x - 1].len + 1;
			x--, y--;
		}
		x = px;
		y = py;
	}
	for (d = 0; d <= found && d <= max; d++)
		free(hist[d]);
	free(hist);
	free(v);
	return chars;
}

static uint64_t norm_chars(const struct word *w, size_t n)
{
	uint64_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += w[i].len + 1;
	return c ? c - 1 : 0;
}

/* ---- word fidelity (--words) ------------------------------------------ */

/* An open-addressing set of words with a count per word. */
struct bag {
	const struct word **slot;
	uint32_t *count;
	size_t cap, n;
};

static void bag_init(struct bag *b, size_t want)
{
	b->cap = 64;
	while (b->cap < 2 * want + 2)
		b->cap *= 2;
	b->slot = xrealloc(NULL, b->cap * sizeof *b->slot);
	b->count = xrealloc(NULL, b->cap * sizeof *b->count);
	memset(b->slot, 0, b->cap * sizeof *b->slot);
	b->n = 0;
}

static void bag_free(struct bag *b)
{
	free(b->slot);
	free(b->count);
}

/* The slot of w: where it is, or the empty one where it would go. */
static size_t bag_find(const struct bag *b, const struct word *w)
{
	size_t i = w->hash & (b->cap - 1);

	while (b->slot[i] && !same(b->slot[i], w))
		i = (i + 1) & (b->cap - 1);
	return i;
}

static void bag_add(struct bag *b, const struct word *w)
{
	size_t i = bag_find(b, w);

	if (!b->slot[i]) {
		b->slot[i] = w;
		b->count[i] = 0;
		b->n++;
	}
	b->count[i]++;
}

/* Take one w out of the bag; false when there was none left. */
static bool bag_take(struct bag *b, const struct word *w)
{
	size_t i = bag_find(b, w);

	if (!b->slot[i] || b->count[i] == 0)
		return false;
	b->count[i]--;
	return true;
}

static void show_word(const char *what, const struct word *w)
{
	fprintf(stderr, "textcmp: %s: %.*s\n", what, (int)w->len, w->s);
}

static int compare_words(struct text *t, double min_recall, double max_extra,
			 long show)
{
	struct bag all, seen, page;
	uint64_t matched = 0, extra = 0;
	long shown_extra = 0, shown_missed = 0;
	double recall, rate;

	/* Recall, page by page: every expected word that got's page holds. */
	for (size_t p = 0; p < t[0].npages; p++) {
		size_t a0 = t[0].page_at[p], a1 = t[0].page_at[p + 1];
		size_t b0 = t[1].page_at[p], b1 = t[1].page_at[p + 1];

		bag_init(&page, b1 - b0);
		for (size_t i = b0; i < b1; i++)
			bag_add(&page, &t[1].w[i]);
		for (size_t i = a0; i < a1; i++) {
			if (bag_take(&page, &t[0].w[i]))
				matched++;
			else if (shown_missed < show) {
				show_word("missed", &t[0].w[i]);
				shown_missed++;
			}
		}
		bag_free(&page);
	}
	/* Extra: got's distinct words that expected has nowhere. */
	bag_init(&all, t[0].nw);
	for (size_t i = 0; i < t[0].nw; i++)
		bag_add(&all, &t[0].w[i]);
	bag_init(&seen, t[1].nw);
	for (size_t i = 0; i < t[1].nw; i++) {
		size_t j = bag_find(&seen, &t[1].w[i]);

		if (seen.slot[j])
			continue;
		bag_add(&seen, &t[1].w[i]);
		if (!all.slot[bag_find(&all, &t[1].w[i])]) {
			extra++;
			if (shown_extra < show) {
				show_word("extra", &t[1].w[i]);
				shown_extra++;
			}
		}
	}
	recall = t[0].nw ? 100.0 * (double)matched / (double)t[0].nw : 0;
	rate = seen.n ? 100.0 * (double)extra / (double)seen.n : 0;
	printf("words %zu %zu recall %.3f%% distinct %zu extra %llu extra_rate %.3f%%\n",
	       t[0].nw, t[1].nw, recall, seen.n, (unsigned long long)extra, rate);
	bag_free(&all);
	bag_free(&seen);
	return recall >= min_recall && rate <= max_extra ? 0 : 1;
}

/* A number option's value, or exit 2. */
static double num_arg(const char *opt, const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end != '\0' || v < 0) {
		fprintf(stderr, "textcmp: %s: expected a number >= 0, got '%s'\n", opt, arg);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct text t[2] = { 0 };
	double min = 99.0, min_recall = 99.5, max_extra = 0.2, sim;
	uint64_t ca, cb, matched = 0;
	bool by_page, words = false;
	long show = 0;
	int argi = 1;

	for (; argi < argc && strncmp(argv[argi], "--", 2) == 0; argi++) {
		const char *opt = argv[argi];

		if (strcmp(opt, "--words") == 0) {
			words = true;
			continue;
		}
		if (argi + 1 >= argc || (strcmp(opt, "--min") != 0 && strcmp(opt, "--min-recall") != 0 &&
					 strcmp(opt, "--max-extra") != 0 && strcmp(opt, "--show") != 0))
			break;
		if (strcmp(opt, "--min") == 0)
			min = num_arg(opt, argv[++argi]);
		else if (strcmp(opt, "--min-recall") == 0)
			min_recall = num_arg(opt, argv[++argi]);
		else if (strcmp(opt, "--max-extra") == 0)
			max_extra = num_arg(opt, argv[++argi]);
		else
			show = (long)num_arg(opt, argv[++argi]);
	}
	if (argc - argi != 2) {
		fprintf(stderr, "usage: textcmp [--min PERCENT] EXPECTED GOT\n"
				"       textcmp --words [--min-recall PERCENT] [--max-extra PERCENT] "
				"[--show N] EXPECTED GOT\n");
		return 2;
	}
	for (int i = 0; i < 2; i++) {
		t[i].data = slurp(argv[argi + i], &t[i].len);
		split(&t[i], true);
	}
	by_page = t[0].npages == t[1].npages;
	if (!by_page) {
		fprintf(stderr, "textcmp: %zu pages against %zu; comparing whole texts\n",
			t[0].npages, t[1].npages);
		for (int i = 0; i < 2; i++) {
			free(t[i].w);
			free(t[i].page_at);
			t[i].w = NULL;
			t[i].nw = t[i].cap = 0;
			split(&t[i], false);
		}
	}
	if (t[0].nw == 0) {
		/* Two empty texts would match "100%" and prove nothing. */
		fprintf(stderr, "textcmp: %s has no text: nothing to compare against\n",
			argv[argi]);
		text_free(t);
		return 2;
	}
	if (words) {
		int r = compare_words(t, min_recall, max_extra, show);
		text_free(t);
		return r;
	}
	for (size_t p = 0; p < t[0].npages; p++) {
		size_t a0 = t[0].page_at[p], a1 = t[0].page_at[p + 1];
		size_t b0 = t[1].page_at[p], b1 = t[1].page_at[p + 1];
		uint64_t c = common_chars(t[0].w + a0, a1 - a0, t[1].w + b0, b1 - b0);

		/* The last common word of a page has no space after it. */
		matched += c && (a1 - a0) && (b1 - b0) ? c - (c > 0) : 0;
	}
	ca = norm_chars(t[0].w, t[0].nw);
	cb = norm_chars(t[1].w, t[1].nw);
	/* Pages are joined by one space in the normalised text. */
	if (by_page && t[0].npages > 1)
		matched += t[0].npages - 1;
	if (matched > ca || matched > cb)
		matched = ca < cb ? ca : cb;
	sim = 200.0 * (double)matched / (double)(ca + cb);
	printf("pages %zu chars %llu %llu matched %llu similarity %.3f%%\n", t[0].npages,
	       (unsigned long long)ca, (unsigned long long)cb, (unsigned long long)matched, sim);
	text_free(t);
	return sim >= min ? 0 : 1;
}
