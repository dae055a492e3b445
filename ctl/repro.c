/* memsafectl repro: one-command reproduction of a document under a cap. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "artifact.h"
#include "ctl.h"
#include "jobs.h"
#include "json.h"
#include "repro.h"
#include "size.h"
#include "submit.h"
#include "term.h"

#define REPRO_DEFAULT_CAP (6ULL << 30)
#define REPRO_MAX_OOM_LINES 8

struct interpretation {
	double peak_cg, peak_rss, cap, high, ratio;
	uint64_t batches, flushed, failed, retries, culprit;
	bool has_culprit;
	uint64_t ev_high, ev_max, ev_oom, ev_oom_kill, ev_group;
	char *oom_lines[REPRO_MAX_OOM_LINES];
	int n_oom_lines;    /* < 0: dmesg_excerpt.txt unreadable */
	char verdict[1024];
};

static void interpret(yajl_val sum, const char *dir, struct interpretation *in)
{
	yajl_val ev = json_get(sum, "cgroup_events"), b = json_get(sum, "batches");
	const char *status = ctl_jstr(sum, "status"), *end = ctl_jstr(sum, "end_reason");
	char capstr[32];
	size_t n = 0;

	in->peak_cg = ctl_jdouble(sum, "peak_cgroup_mb");
	in->peak_rss = ctl_jdouble(sum, "peak_rss_mb");
	in->cap = ctl_jdouble(sum, "memory_max_mb");
	in->high = ctl_jdouble(sum, "memory_high_mb");
	in->ratio = in->cap > 0 ? in->peak_cg / in->cap : 0;
	in->batches = ctl_juint(b, "total");
	in->flushed = ctl_juint(b, "flushed");
	in->failed = ctl_juint(b, "failed");
	in->retries = ctl_juint(sum, "retries");
	in->has_culprit = json_get(sum, "culprit_page") && YAJL_IS_NUMBER(json_get(sum, "culprit_page"));
	in->culprit = ctl_juint(sum, "culprit_page");
	in->ev_high = ctl_juint(ev, "high");
	in->ev_max = ctl_juint(ev, "max");
	in->ev_oom = ctl_juint(ev, "oom");
	in->ev_oom_kill = ctl_juint(ev, "oom_kill");
	in->ev_group = ctl_juint(ev, "oom_group_kill");
	in->n_oom_lines = artifact_oom_lines(dir, in->oom_lines, REPRO_MAX_OOM_LINES);
	format_size((uint64_t)(in->cap * 2) << 20, capstr, sizeof capstr);

#define SAY(...) (n += (size_t)snprintf(in->verdict + n, n < sizeof in->verdict ? \
					sizeof in->verdict - n : 0, __VA_ARGS__))
	if (!strcmp(status, "oom_killed")) {
		SAY("The document needs more than the %.0f MB cap: the kernel OOM-killed the worker",
		    in->cap);
		if (ctl_juint(sum, "last_page"))
			SAY(" on page %" PRIu64, ctl_juint(sum, "last_page"));
		SAY(". Try a larger cap (memsafectl repro FILE %s) or a smaller --batch-size.",
		    capstr);
	} else if (!strcmp(status, "done") && in->has_culprit) {
		SAY("Done, but page %" PRIu64 " cannot be processed within %.0f MB: it was being "
		    "processed at two OOM kills and was skipped. Re-run with a larger cap to include "
		    "it, or attach these artifacts to a bug report naming page %" PRIu64 ".",
		    in->culprit, in->cap, in->culprit);
	} else if (!strcmp(status, "done") && in->retries) {
		SAY("Done after %" PRIu64 " OOM retr%s with a halved batch size: %.0f MB is tight "
		    "for this document.", in->retries, in->retries == 1 ? "y" : "ies", in->cap);
	} else if (!strcmp(status, "done") && in->ratio >= 0.95) {
		SAY("Done, but the peak reached %.0f%% of the cap: almost no headroom "
		    "(`memsafectl check` fails above 95%%).", 100 * in->ratio);
	} else if (!strcmp(status, "done") && in->high > 0 && in->peak_cg >= in->high) {
		SAY("Done; the peak crossed memory.high (%.0f MB), so the kernel reclaimed and "
		    "throttled the worker to keep it under the cap.", in->high);
	} else if (!strcmp(status, "done")) {
		SAY("Done with %.0f%% of the cap at the peak: the document fits in %.0f MB.",
		    100 * in->ratio, in->cap);
	} else {
		SAY("The job ended %s (%s)%s%s", status, end,
		    ctl_jhas_str(sum, "message") ? ": " : ".",
		    ctl_jhas_str(sum, "message") ? ctl_jtext(sum, "message") : "");
	}
	if (in->failed)
		SAY(" %" PRIu64 " batch%s failed to flush (ingest_manifest.json says why).", in->failed,
		    in->failed == 1 ? "" : "es");
