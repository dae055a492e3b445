/* memsafectl check: CI assertions on a summary.json. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "ctl.h"
#include "json.h"

struct assertion {
	const char *name;
	bool ok;
	double value, limit;
	char detail[256];
};

static int number(yajl_val sum, const char *path, double *ret)
{
	yajl_val v = ctl_jpath(sum, path);

	if (!v || !YAJL_IS_NUMBER(v))
		return -ENOENT;
	*ret = YAJL_GET_DOUBLE(v);
	return 0;
}

int check_main(int argc, char **argv)
{
	enum { O_RATIO = 256, O_FLUSHES };
	static const struct option lo[] = {
		{ "max-peak-ratio", required_argument, NULL, O_RATIO },
		{ "min-flushes", required_argument, NULL, O_FLUSHES },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	double ratio = 0.95, peak, cap, flushed, total = 0, failed = 0;
	uint64_t min_flushes = 1;
	_cleanup_json_ yajl_val sum = NULL;
	struct assertion a[2];
	char path[PATH_MAX], err[512];
	const char *peak_key = "peak_cgroup_mb";
	struct stat st;
	int c, nfail = 0;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_RATIO:
			ratio = ctl_opt_double("check", "--max-peak-ratio", optarg, 0.0001, 100);
			break;
		case O_FLUSHES: min_flushes = ctl_opt_num("check", "--min-flushes", optarg, true); break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl check SUMMARY.json [--max-peak-ratio R] [--min-flushes N]\n"
			       "         [--json]\n"
			       "Assert what CI cares about in a job's summary.json (or a directory holding\n"
			       "one); exit 0 when every assertion holds, 1 naming the failing figure.\n"
			       "  --max-peak-ratio R  peak_cgroup_mb / memory_max_mb must be <= R\n"
			       "                      (default 0.95: the job kept 5%% headroom)\n"
			       "  --min-flushes N     batches.flushed must be >= N (default 1; 0 turns\n"
			       "                      the assertion off)\n"
			       "  --json              {\"id\": JOB, \"ok\": BOOL, \"assertions\": [{\"name\",\n"
			       "                      \"ok\", \"value\", \"limit\", \"detail\"}]}\n"
			       "Exit: 0 all hold, 1 one failed, 2 usage, 5 the file is unreadable or not\n"
			       "a memsafed summary.json.\n");
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	if (optind != argc - 1)
		ctl_die_usage("check", "name one SUMMARY.json");
	if (stat(argv[optind], &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(path, sizeof path, "%s/summary.json", argv[optind]);
	else
		snprintf(path, sizeof path, "%s", argv[optind]);
	if (ctl_load_json(path, &sum, err, sizeof err) < 0) {
		ctl_errorf("check: %s", err);
		return CTL_EXIT_LOCAL;
	}
	if (number(sum, "peak_cgroup_mb", &peak) < 0) {
		peak_key = "peak_rss_mb";   /* a host without a cgroup peak */
		if (number(sum, peak_key, &peak) < 0)
			peak = -1;
	}
	if (peak < 0 || number(sum, "memory_max_mb", &cap) < 0 || cap <= 0 ||
	    number(sum, "batches.flushed", &flushed) < 0) {
		ctl_errorf("check: %s is not a memsafed summary.json: it needs peak_cgroup_mb, "
			   "memory_max_mb and batches.flushed (`memsafectl logs JOB` shows where "
			   "a job's summary.json is)", path);
		return CTL_EXIT_LOCAL;
	}
	number(sum, "batches.total", &total);
	number(sum, "batches.failed", &failed);

	a[0] = (struct assertion){ .name = "max_peak_ratio", .value = peak / cap, .limit = ratio };
	a[0].ok = a[0].value <= ratio;
	snprintf(a[0].detail, sizeof a[0].detail, "%s %.2f of memory_max_mb %.2f is %.1f%% %s %.1f%%",
		 peak_key, peak, cap, 100 * peak / cap, a[0].ok ? "<=" : ">", 100 * ratio);
	a[1] = (struct assertion){ .name = "min_flushes", .value = flushed,
				   .limit = (double)min_flushes };
	a[1].ok = flushed >= (double)min_flushes;
	snprintf(a[1].detail, sizeof a[1].detail, "batches.flushed %.0f %s %" PRIu64
		 " (%.0f batches, %.0f failed)", flushed, a[1].ok ? ">=" : "<", min_flushes,
		 total, failed);
	for (size_t i = 0; i < ARRAY_SIZE(a); i++)
		nfail += !a[i].ok;

	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();

		yajl_gen_map_open(g);
		json_kuint(g, "id", ctl_juint(sum, "job"));
		json_kstr(g, "file", path);
		json_kbool(g, "ok", nfail == 0);
		json_key(g, "assertions");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < ARRAY_SIZE(a); i++) {
			yajl_gen_map_open(g);
			json_kstr(g, "name", a[i].name);
			json_kbool(g, "ok", a[i].ok);
			json_kdouble(g, "value", a[i].value);
			json_kdouble(g, "limit", a[i].limit);
			json_kstr(g, "detail", a[i].detail);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(a); i++)
			printf("%-4s %s: %s\n", a[i].ok ? "ok" : "FAIL", a[i].name, a[i].detail);
		if (nfail)
			printf("check: %d of %zu assertions failed for job %" PRIu64 " (%s)\n", nfail,
			       ARRAY_SIZE(a), ctl_juint(sum, "job"), path);
		else
			printf("check: all %zu assertions hold for job %" PRIu64 "\n", ARRAY_SIZE(a),
			       ctl_juint(sum, "job"));
	}
	return nfail ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}
