/* pagetext_fix: poppler's selection text and the box of each character
 * in, the page text with words apart where pdftotext has them apart out. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pagetext.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_BOXES 64

/* A line of text as poppler lays it out: a run of characters, each
 * `adv` wide, starting at x on the baseline box [y, y + h]; a character
 * in `gaps` is preceded by `gap` more points (a word poppler kept apart
 * from the one before without a space). */
struct run {
	const char *text;   /* UTF-8, one box per character */
	double x, y, adv, h;
};

/* Boxes for text made of runs laid one after another: each run's
 * characters left to right (for rotation 0), a space or newline in the
 * text gets a box like poppler's (the gap between words; a point at the
 * end of the line). Returns the number of boxes. */
static size_t layout(const struct run *runs, size_t nruns, struct pagetext_box *box)
{
	size_t n = 0;

	for (size_t r = 0; r < nruns; r++) {
		double x = runs[r].x;

		for (const char *p = runs[r].text; *p;) {
			size_t len = 1;

			while ((p[len] & 0xC0) == 0x80)
				len++;
			if (*p == '\n')
				box[n++] = (struct pagetext_box){ x, runs[r].y + runs[r].h, x,
								  runs[r].y + runs[r].h };
			else {
				box[n++] = (struct pagetext_box){ x, runs[r].y, x + runs[r].adv,
								  runs[r].y + runs[r].h };
				x += runs[r].adv;
			}
			p += len;
		}
	}
	return n;
}

static char *fix(const char *text, const struct pagetext_box *box, size_t n, int *ret_r)
{
	char *out = NULL;
	size_t len = 0;

	*ret_r = pagetext_fix(text, strlen(text), box, n, &out, &len);
	if (*ret_r == 0 && len != strlen(out)) {
		printf("# length %zu but %zu bytes before the NUL\n", len, strlen(out));
		*ret_r = -EBADMSG;
	}
	return out;
}

static void test_layouts(void)
{
	/* Box heights of 10 (a 10 pt font); characters 5 wide. */
	static const struct {
		const char *name;
		struct run runs[4];
		size_t nruns;
		const char *want;
	} t[] = {
		{ "one word, boxes edge to edge",
		  { { "word", 0, 0, 5, 10 } }, 1, "word" },
		{ "words with spaces", { { "two words", 0, 0, 5, 10 } }, 1, "two words" },
		{ "a label glued to its text (a table row): space",
		  { { "\\oval", 0, 0, 5, 10 }, { "Use it", 50, 0, 5, 10 } }, 2, "\\oval Use it" },
		{ "a title glued to its page number: space",
		  { { "Chapters", 0, 0, 5, 10 }, { "1", 400, 0, 5, 10 } }, 2, "Chapters 1" },
		{ "a cell's last line glued to the next cell's first, lower: newline",
		  { { "end", 100, 0, 5, 10 }, { "next", 0, 30, 5, 10 } }, 2, "end\nnext" },
		{ "a gap of 0.1 box heights: still one word (poppler's own line)",
		  { { "ab", 0, 0, 5, 10 }, { "cd", 11, 0, 5, 10 } }, 2, "abcd" },
		{ "a gap of 0.2 box heights between words of letters: apart",
		  { { "ab", 0, 0, 5, 10 }, { "cd", 12, 0, 5, 10 } }, 2, "ab cd" },
		{ "letter-spaced one-letter words 0.3 box heights apart: one word",
		  { { "T", 0, 0, 5, 10 }, { "I", 8, 0, 5, 10 }, { "T", 16, 0, 5, 10 },
		    { "LE", 24, 0, 5, 10 } }, 4, "TITLE" },
		{ "a one-letter word 0.7 box heights away: apart",
		  { { "y", 0, 0, 5, 10 }, { "(9", 12, 0, 5, 10 } }, 2, "y (9" },
		{ "a superscript, raised and smaller: one word",
		  { { "10", 0, 0, 5, 10 }, { "-24", 10, -3, 3, 6 } }, 2, "10-24" },
		{ "an overstrike (next starts inside the last): one word",
		  { { "ab", 0, 0, 5, 10 }, { "c", 7, 0, 5, 10 } }, 2, "abc" },
		{ "a hyphenated line joined without its hyphen",
		  { { "docu-\n", 0, 0, 5, 10 }, { "ment here", 0, 12, 5, 10 } }, 2, "document here" },
		{ "a hyphen on the last line stays",
		  { { "end-", 0, 0, 5, 10 } }, 1, "end-" },
		{ "lines stay lines",
		  { { "one\n", 0, 0, 5, 10 }, { "two", 0, 12, 5, 10 } }, 2, "one\ntwo" },
		{ "CJK edge to edge: one run",
		  { { "日本語の文章。次", 0, 0, 10, 10 } }, 1, "日本語の文章。次" },
		{ "CJK cells of a table row: apart",
		  { { "項目", 0, 0, 10, 10 }, { "説明", 80, 0, 10, 10 } }, 2, "項目 説明" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct pagetext_box box[MAX_BOXES];
		char text[256] = "";
		size_t n = layout(t[i].runs, t[i].nruns, box);
		char *got;
		int r;

		for (size_t k = 0; k < t[i].nruns; k++)
			strcat(text, t[i].runs[k].text);
		got = fix(text, box, n, &r);
		is_int(r, 0, "%s: accepted", t[i].name);
		is_str(got, t[i].want, "%s", t[i].name);
		free(got);
	}
}

/* Vertical text (rotation 1): boxes share their left and right edges
 * and follow each other down the page. */
static void test_vertical(void)
{
	struct pagetext_box box[8];
	char *got;
	int r;

	for (int k = 0; k < 4; k++)
		box[k] = (struct pagetext_box){ 100, 10.0 * k, 110, 10.0 * (k + 1) };
	got = fix("縦書き", box, 3, &r);
	is_str(got, "縦書き", "vertical: a column edge to edge is one word");
	free(got);
	box[2] = (struct pagetext_box){ 100, 80, 110, 90 };
	got = fix("縦書き", box, 3, &r);
	is_str(got, "縦書\nき", "vertical: a wide gap down the column parts the words");
	free(got);
}

/* Right-to-left: poppler's text has U+202B ... U+202C around the run,
 * which have no box; the boxes run right to left. */
static void test_rtl(void)
{
	static const char text[] = "\u202B\u05DD\u05D5\u05DC\u05E9\u202C text";
	struct pagetext_box box[MAX_BOXES];
	size_t n = 0;
	char *got;
	int r;

	for (int k = 0; k < 4; k++)
		box[n++] = (struct pagetext_box){ 40 - 5.0 * (k + 1), 0, 40 - 5.0 * k, 10 };
	box[n++] = (struct pagetext_box){ 40, 0, 45, 10 };   /* the space */
	for (int k = 0; k < 4; k++)
		box[n++] = (struct pagetext_box){ 45 + 5.0 * k, 0, 50 + 5.0 * k, 10 };
	got = fix(text, box, n, &r);
	is_int(r, 0, "right-to-left: marks without boxes are accepted");
	is_str(got, text, "right-to-left: the text is unchanged");
	free(got);
}

static void test_mismatch(void)
{
	struct pagetext_box box[4] = { { 0, 0, 5, 10 }, { 5, 0, 10, 10 } };
	char *got = NULL;
	size_t len = 0;
	int r;

	r = pagetext_fix("abc", 3, box, 2, &got, &len);
	ok(r == -EINVAL && got == NULL, "fewer boxes than characters: -EINVAL, nothing returned");
	r = pagetext_fix("a", 1, box, 2, &got, &len);
	ok(r == -EINVAL && got == NULL, "more boxes than characters: -EINVAL");
	r = pagetext_fix("multi-\nline text-\nhere-", 23, NULL, 0, &got, &len);
	is_int(r, 0, "no boxes: accepted");
	is_str(got, "multiline texthere-", "no boxes: hyphenated lines are still joined");
	free(got);
	/* Invalid UTF-8 (poppler's text is not, but): a stray continuation
	 * byte is part of the character before it, one box each. */
	got = fix("a\x80\x80" "b", box, 2, &r);
	is_int(r, 0, "invalid UTF-8: characters counted by lead bytes");
	is_str(got, "a\x80\x80" "b", "invalid UTF-8: passed through, no box read beyond the last");
	free(got);
	/* Degenerate boxes (zero height) cannot be judged: no break. */
	box[1] = (struct pagetext_box){ 300, 0, 300, 0 };
	got = fix("ab", box, 2, &r);
	is_str(got, "ab", "a zero-size box: no break added");
	free(got);
	got = fix("", box, 0, &r);
	is_str(got, "", "empty text: empty result");
	free(got);
}

/* s without spaces, newlines and hyphens, into out. */
static void strip(const char *s, char *out)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\n' && *s != '-')
			*out++ = *s;
	*out = '\0';
}

