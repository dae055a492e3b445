/* memsafectl: submit documents to memsafed and follow their jobs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "json.h"
#include "protocol.h"
#include "size.h"
#include "util.h"

/* Exit statuses (memsafectl(1)). */
#define EXIT_JOB_FAILED 1   /* a waited-for job did not end "done" */
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3  /* memsafed could not be reached */
#define EXIT_REFUSED 4      /* memsafed answered with an error */

#define DEFAULT_SOCKET RUNSTATEDIR "/memsafed/memsafed.sock"

static const char *socket_path;
static bool json_out;

struct cmd {
	const char *name, *args, *help;
	int (*run)(int argc, char **argv);
};

static void die_usage(const char *cmd, const char *fmt, ...) _printf_(2, 3);
static void die_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "memsafectl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'memsafectl %s--help'.\n", cmd ? "COMMAND " : "");
	exit(EXIT_USAGE);
}

/* One request to the daemon. Exits with a message on transport errors;
 * returns the reply (ok or not) for the caller to read. */
static yajl_val call(const char *req, int fd)
{
	struct client *c;
	yajl_val v = NULL;
	char err[512];

	if (client_connect(socket_path, &c, err, sizeof err) < 0) {
		fprintf(stderr, "memsafectl: %s\n", err);
		exit(EXIT_UNREACHABLE);
	}
	if (client_call(c, req, fd, &v, err, sizeof err) < 0) {
		fprintf(stderr, "memsafectl: %s\n", err);
		client_close(c);
		exit(EXIT_UNREACHABLE);
	}
	client_close(c);
	return v;
}

static bool reply_ok(yajl_val v)
{
	bool ok = false;

	json_get_bool(v, "ok", &ok);
	return ok;
}

/* Print a daemon error the way people read it; return EXIT_REFUSED. */
static int print_error(yajl_val v, const char *what)
{
	yajl_val e = json_get(v, "error");
	const char *code = "?", *msg = "no message";

	json_get_str(e, "code", &code);
	json_get_str(e, "message", &msg);
	if (json_out) {
		printf("{\"ok\":false,\"error\":{\"code\":\"%s\",\"what\":\"%s\"}}\n", code, what);
	}
	fprintf(stderr, "memsafectl: %s: %s (%s)\n", what, msg, code);
	return EXIT_REFUSED;
}

static void print_json_value(yajl_val v, yajl_gen g)
{
	if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			json_key(g, v->u.object.keys[i]);
			print_json_value(v->u.object.values[i], g);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			print_json_value(v->u.array.values[i], g);
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

static void print_json(yajl_val v)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(true);
	const unsigned char *buf;
	size_t len;

	print_json_value(v, g);
	yajl_gen_get_buf(g, &buf, &len);
	fwrite(buf, 1, len, stdout);
	if (len && buf[len - 1] != '\n')
		putchar('\n');
}

static const char *jstr(yajl_val obj, const char *key)
{
	const char *s = NULL;

	json_get_str(obj, key, &s);
	return s ? s : "-";
}

static uint64_t juint(yajl_val obj, const char *key)
{
	uint64_t n = 0;

	json_get_u64(obj, key, &n);
	return n;
}

static double jdouble(yajl_val obj, const char *key)
{
	double d = 0;

	json_get_double(obj, key, &d);
	return d;
}

static bool job_ended(yajl_val job)
{
	const char *s = jstr(job, "state");

	return strcmp(s, "queued") && strcmp(s, "running") && strcmp(s, "spooling");
}

