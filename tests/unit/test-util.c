/* Unit tests for common/util.c: str_escape, the escaping of user text
 * for terminals and logs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdint.h>

#include "util.h"
#include "tap.h"

static const struct {
	const char *in, *out;
} cases[] = {
	{ "", "" },
	{ "report.pdf", "report.pdf" },
	{ "a\nb", "a\\nb" },
	{ "a\r\tb", "a\\r\\tb" },
	{ "back\\slash", "back\\\\slash" },
	{ "\x1b[2J\x1b]0;x\a", "\\x1b[2J\\x1b]0;x\\x07" },
	{ "del\x7f", "del\\x7f" },
	{ "\x01\x1f", "\\x01\\x1f" },
	/* valid UTF-8 is kept */
	{ "Gr\xc3\xbc\xc3\x9f \xe2\x80\xa6 \xf0\x9f\x93\x84", "Gr\xc3\xbc\xc3\x9f \xe2\x80\xa6 \xf0\x9f\x93\x84" },
	/* C1 controls: U+009B (CSI), U+0085 (NEL) */
	{ "\xc2\x9b" "2J", "\\u009b2J" },
	{ "a\xc2\x85" "b", "a\\u0085b" },
	/* line separator, right-to-left override, isolate */
	{ "\xe2\x80\xa8", "\\u2028" },
	{ "\xe2\x80\xae" "fdp.exe", "\\u202efdp.exe" },
	{ "\xe2\x81\xa6", "\\u2066" },
	/* not UTF-8: a raw 8-bit CSI, a stray continuation, a cut sequence,
	 * an overlong NUL, a surrogate, past U+10FFFF */
	{ "\x9b" "2J", "\\x9b2J" },
	{ "\x80", "\\x80" },
	{ "\xe2\x80", "\\xe2\\x80" },
	{ "\xc0\x80", "\\xc0\\x80" },
	{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },
	{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
};

int main(void)
{
	char buf[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = str_escape(buf, sizeof buf, cases[i].in);

		is_str(buf, cases[i].out, "case %zu escapes as expected", i);
		is_int(n, strlen(cases[i].out), "case %zu: the returned length", i);
		is_int(str_escape(NULL, 0, cases[i].in), strlen(cases[i].out),
		       "case %zu: the length without a buffer", i);
		ok(str_needs_escape(cases[i].in) == (strcmp(cases[i].in, cases[i].out) != 0),
		   "case %zu: str_needs_escape agrees", i);
	}
	/* Cut only between whole escapes: "ab\n" in 4 bytes is "ab", never
	 * "ab\" (a dangling backslash). */
	is_int(str_escape(buf, 4, "ab\ncd"), 6, "the full length is returned when cut");
	is_str(buf, "ab", "the cut falls before the escape that does not fit");
	str_escape(buf, 3, "a\xc3\xbc");
	is_str(buf, "a", "nor inside a UTF-8 character");
	str_escape(buf, 1, "abc");
	is_str(buf, "", "a 1-byte buffer holds the terminator only");
	str_escape(buf, 4, "abc");
	is_str(buf, "abc", "an exact fit is kept whole");
	ok(!str_needs_escape(NULL), "NULL needs nothing");
	return tap_done();
}
