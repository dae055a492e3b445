/* Unit tests for common/size.c: size and duration strings. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdint.h>

#include "size.h"
#include "util.h"
#include "tap.h"

#define K ((uint64_t)1 << 10)
#define M ((uint64_t)1 << 20)
#define G ((uint64_t)1 << 30)
#define T ((uint64_t)1 << 40)

struct parse_case {
	const char *in;
	int r;        /* expected return */
	uint64_t out; /* expected value when r == 0 */
};

static const struct parse_case size_cases[] = {
	{ "0", 0, 0 },
	{ "1", 0, 1 },
	{ "1048576", 0, 1048576 },
	{ "5000000", 0, 5000000 },
	{ "1B", 0, 1 },
	{ "256K", 0, 256 * K },
	{ "256k", 0, 256 * K },
	{ "256KB", 0, 256 * K },
	{ "256KiB", 0, 256 * K },
	{ "256kib", 0, 256 * K },
	{ "512M", 0, 512 * M },
	{ "500mb", 0, 500 * M },
	{ "6G", 0, 6 * G },
	{ "6g", 0, 6 * G },
	{ "6GiB", 0, 6 * G },
	{ "2T", 0, 2 * T },
	{ "0G", 0, 0 },
	{ "007K", 0, 7 * K },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "16777215T", 0, 16777215 * T },
	/* overflow */
	{ "18446744073709551616", -ERANGE, 0 },
	{ "99999999999999999999999", -ERANGE, 0 },
	{ "16777216T", -ERANGE, 0 },
	{ "17179869184G", -ERANGE, 0 },
	/* not sizes */
	{ "", -EINVAL, 0 },
	{ "G", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "-1G", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },
	{ " 1", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 },
	{ "1 G", -EINVAL, 0 },
	{ "1.5G", -EINVAL, 0 },
	{ "1,5G", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
	{ "6X", -EINVAL, 0 },
	{ "6GG", -EINVAL, 0 },
	{ "6iB", -EINVAL, 0 },
	{ "6Gi", -EINVAL, 0 },
	{ "6P", -EINVAL, 0 },
	{ "1e3", -EINVAL, 0 },
	{ "abc", -EINVAL, 0 },
	{ "99999999999999999999999X", -EINVAL, 0 },
};

static const struct parse_case duration_cases[] = {
	{ "0", 0, 0 },
	{ "200", 0, 200 },
	{ "200ms", 0, 200 },
	{ "5s", 0, 5000 },
	{ "2m", 0, 120000 },
	{ "1h", 0, 3600000 },
	{ "0s", 0, 0 },
	{ "5000", 0, 5000 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "18446744073709551615ms", 0, UINT64_MAX },
	/* overflow */
	{ "18446744073709551616", -ERANGE, 0 },
	{ "18446744073709552s", -ERANGE, 0 },
	{ "5124095576030432h", -ERANGE, 0 },
	/* not durations */
	{ "", -EINVAL, 0 },
	{ "s", -EINVAL, 0 },
	{ "ms", -EINVAL, 0 },
	{ "-5s", -EINVAL, 0 },
	{ "+5s", -EINVAL, 0 },
	{ "1.5s", -EINVAL, 0 },
	{ "5 s", -EINVAL, 0 },
	{ " 5s", -EINVAL, 0 },
	{ "5S", -EINVAL, 0 },
	{ "1M", -EINVAL, 0 },
	{ "5sec", -EINVAL, 0 },
	{ "5us", -EINVAL, 0 },
	{ "5d", -EINVAL, 0 },
	{ "5ss", -EINVAL, 0 },
	{ "5mss", -EINVAL, 0 },
	{ "later", -EINVAL, 0 },
};

static const struct format_case {
	uint64_t in;
	const char *out;
} format_cases[] = {
	{ 0, "0" },
	{ 1, "1" },
	{ 1000, "1000" },
	{ 1023, "1023" },
	{ 1024, "1K" },
	{ 1536, "1536" },
	{ 5000000, "5000000" },
	{ 64 * K, "64K" },
	{ 256 * K, "256K" },
	{ 1025 * K, "1025K" },
	{ 1 * M, "1M" },
	{ 500 * M, "500M" },
	{ 6 * G, "6G" },
	{ 6 * G + K, "6291457K" },
	{ 16 * G, "16G" },
	{ 1024 * G, "1T" },
	{ 3 * T, "3T" },
	{ UINT64_MAX, "18446744073709551615" },
	{ 16777215 * T, "16777215T" },
};

static void test_parse(const char *what, int (*parse)(const char *, uint64_t *),
		       const struct parse_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct parse_case *c = &cases[i];
		uint64_t v = 0xdeadbeef;
		int r = parse(c->in, &v);

		is_int(r, c->r, "%s(\"%s\") returns %d", what, c->in, c->r);
		if (c->r == 0)
			is_int(v, c->out, "%s(\"%s\") = %llu", what, c->in,
			       (unsigned long long)c->out);
		else
			is_int(v, 0xdeadbeef, "%s(\"%s\") leaves *ret alone", what, c->in);
	}
}

int main(void)
{
	char buf[32];
	uint64_t v;

	test_parse("parse_size", parse_size, size_cases, ARRAY_SIZE(size_cases));
	test_parse("parse_duration_ms", parse_duration_ms, duration_cases,
		   ARRAY_SIZE(duration_cases));

	is_int(parse_size(NULL, &v), -EINVAL, "parse_size(NULL) is -EINVAL");
	is_int(parse_duration_ms(NULL, &v), -EINVAL, "parse_duration_ms(NULL) is -EINVAL");

	for (size_t i = 0; i < ARRAY_SIZE(format_cases); i++) {
		const struct format_case *c = &format_cases[i];

		format_size(c->in, buf, sizeof buf);
		is_str(buf, c->out, "format_size(%llu)", (unsigned long long)c->in);
		/* What format_size writes, parse_size reads back exactly. */
		v = 0;
		ok(parse_size(buf, &v) == 0 && v == c->in, "format_size(%llu) round-trips",
		   (unsigned long long)c->in);
	}

	/* A short buffer is truncated, never overrun. */
	memset(buf, 'x', sizeof buf);
	format_size(6 * G, buf, 2);
	is_str(buf, "6", "format_size truncates to the buffer");
	ok(buf[2] == 'x', "format_size writes nothing past the buffer");
	format_size(6 * G, buf, 0);
	ok(buf[0] == '6', "format_size with size 0 writes nothing");

	return tap_done();
}