static void print_job_line(yajl_val job)
{
	printf("job %" PRIu64 " %s%s%s%s: %s, %" PRIu64 " pages, %" PRIu64 " batches "
	       "(%" PRIu64 " flushed), peak %.1f MB of %.0f MB\n",
	       juint(job, "id"), jstr(job, "state"),
	       json_get(job, "end_reason") && YAJL_IS_STRING(json_get(job, "end_reason")) ? " (" : "",
	       YAJL_IS_STRING(json_get(job, "end_reason")) ? jstr(job, "end_reason") : "",
	       YAJL_IS_STRING(json_get(job, "end_reason")) ? ")" : "",
	       jstr(job, "name"), juint(job, "pages"), juint(job, "batches"),
	       juint(job, "batches_flushed"), jdouble(job, "peak_cgroup_mb"),
	       (double)juint(job, "memory_max") / 1048576.0);
	if (YAJL_IS_STRING(json_get(job, "message")))
		printf("  %s\n", jstr(job, "message"));
}

/* Poll a job until it ends; returns its last description (caller frees). */
static yajl_val wait_job(uint64_t id)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	char req[128];

	snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"status\",\"id\":%" PRIu64 "}",
		 PROTOCOL_VERSION, id);
	for (;;) {
		yajl_val v = call(req, -1);
		if (!reply_ok(v) || job_ended(json_get(v, "job")))
			return v;
		yajl_tree_free(v);
		nanosleep(&ts, NULL);
	}
}

/* ---- submit -------------------------------------------------------------- */

struct submit_opts {
	const char *kb, *sink;
	uint64_t memory_max, batch_size, max_bytes, max_wait_ms, timeout_ms;
	int64_t priority;
	bool has_priority, wait;
};

static char *submit_request(const char *name, const struct submit_opts *o)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(false);

	yajl_gen_map_open(g);
	json_kint(g, "v", PROTOCOL_VERSION);
	json_kstr(g, "op", "submit");
	json_kstr(g, "name", name);
	if (o->kb)
		json_kstr(g, "kb", o->kb);
	if (o->sink)
		json_kstr(g, "sink", o->sink);
	if (o->memory_max)
		json_kuint(g, "memory_max", o->memory_max);
	if (o->batch_size)
		json_kuint(g, "batch_size", o->batch_size);
	if (o->max_bytes)
		json_kuint(g, "max_bytes", o->max_bytes);
	if (o->max_wait_ms)
		json_kuint(g, "max_wait_ms", o->max_wait_ms);
	if (o->timeout_ms)
		json_kuint(g, "timeout_ms", o->timeout_ms);
	if (o->has_priority)
		json_kint(g, "priority", o->priority);
	yajl_gen_map_close(g);
	return json_gen_dup(g, NULL);
}

static uint64_t opt_num(const char *cmd, const char *opt, const char *s)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0 || v == 0)
		die_usage(cmd, "%s needs a positive number, not '%s'", opt, s);
	return v;
}

static uint64_t opt_size(const char *cmd, const char *opt, const char *s)
{
	uint64_t v;

	if (parse_size(s, &v) < 0 || v == 0)
		die_usage(cmd, "%s needs a size such as 512M or 6G, not '%s'", opt, s);
	return v;
}

