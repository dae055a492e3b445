/* memsafectl submit: open the documents and pass their fds. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "jobs.h"
#include "json.h"
#include "protocol.h"
#include "submit.h"
#include "term.h"

#define SUBMIT_MAX_FILES 256

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
	if (o->has_gpu_memory_max)
		json_kuint(g, "gpu_memory_max", o->gpu_memory_max);
	yajl_gen_map_close(g);
	return json_gen_dup(g, NULL);
}

yajl_val submit_file(const char *path, const struct submit_opts *o)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	_cleanup_free_ char *req = NULL;
	_cleanup_close_ int fd = -1;

	/* memsafectl opens the document with the caller's rights and passes
	 * the fd: memsafed never opens a path for a client. O_NONBLOCK keeps
	 * a FIFO without a writer from hanging us here. */
	fd = strcmp(path, "-") == 0 ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) :
	     open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		ctl_errorf("cannot open %s: %s", path, strerror(e));
		errno = e;   /* callers report it too */
		return NULL;
	}
	req = submit_request(strcmp(path, "-") == 0 ? "stdin" : base, o);
	if (!req)
		return NULL;
	return ctl_call(req, fd);
}

bool submit_job_option(const char *cmd, int c, struct submit_opts *o)
{
	switch (c) {
	case SUBMIT_O_KB: o->kb = optarg; return true;
	case SUBMIT_O_MEM: o->memory_max = ctl_opt_size(cmd, "--memory-max", optarg); return true;
	case SUBMIT_O_BATCH:
		o->batch_size = ctl_opt_num(cmd, "--batch-size", optarg, false);
		return true;
	case SUBMIT_O_BYTES: o->max_bytes = ctl_opt_size(cmd, "--max-bytes", optarg); return true;
	case SUBMIT_O_WAIT_MS:
		o->max_wait_ms = ctl_opt_num(cmd, "--max-wait-ms", optarg, false);
		return true;
	case SUBMIT_O_SINK: o->sink = optarg; return true;
	case SUBMIT_O_PRIO: {
		char *e;
		long p = strtol(optarg, &e, 10);
		if (*e || e == optarg || p < -100 || p > 100)
			ctl_die_usage(cmd, "--priority takes a number from -100 to 100, not '%s'",
				      optarg);
		o->priority = p;
		o->has_priority = true;
		return true;
	}
	case SUBMIT_O_TIMEOUT:
		o->timeout_ms = ctl_opt_duration(cmd, "--timeout", optarg);
		return true;
	case SUBMIT_O_GPU_MEM:   /* 0: no device limit of its own */
		o->gpu_memory_max = strcmp(optarg, "0") == 0 ? 0 :
				    ctl_opt_size(cmd, "--gpu-memory-max", optarg);
		o->has_gpu_memory_max = true;
		return true;
	}
	return false;
}

