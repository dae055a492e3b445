/* A tiny TAP producer for unit tests: each check prints "ok N" or
 * "not ok N" with the file and line of the failing assertion. */
#ifndef MEMSAFE_TAP_H
#define MEMSAFE_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                                 \
	do {                                                                   \
		long long _g = (long long)(got), _w = (long long)(want);       \
		if (!ok(_g == _w, __VA_ARGS__))                                \
			printf("#   got %lld, want %lld\n", _g, _w);           \
	} while (0)
#define is_str(got, want, ...)                                                 \
	do {                                                                   \
		const char *_g = (got), *_w = (want);                          \
		if (!ok(_g && _w && strcmp(_g, _w) == 0, __VA_ARGS__))        \
			printf("#   got \"%s\", want \"%s\"\n", _g ? _g : "(null)", \
			       _w ? _w : "(null)");                            \
	} while (0)

__attribute__((format(printf, 5, 6))) static inline int
tap_ok(int pass, const char *expr, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", pass ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed: %s at %s:%d\n", expr, file, line);
	}
	fflush(stdout);
	return pass;
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