static int cmd_submit(int argc, char **argv)
{
	enum { O_KB = 256, O_MEM, O_BATCH, O_BYTES, O_WAIT_MS, O_SINK, O_PRIO, O_TIMEOUT, O_WAIT };
	static const struct option lo[] = {
		{ "kb", required_argument, NULL, O_KB },
		{ "memory-max", required_argument, NULL, O_MEM },
		{ "batch-size", required_argument, NULL, O_BATCH },
		{ "max-bytes", required_argument, NULL, O_BYTES },
		{ "max-wait-ms", required_argument, NULL, O_WAIT_MS },
		{ "sink", required_argument, NULL, O_SINK },
		{ "priority", required_argument, NULL, O_PRIO },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "wait", no_argument, NULL, O_WAIT },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct submit_opts o = {0};
	int c, status = 0;
	uint64_t ids[256];
	size_t nids = 0;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_KB: o.kb = optarg; break;
		case O_MEM: o.memory_max = opt_size("submit", "--memory-max", optarg); break;
		case O_BATCH: o.batch_size = opt_num("submit", "--batch-size", optarg); break;
		case O_BYTES: o.max_bytes = opt_size("submit", "--max-bytes", optarg); break;
		case O_WAIT_MS: o.max_wait_ms = opt_num("submit", "--max-wait-ms", optarg); break;
		case O_SINK: o.sink = optarg; break;
		case O_PRIO: {
			char *e;
			long p = strtol(optarg, &e, 10);
			if (*e || p < -100 || p > 100)
				die_usage("submit", "--priority takes -100 to 100");
			o.priority = p;
			o.has_priority = true;
			break;
		}
		case O_TIMEOUT:
			if (parse_duration_ms(optarg, &o.timeout_ms) < 0 || !o.timeout_ms)
				die_usage("submit", "--timeout needs a duration such as 90s or 10m");
			break;
		case O_WAIT: o.wait = true; break;
		case 'j': json_out = true; break;
		case 'h':
			printf("Usage: memsafectl submit FILE... [--kb NAME] [--memory-max SIZE]\n"
			       "         [--batch-size N] [--max-bytes SIZE] [--max-wait-ms N]\n"
			       "         [--sink mock|jsonl|exec] [--priority N] [--timeout DUR] [--wait] [--json]\n"
			       "Queue each FILE (or - for standard input) as a job. memsafectl opens the\n"
			       "file and passes it to memsafed; with --wait, follow each job to its end.\n");
			return 0;
		default: exit(EXIT_USAGE);
		}
	}
	if (optind >= argc)
		die_usage("submit", "name at least one FILE");
	if (argc - optind > (int)ARRAY_SIZE(ids))
		die_usage("submit", "at most %zu files at once", ARRAY_SIZE(ids));
	if (json_out && argc - optind > 1)
		printf("{\"jobs\":[\n");
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		_cleanup_free_ char *req = NULL;
		yajl_val v;
		int fd;

		fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) :
		     open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0) {
			fprintf(stderr, "memsafectl: cannot open %s: %s\n", path, strerror(errno));
			status = EXIT_REFUSED;
			continue;
		}
		req = submit_request(strcmp(path, "-") == 0 ? "stdin" : base, &o);
		v = call(req, fd);
		close(fd);
		if (!reply_ok(v)) {
			char what[300];
			snprintf(what, sizeof what, "submit %s", path);
			status = print_error(v, what);
		} else {
			ids[nids++] = juint(v, "id");
			if (!o.wait) {
				if (json_out)
					print_json(v);
				else
					printf("job %" PRIu64 " queued: %s\n", juint(v, "id"), path);
			} else if (!json_out) {
				printf("job %" PRIu64 " queued: %s\n", juint(v, "id"), path);
				fflush(stdout);
			}
		}
		yajl_tree_free(v);
	}
	for (size_t i = 0; o.wait && i < nids; i++) {
		yajl_val v = wait_job(ids[i]);
		yajl_val job = json_get(v, "job");

		if (!reply_ok(v)) {
			status = print_error(v, "status");
		} else {
			if (json_out)
				print_json(v);
			else {
				print_job_line(job);
				printf("  artifacts: %s\n", jstr(job, "dir"));
			}
			if (strcmp(jstr(job, "state"), "done") != 0 && status == 0)
				status = EXIT_JOB_FAILED;
		}
		yajl_tree_free(v);
	}
	if (json_out && argc - optind > 1)
		printf("]}\n");
	return status;
}

/* ---- status, list, cancel ------------------------------------------------ */

static int simple_opts(const char *cmd, int argc, char **argv, const char *usage)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'j')
			json_out = true;
		else if (c == 'h') {
			printf("%s", usage);
			exit(0);
		} else
			exit(EXIT_USAGE);
	}
	(void)cmd;
	return optind;
}

static uint64_t parse_job_id(const char *cmd, const char *s)
{
	uint64_t id;

	if (parse_u64(s, &id) < 0 || id == 0)
		die_usage(cmd, "'%s' is not a job id (a positive number, see `memsafectl list`)", s);
	return id;
}

static int cmd_list(int argc, char **argv);

