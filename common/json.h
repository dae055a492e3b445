/* Thin helpers over yajl: building objects with yajl_gen and reading
 * members out of a yajl_tree, with types checked. */
#ifndef MEMSAFE_JSON_H
#define MEMSAFE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/* Deepest nesting accepted from outside; deeper input is refused before
 * yajl sees it. */
#define JSON_MAX_DEPTH 16

yajl_gen json_gen_new(bool pretty);
void json_gen_freep(yajl_gen *g);
#define _cleanup_json_gen_ __attribute__((cleanup(json_gen_freep)))
void json_str(yajl_gen g, const char *s);
void json_strn(yajl_gen g, const char *s, size_t len);
void json_kstr(yajl_gen g, const char *key, const char *val); /* NULL -> null */
void json_kint(yajl_gen g, const char *key, long long val);
void json_kuint(yajl_gen g, const char *key, uint64_t val);
void json_kdouble(yajl_gen g, const char *key, double val);
void json_kbool(yajl_gen g, const char *key, bool val);
void json_knull(yajl_gen g, const char *key);
void json_key(yajl_gen g, const char *key);
/* Copy the generated text out as a NUL-terminated malloc'd string. */
char *json_gen_dup(yajl_gen g, size_t *ret_len);

/* Parse len bytes (need not be terminated). On failure returns -EINVAL and
 * writes a one-line reason into err. */
int json_parse(const char *buf, size_t len, yajl_val *ret, char *err, size_t errsz);
void json_freep(yajl_val *v);
#define _cleanup_json_ __attribute__((cleanup(json_freep)))

/* Object member lookup: NULL when absent or obj is not an object. */
yajl_val json_get(yajl_val obj, const char *key);
/* Typed getters: 0, -ENOENT when absent (ret untouched), -EINVAL on a
 * wrong type or out-of-range number. */
int json_get_str(yajl_val obj, const char *key, const char **ret);
int json_get_u64(yajl_val obj, const char *key, uint64_t *ret);
int json_get_i64(yajl_val obj, const char *key, int64_t *ret);
int json_get_double(yajl_val obj, const char *key, double *ret);
int json_get_bool(yajl_val obj, const char *key, bool *ret);

#endif
