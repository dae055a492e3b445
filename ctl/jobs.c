/* memsafectl status, list, cancel, and waiting for a job to end. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "ctl.h"
#include "jobs.h"
#include "json.h"
#include "protocol.h"
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

/* ---- following ------------------------------------------------------------ */

struct jobs_follow {
	struct client *c;
	uint64_t ids[PROTOCOL_WATCH_MAX];   /* the jobs watched */
	size_t n;
	yajl_val *stash;                    /* events read while subscribing */
	size_t n_stash, stash_pos, cap_stash;
	size_t resync;                      /* after "lagged": statuses still to give */
};

_Noreturn static void follow_lost(const char *err)
{
	ctl_errorf("%s", err);
	exit(CTL_EXIT_UNREACHABLE);
}

const char *jobs_follow_kind(yajl_val u)
{
	return json_get(u, "event") ? ctl_jstr(u, "event") : "status";
}

struct jobs_follow *jobs_follow_new(const uint64_t *ids, size_t n, yajl_val *refused)
{
	struct jobs_follow *f = calloc(1, sizeof *f);
	char err[512];

	if (!f) {
		ctl_errorf("out of memory");
		exit(CTL_EXIT_LOCAL);
	}
	if (client_connect(ctl_socket, &f->c, err, sizeof err) < 0)
		follow_lost(err);
	for (size_t i = 0; i < n; i++) {
		char req[128];

		refused[i] = NULL;
		snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"watch\",\"id\":%" PRIu64 "}",
			 PROTOCOL_VERSION, ids[i]);
		if (client_send(f->c, req, err, sizeof err) < 0)
			follow_lost(err);
		for (;;) {   /* events of the jobs before may come first */
			yajl_val v = NULL;
			int r = client_recv(f->c, (int)MIN(ctl_reply_timeout_ms, INT_MAX), &v,
					    err, sizeof err);
			if (r == -ETIMEDOUT)
				follow_lost("memsafed did not answer the watch request in time");
			if (r == -EINTR)
				continue;
			if (r < 0)
				follow_lost(err);
			if (json_get(v, "event")) {
				if (f->n_stash == f->cap_stash) {
					size_t nc = f->cap_stash ? 2 * f->cap_stash : 16;
					yajl_val *p = realloc(f->stash, nc * sizeof *p);
					if (!p) {
						ctl_errorf("out of memory");
						exit(CTL_EXIT_LOCAL);
					}
					f->stash = p;
					f->cap_stash = nc;
				}
				f->stash[f->n_stash++] = v;
				continue;
			}
			if (ctl_reply_ok(v)) {
				yajl_tree_free(v);
				if (f->n < PROTOCOL_WATCH_MAX)
					f->ids[f->n++] = ids[i];
			} else {
				refused[i] = v;
			}
			break;
		}
	}
	return f;
}

yajl_val jobs_follow_next(struct jobs_follow *f, int timeout_ms)
{
	char err[512];
	yajl_val v = NULL;
	int r;

	while (f->resync > 0) {
		v = jobs_status(f->ids[f->n - f->resync--]);
		if (ctl_reply_ok(v))
			return v;
		yajl_tree_free(v);
	}
	if (f->stash_pos < f->n_stash) {
		v = f->stash[f->stash_pos++];
	} else {
		r = client_recv(f->c, timeout_ms, &v, err, sizeof err);
		if (r == -ETIMEDOUT || r == -EINTR)
			return NULL;
		if (r < 0)
			follow_lost(err);
	}
	if (!strcmp(jobs_follow_kind(v), EVENT_LAGGED)) {
		/* Events were lost: what each job is now, from status. */
		yajl_tree_free(v);
		f->resync = f->n;
		return jobs_follow_next(f, 0);
	}
	return v;
}

void jobs_follow_free(struct jobs_follow *f)
{
	if (!f)
		return;
	client_close(f->c);
	for (size_t i = f->stash_pos; i < f->n_stash; i++)
		yajl_tree_free(f->stash[i]);
	free(f->stash);
	free(f);
}

/* An update as a status reply: {"v", "ok": true, "id", "job"}. */
static yajl_val as_reply(yajl_val u)
{
	_cleanup_json_gen_ yajl_gen g = NULL;
	const unsigned char *buf;
	size_t len;
	yajl_val v = NULL;
	char err[128];

	if (!strcmp(jobs_follow_kind(u), "status"))
		return u;
	g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_kint(g, "v", PROTOCOL_VERSION);
	json_kbool(g, "ok", true);
	json_kuint(g, "id", ctl_juint(u, "id"));
	json_key(g, "job");
	ctl_gen_value(g, json_get(u, "job"));
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &buf, &len);
	if (json_parse((const char *)buf, len, &v, err, sizeof err) < 0) {
		ctl_errorf("out of memory");
		exit(CTL_EXIT_LOCAL);
	}
	yajl_tree_free(u);
	return v;
}

bool jobs_update_ends(yajl_val u)
{
	return !strcmp(jobs_follow_kind(u), EVENT_END) ||
	       (!strcmp(jobs_follow_kind(u), "status") && ctl_job_ended(json_get(u, "job")));
}

int jobs_wait(const uint64_t *ids, size_t n, const struct jobs_wait *w, yajl_val *replies)
{
	uint64_t ms = w->interval_ms ? w->interval_ms : 200, next_tick;
	struct jobs_follow *f;
	size_t left = n;
	bool *ended = calloc(n ? n : 1, sizeof *ended);
	int r = CTL_EXIT_OK;

	for (size_t i = 0; i < n; i++)
		replies[i] = NULL;   /* before any return: callers free them */
	if (!ended)
		return CTL_EXIT_LOCAL;
	f = jobs_follow_new(ids, n, replies);
	for (size_t i = 0; i < n; i++)
		if (replies[i]) {   /* refused */
			ended[i] = true;
			left--;
		}
	if (w->progress)
		term_hide_cursor();
	next_tick = now_mono_ms() + ms;
	while (left > 0) {
		/* Without a tick or a progress line, a wake-up each second
		 * only to notice an interrupt. */
		uint64_t now = now_mono_ms();
		int timeout = w->tick || w->progress ? (int)(next_tick > now ? next_tick - now : 0)
						     : 1000;
		yajl_val u = jobs_follow_next(f, timeout);
		size_t i;

		for (i = 0; u && i < n; i++) {
			if (ids[i] != ctl_juint(u, "id") || ended[i])
				continue;
			bool ends = jobs_update_ends(u);
			if (replies[i])
				yajl_tree_free(replies[i]);
			replies[i] = as_reply(u);
			u = NULL;
			if (ends) {
				ended[i] = true;
				left--;
				if (w->print_ends && !w->progress)
					jobs_print_end(json_get(replies[i], "job"));
			}
		}
		if (u)
			yajl_tree_free(u);
		if (now_mono_ms() >= next_tick) {
			if (w->tick)
				w->tick(w->arg);
			next_tick = now_mono_ms() + ms;
		}
		if (w->progress) {
			term_block_begin();
			for (i = 0; i < n; i++)
				if (ctl_reply_ok(replies[i]))
					progress_line(json_get(replies[i], "job"));
			term_block_end();
		}
		if (term_interrupted()) {
			r = 130;
			break;
		}
	}
	jobs_follow_free(f);
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
