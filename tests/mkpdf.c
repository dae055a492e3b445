/*
 * mkpdf - generate deterministic test PDFs with cairo.
 *
 * The test suite and the benchmarks use this instead of downloading
 * documents.  Every page starts with the line "Page <n> of <N>", followed
 * by pseudo-random lowercase words from a seeded xorshift generator, so
 * the text that poppler extracts can be checked (see --text-out).
 *
 * Two knobs make files that are expensive in specific ways:
 *
 *   --image-pages N  paints a big, incompressible raster image on the
 *                    first N pages, so the file is large on disk.
 *
 *   --heavy-page K   fills page K with many separately positioned words.
 *                    Each word is its own text-showing operator, turned a
 *                    quarter turn from the previous one, so poppler's
 *                    TextOutputDev keeps a separate TextWord (~1.8 KB
 *                    with its layout data) for every word: extracting the
 *                    text of that one page needs about 100 MB more than a
 *                    normal page (60000 words).
 *                    --heavy-diagonal tilts the words off the axes, which
 *                    costs ~5x more memory per word, but poppler's time
 *                    then grows quadratically with the word count.
 *
 *   --layout description  sets the body as a description list, as LaTeX
 *                    manuals list commands: a bold label ("\\word") at
 *                    the left margin and the item's text in a column to
 *                    its right, starting on the label's baseline. poppler
 *                    takes the labels and the texts for the cells of a
 *                    table, and its selection text (poppler_page_get_text)
 *                    glues each label to the end of its text's first line
 *                    or to the start of it: "\\ovalUse" for "\\oval"
 *                    and "Use".
 *
 * The body text of page n depends only on (seed, n), so a page's words
 * are the same whatever --pages is.
 */

#include <cairo.h>
#include <cairo-pdf.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT_FAMILY   "sans-serif"
#define HEADER_SIZE   11.0   /* pt, the "Page n of N" line */
#define BODY_SIZE     10.0   /* pt, body text */
#define BODY_LEADING  12.0   /* pt between body baselines */
#define MARGIN        54.0   /* pt, all four sides */
/*
 * Heavy page.  Poppler's TextPage::addChar keeps only the first 50,000
 * "tiny" glyphs of a page, where tiny means the glyph's advance is under
 * 3 pt along both page axes (the glyph's height does not count).  So the
 * heavy font is sized at run time to give even the narrowest letter an
 * advance of HEAVY_MIN_ADVANCE: about 11.5 pt with DejaVu Sans.
 */
#define HEAVY_MIN_ADVANCE 3.2  /* pt, along the nearest page axis */
#define HEAVY_MIN_SIZE    4.0  /* pt, lower bound for the heavy font */
#define HEAVY_COL        40.0  /* pt, grid cell width */
#define HEAVY_ROW         8.0  /* pt, grid cell height */
#define HEAVY_TILT        5.0  /* degrees, --heavy-diagonal tilt step */
#define COS_25_DEG     0.9063  /* the largest tilt is 5 steps = 25 degrees */
#define PI 3.14159265358979323846
#define MAX_WORD       9
/* --layout description: the labels' column (LaTeX's \leftmargin, set
 * wide as manuals do for their command lists) and \labelsep (0.5em),
 * the least space between a label and its text. */
#define LABEL_COLUMN   50.0
#define LABEL_SEP      (0.5 * BODY_SIZE)
#define ITEM_SEP       8.0

struct options {
	long pages;
	long words;
	long image_pages;
	long image_size;
	long heavy_page;        /* 0 = none */
	long heavy_words;
	int heavy_diagonal;     /* tilt heavy words off the page axes */
	int description;        /* --layout description */
	int mixed;              /* --script mixed */
	uint64_t seed;
	double page_w, page_h;
	const char *text_out;   /* NULL = none */
	const char *out;
};

