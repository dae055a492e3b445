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
 *   --heavy-page K   fills page K with many separately positioned words
 *                    in a small font.  Each word is its own text-showing
 *                    operator, so poppler's TextOutputDev creates one
 *                    TextWord object per word (about 1 KiB each), and
 *                    extracting the text of that one page needs tens of
 *                    megabytes or more.
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
#define HEAVY_SIZE     4.0   /* pt; poppler keeps at most 50,000 glyphs
                                smaller than 3x3 pt per page, so stay above */
#define HEAVY_COL     25.0   /* pt, grid cell width (a 9-letter word at
                                4 pt is about 24 pt wide) */
#define HEAVY_ROW      5.0   /* pt, grid row height */
#define MAX_WORD       9

struct options {
	long pages;
	long words;
	long image_pages;
	long image_size;
	long heavy_page;        /* 0 = none */
	long heavy_words;
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
	"                     separately positioned 4 pt words, making poppler's\n"
	"                     text extraction of that page memory-hungry\n"
	"  --heavy-words N    words on the heavy page (default 60000)\n"
	"  --seed S           seed for the word generator (default 1)\n"
	"  --page-size WxH    page size in points (default 612x792)\n"
	"  --text-out FILE    also write the text drawn to FILE, one line per\n"
	"                     text line, each page ending in an empty line and\n"
	"                     a form feed: the same bytes pdftotext prints for\n"
	"                     the normal pages\n"
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

/* ---- argument parsing ------------------------------------------------- */

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
	       O_HEAVY_WORDS, O_SEED, O_PAGE_SIZE, O_TEXT_OUT, O_HELP };
	static const struct option longopts[] = {
		{ "pages",       required_argument, NULL, O_PAGES },
		{ "words",       required_argument, NULL, O_WORDS },
		{ "image-pages", required_argument, NULL, O_IMAGE_PAGES },
		{ "image-size",  required_argument, NULL, O_IMAGE_SIZE },
		{ "heavy-page",  required_argument, NULL, O_HEAVY_PAGE },
		{ "heavy-words", required_argument, NULL, O_HEAVY_WORDS },
		{ "seed",        required_argument, NULL, O_SEED },
		{ "page-size",   required_argument, NULL, O_PAGE_SIZE },
		{ "text-out",    required_argument, NULL, O_TEXT_OUT },
		{ "help",        no_argument,       NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	*o = (struct options){
		.pages = 1, .words = 200, .image_pages = 0, .image_size = 2000,
		.heavy_page = 0, .heavy_words = 60000, .seed = 1,
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
			rng_word(&r, word);
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

/* The heavy page: heavy_words words, each placed with its own move_to /
 * show_text, in a grid of HEAVY_COL x HEAVY_ROW cells over the text area.
 * When the grid is full, the next layer starts again at the top, shifted
 * by a fraction of a cell so that no two words share a position.  All
 * words stay on the page (poppler discards glyphs outside it). */
static void draw_heavy(cairo_t *cr, const struct options *o, long page)
{
	const double top = MARGIN + HEADER_SIZE + 2 * BODY_LEADING;
	const long cols = (long)((o->page_w - 2 * MARGIN - HEAVY_COL) / HEAVY_COL) + 1;
	const long rows = (long)((o->page_h - MARGIN - top - HEAVY_ROW) / HEAVY_ROW) + 1;
	const long per_layer = cols * rows;
	char word[MAX_WORD + 1];
	struct rng r;

	cairo_set_font_size(cr, HEAVY_SIZE);
	rng_init(&r, o->seed, page, STREAM_HEAVY);
	for (long i = 0; i < o->heavy_words; i++) {
		long layer = i / per_layer, cell = i % per_layer;
		long row = cell / cols, col = cell % cols;
		/* 7 x-shifts times 5 y-shifts before a position repeats */
		double dx = (double)(layer % 7) * (HEAVY_COL / 7.0);
		double dy = (double)((layer / 7) % 5) * (HEAVY_ROW / 5.0);

		rng_word(&r, word);
		cairo_move_to(cr, MARGIN + col * HEAVY_COL + dx, top + row * HEAVY_ROW + dy);
		cairo_show_text(cr, word);
		text_out_str(word);
		text_out_str(col == cols - 1 || i == o->heavy_words - 1 ? "\n" : " ");
	}
}

/* Only matters when built with --enable-sanitizers: even after
 * cairo_debug_reset_static_data(), cairo 1.16 leaves one fontconfig
 * pattern allocated once text has been shown.  That leak is not ours, so
 * tell LeakSanitizer (which calls this hook at exit) to ignore it. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
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

	if (text_out && (ferror(text_out) | fclose(text_out)))
		die(o.text_out, "write error");
	return 0;
}
