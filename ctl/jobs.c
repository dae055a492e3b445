/* memsafectl status, list, cancel, and waiting for a job to end. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "jobs.h"
#include "json.h"
#include "term.h"

static double mib(uint64_t bytes) { return (double)bytes / 1048576.0; }

yajl_val jobs_status(uint64_t id)
{
	char req[128];

	ctl_simple_request(req, sizeof req, "status", id);
	return ctl_call(req, -1);
}

static void print_first_line(yajl_val job)
{
	bool end = ctl_jhas_str(job, "end_reason");

	printf("job %" PRIu64 " %s%s%s%s: %s, %" PRIu64 " pages, %" PRIu64 " batches "
	       "(%" PRIu64 " flushed), peak %.1f MB of %.0f MB\n",
	       ctl_juint(job, "id"), ctl_jstr(job, "state"), end ? " (" : "",
	       end ? ctl_jstr(job, "end_reason") : "", end ? ")" : "",
	       ctl_jtext(job, "name"), ctl_juint(job, "pages"), ctl_juint(job, "batches"),
	       ctl_juint(job, "batches_flushed"), ctl_jdouble(job, "peak_cgroup_mb"),
	       mib(ctl_juint(job, "memory_max")));
}

void jobs_print_line(yajl_val job)
{
	print_first_line(job);
	if (ctl_jhas_str(job, "message"))
		printf("  %s\n", ctl_jtext(job, "message"));
}

const char *jobs_why(yajl_val job)
{
	const char *state = ctl_jstr(job, "state");

	if (!strcmp(state, "queued") || !strcmp(state, "spooling") || !strcmp(state, "running")) {
		if (ctl_jhas_str(job, "message"))
			return ctl_jstr(job, "message");
		if (!strcmp(state, "queued"))
			return "waiting for a free slot: max_concurrent jobs are running";
		if (!strcmp(state, "spooling"))
			return "memsafed is still receiving the document";
	}
	return NULL;
}

/* ---- status ---------------------------------------------------------------- */

static void print_job_details(yajl_val job)
{
	double cap = mib(ctl_juint(job, "memory_max"));
	double high = mib(ctl_juint(job, "memory_high"));
	double psi = ctl_jdouble(job, "psi_some_avg10");
	const char *why = jobs_why(job);

	print_first_line(job);
	printf("  progress:  page %" PRIu64 " of %" PRIu64 "; %" PRIu64 " batches (%" PRIu64
	       " flushed, %" PRIu64 " failed); %" PRIu64 " chunks; %" PRIu64 " retries\n",
	       ctl_juint(job, "page"), ctl_juint(job, "pages"), ctl_juint(job, "batches"),
	       ctl_juint(job, "batches_flushed"), ctl_juint(job, "batches_failed"),
	       ctl_juint(job, "chunks"), ctl_juint(job, "retries"));
	if (!strcmp(ctl_jstr(job, "state"), "running"))
		printf("  memory:    RSS %.1f MB, cgroup %.1f MB of %.0f MB (%.0f%%), "
		       "memory.high %.0f MB\n", ctl_jdouble(job, "rss_mb"),
		       ctl_jdouble(job, "cgroup_mb"), cap,
		       cap > 0 ? 100.0 * ctl_jdouble(job, "cgroup_mb") / cap : 0.0, high);
	printf("  peak:      RSS %.1f MB, cgroup %.1f MB of %.0f MB (%.0f%%)\n",
	       ctl_jdouble(job, "peak_rss_mb"), ctl_jdouble(job, "peak_cgroup_mb"), cap,
	       cap > 0 ? 100.0 * ctl_jdouble(job, "peak_cgroup_mb") / cap : 0.0);
	if (psi >= 0)
		printf("  pressure:  job memory PSI some avg10 %.2f%%; ", psi);
	else
		printf("  pressure:  no per-job PSI on this host; ");
	printf("%" PRIu64 " memory events%s%s%s; %" PRIu64 " OOM kills\n",
	       ctl_juint(job, "events"), ctl_jhas_str(job, "last_event") ? " (last: " : "",
	       ctl_jhas_str(job, "last_event") ? ctl_jtext(job, "last_event") : "",
	       ctl_jhas_str(job, "last_event") ? ")" : "", ctl_juint(job, "oom_kills"));
	if (json_get(job, "culprit_page") && YAJL_IS_NUMBER(json_get(job, "culprit_page")))
		printf("  culprit:   page %" PRIu64 " (OOM-killed twice, skipped)\n",
		       ctl_juint(job, "culprit_page"));
	if (why)
		printf("  why:       %s\n", ctl_text(why));
	else if (ctl_jhas_str(job, "message"))
		printf("  message:   %s\n", ctl_jtext(job, "message"));
	printf("  artifacts: %s\n", ctl_jtext(job, "dir"));
}