static const char usage_text[] =
	"Usage: mkpdf [OPTIONS] OUT.pdf\n"
	"Generate a deterministic test PDF with cairo.\n"
	"\n"
	"Every page starts with the line \"Page <n> of <N>\", followed by\n"
	"pseudo-random lowercase words (3-9 letters, 10 pt sans-serif).\n"
	"\n"
	"Options:\n"
	"  --pages N          number of pages (default 1)\n"
	"  --words N          words of body text per page (default 200)\n"
	"  --image-pages N    also paint a large raster image on the first N\n"
	"                     pages, to make the file big (default 0)\n"
	"  --image-size PX    side of that square image in pixels (default 2000;\n"
	"                     each image adds about 2.2*PX*PX bytes to the file)\n"
	"  --heavy-page K     page K (1-based) instead gets --heavy-words\n"
	"                     separately positioned words, each turned a quarter\n"
	"                     turn from the last, in an overlapping grid: poppler\n"
	"                     needs ~1.8 KB per word to extract that page's text\n"
	"                     (60000 words: ~115 MB, ~3.5 s)\n"
	"  --heavy-words N    words on the heavy page (default 60000)\n"
	"  --heavy-diagonal   also tilt each heavy word 5-25 degrees off the\n"
	"                     axes: ~9 KB per word, but poppler's time grows\n"
	"                     quadratically (10000 words: ~100 MB, ~2 s;\n"
	"                     20000 words: ~195 MB, ~13 s)\n"
	"  --layout KIND      body layout: plain (default) or description, a\n"
	"                     description list (a bold label at the margin, the\n"
	"                     item's text after it on the same baseline)\n"
	"  --script KIND      body words: latin (default) or mixed, words of\n"
	"                     Latin, Greek, Hebrew, Arabic, Chinese, Japanese\n"
	"                     and Korean script (without a CJK font installed,\n"
	"                     cairo still maps the glyphs it draws to the text)\n"
	"  --seed S           seed for the word generator (default 1)\n"
	"  --page-size WxH    page size in points (default 612x792)\n"
	"  --text-out FILE    also write the text drawn to FILE, one line per\n"
	"                     text line, each page ending in an empty line and\n"
	"                     a form feed: the same bytes pdftotext prints for\n"
	"                     normal pages (the heavy page's words are listed\n"
	"                     in drawing order, which pdftotext does not keep)\n"
	"  --help             show this help and exit\n"
	"\n"
	"Exit status: 0 on success, 1 on a runtime failure, 2 on bad usage.\n";

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mkpdf: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'mkpdf --help' for more information.\n", stderr);
	exit(2);
}

static void die(const char *what, const char *detail) __attribute__((noreturn));
static void die(const char *what, const char *detail)
{
	fprintf(stderr, "mkpdf: %s: %s\n", what, detail);
	exit(1);
}

/* ---- word generator --------------------------------------------------- */

struct rng {
	uint64_t s;
};

/* xorshift64* (Marsaglia / Vigna). */
static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(2685821657736338717);
}

/* Independent stream for each (seed, page, purpose); the splitmix64
 * finaliser turns neighbouring inputs into unrelated, nonzero states. */
static void rng_init(struct rng *r, uint64_t seed, long page, unsigned purpose)
{
	uint64_t z = seed + UINT64_C(0x9E3779B97F4A7C15) * ((uint64_t)page * 4 + purpose + 1);

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	z ^= z >> 31;
	r->s = z ? z : 1;
}

enum { STREAM_BODY, STREAM_HEAVY, STREAM_IMAGE };

/* Writes a 3-9 letter lowercase word (NUL-terminated) into buf. */
static void rng_word(struct rng *r, char buf[MAX_WORD + 1])
{
	int len = 3 + (int)(rng_next(r) % 7);

	for (int i = 0; i < len; i++)
		buf[i] = (char)('a' + rng_next(r) % 26);
	buf[len] = '\0';
}

/* --script mixed: words of several scripts, right-to-left ones included,
 * none longer than MAX_WORD bytes. */
static const char *const mixed_words[] = {
	"page", "text", "café", "Straße", "λέξη", "שלום", "עולם", "ספר",
	"سلام", "كتاب", "日本語", "文章", "中文", "测试", "한국어", "글",
};

/* The next body word: rng_word, or with --script mixed one of mixed_words. */
static void body_word(struct rng *r, int mixed, char buf[MAX_WORD + 1])
{
	if (!mixed) {
		rng_word(r, buf);
		return;
	}
	snprintf(buf, MAX_WORD + 1, "%s",
		 mixed_words[rng_next(r) % (sizeof mixed_words / sizeof *mixed_words)]);
}

/* ---- argument parsing ------------------------------------------------- */

/* One of two words: 0 for the first, 1 for the second. */
static int parse_choice(const char *opt, const char *arg, const char *no, const char *yes)
{
	if (strcmp(arg, no) == 0)
		return 0;
	if (strcmp(arg, yes) == 0)
		return 1;
	usage_error("%s: expected %s or %s, got '%s'", opt, no, yes, arg);
	return 0;
}