#undef SAY
}

static void print_interpretation(const char *file, uint64_t id, yajl_val sum,
				 const struct interpretation *in)
{
	printf("\nReproduction of %s (job %" PRIu64 ") under a %.0f MB cap: %s (%s)\n", file, id,
	       in->cap, ctl_jstr(sum, "status"), ctl_jstr(sum, "end_reason"));
	printf("  peak memory:   cgroup %.1f MB = %.1f%% of the cap; worker RSS %.1f MB; "
	       "memory.high %.0f MB\n", in->peak_cg, 100 * in->ratio, in->peak_rss, in->high);
	printf("  batches:       %" PRIu64 " total, %" PRIu64 " flushed, %" PRIu64 " failed; "
	       "%" PRIu64 " OOM retries\n", in->batches, in->flushed, in->failed, in->retries);
	printf("  cgroup events: high %" PRIu64 ", max %" PRIu64 ", oom %" PRIu64 ", oom_kill %"
	       PRIu64 ", oom_group_kill %" PRIu64 "\n", in->ev_high, in->ev_max, in->ev_oom,
	       in->ev_oom_kill, in->ev_group);
	if (in->n_oom_lines < 0)
		printf("  OOM lines:     dmesg_excerpt.txt is missing\n");
	else if (in->n_oom_lines == 0)
		printf("  OOM lines:     none in dmesg_excerpt.txt\n");
	else
		for (int i = 0; i < in->n_oom_lines; i++) {
			/* Kernel lines are long; the whole ones are in the copy. */
			const char *l = in->oom_lines[i] ? in->oom_lines[i] : "?";
			size_t len = strlen(l);
			if (len > 150)
				printf("  %s %.60s ... %s\n", i ? "              " : "OOM lines:    ", l,
				       l + len - 80);
			else
				printf("  %s %s\n", i ? "              " : "OOM lines:    ", l);
		}
	if (in->has_culprit)
		printf("  culprit page:  %" PRIu64 "\n", in->culprit);
	else
		printf("  culprit page:  none\n");
	printf("  verdict:       %s\n", in->verdict);
}

