/* Size and duration strings: parsing "64K", "6G", "200ms" and formatting. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "size.h"

struct unit {
	const char *suffix;
	uint64_t factor;
};

/* Split s into a leading run of decimal digits and the suffix after it.
 * Signs, spaces, fractions and hex are not numbers here. */
static int split_number(const char *s, size_t *ret_ndigits)
{
	size_t n = 0;

	if (!s)
		return -EINVAL;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0)
		return -EINVAL;
	*ret_ndigits = n;
	return 0;
}

/* Multiply the ndigits-long decimal at s by factor, or -ERANGE. */
static int scale(const char *s, size_t ndigits, uint64_t factor, uint64_t *ret)
{
	uint64_t v = 0;

	for (size_t i = 0; i < ndigits; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (factor > 1 && v > UINT64_MAX / factor)
		return -ERANGE;
	*ret = v * factor;
	return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const struct unit units[] = {
		{ "", 1 },
		{ "B", 1 },
		{ "K", 1ULL << 10 }, { "KB", 1ULL << 10 }, { "KiB", 1ULL << 10 },
		{ "M", 1ULL << 20 }, { "MB", 1ULL << 20 }, { "MiB", 1ULL << 20 },
		{ "G", 1ULL << 30 }, { "GB", 1ULL << 30 }, { "GiB", 1ULL << 30 },
		{ "T", 1ULL << 40 }, { "TB", 1ULL << 40 }, { "TiB", 1ULL << 40 },
	};
	size_t n;
	int r = split_number(s, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcasecmp(s + n, units[i].suffix) == 0)
			return scale(s, n, units[i].factor, ret);
	return -EINVAL;
}

int parse_duration_ms(const char *s, uint64_t *ret)
{
	/* Case-sensitive on purpose: "1M" must not quietly mean a minute to
	 * someone who meant a megabyte. */
	static const struct unit units[] = {
		{ "", 1 },
		{ "ms", 1 },
		{ "s", 1000 },
		{ "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 },
	};
	size_t n;
	int r = split_number(s, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcmp(s + n, units[i].suffix) == 0)
			return scale(s, n, units[i].factor, ret);
	return -EINVAL;
}

void format_size(uint64_t bytes, char *buf, size_t size)
{
	static const struct unit units[] = {
		{ "T", 1ULL << 40 },
		{ "G", 1ULL << 30 },
		{ "M", 1ULL << 20 },
		{ "K", 1ULL << 10 },
	};

	if (size == 0)
		return;
	if (bytes != 0)
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
			if (bytes % units[i].factor == 0) {
				snprintf(buf, size, "%llu%s",
					 (unsigned long long)(bytes / units[i].factor),
					 units[i].suffix);
				return;
			}
	snprintf(buf, size, "%llu", (unsigned long long)bytes);
}