static int cmd_status(int argc, char **argv)
{
	int i = simple_opts("status", argc, argv,
			    "Usage: memsafectl status [JOB] [--json]\n"
			    "Show a job's state, progress and memory; without JOB, the daemon's.\n");
	char req[128];
	yajl_val v;
	int r = 0;

	if (i >= argc) {
		snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"ping\"}", PROTOCOL_VERSION);
		v = call(req, -1);
		if (!reply_ok(v))
			r = print_error(v, "status");
		else if (json_out)
			print_json(v);
		else
			printf("memsafed %s (pid %" PRIu64 "): %" PRIu64 " running, %" PRIu64 " queued\n",
			       jstr(v, "version"), juint(v, "pid"), juint(v, "running"),
			       juint(v, "queued"));
		yajl_tree_free(v);
		return r;
	}
	snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"status\",\"id\":%" PRIu64 "}",
		 PROTOCOL_VERSION, parse_job_id("status", argv[i]));
	v = call(req, -1);
	if (!reply_ok(v))
		r = print_error(v, "status");
	else if (json_out)
		print_json(v);
	else {
		print_job_line(json_get(v, "job"));
		printf("  artifacts: %s\n", jstr(json_get(v, "job"), "dir"));
	}
	yajl_tree_free(v);
	return r;
}

static int cmd_list(int argc, char **argv)
{
	char req[64];
	yajl_val v, jobs;
	int r = 0;

	simple_opts("list", argc, argv, "Usage: memsafectl list [--json]\n"
		    "List the jobs you may see (all of them for root and the admin group).\n");
	snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"list\"}", PROTOCOL_VERSION);
	v = call(req, -1);
	jobs = json_get(v, "jobs");
	if (!reply_ok(v) || !YAJL_IS_ARRAY(jobs)) {
		r = print_error(v, "list");
	} else if (json_out) {
		print_json(v);
	} else {
		printf("%6s  %-11s %-17s %6s %8s %10s  %s\n", "JOB", "STATE", "END", "PAGES",
		       "BATCHES", "PEAK MB", "NAME");
		for (size_t i = 0; i < jobs->u.array.len; i++) {
			yajl_val j = jobs->u.array.values[i];
			printf("%6" PRIu64 "  %-11s %-17s %6" PRIu64 " %8" PRIu64 " %10.1f  %s\n",
			       juint(j, "id"), jstr(j, "state"), jstr(j, "end_reason"),
			       juint(j, "pages"), juint(j, "batches"), jdouble(j, "peak_cgroup_mb"),
			       jstr(j, "name"));
		}
	}
	yajl_tree_free(v);
	return r;
}

static int cmd_cancel(int argc, char **argv)
{
	int i = simple_opts("cancel", argc, argv, "Usage: memsafectl cancel JOB... [--json]\n"
			    "Stop queued or running jobs; they end as cancelled.\n");
	int r = 0;

	if (i >= argc)
		die_usage("cancel", "name at least one JOB");
	for (; i < argc; i++) {
		char req[128];
		yajl_val v;

		snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"cancel\",\"id\":%" PRIu64 "}",
			 PROTOCOL_VERSION, parse_job_id("cancel", argv[i]));
		v = call(req, -1);
		if (!reply_ok(v))
			r = print_error(v, "cancel");
		else if (json_out)
			print_json(v);
		else
			printf("job %" PRIu64 " cancelled\n", juint(v, "id"));
		yajl_tree_free(v);
	}
	return r;
}

/* ---- simulate-pressure --------------------------------------------------- */

