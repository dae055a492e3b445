#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "jobs.h"
#include "json.h"
#include "pressure.h"
#include "procfs.h"
#include "protocol.h"
#include "term.h"

#define MIB (1024.0 * 1024.0)

struct check {
	const char *name;
	bool ok;
	char detail[512];
};

struct sampling {
	uint64_t min_avail;
};

uint64_t pressure_mem_available(void)
{
	static const char *const key[] = { "MemAvailable" };
	uint64_t v;

	return procfs_read_meminfo(key, &v, 1) < 0 ? 0 : v;
}

static void sample_cb(void *arg)
{
	struct sampling *s = arg;
	uint64_t a = pressure_mem_available();

	if (a && (!s->min_avail || a < s->min_avail))
		s->min_avail = a;
}

/* Cgroup memory (MiB) of the other running memsafed jobs the caller may
 * see: it moves MemAvailable too, and is not this job's to give back.
 * 0 when memsafed cannot say. */
static double others_mb(uint64_t exclude)
{
	_cleanup_json_ yajl_val v = NULL;
	char req[64], err[256];
	yajl_val jobs;
	double sum = 0;

	ctl_simple_request(req, sizeof req, "list", 0);
	if (ctl_request(req, -1, &v, err, sizeof err) < 0 || !ctl_reply_ok(v) ||
	    !YAJL_IS_ARRAY(jobs = json_get(v, "jobs")))
		return 0;
	for (size_t i = 0; i < jobs->u.array.len; i++) {
		yajl_val j = jobs->u.array.values[i];
		if (ctl_juint(j, "id") != exclude && !strcmp(ctl_jstr(j, "state"), "running"))
			sum += ctl_jdouble(j, "cgroup_mb");
	}
	return sum;
}

/* Our own resident memory (bytes): a sanitizer build of memsafectl can
 * grow by more than the tolerance while it polls, and that is not the
 * job's memory either. */
static double self_rss(void)
{
	uint64_t vms, rss;

	return procfs_read_statm(0, &vms, &rss) < 0 ? 0 : (double)rss;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The job's cgroup must be gone (memsafed removes it once the worker has
 * exited) or, while removal is pending, hold almost nothing. Waits up to
 * settle_ms after t_end, when the job was seen to end. */
static void check_cgroup(const char *dir, uint64_t id, uint64_t t_end, uint64_t settle_ms,
			 struct check *c)
{
	_cleanup_json_ yajl_val cm = NULL;
	char path[PATH_MAX], err[256], val[64];
	const char *jobs;
	struct stat st;

	c->name = "cgroup_released";
	snprintf(path, sizeof path, "%s/container_manifest.json", dir);
	if (ctl_load_json(path, &cm, err, sizeof err) < 0 ||
	    !ctl_jhas_str(json_get(cm, "cgroup"), "jobs_path")) {
		c->ok = true;
		snprintf(c->detail, sizeof c->detail, "not checked: %s names no cgroup",
			 "container_manifest.json");
		return;
	}
	jobs = ctl_jstr(json_get(cm, "cgroup"), "jobs_path");
	snprintf(path, sizeof path, "%s/job-%" PRIu64, jobs, id);
	while (stat(path, &st) == 0 && now_mono_ms() - t_end < settle_ms)
		sleep_ms(100);
	if (stat(path, &st) < 0) {
		c->ok = true;
		snprintf(c->detail, sizeof c->detail, "the job's cgroup %s is removed", path);
		return;
	}
	{
		char f[PATH_MAX + 32];
		uint64_t bytes = 0;
		snprintf(f, sizeof f, "%s/memory.current", path);
		if (read_small_file(f, val, sizeof val) < 0) {
			snprintf(f, sizeof f, "%s/memory.usage_in_bytes", path);
			if (read_small_file(f, val, sizeof val) < 0)
				val[0] = '\0';
		}
		val[strcspn(val, "\n")] = '\0';
		parse_u64(val, &bytes);
		c->ok = val[0] && bytes < (1u << 20);
		snprintf(c->detail, sizeof c->detail, "the job's cgroup %s still exists %" PRIu64
			 " ms after the job ended and holds %.1f MB%s", path, now_mono_ms() - t_end,
			 (double)bytes / MIB, c->ok ? " (near zero)" :
			 ": something in it still uses memory (look at its cgroup.procs)");
	}
}

