/* memsafectl watch: live progress of a job. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "artifact.h"
#include "ctl.h"
#include "jobs.h"
#include "json.h"
#include "protocol.h"
#include "term.h"
#include "watch.h"

#define WATCH_MAX_SAMPLES 200

struct watch {
	uint64_t id;
	bool tty;
	size_t keep, n, head;               /* ring of the last samples */
	double cg[WATCH_MAX_SAMPLES];
	uint64_t events_seen;               /* memory events already printed */
	uint64_t summary_events;            /* of those, read from summary.json */
	uint64_t start_ms;
	bool quiet;                         /* --json: print nothing until the end */
	struct poll *polls;                 /* --json: the job at each update */
	size_t npolls, cap_polls;
};

struct poll {
	uint64_t t_ms, page, flushed;
	double rss_mb, cgroup_mb, psi;
	char state[16];
};

static double mib(uint64_t b) { return (double)b / 1048576.0; }

static void event_line(struct watch *w, const char *fmt, ...) _printf_(2, 3);
static void event_line(struct watch *w, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (w->quiet)
		return;
	if (w->tty)
		term_block_above("%s", line);
	else
		printf("%s\n", line);
}

/* Print the memory events that happened before we watched. Their
 * details (time, page, batch) come from summary.json, which memsafed
 * rewrites as the job progresses; the count from status is the truth. */
static void new_events(struct watch *w, yajl_val job, double elapsed)
{
	uint64_t n = ctl_juint(job, "events");
	char path[PATH_MAX], err[256];
	_cleanup_json_ yajl_val sum = NULL;
	yajl_val ev;

	if (n <= w->events_seen)
		return;
	snprintf(path, sizeof path, "%s/summary.json", ctl_jstr(job, "dir"));
	if (ctl_load_json(path, &sum, err, sizeof err) == 0 &&
	    YAJL_IS_ARRAY(ev = json_get(sum, "events"))) {
		for (size_t i = w->summary_events; i < ev->u.array.len && i < n; i++) {
			yajl_val e = ev->u.array.values[i];
			uint64_t at = 0;
			double rel = parse_iso8601(ctl_jstr(e, "at"), &at) == 0 && w->start_ms ?
				     ((double)at - (double)w->start_ms) / 1000.0 : 0;
			event_line(w, "event +%.2fs %s (count %" PRIu64 ") on page %" PRIu64
				   ", batch %" PRIu64, rel, ctl_jtext(e, "event"),
				   ctl_juint(e, "count"), ctl_juint(e, "page"), ctl_juint(e, "batch_id"));
			w->summary_events = i + 1;
		}
	}
	if (w->summary_events < n) {
		/* Not in summary.json yet: say what status knows. */
		event_line(w, "event +%.2fs %s on page %" PRIu64 " (%" PRIu64 " memory events so far)",
			   elapsed, ctl_jtext(job, "last_event"), ctl_juint(job, "page"), n);
		w->summary_events = n;
	}
	w->events_seen = n;
}

/* The job's GPU memory now, from memory_log.csv (memsafed writes it
 * each sample, flushed at least once a second): total, host-backed and
 * device MB; false when the job holds none or the log has no GPU columns. */
static bool gpu_now(yajl_val job, double *v)
{
	static const char *const cols[] = { "gpu_mb", "gpu_host_mb", "gpu_dev_mb" };

	if (!ctl_jhas_str(job, "dir") ||
	    artifact_memlog_last(ctl_jstr(job, "dir"), cols, v, ARRAY_SIZE(cols)) < 0)
		return false;
	return !isnan(v[0]) && v[0] > 0;
}

