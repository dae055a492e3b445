/* memsafectl's shared helpers: options, JSON access, job references. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client.h"
#include "ctl.h"
#include "json.h"
#include "protocol.h"
#include "size.h"
#include "util.h"

const char *const ctl_artifacts[CTL_N_ARTIFACTS] = {
	"summary.json", "memory_log.csv", "ingest_manifest.json",
	"container_manifest.json", "dmesg_excerpt.txt",
};

const char *ctl_socket;
bool ctl_json;
uint64_t ctl_reply_timeout_ms = 30000;

/* A formatted message, escaped for the terminal (str_escape): messages
 * quote file names, job names and daemon replies. */
_printf_(2, 0) static void put_escaped(FILE *f, const char *fmt, va_list ap)
{
	char raw[4096];

	vsnprintf(raw, sizeof raw, fmt, ap);
	fputs(ctl_text(raw), f);
}

_Noreturn void ctl_die_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "memsafectl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	put_escaped(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry 'memsafectl %s --help'.\n", cmd);
	else
		fprintf(stderr, "\nTry 'memsafectl --help'.\n");
	exit(CTL_EXIT_USAGE);
}

_Noreturn void ctl_bad_option(const char *argv0)
{
	/* getopt has said what was wrong, as "memsafectl COMMAND: ...". */
	fprintf(stderr, "Try '%s --help'.\n", argv0);
	exit(CTL_EXIT_USAGE);
}

void ctl_errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("memsafectl: ", stderr);
	va_start(ap, fmt);
	put_escaped(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *ctl_text(const char *s)
{
	/* A few at a time, for one printf with several. */
	static char *ring[8];
	static size_t cap[8];
	static unsigned next;
	unsigned i;
	size_t n;

	if (!s || !str_needs_escape(s))
		return s;
	i = next++ % ARRAY_SIZE(ring);
	n = str_escape(NULL, 0, s) + 1;
	if (n > cap[i]) {
		char *p = realloc(ring[i], n);

		if (!p)
			return "(unprintable: out of memory)";
		ring[i] = p;
		cap[i] = n;
	}
	str_escape(ring[i], n, s);
	return ring[i];
}

const char *ctl_jtext(yajl_val obj, const char *key)
{
	return ctl_text(ctl_jstr(obj, key));
}

int ctl_request(const char *req, int fd, yajl_val *ret, char *err, size_t errsz)
{
	struct client *c;
	int r;

	if ((r = client_connect(ctl_socket, &c, err, errsz)) < 0)
		return r;
	r = client_call(c, req, fd, ctl_reply_timeout_ms, ret, err, errsz);
	client_close(c);
	return r;
}

yajl_val ctl_call(const char *req, int fd)
{
	yajl_val v = NULL;
	char err[512];

	if (ctl_request(req, fd, &v, err, sizeof err) < 0) {
		ctl_errorf("%s", err);
		exit(CTL_EXIT_UNREACHABLE);
	}
	return v;
}

void ctl_simple_request(char *buf, size_t size, const char *op, uint64_t id)
{
	if (id)
		snprintf(buf, size, "{\"v\":%d,\"op\":\"%s\",\"id\":%" PRIu64 "}",
			 PROTOCOL_VERSION, op, id);
	else
		snprintf(buf, size, "{\"v\":%d,\"op\":\"%s\"}", PROTOCOL_VERSION, op);
}

bool ctl_reply_ok(yajl_val v)
{
	bool ok = false;

	json_get_bool(v, "ok", &ok);
	return ok;
}

const char *ctl_error_code(yajl_val v)
{
	const char *code = "";

	json_get_str(json_get(v, "error"), "code", &code);
	return code;
}

int ctl_print_error(yajl_val v, const char *what)
{
	yajl_val e = json_get(v, "error");
	const char *code = "?", *msg = "memsafed gave no reason";

	json_get_str(e, "code", &code);
	json_get_str(e, "message", &msg);
	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();
		yajl_gen_map_open(g);
		json_kbool(g, "ok", false);
		json_key(g, "error");
		yajl_gen_map_open(g);
		json_kstr(g, "code", code);
		json_kstr(g, "message", msg);
		json_kstr(g, "what", what);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	}
	ctl_errorf("%s: %s (%s)", what, msg, code);
	return CTL_EXIT_REFUSED;
}

const char *ctl_jstr(yajl_val obj, const char *key)
{
	const char *s = NULL;

	json_get_str(obj, key, &s);
	return s ? s : "-";
}

bool ctl_jhas_str(yajl_val obj, const char *key)
{
	yajl_val v = json_get(obj, key);

	return v && YAJL_IS_STRING(v);
}

uint64_t ctl_juint(yajl_val obj, const char *key)
{
	uint64_t n = 0;

	json_get_u64(obj, key, &n);
	return n;
}

double ctl_jdouble(yajl_val obj, const char *key)
{
	double d = 0;

	json_get_double(obj, key, &d);
	return d;
}

yajl_val ctl_jpath(yajl_val obj, const char *path)
{
	char key[128];

	while (obj && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof key)
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		obj = json_get(obj, key);
		path += n;
		if (*path == '.')
			path++;
	}
	return obj;
}

bool ctl_job_ended(yajl_val job)
{
	const char *s = ctl_jstr(job, "state");

	return strcmp(s, "queued") && strcmp(s, "running") && strcmp(s, "spooling");
}

yajl_gen ctl_gen_new(void)
{
	return json_gen_new(true);
}

