/* Drawing on a terminal: whether stdout is one, its width, UTF-8 and
 * colour, bars and sparklines, and redrawing a block of lines in place
 * with ANSI cursor movement. */
#ifndef MEMSAFE_TERM_H
#define MEMSAFE_TERM_H

#include <stdbool.h>
#include <stddef.h>

/* stdout is a terminal that understands cursor movement (not TERM=dumb). */
bool term_interactive(void);
/* Columns of the terminal on stdout (80 when unknown). */
int term_width(void);
/* The locale's charset is UTF-8 (setlocale(LC_CTYPE, "") done by main). */
bool term_utf8(void);
/* Colour wanted: interactive and $NO_COLOR unset. */
bool term_color(void);

/* "[#####-----]" of width cells for frac in 0..1; a '|' marks mark (0..1,
 * or < 0 for none). UTF-8 blocks when the terminal takes them. */
void term_bar(char *buf, size_t size, double frac, double mark, int width);
/* One cell per value, height scaled to 0..max. */
void term_sparkline(char *buf, size_t size, const double *v, size_t n, double max);
/* ANSI colour for a fill ratio: green, yellow at high, red at >= 0.95;
 * "" without colour. term_reset() ends it. */
const char *term_level_color(double frac, double high);
const char *term_reset(void);

/* A block of lines redrawn in place: term_block_begin() moves up over
 * the previous block; each term_block_line() clears and prints one line
 * (cut to the terminal width so it never wraps). Lines printed between
 * blocks with term_block_above() scroll above it. */
void term_block_begin(void);
void term_block_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void term_block_above(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void term_block_end(void);
/* Hide the cursor until exit (restored by an atexit handler and on
 * SIGINT/SIGTERM, after which term_interrupted() is true). */
void term_hide_cursor(void);
bool term_interrupted(void);

#endif