int jobs_status_main(int argc, char **argv)
{
	int i = ctl_simple_opts(argc, argv,
		"Usage: memsafectl status [JOB] [--json]\n"
		"Show a job's state, progress, memory against its cap, pressure and why it\n"
		"waits; without JOB, memsafed's version and how many jobs run and wait.\n"
		"  --json   the daemon's reply: {\"id\": JOB, \"job\": {...}}\n");
	char req[128];
	yajl_val v;
	int r = CTL_EXIT_OK;

	if (i < argc - 1)
		ctl_die_usage("status", "name at most one JOB");
	ctl_simple_request(req, sizeof req, i < argc ? "status" : "ping",
			   i < argc ? ctl_parse_job_id("status", argv[i]) : 0);
	v = ctl_call(req, -1);
	if (!ctl_reply_ok(v))
		r = ctl_print_error(v, "status");
	else if (ctl_json)
		ctl_print_json(v);
	else if (i >= argc)
		printf("memsafed %s (pid %" PRIu64 "): %" PRIu64 " running, %" PRIu64 " queued\n",
		       ctl_jtext(v, "version"), ctl_juint(v, "pid"), ctl_juint(v, "running"),
		       ctl_juint(v, "queued"));
	else
		print_job_details(json_get(v, "job"));
	yajl_tree_free(v);
	return r;
}

/* ---- list ------------------------------------------------------------------ */

int jobs_list_main(int argc, char **argv)
{
	int i = ctl_simple_opts(argc, argv,
		"Usage: memsafectl list [--json]\n"
		"List the jobs you may see (all of them for root and the admin group): state,\n"
		"end reason, pages, batches, peak cgroup memory, and WHY a job waits.\n"
		"  --json   {\"jobs\": [{\"id\": N, ..., \"why\": \"...\" or null}]}\n");
	char req[64];
	yajl_val v, jobs;
	int r = CTL_EXIT_OK;

	if (i < argc)
		ctl_die_usage("list", "takes no arguments (did you mean `status %s`?)", argv[i]);
	ctl_simple_request(req, sizeof req, "list", 0);
	v = ctl_call(req, -1);
	jobs = json_get(v, "jobs");
	if (!ctl_reply_ok(v) || !YAJL_IS_ARRAY(jobs)) {
		r = ctl_print_error(v, "list");
	} else if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();
		static const char *const skip[] = { "jobs", NULL };

		yajl_gen_map_open(g);
		ctl_gen_members(g, v, skip);
		json_key(g, "jobs");
		yajl_gen_array_open(g);
		for (size_t k = 0; k < jobs->u.array.len; k++) {
			yajl_val j = jobs->u.array.values[k];
			yajl_gen_map_open(g);
			ctl_gen_members(g, j, NULL);
			json_kstr(g, "why", jobs_why(j));
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	} else {
		printf("%6s  %-11s %-17s %6s %8s %9s  %-24s %s\n", "JOB", "STATE", "END",
		       "PAGES", "BATCHES", "PEAK MB", "NAME", "WHY");
		for (size_t k = 0; k < jobs->u.array.len; k++) {
			yajl_val j = jobs->u.array.values[k];
			const char *why = jobs_why(j);
			printf("%6" PRIu64 "  %-11s %-17s %6" PRIu64 " %8" PRIu64 " %9.1f  %-24.24s %s\n",
			       ctl_juint(j, "id"), ctl_jstr(j, "state"), ctl_jstr(j, "end_reason"),
			       ctl_juint(j, "pages"), ctl_juint(j, "batches"),
			       ctl_jdouble(j, "peak_cgroup_mb"), ctl_jtext(j, "name"),
			       why ? ctl_text(why) : "-");
		}
	}
	yajl_tree_free(v);
	return r;
}

