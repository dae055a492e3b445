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
	char detail[640];
};

struct sampling {
	uint64_t min_avail;
};

/* MemAvailable before the job: sampled every 50 ms for a while, so its
 * drift (what everything else on the host does to it) is known before
 * the job's own memory is judged against it. */
struct baseline {
	uint64_t last, min, max;   /* bytes; last is "before" */
	uint64_t ms;               /* how long it was watched */
	uint64_t t_end;            /* monotonic ms when it ended */
};

/* The last row of the job's memory_log.csv: memsafed writes it once the
 * worker has exited, before it removes the cgroup (killing what is left
 * in it). */
struct end_row {
	bool found;
	double cgroup_mb, anon_mb, file_mb;
	char why[160];   /* when not found */
};

/* Memory other than page cache that a job's cgroup may hold once its
 * worker has exited (kernel objects not yet freed, per-CPU charge
 * caches): more is memory something in the cgroup kept. */
#define END_RETAINED_MAX_MB 4.0

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

static void measure_baseline(uint64_t ms, struct baseline *b)
{
	uint64_t t0 = now_mono_ms(), t;

	*b = (struct baseline){0};
	for (;;) {
		uint64_t a = pressure_mem_available();
		if (a) {
			b->min = b->min ? MIN(b->min, a) : a;
			b->max = MAX(b->max, a);
			b->last = a;
		}
		t = now_mono_ms() - t0;
		if (t >= ms)
			break;
		sleep_ms((unsigned)MIN(50, ms - t));
	}
	b->t_end = now_mono_ms();
	b->ms = b->t_end - t0;
}

/* The drift (MiB) MemAvailable may show after elapsed ms: what it moved
 * during the baseline, scaled to the longer time when the job took
 * longer (a steady drift grows with time). */
static double drift_mb(const struct baseline *b, uint64_t elapsed)
{
	double noise = (double)(b->max - b->min) / MIB;

	if (!b->ms || elapsed <= b->ms)
		return noise;
	return noise * (double)elapsed / (double)b->ms;
}

/* Column i of a CSV line (no quoting in memory_log.csv); -1 if absent. */
static double csv_field(const char *line, int col)
{
	const char *p = line;

	if (col < 0)
		return -1;
	for (int i = 0; i < col; i++) {
		p = strchr(p, ',');
		if (!p)
			return -1;
		p++;
	}
	return *p && *p != ',' && *p != '\n' ? strtod(p, NULL) : -1;
}

