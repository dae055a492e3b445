#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pagetext.h"

/*
 * When are two characters that poppler put side by side, with no space
 * between them, really next to each other on the page?
 *
 * Within one of poppler's lines, words more than 3% of the font size
 * apart get a space (TextLine::coalesce, maxCharSpacing), except in a
 * line of one-character words (letter-spaced titles, some CJK), where
 * the threshold grows with the spacing up to 40% of the font size
 * (maxWideCharSpacing). A character box is as tall as the font's ascent
 * to descent, about 1 to 1.2 font sizes. So two characters that poppler
 * left together in a line are less than 0.03 box heights apart, or 0.4
 * when one of them is a word on its own; a wider gap means they came
 * from two blocks that the selection code joined, the cells of one table
 * row: a label and its body (LaTeX's description lists put \labelsep,
 * half an em, between them), a title and its page number, the cells of
 * a table. On real documents (see tests/bench) the gaps inside lines are
 * under 0.1 box heights and those between cells over 1, but for some
 * one-character bullets at 0.7.
 */
/* The widest gap, in box heights, that still continues a line: between
 * two words of several characters, and when one is a word on its own. */
#define GAP_MAX 0.15
#define GAP_MAX_SINGLE 0.5
/* Share of the shorter box's height two boxes must have in common to be
 * on one line (a superscript shares most of it, the next line none). */
#define LINE_OVERLAP 0.5
/* Vertical text (poppler's rotations 1 and 3): the boxes of one line have
 * the same left and right edges, to this share of their width. */
#define COLUMN_SLACK 0.1

static bool is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* U+202A, U+202B, U+202C: the embedding marks poppler's reorderText puts
 * around right-to-left runs. */
static bool is_mark(const char *p, size_t left)
{
	return left >= 3 && (unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
	       (unsigned char)p[2] >= 0xAA && (unsigned char)p[2] <= 0xAC;
}

static double dmin(double a, double b)
{
	return a < b ? a : b;
}

static double dmax(double a, double b)
{
	return a > b ? a : b;
}

static double dabs(double a)
{
	return a < 0 ? -a : a;
}

/* Length of the intersection of [a1, a2] and [b1, b2] (either way round);
 * negative: the gap between them. */
static double overlap(double a1, double a2, double b1, double b2)
{
	return dmin(dmax(a1, a2), dmax(b1, b2)) - dmax(dmin(a1, a2), dmin(b1, b2));
}

static double height(const struct pagetext_box *a)
{
	return dabs(a->y2 - a->y1);
}

static double width(const struct pagetext_box *a)
{
	return dabs(a->x2 - a->x1);
}

static bool same_line(const struct pagetext_box *a, const struct pagetext_box *b)
{
	double h = dmin(height(a), height(b));

	return overlap(a->y1, a->y2, b->y1, b->y2) >= LINE_OVERLAP * h;
}

/* Whether b follows a within one word: poppler gives the characters of a
 * word boxes that share their edges exactly. */
static bool contiguous(const struct pagetext_box *a, const struct pagetext_box *b)
{
	if (a->y1 == b->y1 && a->y2 == b->y2)  /* rotations 0 and 2 */
		return a->x2 == b->x1 || a->x1 == b->x2;
	if (a->x1 == b->x1 && a->x2 == b->x2)  /* rotations 1 and 3 */
		return a->y2 == b->y1 || a->y1 == b->y2;
	return false;
}

/* Whether b, the character after a with nothing between them, goes on
 * a's line on the page; single: a or b is a word of one character.
 * Degenerate boxes cannot be judged: they do. */
static bool together(const struct pagetext_box *a, const struct pagetext_box *b, bool single)
{
	double h = dmin(height(a), height(b)), w = dmin(width(a), width(b));
	double gap = single ? GAP_MAX_SINGLE : GAP_MAX;

	if (!(h > 0) || !(w > 0) || !isfinite(h) || !isfinite(w))
		return true;
	if (contiguous(a, b))
		return true;
	/* Horizontal text: on one line, and no wide gap along it. */
	if (same_line(a, b))
		return overlap(a->x1, a->x2, b->x1, b->x2) >= -gap * h;
	/* Vertical text: one column, and no wide gap down it. */
	return dabs(a->x1 - b->x1) <= COLUMN_SLACK * w && dabs(a->x2 - b->x2) <= COLUMN_SLACK * w &&
	       overlap(a->y1, a->y2, b->y1, b->y2) >= -gap * w;
}

static bool is_space(char c)
{
	return c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '\f';
}

/* Whether the character with box b, whose text ends at text + j, is the
 * last of its word: the text goes on with a space or ends there, or the
 * next character (box next; marks have none) does not continue it. */
static bool alone(const char *text, size_t len, size_t j, bool skip_marks,
		  const struct pagetext_box *b, const struct pagetext_box *next)
{
	while (skip_marks && is_mark(text + j, len - j))
		j += 3;
	return j >= len || is_space(text[j]) || !next || !contiguous(b, next);
}

int pagetext_fix(const char *text, size_t len, const struct pagetext_box *box, size_t nbox,
		 char **ret, size_t *ret_len)
{
	const struct pagetext_box *prev = NULL;
	bool prev_joined = false, skip_marks = false;
	size_t chars = 0, marks = 0, bi = 0, o = 0;
	char *out;

	if (box) {
		for (size_t i = 0; i < len; i++) {
			unsigned char ch = (unsigned char)text[i];

			chars += !is_cont(ch);
			marks += ch == 0xE2 && is_mark(text + i, len - i);
		}
		if (nbox == chars - marks)
			skip_marks = true;
		else if (nbox != chars)
			return -EINVAL;
	}
	out = malloc(len + nbox + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len;) {
		const struct pagetext_box *b = NULL;
		size_t n = 1;
		char c = text[i];

		/* A character is its lead byte and what continues it, as
		 * counted above (even in invalid UTF-8, never more boxes). */
		while (i + n < len && is_cont((unsigned char)text[i + n]))
			n++;
		if (box && bi < nbox && !(skip_marks && n == 3 && is_mark(text + i, 3)))
			b = &box[bi++];
		if (c == '\n' && o > 0 && out[o - 1] == '-' && i + 1 < len) {
			/* A hyphenated line: join it to the next, without the
			 * hyphen, and without a break between the halves, as
			 * pdftotext does with every line of a flow but its
			 * last (which selection text does not show). */
			o--;
			prev = NULL;
		} else if (is_space(c)) {
			out[o++] = c;
			prev = NULL;
		} else {
			if (prev && b) {
				bool joined = contiguous(prev, b);

				if (!joined && !together(prev, b, !prev_joined || alone(text, len, i + n, skip_marks,
											b, bi < nbox ? &box[bi] : NULL)))
					out[o++] = same_line(prev, b) ? ' ' : '\n';
				prev_joined = joined;
			} else if (b) {
				prev_joined = false;
			}
			memcpy(out + o, text + i, n);
			o += n;
			if (b)
				prev = b;
		}
		i += n;
	}
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
}
