/* jsonq: print one value out of a JSON document, for shell tests that
 * must parse (not grep) what memsafed and memsafectl write.
 *
 *   jsonq FILE|- PATH     PATH is dot-separated keys and array indexes,
 *                         e.g. cgroup_events.oom_kill or jobs.0.state;
 *                         "." is the whole document; "PATH#" prints the
 *                         length of an array or object.
 * Exit: 0 printed, 1 no such path, 2 unreadable or invalid JSON. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static char *slurp(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap);

	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	char err[256], *buf, *path, *tok, *save = NULL;
	bool count = false;
	yajl_val v, root;
	size_t len;
	FILE *f;

	if (argc != 3) {
		fprintf(stderr, "usage: jsonq FILE|- PATH\n");
		return 2;
	}
	f = strcmp(argv[1], "-") ? fopen(argv[1], "r") : stdin;
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	buf = slurp(f, &len);
	if (!buf || json_parse(buf, len, &root, err, sizeof err) < 0) {
		fprintf(stderr, "jsonq: %s: %s\n", argv[1], buf ? err : "out of memory");
		return 2;
	}
	path = strdup(argv[2]);
	len = strlen(path);
	if (len && path[len - 1] == '#') {
		count = true;
		path[len - 1] = '\0';
	}
	v = root;
	for (tok = strtok_r(path, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save)) {
		if (YAJL_IS_ARRAY(v)) {
			char *e;
			unsigned long i = strtoul(tok, &e, 10);
			v = (*e || i >= v->u.array.len) ? NULL : v->u.array.values[i];
		} else {
			v = json_get(v, tok);
		}
	}
	if (!v)
		return 1;
	if (count)
		printf("%zu\n", YAJL_IS_ARRAY(v) ? v->u.array.len :
		       YAJL_IS_OBJECT(v) ? v->u.object.len : 0);
	else if (YAJL_IS_STRING(v))
		printf("%s\n", v->u.string);
	else if (YAJL_IS_NUMBER(v))
		printf("%s\n", v->u.number.r);
	else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
		printf("%s\n", YAJL_IS_TRUE(v) ? "true" : "false");
	else if (YAJL_IS_NULL(v))
		printf("null\n");
	else
		printf("%s\n", YAJL_IS_ARRAY(v) ? "[array]" : "{object}");
	yajl_tree_free(root);
	free(path);
	free(buf);
	return 0;
}