int submit_main(int argc, char **argv)
{
	enum { O_WAIT = SUBMIT_O_NEXT };
	static const struct option lo[] = {
		SUBMIT_JOB_OPTIONS,
		{ "wait", no_argument, NULL, O_WAIT },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct submit_opts o = {0};
	bool wait = false, many;
	int c, status = CTL_EXIT_OK, nfiles;
	uint64_t ids[SUBMIT_MAX_FILES];
	yajl_val replies[SUBMIT_MAX_FILES];
	size_t nids = 0;
	_cleanup_json_gen_ yajl_gen g = NULL;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (submit_job_option("submit", c, &o))
			continue;
		switch (c) {
		case O_WAIT: wait = true; break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl submit FILE... [--kb NAME] [--memory-max SIZE]\n"
			       "         [--batch-size N] [--max-bytes SIZE] [--max-wait-ms N]\n"
			       "         [--sink mock|jsonl|exec] [--priority N] [--timeout DUR]\n"
			       "         [--gpu-memory-max SIZE] [--wait] [--json]\n"
			       "Queue each FILE (- for standard input) as a job. memsafectl opens the file\n"
			       "and passes it to memsafed, which never opens a path for you.\n"
			       "  --kb NAME          knowledge base for the chunks ([A-Za-z0-9_.-], 1-64)\n"
			       "  --memory-max SIZE  the job's memory cap (memory.max), e.g. 512M, 6G\n"
			       "  --batch-size N     chunks per flushed batch\n"
			       "  --max-bytes SIZE   bytes per flushed batch\n"
			       "  --max-wait-ms N    close a batch after N ms\n"
			       "  --sink NAME        mock, jsonl or exec\n"
			       "  --priority N       -100..100, higher runs first (above 0: administrators)\n"
			       "  --timeout DUR      wall-clock limit, e.g. 90s, 10m\n"
			       "  --gpu-memory-max SIZE  device memory (VRAM) the job's GPU buffers may\n"
			       "                     hold, 0 for no limit of its own (within the ceiling);\n"
			       "                     GTT always counts against --memory-max\n"
			       "  --wait             follow every job to its end: a progress line per job\n"
			       "                     on a terminal, plain lines otherwise; exit 1 when a\n"
			       "                     job does not end done\n"
			       "  --json             one FILE: the daemon's reply {\"id\": JOB, \"job\": {...}};\n"
			       "                     several: {\"ok\": BOOL, \"jobs\": [reply...]}\n");
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	nfiles = argc - optind;
	if (nfiles <= 0)
		ctl_die_usage("submit", "name at least one FILE");
	if (nfiles > SUBMIT_MAX_FILES)
		ctl_die_usage("submit", "at most %d files at once", SUBMIT_MAX_FILES);
	many = nfiles > 1;
	if (ctl_json && many) {
		g = ctl_gen_new();
		yajl_gen_map_open(g);
		json_key(g, "jobs");
		yajl_gen_array_open(g);
	}
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		yajl_val v = submit_file(path, &o);

		if (!v) {
			int e = errno;
			status = CTL_EXIT_LOCAL;
			if (ctl_json && !g) {
				_cleanup_json_gen_ yajl_gen eg = ctl_gen_new();
				yajl_gen_map_open(eg);
				json_kbool(eg, "ok", false);
				json_kstr(eg, "file", path);
				json_key(eg, "error");
				yajl_gen_map_open(eg);
				json_kstr(eg, "code", "open");
				json_kstr(eg, "message", strerror(e));
				yajl_gen_map_close(eg);
				yajl_gen_map_close(eg);
				ctl_gen_print(eg);
			}
			if (g) {
				yajl_gen_map_open(g);
				json_kstr(g, "file", path);
				json_kbool(g, "ok", false);
				json_key(g, "error");
				yajl_gen_map_open(g);
				json_kstr(g, "code", "open");
				json_kstr(g, "message", strerror(e));
				yajl_gen_map_close(g);
				yajl_gen_map_close(g);
			}
			continue;
		}
		if (!ctl_reply_ok(v)) {
			char what[300];
			snprintf(what, sizeof what, "submit %s", path);
			if (g) {
				yajl_gen_map_open(g);
				json_kstr(g, "file", path);
				ctl_gen_members(g, v, NULL);
				yajl_gen_map_close(g);
				ctl_errorf("%s: %s (%s)", what,
					   ctl_jstr(json_get(v, "error"), "message"), ctl_error_code(v));
				status = CTL_EXIT_REFUSED;
			} else {
				status = ctl_print_error(v, what);
			}
		} else {
			ids[nids++] = ctl_juint(v, "id");
			if (!ctl_json) {
				printf("job %" PRIu64 " queued: %s\n", ctl_juint(v, "id"), ctl_text(path));
				fflush(stdout);
			} else if (!wait) {
				if (g) {
					yajl_gen_map_open(g);
					json_kstr(g, "file", path);
					ctl_gen_members(g, v, NULL);
					yajl_gen_map_close(g);
				} else {
					ctl_print_json(v);
				}
			}
		}
		yajl_tree_free(v);
	}
	if (wait && nids > 0) {
		struct jobs_wait w = {
			.progress = !ctl_json && term_interactive(),
			.print_ends = !ctl_json,
		};
		int r = jobs_wait(ids, nids, &w, replies);

		if (r == CTL_EXIT_REFUSED || r == 130) {
			for (size_t i = 0; i < nids; i++)
				if (replies[i] && !ctl_reply_ok(replies[i]))
					ctl_print_error(replies[i], "status");
		}
		if (status == CTL_EXIT_OK)
			status = r;
		for (size_t i = 0; i < nids; i++) {
			if (!replies[i])
				continue;
			if (g)
				ctl_gen_value(g, replies[i]);
			else if (ctl_json && !many && ctl_reply_ok(replies[i]))
				ctl_print_json(replies[i]);
			yajl_tree_free(replies[i]);
		}
	}
	if (g) {
		yajl_gen_array_close(g);
		json_kbool(g, "ok", status == CTL_EXIT_OK);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	}
	return status;
}