static void draw_block(struct watch *w, yajl_val job, double elapsed)
{
	double cap = mib(ctl_juint(job, "memory_max")), high = mib(ctl_juint(job, "memory_high"));
	bool running = !strcmp(ctl_jstr(job, "state"), "running");
	double rss = running ? ctl_jdouble(job, "rss_mb") : ctl_jdouble(job, "peak_rss_mb");
	double cg = running ? ctl_jdouble(job, "cgroup_mb") : ctl_jdouble(job, "peak_cgroup_mb");
	double hf = cap > 0 ? high / cap : -1, psi = ctl_jdouble(job, "psi_some_avg10");
	double ring[WATCH_MAX_SAMPLES], gv[3];
	char bar[512], spark[1024], prog[96];
	const char *why = jobs_why(job);

	for (size_t i = 0; i < w->n; i++)
		ring[i] = w->cg[(w->head + w->keep - w->n + i) % w->keep];
	if (ctl_juint(job, "pages"))
		snprintf(prog, sizeof prog, "page %" PRIu64 " of %" PRIu64, ctl_juint(job, "page"),
			 ctl_juint(job, "pages"));
	else
		snprintf(prog, sizeof prog, "page %" PRIu64, ctl_juint(job, "page"));
	term_block_begin();
	new_events(w, job, elapsed);
	term_block_line("job %" PRIu64 " %s: %s%s%s, %s, %" PRIu64 " batches (%" PRIu64
			" flushed, %" PRIu64 " failed), %.1fs", w->id, ctl_jtext(job, "name"),
			ctl_jstr(job, "state"), ctl_jhas_str(job, "end_reason") ? " " : "",
			ctl_jhas_str(job, "end_reason") ? ctl_jstr(job, "end_reason") : "", prog,
			ctl_juint(job, "batches"), ctl_juint(job, "batches_flushed"),
			ctl_juint(job, "batches_failed"), elapsed);
	term_bar(bar, sizeof bar, cap > 0 ? rss / cap : 0, -1, 30);
	term_block_line("%s  %s%s%s %7.1f MB of %.0f MB %3.0f%%", running ? "RSS   " : "RSS pk",
			term_level_color(cap > 0 ? rss / cap : 0, hf), bar, term_reset(), rss, cap,
			cap > 0 ? 100 * rss / cap : 0);
	term_bar(bar, sizeof bar, cap > 0 ? cg / cap : 0, hf, 30);
	term_block_line("%s  %s%s%s %7.1f MB of %.0f MB %3.0f%%  (| memory.high %.0f MB)",
			running ? "cgroup" : "cg pk ",
			term_level_color(cap > 0 ? cg / cap : 0, hf), bar, term_reset(), cg, cap,
			cap > 0 ? 100 * cg / cap : 0, high);
	term_sparkline(spark, sizeof spark, ring, w->n, cap);
	term_block_line("recent  %s  cgroup memory, last %zu samples, against memory.max", spark, w->n);
	if (psi >= 0)
		term_block_line("PSI     job memory some avg10 %.2f%%; %" PRIu64 " memory events%s%s%s;"
				" %" PRIu64 " OOM kills", psi, ctl_juint(job, "events"),
				ctl_jhas_str(job, "last_event") ? " (last " : "",
				ctl_jhas_str(job, "last_event") ? ctl_jtext(job, "last_event") : "",
				ctl_jhas_str(job, "last_event") ? ")" : "", ctl_juint(job, "oom_kills"));
	else
		term_block_line("PSI     none per job on this host (cgroup v1); %" PRIu64
				" memory events; %" PRIu64 " OOM kills", ctl_juint(job, "events"),
				ctl_juint(job, "oom_kills"));
	if (running && gpu_now(job, gv))
		term_block_line("GPU     %.1f MB (%.1f host-backed, %.1f device); cgroup + GTT %.1f "
				"of %.0f MB", gv[0], gv[1], gv[2], cg + gv[1], cap);
	if (why)
		term_block_line("why     %s", ctl_text(why));
	term_block_end();
}

static void plain_line(struct watch *w, yajl_val job, double elapsed)
{
	double cap = mib(ctl_juint(job, "memory_max"));
	double cg = ctl_jdouble(job, "cgroup_mb"), psi = ctl_jdouble(job, "psi_some_avg10");
	double gv[3];

	new_events(w, job, elapsed);
	if (w->quiet)
		return;
	printf("%.1fs %s page %" PRIu64 "/%" PRIu64 " batches %" PRIu64 "/%" PRIu64
	       " rss %.1f MB cgroup %.1f/%.0f MB (%.0f%%) psi %s%.2f events %" PRIu64 "\n",
	       elapsed, ctl_jstr(job, "state"), ctl_juint(job, "page"), ctl_juint(job, "pages"),
	       ctl_juint(job, "batches_flushed"), ctl_juint(job, "batches"),
	       ctl_jdouble(job, "rss_mb"), cg, cap, cap > 0 ? 100 * cg / cap : 0,
	       psi < 0 ? "n/a " : "", psi < 0 ? 0.0 : psi, ctl_juint(job, "events"));
	if (!strcmp(ctl_jstr(job, "state"), "running") && gpu_now(job, gv))
		printf("%.1fs gpu %.1f MB (%.1f host-backed, %.1f device)\n", elapsed, gv[0],
		       gv[1], gv[2]);
	fflush(stdout);
}