/* ---- cancel ---------------------------------------------------------------- */

int jobs_cancel_main(int argc, char **argv)
{
	int i = ctl_simple_opts(argc, argv,
		"Usage: memsafectl cancel JOB... [--json]\n"
		"Stop queued or running jobs; they end as cancelled (a running worker is\n"
		"killed and its cgroup removed; what was flushed stays flushed).\n"
		"  --json   one JOB: the daemon's reply {\"id\": JOB, \"job\": {...}};\n"
		"           several: {\"ok\": BOOL, \"jobs\": [reply...]}\n");
	_cleanup_json_gen_ yajl_gen g = NULL;
	bool many = argc - i > 1, all_ok = true;
	int r = CTL_EXIT_OK;

	if (i >= argc)
		ctl_die_usage("cancel", "name at least one JOB (see `memsafectl list`)");
	for (int k = i; k < argc; k++)
		ctl_parse_job_id("cancel", argv[k]);   /* all valid before acting */
	if (ctl_json && many) {
		g = ctl_gen_new();
		yajl_gen_map_open(g);
		json_key(g, "jobs");
		yajl_gen_array_open(g);
	}
	for (; i < argc; i++) {
		uint64_t id = ctl_parse_job_id("cancel", argv[i]);
		char req[128], what[64];
		yajl_val v;

		ctl_simple_request(req, sizeof req, "cancel", id);
		v = ctl_call(req, -1);
		snprintf(what, sizeof what, "cancel %" PRIu64, id);
		if (!ctl_reply_ok(v)) {
			all_ok = false;
			r = CTL_EXIT_REFUSED;
			if (g) {
				yajl_gen_map_open(g);
				json_kuint(g, "id", id);
				ctl_gen_members(g, v, NULL);
				yajl_gen_map_close(g);
				ctl_errorf("%s: %s (%s)", what,
					   ctl_jstr(json_get(v, "error"), "message"), ctl_error_code(v));
			} else {
				ctl_print_error(v, what);
			}
		} else if (g) {
			ctl_gen_value(g, v);
		} else if (ctl_json) {
			ctl_print_json(v);
		} else {
			printf("job %" PRIu64 " cancelled\n", id);
		}
		yajl_tree_free(v);
	}
	if (g) {
		yajl_gen_array_close(g);
		json_kbool(g, "ok", all_ok);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	}
	return r;
}

/* ---- waiting --------------------------------------------------------------- */