static int csv_column(const char *header, const char *name)
{
	size_t n = strlen(name);
	int col = 0;

	for (const char *p = header; *p; col++) {
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\n' || !p[n]))
			return col;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return -1;
}

static void read_end_row(const char *dir, struct end_row *r)
{
	_cleanup_json_ yajl_val sum = NULL;
	char path[PATH_MAX], err[256], *line = NULL, *header = NULL, *last = NULL;
	uint64_t rows = 0, samples = 0;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	*r = (struct end_row){0};
	snprintf(path, sizeof path, "%s/summary.json", dir);
	if (ctl_load_json(path, &sum, err, sizeof err) == 0)
		samples = ctl_juint(sum, "samples");
	snprintf(path, sizeof path, "%s/memory_log.csv", dir);
	if (!(f = fopen(path, "re"))) {
		snprintf(r->why, sizeof r->why, "%s: %s", path, strerror(errno));
		return;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (!header) {
			header = strdup(line);
			continue;
		}
		if (n > 1) {
			free(last);
			last = strdup(line);
			rows++;
		}
	}
	fclose(f);
	free(line);
	if (!header || !last) {
		snprintf(r->why, sizeof r->why, "%s has no rows", path);
	} else if (samples && rows < samples) {
		/* memsafed stopped writing it (a write failed): the last row
		 * is not the one written after the worker exited. */
		snprintf(r->why, sizeof r->why, "%s has %" PRIu64 " rows of the %" PRIu64
			 " samples summary.json counts", path, rows, samples);
	} else {
		r->cgroup_mb = csv_field(last, csv_column(header, "cgroup_current_mb"));
		r->anon_mb = csv_field(last, csv_column(header, "anon_mb"));
		r->file_mb = csv_field(last, csv_column(header, "file_mb"));
		r->found = r->cgroup_mb >= 0;
		if (!r->found)
			snprintf(r->why, sizeof r->why, "%s has no cgroup_current_mb", path);
	}
	free(header);
	free(last);
}

/* 2. What the job's cgroup held once its worker had exited, before
 * memsafed removed it: page cache aside, (near) nothing. */
static void check_end_row(const struct end_row *e, struct check *c)
{
	double retained, file;

	c->name = "cgroup_emptied";
	if (!e->found) {
		c->ok = true;
		snprintf(c->detail, sizeof c->detail, "not checked: %s", e->why);
		return;
	}
	file = e->file_mb > 0 ? e->file_mb : 0;
	retained = e->cgroup_mb - file;
	c->ok = retained < END_RETAINED_MAX_MB;
	snprintf(c->detail, sizeof c->detail,
		 "after its worker exited the job's cgroup held %.1f MB (anon %.1f MB, page cache "
		 "%.1f MB)%s", e->cgroup_mb, e->anon_mb > 0 ? e->anon_mb : 0, file,
		 c->ok ? ": back to (near) zero before its removal" :
		 ": NOT back to zero: a process left in it, or memory the kernel could not "
		 "free, kept it (memsafed killed what was left when it removed the cgroup)");
}

/* The pids in DIR/cgroup.procs, space-separated, into buf ("" if none). */
static void cgroup_procs(const char *dir, char *buf, size_t size)
{
	char path[PATH_MAX], raw[1024];
	size_t len = 0;

	buf[0] = '\0';
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	if (read_small_file(path, raw, sizeof raw) <= 0)
		return;
	for (char *t = strtok(raw, "\n"); t && len + strlen(t) + 2 < size; t = strtok(NULL, "\n"))
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? " " : "", t);
}

/* 3. No process left: the job's cgroup must be gone (memsafed removes it
 * once the worker has exited, and the kernel refuses while a process is
 * in it) or, while removal is pending, hold no process and almost no
 * memory. Waits up to settle_ms after t_end, when the job was seen to
 * end. */
static void check_cgroup(const char *dir, uint64_t id, uint64_t t_end, uint64_t settle_ms,
			 struct check *c)
{
	_cleanup_json_ yajl_val cm = NULL;
	char path[PATH_MAX], err[256], val[64], procs[256];
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
		snprintf(c->detail, sizeof c->detail,
			 "the job's cgroup %s is removed: no process is left in it", path);
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
		cgroup_procs(path, procs, sizeof procs);
		c->ok = val[0] && bytes < (1u << 20) && !procs[0];
		snprintf(c->detail, sizeof c->detail, "the job's cgroup %s still exists %" PRIu64
			 " ms after the job ended, holds %.1f MB and %s%s%s", path,
			 now_mono_ms() - t_end, (double)bytes / MIB,
			 procs[0] ? "processes " : "no process", procs,
			 c->ok ? " (near zero)" : ": something in it is left behind");
	}
}