static long parse_long(const char *opt, const char *arg, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end != '\0' || v < min || v > max)
		usage_error("%s: expected an integer from %ld to %ld, got '%s'",
			    opt, min, max, arg);
	return v;
}

static void parse_page_size(const char *arg, double *w, double *h)
{
	char *end, *end2;

	errno = 0;
	*w = strtod(arg, &end);
	if (errno || end == arg || (*end != 'x' && *end != 'X'))
		usage_error("--page-size: expected WxH in points, e.g. 612x792, got '%s'", arg);
	*h = strtod(end + 1, &end2);
	if (errno || end2 == end + 1 || *end2 != '\0')
		usage_error("--page-size: expected WxH in points, e.g. 612x792, got '%s'", arg);
	if (*w < 3 * MARGIN || *h < 3 * MARGIN || *w > 14400 || *h > 14400)
		usage_error("--page-size: each side must be from 162 to 14400 points, got '%s'", arg);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	enum { O_PAGES = 256, O_WORDS, O_IMAGE_PAGES, O_IMAGE_SIZE, O_HEAVY_PAGE,
	       O_HEAVY_WORDS, O_HEAVY_DIAGONAL, O_LAYOUT, O_SCRIPT, O_SEED, O_PAGE_SIZE, O_TEXT_OUT,
	       O_HELP };
	static const struct option longopts[] = {
		{ "pages",       required_argument, NULL, O_PAGES },
		{ "words",       required_argument, NULL, O_WORDS },
		{ "image-pages", required_argument, NULL, O_IMAGE_PAGES },
		{ "image-size",  required_argument, NULL, O_IMAGE_SIZE },
		{ "heavy-page",  required_argument, NULL, O_HEAVY_PAGE },
		{ "heavy-words", required_argument, NULL, O_HEAVY_WORDS },
		{ "heavy-diagonal", no_argument,   NULL, O_HEAVY_DIAGONAL },
		{ "layout",      required_argument, NULL, O_LAYOUT },
		{ "script",      required_argument, NULL, O_SCRIPT },
		{ "seed",        required_argument, NULL, O_SEED },
		{ "page-size",   required_argument, NULL, O_PAGE_SIZE },
		{ "text-out",    required_argument, NULL, O_TEXT_OUT },
		{ "help",        no_argument,       NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	*o = (struct options){
		.pages = 1, .words = 200, .image_pages = 0, .image_size = 2000,
		.heavy_page = 0, .heavy_words = 60000, .heavy_diagonal = 0, .description = 0,
		.mixed = 0, .seed = 1,
		.page_w = 612, .page_h = 792, .text_out = NULL, .out = NULL,
	};

	/* The leading ':' makes getopt report a missing argument as ':' and
	 * print nothing; we print our own messages. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case O_PAGES:       o->pages = parse_long("--pages", optarg, 1, 1000000); break;
		case O_WORDS:       o->words = parse_long("--words", optarg, 0, 10000000); break;
		case O_IMAGE_PAGES: o->image_pages = parse_long("--image-pages", optarg, 0, LONG_MAX); break;
		case O_IMAGE_SIZE:  o->image_size = parse_long("--image-size", optarg, 1, 20000); break;
		case O_HEAVY_PAGE:  o->heavy_page = parse_long("--heavy-page", optarg, 1, LONG_MAX); break;
		case O_HEAVY_WORDS: o->heavy_words = parse_long("--heavy-words", optarg, 0, 100000000); break;
		case O_HEAVY_DIAGONAL: o->heavy_diagonal = 1; break;
		case O_LAYOUT: o->description = parse_choice("--layout", optarg, "plain", "description"); break;
		case O_SCRIPT: o->mixed = parse_choice("--script", optarg, "latin", "mixed"); break;
		case O_SEED:        o->seed = (uint64_t)parse_long("--seed", optarg, 0, LONG_MAX); break;
		case O_PAGE_SIZE:   parse_page_size(optarg, &o->page_w, &o->page_h); break;
		case O_TEXT_OUT:    o->text_out = optarg; break;
		case O_HELP:        fputs(usage_text, stdout); exit(0);
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind == argc)
		usage_error("missing OUT.pdf");
	if (optind + 1 < argc)
		usage_error("unexpected argument '%s' (only one OUT.pdf)", argv[optind + 1]);
	o->out = argv[optind];
	if (o->heavy_page > o->pages)
		usage_error("--heavy-page %ld is beyond the last page (%ld)",
			    o->heavy_page, o->pages);
}

/* ---- drawing ---------------------------------------------------------- */

static FILE *text_out;          /* the --text-out sidecar, or NULL */

static void text_out_str(const char *s)
{
	if (text_out)
		fputs(s, text_out);
}

/* Paints a size x size opaque image over the whole page: a light checker
 * pattern with 6 bits of PRNG noise per channel.  The noise defeats Flate,
 * so each image costs about 2.2*size*size bytes in the file (8.7 MB at
 * 2000 px); a new surface per page keeps cairo from sharing one image
 * between pages. */
static void draw_image(cairo_t *cr, const struct options *o, long page)
{
	int size = (int)o->image_size;
	cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, size, size);
	struct rng r;

	if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS)
		die("cannot create image surface",
		    cairo_status_to_string(cairo_surface_status(img)));

	rng_init(&r, o->seed, page, STREAM_IMAGE);
	cairo_surface_flush(img);
	unsigned char *data = cairo_image_surface_get_data(img);
	int stride = cairo_image_surface_get_stride(img);

	for (int y = 0; y < size; y++) {
		uint32_t *row = (uint32_t *)(void *)(data + (size_t)y * (size_t)stride);

		for (int x = 0; x < size; x += 2) {
			uint64_t v = rng_next(&r);
			/* light colours (top bit of each channel set) so text
			 * drawn on top stays readable */
			uint32_t base = ((x ^ y) & 32) ? 0xFFC0C0C0u : 0xFFE0E0E0u;

			row[x] = base | ((uint32_t)v & 0x3F3F3Fu);
			if (x + 1 < size)
				row[x + 1] = base | ((uint32_t)(v >> 32) & 0x3F3F3Fu);
		}
	}
	cairo_surface_mark_dirty(img);

	cairo_save(cr);
	cairo_scale(cr, o->page_w / size, o->page_h / size);
	cairo_set_source_surface(cr, img, 0, 0);
	cairo_paint(cr);
	cairo_restore(cr);
	cairo_surface_destroy(img);
}

static void draw_header(cairo_t *cr, const struct options *o, long page)
{
	char line[64];

	snprintf(line, sizeof line, "Page %ld of %ld", page, o->pages);
	cairo_set_font_size(cr, HEADER_SIZE);
	cairo_move_to(cr, MARGIN, MARGIN + HEADER_SIZE);
	cairo_show_text(cr, line);
	text_out_str(line);
	text_out_str("\n");
}

/* Lays the page's words out in lines no wider than the text area; each
 * line is one cairo_show_text call.  Words that do not fit in the text
 * area are still drawn (below it), with a warning. */
static void draw_body(cairo_t *cr, const struct options *o, long page)
{
	const double width = o->page_w - 2 * MARGIN;
	const double bottom = o->page_h - MARGIN;
	char line[4096], word[MAX_WORD + 1];
	size_t len = 0;
	double x = 0, y = MARGIN + HEADER_SIZE + 2 * BODY_LEADING;
	cairo_text_extents_t ext;
	struct rng r;
	int warned = 0;

	cairo_set_font_size(cr, BODY_SIZE);
	cairo_text_extents(cr, " ", &ext);
	const double space = ext.x_advance;

	rng_init(&r, o->seed, page, STREAM_BODY);
	for (long i = 0; i <= o->words; i++) {
		double w = 0;

		if (i < o->words) {
			body_word(&r, o->mixed, word);
			cairo_text_extents(cr, word, &ext);
			w = ext.x_advance;
		}
		/* flush the line if this word does not fit, or at the end */
		if (len > 0 && (i == o->words || x + space + w > width ||
				len + 1 + MAX_WORD >= sizeof line)) {
			line[len] = '\0';
			if (y > bottom && !warned) {
				fprintf(stderr, "mkpdf: warning: page %ld: %ld words do not fit; "
					"the rest run off the page\n", page, o->words);
				warned = 1;
			}
			cairo_move_to(cr, MARGIN, y);
			cairo_show_text(cr, line);
			text_out_str(line);
			text_out_str("\n");
			y += BODY_LEADING;
			len = 0;
			x = 0;
		}
		if (i == o->words)
			break;
		if (len > 0) {
			line[len++] = ' ';
			x += space;
		}
		memcpy(line + len, word, strlen(word));
		len += strlen(word);
		x += w;
	}
}

/* The body as a description list: items of 8 to 32 words, each led by
 * a bold label "\\word" at the left margin; the item's text is set in a
 * column LABEL_COLUMN from the margin (or LABEL_SEP after a label that
 * is wider), its first line on the label's baseline. Label and every line
 * are separate show_text calls, as TeX sets them. The sidecar text has
 * the label and the first line on one line, with a space between them. */
static void draw_description(cairo_t *cr, const struct options *o, long page)
{
	const double right = o->page_w - MARGIN;
	char line[4096], word[MAX_WORD + 1], label[MAX_WORD + 2];
	double y = MARGIN + HEADER_SIZE + 2 * BODY_LEADING, space, x0, x;
	cairo_text_extents_t ext;
	struct rng r;
	long left = o->words;

	cairo_set_font_size(cr, BODY_SIZE);
	cairo_text_extents(cr, " ", &ext);
	space = ext.x_advance;
	rng_init(&r, o->seed, page, STREAM_BODY);
	while (left > 0) {
		long n = 8 + (long)(rng_next(&r) % 25);
		size_t len = 0;

		if (n > left)
			n = left;
		left -= n;
		label[0] = '\\';
		rng_word(&r, label + 1);
		cairo_select_font_face(cr, FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
				       CAIRO_FONT_WEIGHT_BOLD);
		cairo_set_font_size(cr, BODY_SIZE);
		cairo_text_extents(cr, label, &ext);
		cairo_move_to(cr, MARGIN, y);
		cairo_show_text(cr, label);
		text_out_str(label);
		text_out_str(" ");
		cairo_select_font_face(cr, FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
				       CAIRO_FONT_WEIGHT_NORMAL);
		cairo_set_font_size(cr, BODY_SIZE);
		x0 = MARGIN + LABEL_COLUMN;
		if (ext.x_advance + LABEL_SEP > LABEL_COLUMN)
			x0 = MARGIN + ext.x_advance + LABEL_SEP;
		x = x0;
		for (long i = 0; i <= n; i++) {
			double w = 0;

			if (i < n) {
				body_word(&r, o->mixed, word);
				cairo_text_extents(cr, word, &ext);
				w = ext.x_advance;
			}
			if (len > 0 && (i == n || x + space + w > right ||
					len + 1 + MAX_WORD >= sizeof line)) {
				line[len] = '\0';
				cairo_move_to(cr, x0, y);
				cairo_show_text(cr, line);
				text_out_str(line);
				text_out_str("\n");
				y += BODY_LEADING;
				x = x0 = MARGIN + LABEL_COLUMN;
				len = 0;
			}
			if (i == n)
				break;
			if (len > 0) {
				line[len++] = ' ';
				x += space;
			}
			memcpy(line + len, word, strlen(word));
			len += strlen(word);
			x += w;
		}
		y += ITEM_SEP;
	}
	if (y > o->page_h - MARGIN)
		fprintf(stderr, "mkpdf: warning: page %ld: %ld words do not fit; "
			"the rest run off the page\n", page, o->words);
}

/* Smallest font size (rounded up to half a point) at which every lowercase
 * letter advances at least HEAVY_MIN_ADVANCE / axis_share points. */
static double heavy_font_size(cairo_t *cr, double axis_share)
{
	cairo_text_extents_t ext;
	double min_advance = 1.0, size;

	cairo_set_font_size(cr, 1.0);
	for (char c = 'a'; c <= 'z'; c++) {
		char s[2] = { c, '\0' };

		cairo_text_extents(cr, s, &ext);
		if (ext.x_advance > 0 && ext.x_advance < min_advance)
			min_advance = ext.x_advance;
	}
	size = HEAVY_MIN_ADVANCE / (min_advance * axis_share);
	size = (double)(long)(size * 2 + 1) / 2;
	return size < HEAVY_MIN_SIZE ? HEAVY_MIN_SIZE : size;
}

/* The heavy page: heavy_words words, each drawn with its own move_to /
 * show_text at its own position and turned a quarter turn from the one
 * before.  Poppler cannot join any two of them into one word, and
 * splitting them over its four rotation pools keeps its layout analysis
 * fast (unrotated, the same words took ~8x longer to extract, for the
 * same memory).  Origins lie on a HEAVY_COL x HEAVY_ROW grid inset by one
 * word length, so words stay on the page (poppler drops glyphs outside
 * it); when the grid is full, the next layer starts at the top again,
 * shifted by a fraction of a cell, so no two words share an origin. */
static void draw_heavy(cairo_t *cr, const struct options *o, long page)
{
	const double size = heavy_font_size(cr, o->heavy_diagonal ? COS_25_DEG : 1.0);
	const double reach = MAX_WORD * size;   /* more than any word's length */
	const double left = MARGIN + reach;
	const double top = MARGIN + HEADER_SIZE + BODY_LEADING + reach;
	const double width = o->page_w - MARGIN - reach - left;
	const double height = o->page_h - MARGIN - reach - top;
	const long cols = width > HEAVY_COL ? (long)(width / HEAVY_COL) + 1 : 1;
	const long rows = height > HEAVY_ROW ? (long)(height / HEAVY_ROW) + 1 : 1;
	const long per_layer = cols * rows;
	char word[MAX_WORD + 1];
	struct rng r;

	cairo_set_font_size(cr, size);
	rng_init(&r, o->seed, page, STREAM_HEAVY);
	for (long i = 0; i < o->heavy_words; i++) {
		long layer = i / per_layer, cell = i % per_layer;
		long row = cell / cols, col = cell % cols;
		/* 7 x-shifts times 5 y-shifts before an origin repeats */
		double dx = (double)(layer % 7) * (HEAVY_COL / 7.0);
		double dy = (double)((layer / 7) % 5) * (HEAVY_ROW / 5.0);
		double degrees = 90.0 * (double)(i % 4);

		if (o->heavy_diagonal) {
			/* +-5, +-10, ... +-25 degrees, never on an axis */
			long step = (i / 4) % 10;

			degrees += step < 5 ? HEAVY_TILT * (double)(step + 1)
					    : -HEAVY_TILT * (double)(step - 4);
		}

		rng_word(&r, word);
		cairo_save(cr);
		cairo_translate(cr, left + (double)col * HEAVY_COL + dx,
				top + (double)row * HEAVY_ROW + dy);
		cairo_rotate(cr, degrees * PI / 180.0);
		cairo_move_to(cr, 0, 0);
		cairo_show_text(cr, word);
		cairo_restore(cr);
		text_out_str(word);
		text_out_str(col == cols - 1 || i == o->heavy_words - 1 ? "\n" : " ");
	}
}

/* Only matters when built with --enable-sanitizers: even after
 * cairo_debug_reset_static_data(), cairo 1.16 leaves one fontconfig
 * pattern allocated once text has been shown.  That leak is not ours, so
 * tell LeakSanitizer (which calls these hooks) to ignore it, quietly. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

int main(int argc, char **argv)
{
	struct options o;
	cairo_surface_t *surface;
	cairo_t *cr;
	cairo_status_t st;

	parse_args(argc, argv, &o);

	if (o.text_out) {
		text_out = fopen(o.text_out, "w");
		if (!text_out)
			die(o.text_out, strerror(errno));
	}

	surface = cairo_pdf_surface_create(o.out, o.page_w, o.page_h);
	st = cairo_surface_status(surface);
	if (st != CAIRO_STATUS_SUCCESS)
		die(o.out, cairo_status_to_string(st));
#if CAIRO_VERSION >= CAIRO_VERSION_ENCODE(1, 15, 4)
	/* a fixed date makes the same options give a byte-identical file */
	cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE,
				       "2000-01-01T00:00:00Z");
	cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, "mkpdf test document");