int watch_main(int argc, char **argv)
{
	enum { O_INTERVAL = 256, O_SAMPLES };
	static const struct option lo[] = {
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "samples", required_argument, NULL, O_SAMPLES },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct watch w = { .keep = 40 };
	uint64_t interval = 200;
	yajl_val v = NULL, job = NULL;
	int c, r = CTL_EXIT_OK;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_INTERVAL: interval = ctl_opt_duration("watch", "--interval", optarg); break;
		case O_SAMPLES:
			w.keep = ctl_opt_num("watch", "--samples", optarg, false);
			if (w.keep < 5 || w.keep > WATCH_MAX_SAMPLES)
				ctl_die_usage("watch", "--samples takes 5 to %d", WATCH_MAX_SAMPLES);
			break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl watch JOB [--interval DUR] [--samples N] [--json]\n"
			       "Follow a job until it ends, from the events memsafed pushes (no polling).\n"
			       "On a terminal the view refreshes in place: progress, RSS and cgroup\n"
			       "memory against the cap as bars, a sparkline of the last N samples, memory\n"
			       "PSI, and memory events as they happen. Without a terminal, one line per\n"
			       "update (and one per memory event).\n"
			       "  --interval DUR  at most one line or redraw this often, but for a change\n"
			       "                  of state and the end (default 200ms)\n"
			       "  --samples N     samples the sparkline keeps (default 40, 5 to %d)\n"
			       "  --json          at the end, one document: {\"id\", \"job\", \"polls\":\n"
			       "                  [{\"t_ms\", \"state\", \"page\", \"rss_mb\", \"cgroup_mb\",\n"
			       "                  \"psi_some_avg10\", \"batches_flushed\"}], \"events\": [...]}\n"
			       "Exit: 0 the job ended done, 1 it ended otherwise, 3/4 as for every\n"
			       "command, 130 interrupted.\n", WATCH_MAX_SAMPLES);
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	if (optind != argc - 1)
		ctl_die_usage("watch", "name one JOB");
	w.id = ctl_parse_job_id("watch", argv[optind]);
	w.tty = !ctl_json && term_interactive();
	w.quiet = ctl_json;
	if (w.tty)
		term_hide_cursor();
	{
		yajl_val refused = NULL;
		struct jobs_follow *f = jobs_follow_new(&w.id, 1, &refused);
		uint64_t t0 = now_mono_ms(), drawn = 0;
		bool first = true;

		if (refused) {
			char what[64];
			snprintf(what, sizeof what, "watch %" PRIu64, w.id);
			r = ctl_print_error(refused, what);
			yajl_tree_free(refused);
			jobs_follow_free(f);
			free(w.polls);
			return r;
		}
		for (;;) {
			yajl_val u = jobs_follow_next(f, 1000);
			const char *kind;
			bool ends;
			double elapsed;

			if (term_interrupted()) {
				if (u)
					yajl_tree_free(u);
				r = 130;
				break;
			}
			if (!u)
				continue;
			if (ctl_juint(u, "id") != w.id) {
				yajl_tree_free(u);
				continue;
			}
			kind = jobs_follow_kind(u);
			ends = jobs_update_ends(u);
			if (v)
				yajl_tree_free(v);
			v = u;
			job = json_get(v, "job");
			w.start_ms = ctl_juint(job, "started_ms");
			elapsed = w.start_ms ? ((double)(ctl_juint(job, "ended_ms") ?
					ctl_juint(job, "ended_ms") : now_real_ms()) -
					(double)w.start_ms) / 1000.0 : 0;
			if (!strcmp(kind, EVENT_MEMORY)) {
				uint64_t at = ctl_juint(v, "t_ms");
				event_line(&w, "event +%.2fs %s (count %" PRIu64 ") on page %" PRIu64
					   ", batch %" PRIu64, w.start_ms && at > w.start_ms ?
					   (double)(at - w.start_ms) / 1000.0 : 0, ctl_jstr(v, "name"),
					   ctl_juint(v, "count"), ctl_juint(v, "page"),
					   ctl_juint(v, "batch_id"));
				w.events_seen = w.summary_events = ctl_juint(job, "events");
			}
			if (first) {
				/* Those before we watched: from summary.json. */
				first = false;
				new_events(&w, job, elapsed);
			}
			if (!strcmp(kind, EVENT_SAMPLE)) {
				w.cg[w.head] = ctl_jdouble(v, "cgroup_mb");
				w.head = (w.head + 1) % w.keep;
				w.n = MIN(w.n + 1, w.keep);
			}
			if (ctl_json && w.npolls < 1000000 &&
			    (!strcmp(kind, EVENT_SAMPLE) || !strcmp(kind, EVENT_STATE) || ends)) {
				if (w.npolls == w.cap_polls) {
					size_t nc = w.cap_polls ? w.cap_polls * 2 : 256;
					struct poll *np = realloc(w.polls, nc * sizeof *np);
					if (!np) {
						ctl_errorf("watch: out of memory");
						return CTL_EXIT_LOCAL;
					}
					w.polls = np;
					w.cap_polls = nc;
				}
				struct poll *p = &w.polls[w.npolls++];
				*p = (struct poll){
					.t_ms = now_mono_ms() - t0, .page = ctl_juint(job, "page"),
					.flushed = ctl_juint(job, "batches_flushed"),
					.rss_mb = ctl_jdouble(job, "rss_mb"),
					.cgroup_mb = ctl_jdouble(job, "cgroup_mb"),
					.psi = ctl_jdouble(job, "psi_some_avg10"),
				};
				snprintf(p->state, sizeof p->state, "%s", ctl_jstr(job, "state"));
			}
			/* A line (or a redraw) at most every --interval, but
			 * for a change of state and the end. */
			if (ends || !strcmp(kind, EVENT_STATE) || !strcmp(kind, "status") ||
			    now_mono_ms() - drawn >= interval) {
				drawn = now_mono_ms();
				if (w.tty)
					draw_block(&w, job, elapsed);
				else
					plain_line(&w, job, elapsed);
			}
			if (ends)
				break;
		}
		jobs_follow_free(f);
	}
	if (r != 130)
		r = strcmp(ctl_jstr(job, "state"), "done") ? CTL_EXIT_FAILED : CTL_EXIT_OK;
	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();
		_cleanup_json_ yajl_val sum = NULL;
		char path[PATH_MAX], err[256];
		yajl_val ev;

		yajl_gen_map_open(g);
		json_kuint(g, "id", w.id);
		json_key(g, "job");
		ctl_gen_value(g, job);
		json_key(g, "polls");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < w.npolls; i++) {
			yajl_gen_map_open(g);
			json_kuint(g, "t_ms", w.polls[i].t_ms);
			json_kstr(g, "state", w.polls[i].state);
			json_kuint(g, "page", w.polls[i].page);
			json_kdouble(g, "rss_mb", w.polls[i].rss_mb);
			json_kdouble(g, "cgroup_mb", w.polls[i].cgroup_mb);
			json_kdouble(g, "psi_some_avg10", w.polls[i].psi);
			json_kuint(g, "batches_flushed", w.polls[i].flushed);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		/* The final summary.json holds every event with its details. */
		snprintf(path, sizeof path, "%s/summary.json", ctl_jstr(job, "dir"));
		json_key(g, "events");
		if (ctl_load_json(path, &sum, err, sizeof err) == 0 &&
		    YAJL_IS_ARRAY(ev = json_get(sum, "events")))
			ctl_gen_value(g, ev);
		else
			yajl_gen_null(g);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	} else {
		jobs_print_end(job);
	}
	free(w.polls);
	yajl_tree_free(v);
	return r;
}
