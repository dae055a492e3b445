/* textcmp: how much of two extracted texts is the same, after whitespace
 * is normalised (every run of whitespace counts as one space).
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
 * below, 2 for bad usage or an unreadable file. */
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

/* Split into words and pages (a trailing form feed ends the last page
 * rather than starting an empty one). */
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
		if (t->nw == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 4096;
			t->w = xrealloc(t->w, t->cap * sizeof *t->w);
		}
		t->w[t->nw].s = t->data + i;
		h = 2166136261u;
		while (i < t->len && !is_space(t->data[i]) && t->data[i] != '\f')
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

int main(int argc, char **argv)
{
	struct text t[2] = { 0 };
	double min = 99.0, sim;
	uint64_t ca, cb, matched = 0;
	int argi = 1;
	bool by_page;

	if (argc == 5 && strcmp(argv[1], "--min") == 0) {
		min = strtod(argv[2], NULL);
		argi = 3;
	}
	if (argc - argi != 2) {
		fprintf(stderr, "usage: textcmp [--min PERCENT] EXPECTED GOT\n");
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
	if (ca == 0) {
		/* Two empty texts would match "100%" and prove nothing. */
		fprintf(stderr, "textcmp: %s has no text: nothing to compare against\n",
			argv[argi]);
		return 2;
	}
	sim = 200.0 * (double)matched / (double)(ca + cb);
	printf("pages %zu chars %llu %llu matched %llu similarity %.3f%%\n", t[0].npages,
	       (unsigned long long)ca, (unsigned long long)cb, (unsigned long long)matched, sim);
	return sim >= min ? 0 : 1;
}