void ctl_gen_value(yajl_gen g, yajl_val v)
{
	if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		ctl_gen_members(g, v, NULL);
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			ctl_gen_value(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_STRING(v)) {
		json_str(g, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else {
		yajl_gen_null(g);
	}
}

void ctl_gen_members(yajl_gen g, yajl_val obj, const char *const *skip)
{
	if (!YAJL_IS_OBJECT(obj))
		return;
	for (size_t i = 0; i < obj->u.object.len; i++) {
		bool skipped = false;
		for (size_t k = 0; skip && skip[k]; k++)
			if (strcmp(skip[k], obj->u.object.keys[i]) == 0)
				skipped = true;
		if (skipped)
			continue;
		json_key(g, obj->u.object.keys[i]);
		ctl_gen_value(g, obj->u.object.values[i]);
	}
}

void ctl_gen_print(yajl_gen g)
{
	const unsigned char *buf;
	size_t len;

	yajl_gen_get_buf(g, &buf, &len);
	fwrite(buf, 1, len, stdout);
	if (!len || buf[len - 1] != '\n')
		putchar('\n');
	fflush(stdout);
}

void ctl_print_json(yajl_val v)
{
	_cleanup_json_gen_ yajl_gen g = ctl_gen_new();

	ctl_gen_value(g, v);
	ctl_gen_print(g);
}

uint64_t ctl_opt_num(const char *cmd, const char *opt, const char *s, bool zero_ok)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0 || (!zero_ok && v == 0))
		ctl_die_usage(cmd, "%s needs a %s number, not '%s'", opt,
			      zero_ok ? "whole" : "positive", s);
	return v;
}

uint64_t ctl_opt_size(const char *cmd, const char *opt, const char *s)
{
	uint64_t v;

	if (parse_size(s, &v) < 0 || v == 0)
		ctl_die_usage(cmd, "%s needs a size such as 512M or 6G, not '%s'", opt, s);
	return v;
}

uint64_t ctl_opt_duration(const char *cmd, const char *opt, const char *s)
{
	uint64_t v;

	if (parse_duration_ms(s, &v) < 0 || v == 0)
		ctl_die_usage(cmd, "%s needs a duration such as 500ms, 90s or 10m, not '%s'",
			      opt, s);
	return v;
}

double ctl_opt_double(const char *cmd, const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		ctl_die_usage(cmd, "%s needs a number from %g to %g, not '%s'", opt, min, max, s);
	return v;
}

uint64_t ctl_parse_job_id(const char *cmd, const char *s)
{
	uint64_t id;

	if (parse_u64(s, &id) < 0 || id == 0)
		ctl_die_usage(cmd, "'%s' is not a job id (a positive number; "
			      "`memsafectl list` shows them)", s);
	return id;
}

int ctl_load_json(const char *path, yajl_val *ret, char *err, size_t errsz)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t cap = 65536, len = 0;
	struct stat st;
	ssize_t n;
	char perr[256];

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errsz, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s is not a regular file", path);
		return -EINVAL;
	}
	if (!(buf = malloc(cap)))
		return -ENOMEM;
	while ((n = read_full(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len < cap)
			break;
		if (cap >= 16u << 20) {
			snprintf(err, errsz, "%s is larger than 16 MiB", path);
			return -EFBIG;
		}
		char *nb = realloc(buf, cap *= 2);
		if (!nb)
			return -ENOMEM;
		buf = nb;
	}
	if (n < 0) {
		snprintf(err, errsz, "cannot read %s: %s", path, strerror((int)-n));
		return (int)n;
	}
	if (json_parse(buf, len, ret, perr, sizeof perr) < 0) {
		snprintf(err, errsz, "%s is not valid JSON: %s", path, perr);
		return -EINVAL;
	}
	return 0;
}

void ctl_job_ref(const char *cmd, const char *arg, char **ret_dir, uint64_t *ret_id,
		 yajl_val *ret_reply)
{
	char req[128], p[PATH_MAX];
	struct stat st;
	uint64_t id;
	yajl_val v;

	*ret_reply = NULL;
	if (parse_u64(arg, &id) == 0 && id > 0) {
		ctl_simple_request(req, sizeof req, "status", id);
		v = ctl_call(req, -1);
		if (!ctl_reply_ok(v)) {
			snprintf(p, sizeof p, "%s %s", cmd, arg);
			exit(ctl_print_error(v, p));
		}
		if (!ctl_jhas_str(json_get(v, "job"), "dir")) {
			ctl_errorf("%s: memsafed did not say where job %s keeps its artifacts", cmd, arg);
			exit(CTL_EXIT_REFUSED);
		}
		*ret_dir = strdup(ctl_jstr(json_get(v, "job"), "dir"));
		*ret_id = id;
		*ret_reply = v;
		if (!*ret_dir)
			exit(CTL_EXIT_LOCAL);
		return;
	}
	snprintf(p, sizeof p, "%s/summary.json", arg);
	if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode) || access(p, R_OK) < 0)
		ctl_die_usage(cmd, "'%s' is neither a job id nor a directory holding a job's "
			      "summary.json", arg);
	*ret_dir = strdup(arg);
	*ret_id = 0;
	if (!*ret_dir)
		exit(CTL_EXIT_LOCAL);
	{
		yajl_val s;
		char err[256];
		if (ctl_load_json(p, &s, err, sizeof err) == 0) {
			*ret_id = ctl_juint(s, "job");
			yajl_tree_free(s);
		}
	}
}

int ctl_simple_opts(int argc, char **argv, const char *usage)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'j') {
			ctl_json = true;
		} else if (c == 'h') {
			fputs(usage, stdout);
			exit(CTL_EXIT_OK);
		} else {
			ctl_bad_option(argv[0]);
		}
	}
	return optind;
}