/* Any text and any boxes (NaN, infinite, inverted, overlapping): never
 * more than len + nbox bytes, and the characters are the text's, in
 * order, but for the spaces and newlines added and hyphens dropped. */
static void test_random(void)
{
	static const char *const pieces[] = {
		"a", "Z", "-", " ", "\n", "\t", "é", "日", "\u202B", "\u202C", "\u05E9", "😀", "0",
	};
	static const double values[] = { 0, 1, -1, 5, 10, 12, 300, -300, 1e308, -1e308,
					 __builtin_inf(), -__builtin_inf(), __builtin_nan("") };
	unsigned seed = 12345;
	bool all_ok = true, all_bounded = true, all_same = true;

	for (int round = 0; round < 3000; round++) {
		char text[512] = "", a[1024], b[1024], *got = NULL;
		struct pagetext_box box[128];
		size_t nchars = 0, nmarks = 0, nbox, len = 0;
		int r;

		for (int k = (int)((seed = seed * 1103515245 + 12345) >> 16) % 40; k > 0; k--) {
			const char *p = pieces[((seed = seed * 1103515245 + 12345) >> 16) % 13];

			strcat(text, p);
			nchars++;
			nmarks += p[0] == '\xE2';
		}
		nbox = round % 3 == 0 ? nchars : nchars - nmarks;
		for (size_t k = 0; k < nbox; k++) {
			double v[4];

			for (int c = 0; c < 4; c++)
				v[c] = round % 5 == 0 ? values[((seed = seed * 1103515245 + 12345) >> 16) % 13]
						      : (double)(((seed = seed * 1103515245 + 12345) >> 16) % 50);
			box[k] = (struct pagetext_box){ v[0], v[1], v[2], v[3] };
		}
		r = pagetext_fix(text, strlen(text), box, nbox, &got, &len);
		if (r != 0) {
			all_ok = false;
			continue;
		}
		all_bounded &= len <= strlen(text) + nbox && len == strlen(got);
		strip(text, a);
		strip(got, b);
		all_same &= strcmp(a, b) == 0;
		free(got);
	}
	ok(all_ok, "random text and boxes: always accepted");
	ok(all_bounded, "random text and boxes: never more than len + nbox bytes");
	ok(all_same, "random text and boxes: the text's characters, in order");
}

int main(void)
{
	test_layouts();
	test_vertical();
	test_rtl();
	test_mismatch();
	test_random();
	return tap_done();
}
