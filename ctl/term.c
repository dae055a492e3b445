/* memsafectl's terminal output: colours and the live block. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <langinfo.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "term.h"

static int block_lines;        /* lines of the block now on screen */
static int block_drawn;        /* lines drawn in the current pass */
static volatile sig_atomic_t interrupted;
static bool cursor_hidden;

bool term_interactive(void)
{
	const char *t = getenv("TERM");

	return isatty(STDOUT_FILENO) && !(t && strcmp(t, "dumb") == 0);
}

int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

bool term_utf8(void)
{
	const char *cs = nl_langinfo(CODESET);

	return cs && strcmp(cs, "UTF-8") == 0;
}

bool term_color(void)
{
	const char *nc = getenv("NO_COLOR");

	return term_interactive() && !(nc && *nc);
}

/* Append s to buf (size), keeping it terminated. */
static void cat(char *buf, size_t size, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + n + 1 > size)
		return;
	memcpy(buf + *len, s, n + 1);
	*len += n;
}

void term_bar(char *buf, size_t size, double frac, double mark, int width)
{
	bool u = term_utf8();
	int fill, at;
	size_t len = 0;

	if (!(frac >= 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	fill = (int)lround(frac * width);
	at = mark >= 0 && mark <= 1 ? (int)lround(mark * width) : -1;
	if (at >= width)
		at = width - 1;
	buf[0] = '\0';
	cat(buf, size, &len, "[");
	for (int i = 0; i < width; i++) {
		if (i == at && i >= fill)
			cat(buf, size, &len, "|");
		else if (i < fill)
			cat(buf, size, &len, u ? "\u2588" : "#");
		else
			cat(buf, size, &len, u ? "\u00b7" : "-");
	}
	cat(buf, size, &len, "]");
}

void term_sparkline(char *buf, size_t size, const double *v, size_t n, double max)
{
	static const char *const blocks[] = {
		"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588",
	};
	static const char *const ascii[] = { "_", ".", ",", "-", "=", "+", "*", "#" };
	bool u = term_utf8();
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		double f = max > 0 && v[i] > 0 ? v[i] / max : 0;
		int k = (int)floor(f * 8);
		if (k > 7)
			k = 7;
		if (k < 0)
			k = 0;
		cat(buf, size, &len, u ? blocks[k] : ascii[k]);
	}
}

const char *term_level_color(double frac, double high)
{
	if (!term_color())
		return "";
	if (frac >= 0.95)
		return "\033[31m";
	if (high > 0 && frac >= high)
		return "\033[33m";
	return "\033[32m";
}

const char *term_reset(void)
{
	return term_color() ? "\033[0m" : "";
}

void term_block_begin(void)
{
	if (block_lines > 0)
		printf("\033[%dA", block_lines);
	block_drawn = 0;
}

/* Print at most the terminal width of visible characters: ANSI escape
 * sequences take no columns, a UTF-8 sequence takes one. */
static void put_cut(const char *s)
{
	int cols = term_width() - 1, used = 0;

	for (const char *p = s; *p && *p != '\n'; p++) {
		if (*p == '\033') {
			const char *e = p + 1;
			if (*e == '[')
				for (e++; *e && !(*e >= '@' && *e <= '~'); e++)
					;
			fwrite(p, 1, (size_t)(e - p) + (*e ? 1 : 0), stdout);
			p = *e ? e : e - 1;
			continue;
		}
		if (((unsigned char)*p & 0xc0) == 0x80) {
			putchar(*p);   /* continuation byte: same column */
			continue;
		}
		if (used >= cols)
			continue;
		putchar(*p);
		used++;
	}
}

/* One line from the cursor's row: cleared, cut to the terminal's width,
 * colours reset at its end. */
static void put_line(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void put_line(const char *fmt, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof line, fmt, ap);
	fputs("\r\033[K", stdout);
	put_cut(line);
	fputs(term_reset(), stdout);
	putchar('\n');
}

void term_block_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put_line(fmt, ap);
	va_end(ap);
	block_drawn++;
}

void term_block_above(const char *fmt, ...)
{
	va_list ap;

	/* Called between begin and the block's lines: the line takes the
	 * block's first row and the block moves down by one. */
	va_start(ap, fmt);
	put_line(fmt, ap);
	va_end(ap);
}

void term_block_end(void)
{
	/* Clear what is left of a taller previous block. */
	for (int i = block_drawn; i < block_lines; i++)
		fputs("\r\033[K\n", stdout);
	if (block_lines > block_drawn)
		printf("\033[%dA", block_lines - block_drawn);
	block_lines = block_drawn;
	fflush(stdout);
}

static void show_cursor(void)
{
	if (cursor_hidden) {
		fputs("\033[?25h", stdout);
		fflush(stdout);
		cursor_hidden = false;
	}
}

static void interrupt_cb(int sig)
{
	interrupted = 1;
}

void term_hide_cursor(void)
{
	struct sigaction sa = { .sa_handler = interrupt_cb };

	if (cursor_hidden)
		return;
	/* No SA_RESTART: a sleeping poll loop wakes up and ends cleanly. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fputs("\033[?25l", stdout);
	cursor_hidden = true;
	atexit(show_cursor);
}

bool term_interrupted(void)
{
	return interrupted;
}