static void progress_line(yajl_val job)
{
	uint64_t pages = ctl_juint(job, "pages"), page = ctl_juint(job, "page");
	double cap = mib(ctl_juint(job, "memory_max"));
	double high = cap > 0 ? mib(ctl_juint(job, "memory_high")) / cap : 0;
	bool running = !strcmp(ctl_jstr(job, "state"), "running");
	bool pressure = !strcmp(ctl_jstr(job, "kind"), "pressure");
	double mem = running ? ctl_jdouble(job, "cgroup_mb") : ctl_jdouble(job, "peak_cgroup_mb");
	double frac = pressure ? (cap > 0 ? mem / cap : 0) :
		      pages ? (double)page / (double)pages : 0;
	char bar[256], prog[64], name[32];

	if (ctl_job_ended(job) && !strcmp(ctl_jstr(job, "state"), "done") && !pressure)
		frac = 1;
	term_bar(bar, sizeof bar, frac, -1, 20);
	snprintf(name, sizeof name, "%.20s", ctl_jtext(job, "name"));
	if (pressure)
		snprintf(prog, sizeof prog, "%s", "pressure");
	else if (pages)
		snprintf(prog, sizeof prog, "%" PRIu64 "/%" PRIu64 " pages", page, pages);
	else
		snprintf(prog, sizeof prog, "page %" PRIu64, page);
	term_block_line("job %-4" PRIu64 " %-20s %s %-13s %3" PRIu64 " flushed  %s%s %6.1f/%.0f MB%s"
			"  %s%s%s",
			ctl_juint(job, "id"), name, bar, prog, ctl_juint(job, "batches_flushed"),
			term_level_color(cap > 0 ? mem / cap : 0, high),
			running ? "cgroup" : "peak  ", mem, cap, term_reset(),
			ctl_jstr(job, "state"),
			ctl_jhas_str(job, "end_reason") ? " " : "",
			ctl_jhas_str(job, "end_reason") ? ctl_jstr(job, "end_reason") : "");
}

void jobs_print_end(yajl_val job)
{
	jobs_print_line(job);
	printf("  artifacts: %s\n", ctl_jtext(job, "dir"));
	fflush(stdout);
}

int jobs_wait(const uint64_t *ids, size_t n, const struct jobs_wait *w, yajl_val *replies)
{
	uint64_t ms = w->interval_ms ? w->interval_ms : 200;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	size_t left = n;
	bool *ended = calloc(n ? n : 1, sizeof *ended);
	int r = CTL_EXIT_OK;

	for (size_t i = 0; i < n; i++)
		replies[i] = NULL;   /* before any return: callers free them */
	if (!ended)
		return CTL_EXIT_LOCAL;
	if (w->progress)
		term_hide_cursor();
	while (left > 0) {
		for (size_t i = 0; i < n; i++) {
			yajl_val v;

			if (ended[i])
				continue;
			v = jobs_status(ids[i]);
			if (replies[i])
				yajl_tree_free(replies[i]);
			replies[i] = v;
			if (!ctl_reply_ok(v)) {
				ended[i] = true;
				left--;
				continue;
			}
			if (ctl_job_ended(json_get(v, "job"))) {
				ended[i] = true;
				left--;
				if (w->print_ends && !w->progress)
					jobs_print_end(json_get(v, "job"));
			}
		}
		if (w->tick)
			w->tick(w->arg);
		if (w->progress) {
			term_block_begin();
			for (size_t i = 0; i < n; i++)
				if (ctl_reply_ok(replies[i]))
					progress_line(json_get(replies[i], "job"));
			term_block_end();
		}
		if (term_interrupted()) {
			r = 130;
			break;
		}
		if (left > 0)
			nanosleep(&ts, NULL);
	}
	if (w->progress && w->print_ends) {
		/* The block has shown the progress; leave the full lines. */
		term_block_begin();
		term_block_end();
		for (size_t i = 0; i < n; i++)
			if (ctl_reply_ok(replies[i]))
				jobs_print_end(json_get(replies[i], "job"));
	}
	for (size_t i = 0; i < n && r == CTL_EXIT_OK; i++) {
		if (!ctl_reply_ok(replies[i]))
			r = CTL_EXIT_REFUSED;
	}
	for (size_t i = 0; i < n && r == CTL_EXIT_OK; i++) {
		if (strcmp(ctl_jstr(json_get(replies[i], "job"), "state"), "done") != 0)
			r = CTL_EXIT_FAILED;
	}
	free(ended);
	return r;
}