int pressure_main(int argc, char **argv)
{
	enum { O_TARGET = 256, O_MEM, O_HOLD, O_TOL, O_SETTLE };
	static const struct option lo[] = {
		{ "target-mb", required_argument, NULL, O_TARGET },
		{ "memory-max", required_argument, NULL, O_MEM },
		{ "hold-ms", required_argument, NULL, O_HOLD },
		{ "tolerance-mb", required_argument, NULL, O_TOL },
		{ "settle", required_argument, NULL, O_SETTLE },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t target = 0, mem = 0, hold = 500, tol_mb = 0, settle = 5000, id;
	uint64_t before, after = 0, recovered_ms = 0, t_end;
	struct sampling smp = {0};
	struct check checks[3] = {{0}};
	double peak, cap, tol, others_before, others_delta = 0, self_before;
	bool above_cap, verified = true, done;
	char req[256];
	yajl_val v, job;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_TARGET:
			target = ctl_opt_num("simulate-pressure", "--target-mb", optarg, false);
			break;
		case O_MEM: mem = ctl_opt_size("simulate-pressure", "--memory-max", optarg); break;
		case O_HOLD: hold = ctl_opt_num("simulate-pressure", "--hold-ms", optarg, true); break;
		case O_TOL:
			tol_mb = ctl_opt_num("simulate-pressure", "--tolerance-mb", optarg, false);
			break;
		case O_SETTLE:
			settle = ctl_opt_duration("simulate-pressure", "--settle", optarg);
			break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl simulate-pressure --target-mb N [--memory-max SIZE]\n"
			       "         [--hold-ms N] [--tolerance-mb N] [--settle DUR] [--json]\n"
			       "Run a pressure worker that allocates and touches N MiB in its capped\n"
			       "cgroup, holds it, and exits; then verify that the memory comes back:\n"
			       "the cgroup's peak reached the target (or the cap, above it), the job's\n"
			       "cgroup is removed or near zero, and MemAvailable recovers to within the\n"
			       "tolerance of its value before the job (memory that other memsafed jobs\n"
			       "or memsafectl itself took meanwhile is counted as given back).\n"
			       "  --target-mb N      MiB to allocate (required)\n"
			       "  --memory-max SIZE  the job's cap (default: memsafed's memory_max)\n"
			       "  --hold-ms N        how long to hold it (default 500)\n"
			       "  --tolerance-mb N   MemAvailable may end this far below where it began\n"
			       "                     (default: 10%% of the target, at least 64)\n"
			       "  --settle DUR       how long to wait for memory to come back (default 5s)\n"
			       "  --json             {\"id\", \"job\", \"verify\": {\"ok\", \"checks\": [...],\n"
			       "                     \"mem_available_before_mb\", ...}}\n"
			       "Exit: 0 the job ended done and memory came back; 1 the job did not end\n"
			       "done (a target above the cap is OOM-killed) or memory was not given back;\n"
			       "3/4 as for every command.\n");
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	if (!target)
		ctl_die_usage("simulate-pressure", "--target-mb N is required");
	if (optind < argc)
		ctl_die_usage("simulate-pressure", "unexpected argument '%s'", argv[optind]);
	tol = tol_mb ? (double)tol_mb : MAX(64.0, (double)target * 0.10);

	before = pressure_mem_available();
	others_before = others_mb(0);
	self_before = self_rss();
	if (mem)
		snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"simulate_pressure\",\"target_mb\":%"
			 PRIu64 ",\"hold_ms\":%" PRIu64 ",\"memory_max\":%" PRIu64 "}",
			 PROTOCOL_VERSION, target, hold, mem);
	else
		snprintf(req, sizeof req, "{\"v\":%d,\"op\":\"simulate_pressure\",\"target_mb\":%"
			 PRIu64 ",\"hold_ms\":%" PRIu64 "}", PROTOCOL_VERSION, target, hold);
	v = ctl_call(req, -1);
	if (!ctl_reply_ok(v)) {
		r = ctl_print_error(v, "simulate-pressure");
		yajl_tree_free(v);
		return r;
	}
	id = ctl_juint(v, "id");
	yajl_tree_free(v);
	{
		struct jobs_wait w = {
			.progress = !ctl_json && term_interactive(),
			.tick = sample_cb, .arg = &smp,
		};
		r = jobs_wait(&id, 1, &w, &v);
	}
	if (r == CTL_EXIT_REFUSED || r == 130 || !v) {
		if (v && !ctl_reply_ok(v))
			ctl_print_error(v, "simulate-pressure");
		yajl_tree_free(v);
		return r;
	}
	job = json_get(v, "job");
	done = !strcmp(ctl_jstr(job, "state"), "done");
	if (!ctl_json) {
		jobs_print_end(job);
	}

	/* 1. The allocation was real: the cgroup's peak reached the target,
	 * or the cap when the target is above it; and the cap held. */
	peak = ctl_jdouble(job, "peak_cgroup_mb");
	cap = (double)ctl_juint(job, "memory_max") / MIB;
	above_cap = (double)target >= cap;
	checks[0].name = "peak";
	if (above_cap) {
		checks[0].ok = peak >= 0.9 * cap && peak <= cap + 1;
		snprintf(checks[0].detail, sizeof checks[0].detail, "cgroup peak %.1f MB for a %" PRIu64
			 " MB target above the %.0f MB cap: %s", peak, target, cap,
			 checks[0].ok ? "the cap held and was reached" :
			 peak > cap + 1 ? "ABOVE the cap: memory.max was not enforced" :
			 "the cap was never reached: the worker did not allocate");
	} else {
		checks[0].ok = peak >= 0.95 * (double)target && peak <= cap + 1;
		snprintf(checks[0].detail, sizeof checks[0].detail, "cgroup peak %.1f MB for a %" PRIu64
			 " MB target under the %.0f MB cap: %s", peak, target, cap,
			 checks[0].ok ? "reached" : peak > cap + 1 ?
			 "ABOVE the cap: memory.max was not enforced" :
			 "NOT reached: the worker did not allocate what it was asked to "
			 "(see summary.json \"pressure\")");
	}

	/* 2. The cgroup is gone or empty. --settle bounds the wait for
	 * both this and 3., counted from the job's end. */
	t_end = now_mono_ms();
	check_cgroup(ctl_jstr(job, "dir"), id, t_end, settle, &checks[1]);

	/* 3. MemAvailable comes back to where it was, within the tolerance. */
	checks[2].name = "mem_available";
	for (;;) {
		/* What other jobs took since "before" is not ours to give back. */
		double delta = others_mb(id) - others_before + (self_rss() - self_before) / MIB;
		double a = (double)pressure_mem_available() + delta * MIB;
		if (a > (double)after) {
			after = a > 0 ? (uint64_t)a : 0;
			others_delta = delta;
		}
		if ((double)after >= (double)before - tol * MIB || now_mono_ms() - t_end >= settle)
			break;
		sleep_ms(100);
	}
	recovered_ms = now_mono_ms() - t_end;
	if (!before || !after) {
		checks[2].ok = true;
		snprintf(checks[2].detail, sizeof checks[2].detail,
			 "not checked: /proc/meminfo has no MemAvailable");
	} else {
		checks[2].ok = (double)after >= (double)before - tol * MIB;
		char others[96] = "";
		if (others_delta >= 0.5 || others_delta <= -0.5)
			snprintf(others, sizeof others, ", counting %+.0f MB that other memsafed jobs "
				 "and memsafectl took meanwhile", others_delta);
		snprintf(checks[2].detail, sizeof checks[2].detail,
			 "MemAvailable %.0f MB before, %.0f MB lowest while the job ran, %.0f MB "
			 "after %" PRIu64 " ms%s: %s %.0f MB", (double)before / MIB,
			 (double)(smp.min_avail ? smp.min_avail : before) / MIB, (double)after / MIB,
			 recovered_ms, others, checks[2].ok ? "recovered within" :
			 "NOT recovered within", tol);
	}
	for (size_t i = 0; i < ARRAY_SIZE(checks); i++)
		verified &= checks[i].ok;

	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();

		yajl_gen_map_open(g);
		json_kuint(g, "id", id);
		json_key(g, "job");
		ctl_gen_value(g, job);
		json_key(g, "verify");
		yajl_gen_map_open(g);
		json_kbool(g, "ok", verified);
		json_kuint(g, "target_mb", target);
		json_kdouble(g, "memory_max_mb", cap);
		json_kdouble(g, "peak_cgroup_mb", peak);
		json_kdouble(g, "tolerance_mb", tol);
		json_kdouble(g, "mem_available_before_mb", (double)before / MIB);
		json_kdouble(g, "mem_available_min_mb",
			     (double)(smp.min_avail ? smp.min_avail : before) / MIB);
		json_kdouble(g, "mem_available_after_mb", (double)after / MIB);
		json_kdouble(g, "other_jobs_delta_mb", others_delta);
		json_kuint(g, "settle_ms", recovered_ms);
		json_key(g, "checks");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
			yajl_gen_map_open(g);
			json_kstr(g, "name", checks[i].name);
			json_kbool(g, "ok", checks[i].ok);
			json_kstr(g, "detail", checks[i].detail);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(checks); i++)
			printf("  %-4s %s\n", checks[i].ok ? "ok" : "FAIL", checks[i].detail);
		if (verified)
			printf("simulate-pressure: memory was given back%s\n", done ? "" :
			       above_cap ? " (the job was OOM-killed at its cap, as a target above "
			       "it must be)" : "");
		else
			printf("simulate-pressure: memory was NOT given back as it should be. "
			       "MemAvailable is the whole host's: if other programs took memory "
			       "meanwhile, run it again on a quiet host (or raise --tolerance-mb). "
			       "Otherwise run `memsafectl doctor`, look for processes left in the "
			       "job's cgroup, and file `memsafectl bundle %" PRIu64
			       " -o memsafe-bug.tar.gz`\n", id);
	}
	yajl_tree_free(v);
	if (!verified)
		return CTL_EXIT_FAILED;
	return done ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