int repro_main(int argc, char **argv)
{
	enum { O_OUTPUT = SUBMIT_O_NEXT };
	static const struct option lo[] = {
		SUBMIT_JOB_OPTIONS,
		{ "output-dir", required_argument, NULL, O_OUTPUT },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct submit_opts o = {0};
	const char *file, *outdir = NULL;
	_cleanup_free_ char *defdir = NULL;
	_cleanup_json_ yajl_val sum = NULL;
	yajl_val v, reply = NULL, job;
	struct interpretation in = {0};
	char *names[64] = {0};
	char path[PATH_MAX], err[512], capstr[32];
	uint64_t id;
	int c, r, ncopied;

	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		if (c != SUBMIT_O_MEM && submit_job_option("repro", c, &o))
			continue;
		switch (c) {
		case SUBMIT_O_MEM:
			ctl_die_usage("repro", "give the cap as the second argument: repro FILE CAP");
		case O_OUTPUT: case 'o': outdir = optarg; break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl repro FILE [CAP] [--output-dir DIR] [--batch-size N]\n"
			       "         [--max-bytes SIZE] [--max-wait-ms N] [--sink NAME] [--kb NAME]\n"
			       "         [--timeout DUR] [--json]\n"
			       "Reproduce how FILE behaves under a memory cap: submit it with CAP\n"
			       "(default 6G), wait for the end, copy every artifact into DIR (default\n"
			       "./memsafe-logs/JOB) and explain what happened: peak against the cap,\n"
			       "failed batches, cgroup events, the kernel's OOM lines, the culprit page.\n"
			       "  -o, --output-dir DIR  where the artifacts go\n"
			       "  --json                {\"id\", \"job\", \"output_dir\", \"files\",\n"
			       "                        \"interpretation\": {...}}\n"
			       "The job options are submit's. Exit: 0 the job ended done, 1 it did not\n"
			       "(the artifacts are copied either way), 3/4 as for every command, 5 the\n"
			       "artifacts could not be copied.\n");
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	if (optind >= argc || argc - optind > 2)
		ctl_die_usage("repro", "name one FILE and optionally a CAP such as 2G");
	file = argv[optind];
	o.memory_max = optind + 1 < argc ? ctl_opt_size("repro", "CAP", argv[optind + 1]) :
		       REPRO_DEFAULT_CAP;
	format_size(o.memory_max, capstr, sizeof capstr);

	v = submit_file(file, &o);
	if (!v)
		return CTL_EXIT_LOCAL;
	if (!ctl_reply_ok(v)) {
		char what[300];
		snprintf(what, sizeof what, "repro %s", file);
		r = ctl_print_error(v, what);
		yajl_tree_free(v);
		return r;
	}
	id = ctl_juint(v, "id");
	yajl_tree_free(v);
	if (!ctl_json) {
		printf("repro: job %" PRIu64 ": %s under a %s cap\n", id, file, capstr);
		fflush(stdout);
	}
	{
		struct jobs_wait w = { .progress = !ctl_json && term_interactive() };
		r = jobs_wait(&id, 1, &w, &reply);
	}
	if (r == CTL_EXIT_REFUSED || r == 130) {
		if (reply && !ctl_reply_ok(reply))
			ctl_print_error(reply, "repro");
		yajl_tree_free(reply);
		return r;
	}
	job = json_get(reply, "job");

	if (!outdir) {
		if (asprintf(&defdir, "memsafe-logs/%" PRIu64, id) < 0)
			return CTL_EXIT_LOCAL;
		outdir = defdir;
	}
	ncopied = artifact_copy_dir(ctl_jstr(job, "dir"), outdir, names, ARRAY_SIZE(names),
				    err, sizeof err);
	if (ncopied < 0) {
		ctl_errorf("repro: %s", err);
		yajl_tree_free(reply);
		return CTL_EXIT_LOCAL;
	}
	snprintf(path, sizeof path, "%s/summary.json", outdir);
	if (ctl_load_json(path, &sum, err, sizeof err) < 0) {
		ctl_errorf("repro: %s", err);
		yajl_tree_free(reply);
		return CTL_EXIT_LOCAL;
	}
	interpret(sum, outdir, &in);

	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();

		yajl_gen_map_open(g);
		json_kuint(g, "id", id);
		json_kstr(g, "file", file);
		json_kuint(g, "memory_max", o.memory_max);
		json_key(g, "job");
		ctl_gen_value(g, job);
		json_kstr(g, "output_dir", outdir);
		json_key(g, "files");
		yajl_gen_array_open(g);
		for (int i = 0; i < ncopied && i < (int)ARRAY_SIZE(names); i++)
			json_str(g, names[i]);
		yajl_gen_array_close(g);
		json_key(g, "interpretation");
		yajl_gen_map_open(g);
		json_kdouble(g, "peak_cgroup_mb", in.peak_cg);
		json_kdouble(g, "peak_rss_mb", in.peak_rss);
		json_kdouble(g, "memory_max_mb", in.cap);
		json_kdouble(g, "memory_high_mb", in.high);
		json_kdouble(g, "peak_ratio", in.ratio);
		json_kuint(g, "batches_total", in.batches);
		json_kuint(g, "batches_flushed", in.flushed);
		json_kuint(g, "batches_failed", in.failed);
		json_kuint(g, "retries", in.retries);
		json_key(g, "cgroup_events");
		yajl_gen_map_open(g);
		json_kuint(g, "high", in.ev_high);
		json_kuint(g, "max", in.ev_max);
		json_kuint(g, "oom", in.ev_oom);
		json_kuint(g, "oom_kill", in.ev_oom_kill);
		json_kuint(g, "oom_group_kill", in.ev_group);
		yajl_gen_map_close(g);
		json_key(g, "oom_lines");
		yajl_gen_array_open(g);
		for (int i = 0; i < in.n_oom_lines; i++)
			json_str(g, in.oom_lines[i]);
		yajl_gen_array_close(g);
		if (in.has_culprit)
			json_kuint(g, "culprit_page", in.culprit);
		else
			json_knull(g, "culprit_page");
		json_kstr(g, "verdict", in.verdict);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	} else {
		jobs_print_line(job);
		print_interpretation(file, id, sum, &in);
		printf("  artifacts:     %d files copied to %s/ (memsafectl plot %s -o plot.svg "
		       "draws them)\n", ncopied, outdir, outdir);
	}
	for (int i = 0; i < in.n_oom_lines; i++)
		free(in.oom_lines[i]);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		free(names[i]);
	r = strcmp(ctl_jstr(job, "state"), "done") ? CTL_EXIT_FAILED : CTL_EXIT_OK;
	yajl_tree_free(reply);
	return r;
}