static int cmd_simulate_pressure(int argc, char **argv)
{
	enum { O_TARGET = 256, O_MEM, O_HOLD };
	static const struct option lo[] = {
		{ "target-mb", required_argument, NULL, O_TARGET },
		{ "memory-max", required_argument, NULL, O_MEM },
		{ "hold-ms", required_argument, NULL, O_HOLD },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t target = 0, mem = 0, hold = 500;
	char req[256];
	yajl_val v, job;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_TARGET: target = opt_num("simulate-pressure", "--target-mb", optarg); break;
		case O_MEM: mem = opt_size("simulate-pressure", "--memory-max", optarg); break;
		case O_HOLD:
			if (parse_u64(optarg, &hold) < 0)
				die_usage("simulate-pressure", "--hold-ms needs a number");
			break;
		case 'j': json_out = true; break;
		case 'h':
			printf("Usage: memsafectl simulate-pressure --target-mb N [--memory-max SIZE]\n"
			       "         [--hold-ms N] [--json]\n"
			       "Run a pressure worker that allocates N MiB in a capped cgroup, holds it,\n"
			       "releases it, and report how the job ended (oom_kill when N exceeds the cap).\n");
			return 0;
		default: exit(EXIT_USAGE);
		}
	}
	if (!target)
		die_usage("simulate-pressure", "--target-mb N is required");
	if (mem)
		snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"simulate_pressure\",\"target_mb\":%"
			 PRIu64 ",\"hold_ms\":%" PRIu64 ",\"memory_max\":%" PRIu64 "}",
			 PROTOCOL_VERSION, target, hold, mem);
	else
		snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"simulate_pressure\",\"target_mb\":%"
			 PRIu64 ",\"hold_ms\":%" PRIu64 "}", PROTOCOL_VERSION, target, hold);
	v = call(req, -1);
	if (!reply_ok(v)) {
		r = print_error(v, "simulate-pressure");
		yajl_tree_free(v);
		return r;
	}
	{
		uint64_t id = juint(v, "id");
		yajl_tree_free(v);
		v = wait_job(id);
	}
	job = json_get(v, "job");
	if (!reply_ok(v))
		r = print_error(v, "simulate-pressure");
	else {
		if (json_out)
			print_json(v);
		else {
			print_job_line(job);
			printf("  artifacts: %s\n", jstr(job, "dir"));
		}
		if (strcmp(jstr(job, "state"), "done") != 0)
			r = EXIT_JOB_FAILED;
	}
	yajl_tree_free(v);
	return r;
}

static const struct cmd cmds[] = {
	{ "submit", "FILE... [--wait]", "queue documents as jobs", cmd_submit },
	{ "status", "[JOB]", "show a job (or the daemon)", cmd_status },
	{ "list", "", "list your jobs", cmd_list },
	{ "cancel", "JOB...", "stop jobs", cmd_cancel },
	{ "simulate-pressure", "--target-mb N", "allocate N MiB under a cap and report", cmd_simulate_pressure },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: memsafectl [--socket PATH] [--json] COMMAND [ARGS]\n"
		"Talk to memsafed, the memory-safe document ingestion daemon.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-18s %-18s %s\n", cmds[i].name, cmds[i].args, cmds[i].help);
	fprintf(f, "\nOptions:\n"
		"  -s, --socket PATH  memsafed's socket (default $MEMSAFE_SOCKET or %s)\n"
		"      --json         print one JSON document on stdout\n"
		"  -h, --help         show this help; COMMAND --help for a command's options\n"
		"  -V, --version      show the version\n"
		"\nExit status: 0 success, 1 a waited-for job did not end done, 2 usage error,\n"
		"3 memsafed unreachable, 4 memsafed refused the request. See memsafectl(1).\n",
		DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int c;

	socket_path = getenv("MEMSAFE_SOCKET");
	if (!socket_path || !*socket_path)
		socket_path = DEFAULT_SOCKET;
	/* Global options stop at the command name ("+"). */
	while ((c = getopt_long(argc, argv, "+s:hV", lo, NULL)) != -1) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'j': json_out = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("memsafectl %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[optind], cmds[i].name) == 0) {
			argv += optind;
			argc -= optind;
			optind = 0; /* re-initialise getopt: permute again */
			return cmds[i].run(argc, argv);
		}
	}
	die_usage(NULL, "unknown command '%s'", argv[optind]);
}