#endif
	cr = cairo_create(surface);
	cairo_select_font_face(cr, FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
			       CAIRO_FONT_WEIGHT_NORMAL);

	for (long page = 1; page <= o.pages; page++) {
		if (page <= o.image_pages)
			draw_image(cr, &o, page);
		cairo_set_source_rgb(cr, 0, 0, 0);
		draw_header(cr, &o, page);
		if (page == o.heavy_page)
			draw_heavy(cr, &o, page);
		else if (o.description)
			draw_description(cr, &o, page);
		else
			draw_body(cr, &o, page);
		text_out_str("\n\f");
		cairo_show_page(cr);
		st = cairo_status(cr);
		if (st != CAIRO_STATUS_SUCCESS)
			die(o.out, cairo_status_to_string(st));
	}

	cairo_destroy(cr);
	cairo_surface_finish(surface);
	st = cairo_surface_status(surface);
	cairo_surface_destroy(surface);
	if (st != CAIRO_STATUS_SUCCESS)
		die(o.out, cairo_status_to_string(st));
	/* drop cairo's font caches, so leak checkers see a clean exit */
	cairo_debug_reset_static_data();

	if (text_out) {
		int failed = ferror(text_out);

		if (fclose(text_out) != 0 || failed)
			die(o.text_out, "write error");
	}
	return 0;
}
