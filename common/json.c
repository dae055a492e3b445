/* Small helpers over yajl: generating and reading JSON. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

yajl_gen json_gen_new(bool pretty)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (!g)
		abort();
	yajl_gen_config(g, yajl_gen_beautify, pretty ? 1 : 0);
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	return g;
}

void json_gen_freep(yajl_gen *g)
{
	if (*g)
		yajl_gen_free(*g);
	*g = NULL;
}

void json_strn(yajl_gen g, const char *s, size_t len)
{
	/* Invalid UTF-8 would make yajl refuse the string and leave the
	 * document half-built; replace it with "?" rather than drop keys. */
	if (yajl_gen_string(g, (const unsigned char *)s, len) == yajl_gen_invalid_string)
		yajl_gen_string(g, (const unsigned char *)"?", 1);
}

void json_str(yajl_gen g, const char *s)
{
	if (!s)
		yajl_gen_null(g);
	else
		json_strn(g, s, strlen(s));
}

void json_key(yajl_gen g, const char *key) { json_str(g, key); }

void json_kstr(yajl_gen g, const char *key, const char *val)
{
	json_key(g, key);
	json_str(g, val);
}

void json_kint(yajl_gen g, const char *key, long long val)
{
	json_key(g, key);
	yajl_gen_integer(g, val);
}

void json_kuint(yajl_gen g, const char *key, uint64_t val)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%" PRIu64, val);

	json_key(g, key);
	yajl_gen_number(g, buf, (size_t)n);
}

void json_kdouble(yajl_gen g, const char *key, double val)
{
	char buf[64];
	int n;

	json_key(g, key);
	if (!isfinite(val)) {
		yajl_gen_null(g);
		return;
	}
	/* Two decimals are what every figure here needs (MB, %, seconds). */
	n = snprintf(buf, sizeof buf, "%.2f", val);
	yajl_gen_number(g, buf, (size_t)n);
}

void json_kbool(yajl_gen g, const char *key, bool val)
{
	json_key(g, key);
	yajl_gen_bool(g, val);
}

void json_knull(yajl_gen g, const char *key)
{
	json_key(g, key);
	yajl_gen_null(g);
}

char *json_gen_dup(yajl_gen g, size_t *ret_len)
{
	const unsigned char *buf;
	size_t len;
	char *s;

	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return NULL;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	memcpy(s, buf, len);
	s[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return s;
}

/* Nesting depth of JSON text, ignoring brackets inside strings; -1 when a
 * string holds an escaped NUL (yajl would hand back a string cut short
 * there, and the rest of it would go unchecked). */
static int json_depth(const char *buf, size_t len)
{
	int depth = 0, max = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\') {
				if (len - i > 5 && memcmp(buf + i + 1, "u0000", 5) == 0)
					return -1;
				i++;
			} else if (c == '"') {
				in_str = false;
			}
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

int json_parse(const char *buf, size_t len, yajl_val *ret, char *err, size_t errsz)
{
	char *text;
	yajl_val v;
	int depth;

	if (len == 0) {
		snprintf(err, errsz, "empty message");
		return -EINVAL;
	}
	if (memchr(buf, '\0', len)) {
		snprintf(err, errsz, "message contains a NUL byte");
		return -EINVAL;
	}
	depth = json_depth(buf, len);
	if (depth < 0) {
		snprintf(err, errsz, "a string contains an escaped NUL (\\u0000)");
		return -EINVAL;
	}
	if (depth > JSON_MAX_DEPTH) {
		snprintf(err, errsz, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
		return -EINVAL;
	}
	text = malloc(len + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, buf, len);
	text[len] = '\0';
	v = yajl_tree_parse(text, err, errsz);
	free(text);
	if (!v) {
		/* yajl's message spans lines; keep the first. */
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		if (!*err)
			snprintf(err, errsz, "invalid JSON");
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

void json_freep(yajl_val *v)
{
	if (*v)
		yajl_tree_free(*v);
	*v = NULL;
}

yajl_val json_get(yajl_val obj, const char *key)
{
	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

int json_get_str(yajl_val obj, const char *key, const char **ret)
{
	yajl_val v = json_get(obj, key);

	if (!v)
		return -ENOENT;
	if (!YAJL_IS_STRING(v))
		return -EINVAL;
	*ret = v->u.string;
	return 0;
}

int json_get_i64(yajl_val obj, const char *key, int64_t *ret)
{
	yajl_val v = json_get(obj, key);

	if (!v)
		return -ENOENT;
	/* yajl marks integers that overflow long long as not YAJL_IS_INTEGER. */
	if (!YAJL_IS_INTEGER(v))
		return -EINVAL;
	*ret = v->u.number.i;
	return 0;
}

int json_get_u64(yajl_val obj, const char *key, uint64_t *ret)
{
	int64_t i;
	int r = json_get_i64(obj, key, &i);

	if (r < 0)
		return r;
	if (i < 0)
		return -EINVAL;
	*ret = (uint64_t)i;
	return 0;
}

int json_get_double(yajl_val obj, const char *key, double *ret)
{
	yajl_val v = json_get(obj, key);

	if (!v)
		return -ENOENT;
	if (!YAJL_IS_NUMBER(v))
		return -EINVAL;
	*ret = YAJL_IS_INTEGER(v) ? (double)v->u.number.i : v->u.number.d;
	return 0;
}

int json_get_bool(yajl_val obj, const char *key, bool *ret)
{
	yajl_val v = json_get(obj, key);

	if (!v)
		return -ENOENT;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return -EINVAL;
	*ret = YAJL_IS_TRUE(v);
	return 0;
}