int pressure_main(int argc, char **argv)
{
	enum { O_TARGET = 256, O_MEM, O_HOLD, O_TOL, O_SETTLE, O_BASELINE };
	static const struct option lo[] = {
		{ "target-mb", required_argument, NULL, O_TARGET },
		{ "memory-max", required_argument, NULL, O_MEM },
		{ "hold-ms", required_argument, NULL, O_HOLD },
		{ "tolerance-mb", required_argument, NULL, O_TOL },
		{ "settle", required_argument, NULL, O_SETTLE },
		{ "baseline", required_argument, NULL, O_BASELINE },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t target = 0, mem = 0, hold = 500, tol_mb = 0, settle = 5000, base_ms = 500, id;
	uint64_t before, after = 0, recovered_ms = 0, t_end, elapsed = 0;
	struct sampling smp = {0};
	struct baseline base;
	struct end_row end;
	struct check checks[4] = {{0}};
	double peak, cap, tol, others_before, others_delta = 0, self_before, noise, deficit = 0;
	double allowed = 0, drift = 0;
	bool above_cap, verified = true, own_ok = true, done;
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
		case O_BASELINE:
			base_ms = ctl_opt_duration("simulate-pressure", "--baseline", optarg);
			break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl simulate-pressure --target-mb N [--memory-max SIZE]\n"
			       "         [--hold-ms N] [--tolerance-mb N] [--settle DUR] [--baseline DUR]\n"
			       "         [--json]\n"
			       "Run a pressure worker that allocates and touches N MiB in its capped\n"
			       "cgroup, holds it, and exits; then verify that the memory comes back, on\n"
			       "the job's own evidence: the cgroup's peak reached the target (or the\n"
			       "cap, above it); once the worker had exited its cgroup held (near) no\n"
			       "memory but page cache (memory_log.csv's last row, written before the\n"
			       "cgroup is removed); and the cgroup is removed, so no process is left.\n"
			       "The host's MemAvailable is context: it moves with everything else the\n"
			       "machine does, so its drift is measured before the job, and it fails\n"
			       "the check only when it ends below where it began by more than the\n"
			       "tolerance plus 4 times that drift (scaled to how long the job took;\n"
			       "memory that other memsafed jobs or memsafectl took meanwhile is\n"
			       "counted as given back).\n"
			       "  --target-mb N      MiB to allocate (required)\n"
			       "  --memory-max SIZE  the job's cap (default: memsafed's memory_max)\n"
			       "  --hold-ms N        how long to hold it (default 500)\n"
			       "  --tolerance-mb N   MemAvailable may end this far below where it began,\n"
			       "                     besides its drift (default: half the cgroup's\n"
			       "                     peak, at least 64)\n"
			       "  --settle DUR       how long to wait for memory to come back (default 5s)\n"
			       "  --baseline DUR     how long to watch MemAvailable's drift before the\n"
			       "                     job (default 500ms)\n"
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

	others_before = others_mb(0);
	self_before = self_rss();
	measure_baseline(base_ms, &base);
	before = base.last;
	noise = (double)(base.max - base.min) / MIB;
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

	/* 2. The cgroup emptied once the worker had exited. */
	read_end_row(ctl_jstr(job, "dir"), &end);
	check_end_row(&end, &checks[1]);

	/* 3. The cgroup is gone, with no process left in it. --settle bounds
	 * the wait for both this and 4., counted from the job's end. */
	t_end = now_mono_ms();
	check_cgroup(ctl_jstr(job, "dir"), id, t_end, settle, &checks[2]);

	/* 4. Context: MemAvailable comes back to where it was, within the
	 * tolerance plus its own drift. */
	tol = tol_mb ? (double)tol_mb : MAX(64.0, peak * 0.5);
	checks[3].name = "mem_available";
	for (;;) {
		/* What other jobs took since "before" is not ours to give back. */
		double delta = others_mb(id) - others_before + (self_rss() - self_before) / MIB;
		double a = (double)pressure_mem_available() + delta * MIB;
		if (a > (double)after) {
			after = a > 0 ? (uint64_t)a : 0;
			others_delta = delta;
		}
		elapsed = now_mono_ms() - base.t_end;
		drift = drift_mb(&base, elapsed);
		allowed = tol + 4.0 * drift;
		deficit = ((double)before - (double)after) / MIB;
		if (deficit <= allowed || now_mono_ms() - t_end >= settle)
			break;
		sleep_ms(100);
	}
	recovered_ms = now_mono_ms() - t_end;
	if (!before || !after) {
		checks[3].ok = true;
		snprintf(checks[3].detail, sizeof checks[3].detail,
			 "not checked: /proc/meminfo has no MemAvailable");
	} else {
		char others[96] = "";
		checks[3].ok = deficit <= allowed;
		if (others_delta >= 0.5 || others_delta <= -0.5)
			snprintf(others, sizeof others, ", counting %+.0f MB that other memsafed jobs "
				 "and memsafectl took meanwhile", others_delta);
		snprintf(checks[3].detail, sizeof checks[3].detail,
			 "host MemAvailable (context: the whole machine's) %.0f MB before (it moved "
			 "%.0f MB in the %" PRIu64 " ms before the job), %.0f MB lowest while the job "
			 "ran, %.0f MB after %" PRIu64 " ms%s: %.0f MB %s where it began, %s the %.0f MB "
			 "allowed (tolerance %.0f MB + 4 x its drift, %.0f MB over %.1f s)",
			 (double)before / MIB, noise, base.ms,
			 (double)(smp.min_avail ? smp.min_avail : before) / MIB, (double)after / MIB,
			 recovered_ms, others, deficit >= 0 ? deficit : -deficit,
			 deficit >= 0 ? "below" : "above", checks[3].ok ? "within" : "FAR beyond",
			 allowed, tol, drift, (double)elapsed / 1000.0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
		verified &= checks[i].ok;
		if (i < 3)
			own_ok &= checks[i].ok;
	}

	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();

		yajl_gen_map_open(g);
		json_kuint(g, "id", id);
		json_key(g, "job");
		ctl_gen_value(g, job);
		json_key(g, "verify");
		yajl_gen_map_open(g);
		json_kbool(g, "ok", verified);
		json_kbool(g, "job_evidence_ok", own_ok);
		json_kuint(g, "target_mb", target);
		json_kdouble(g, "memory_max_mb", cap);
		json_kdouble(g, "peak_cgroup_mb", peak);
		if (end.found) {
			json_kdouble(g, "cgroup_end_mb", end.cgroup_mb);
			json_kdouble(g, "cgroup_end_anon_mb", end.anon_mb > 0 ? end.anon_mb : 0);
			json_kdouble(g, "cgroup_end_file_mb", end.file_mb > 0 ? end.file_mb : 0);
		} else {
			json_knull(g, "cgroup_end_mb");
			json_knull(g, "cgroup_end_anon_mb");
			json_knull(g, "cgroup_end_file_mb");
		}
		json_kdouble(g, "tolerance_mb", tol);
		json_kuint(g, "baseline_ms", base.ms);
		json_kdouble(g, "mem_available_before_mb", (double)before / MIB);
		json_kdouble(g, "mem_available_noise_mb", noise);
		json_kdouble(g, "mem_available_min_mb",
			     (double)(smp.min_avail ? smp.min_avail : before) / MIB);
		json_kdouble(g, "mem_available_after_mb", (double)after / MIB);
		json_kdouble(g, "mem_available_drift_mb", drift);
		json_kdouble(g, "mem_available_allowed_mb", allowed);
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
		else if (!own_ok)
			printf("simulate-pressure: memory was NOT given back as it should be: the "
			       "job's own evidence says so (FAIL above). Look for what was left in "
			       "the job's cgroup, run `memsafectl doctor`, and file `memsafectl "
			       "bundle %" PRIu64 " -o memsafe-bug.tar.gz`\n", id);
		else
			printf("simulate-pressure: memory was NOT given back as it should be: the "
			       "job's cgroup gave back what it held, but the host's MemAvailable "
			       "stayed %.0f MB below where it began, far beyond its drift. If other "
			       "programs took memory meanwhile, run it again on a quieter host (or "
			       "raise --tolerance-mb); otherwise run `memsafectl doctor` and file "
			       "`memsafectl bundle %" PRIu64 " -o memsafe-bug.tar.gz`\n", deficit, id);
	}
	yajl_tree_free(v);
	if (!verified)
		return CTL_EXIT_FAILED;
	return done ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
