/* memsafectl metrics: Prometheus text. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "artifact.h"
#include "ctl.h"
#include "gpuinfo.h"
#include "json.h"
#include "metrics.h"
#include "pressure.h"
#include "procfs.h"

/* Every state a job can be in, so that each series exists (at 0) from
 * the first scrape. */
static const char *const states[] = {
	"spooling", "queued", "running", "done", "failed", "oom_killed", "cancelled",
	"interrupted",
};

static void head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escape \, " and newline (exposition format 0.0.4). */
static void label_value(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
}

static double system_psi_some10(void)
{
	struct psi_line some, full;

	procfs_read_psi(AT_FDCWD, "/proc/pressure/memory", &some, &full);
	return some.avg10;
}

/* Integral values exactly, others with enough digits. */
static void num(double v)
{
	if (v == (double)(int64_t)v && v > -1e15 && v < 1e15)
		printf("%.0f\n", v);
	else
		printf("%.6g\n", v);
}

/* One series per job: metric{job="ID"} value. */
static void per_job(yajl_val jobs, const char *name, const char *type, const char *help,
		    double (*get)(yajl_val job), bool running_only)
{
	head(name, type, help);
	for (size_t i = 0; i < jobs->u.array.len; i++) {
		yajl_val j = jobs->u.array.values[i];
		if (running_only && strcmp(ctl_jstr(j, "state"), "running"))
			continue;
		printf("%s{job=\"%" PRIu64 "\"} ", name, ctl_juint(j, "id"));
		num(get(j));
	}
}

static double get_peak_cgroup(yajl_val j) { return round(ctl_jdouble(j, "peak_cgroup_mb") * 1048576.0); }
static double get_peak_rss(yajl_val j) { return round(ctl_jdouble(j, "peak_rss_mb") * 1048576.0); }
static double get_cap(yajl_val j) { return (double)ctl_juint(j, "memory_max"); }
static double get_oom(yajl_val j) { return (double)ctl_juint(j, "oom_kills"); }
static double get_cgroup(yajl_val j) { return round(ctl_jdouble(j, "cgroup_mb") * 1048576.0); }
static double get_psi(yajl_val j) { return ctl_jdouble(j, "psi_some_avg10"); }
static double get_pages(yajl_val j) { return (double)ctl_juint(j, "page"); }

/* Per running job, its GPU memory now (the newest memory_log.csv row
 * memsafed wrote: DRM fdinfo, flushed at least once a second), and the
 * host's GTT. A job whose log is unreadable (another user's) is left out. */
static void gpu_gauges(yajl_val jobs)
{
	static const char *const cols[] = { "gpu_mb", "gpu_host_mb", "gpu_dev_mb" };
	static const char *const names[][2] = {
		{ "memsafed_job_gpu_bytes", "GPU memory of a running job now (DRM fdinfo), in bytes." },
		{ "memsafed_job_gpu_host_bytes", "Host-backed GPU memory (amdgpu GTT, xe system) of a "
		  "running job now, in bytes: RAM outside memory.current." },
		{ "memsafed_job_gpu_device_bytes", "Device memory (VRAM) of a running job now, in bytes." },
	};
	size_t n = jobs->u.array.len;
	_cleanup_free_ double *v = calloc(n ? n * 3 : 1, sizeof *v);
	struct gpuinfo_host h;

	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		yajl_val j = jobs->u.array.values[i];
		if (strcmp(ctl_jstr(j, "state"), "running") || !ctl_jhas_str(j, "dir") ||
		    artifact_memlog_last(ctl_jstr(j, "dir"), cols, &v[i * 3], 3) < 0)
			v[i * 3] = v[i * 3 + 1] = v[i * 3 + 2] = NAN;
	}
	for (size_t c = 0; c < 3; c++) {
		head(names[c][0], "gauge", names[c][1]);
		for (size_t i = 0; i < n; i++) {
			if (isnan(v[i * 3 + c]))
				continue;
			printf("%s{job=\"%" PRIu64 "\"} ", names[c][0],
			       ctl_juint(jobs->u.array.values[i], "id"));
			num(round(v[i * 3 + c] * 1048576.0));
		}
	}
	gpuinfo_read("/sys", "/proc", &h);
	if (h.has_gtt) {
		head("memsafed_host_gtt_used_bytes", "gauge", "GTT in use on the host (amdgpu), in bytes.");
		printf("memsafed_host_gtt_used_bytes ");
		num((double)h.gtt_used);
		head("memsafed_host_gtt_total_bytes", "gauge", "GTT size of the host (amdgpu), in bytes.");
		printf("memsafed_host_gtt_total_bytes ");
		num((double)h.gtt_total);
	}
}

int metrics_main(int argc, char **argv)
{
	int i = ctl_simple_opts(argc, argv,
		"Usage: memsafectl metrics [--json]\n"
		"Print Prometheus text exposition (format 0.0.4) for node_exporter's textfile\n"
		"collector: memsafed_up, memsafed_info, memsafed_running, memsafed_queued,\n"
		"memsafed_jobs{state}, memsafed_oom_kills, per job (job=\"ID\")\n"
		"memsafed_job_peak_cgroup_bytes, _peak_rss_bytes, _memory_max_bytes,\n"
		"_oom_kills, _page, and for running jobs _cgroup_bytes and\n"
		"_psi_some_avg10, _gpu_bytes, _gpu_host_bytes and _gpu_device_bytes;\n"
		"and the host's memsafed_host_mem_available_bytes,\n"
		"memsafed_host_memory_psi_some_avg10 and, with amdgpu,\n"
		"memsafed_host_gtt_used_bytes and _gtt_total_bytes.\n"
		"  memsafectl metrics > /var/lib/node_exporter/memsafed.prom.$$ &&\n"
		"    mv /var/lib/node_exporter/memsafed.prom.$$ /var/lib/node_exporter/memsafed.prom\n"
		"  --json   the daemon's figures and, per job, its state, peaks, cap and OOM\n"
		"           kills as one JSON document\n"
		"Exit: 0; 3 when memsafed does not answer (memsafed_up 0 is still printed);\n"
		"4 when it refuses the job list.\n");
	_cleanup_json_ yajl_val ping = NULL, list = NULL;
	char req[64], err[512];
	uint64_t by_state[ARRAY_SIZE(states)] = {0}, oom_total = 0;
	double avail = (double)pressure_mem_available(), psi = system_psi_some10();
	yajl_val jobs;

	if (i < argc)
		ctl_die_usage("metrics", "takes no arguments");
	ctl_simple_request(req, sizeof req, "ping", 0);
	if (ctl_request(req, -1, &ping, err, sizeof err) < 0 || !ctl_reply_ok(ping)) {
		if (ping)
			snprintf(err, sizeof err, "%s", ctl_jstr(json_get(ping, "error"), "message"));
		if (ctl_json) {
			_cleanup_json_gen_ yajl_gen g = ctl_gen_new();
			yajl_gen_map_open(g);
			json_kint(g, "up", 0);
			json_kstr(g, "error", err);
			yajl_gen_map_close(g);
			ctl_gen_print(g);
		} else {
			head("memsafed_up", "gauge", "Whether memsafed answered on its socket.");
			printf("memsafed_up 0\n");
		}
		ctl_errorf("metrics: %s", err);
		return CTL_EXIT_UNREACHABLE;
	}
	ctl_simple_request(req, sizeof req, "list", 0);
	list = ctl_call(req, -1);
	jobs = json_get(list, "jobs");
	if (!ctl_reply_ok(list) || !YAJL_IS_ARRAY(jobs))
		return ctl_print_error(list, "metrics");
	for (size_t k = 0; k < jobs->u.array.len; k++) {
		yajl_val j = jobs->u.array.values[k];
		for (size_t s = 0; s < ARRAY_SIZE(states); s++)
			if (!strcmp(ctl_jstr(j, "state"), states[s]))
				by_state[s]++;
		oom_total += ctl_juint(j, "oom_kills");
	}

	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();

		yajl_gen_map_open(g);
		json_kint(g, "up", 1);
		json_kstr(g, "version", ctl_jstr(ping, "version"));
		json_kuint(g, "running", ctl_juint(ping, "running"));
		json_kuint(g, "queued", ctl_juint(ping, "queued"));
		json_key(g, "jobs_by_state");
		yajl_gen_map_open(g);
		for (size_t s = 0; s < ARRAY_SIZE(states); s++)
			json_kuint(g, states[s], by_state[s]);
		yajl_gen_map_close(g);
		json_kuint(g, "oom_kills", oom_total);
		json_key(g, "jobs");
		yajl_gen_array_open(g);
		for (size_t k = 0; k < jobs->u.array.len; k++) {
			yajl_val j = jobs->u.array.values[k];
			yajl_gen_map_open(g);
			json_kuint(g, "id", ctl_juint(j, "id"));
			json_kstr(g, "state", ctl_jstr(j, "state"));
			json_kdouble(g, "peak_cgroup_bytes", get_peak_cgroup(j));
			json_kdouble(g, "peak_rss_bytes", get_peak_rss(j));
			json_kuint(g, "memory_max_bytes", ctl_juint(j, "memory_max"));
			json_kuint(g, "oom_kills", ctl_juint(j, "oom_kills"));
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		json_key(g, "host");
		yajl_gen_map_open(g);
		json_kdouble(g, "mem_available_bytes", avail);
		json_kdouble(g, "memory_psi_some_avg10", psi);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
		return CTL_EXIT_OK;
	}

	head("memsafed_up", "gauge", "Whether memsafed answered on its socket.");
	printf("memsafed_up 1\n");
	head("memsafed_info", "gauge", "memsafed's version, as a label.");
	printf("memsafed_info{version=\"");
	label_value(ctl_jstr(ping, "version"));
	printf("\"} 1\n");
	head("memsafed_running", "gauge", "Jobs running now.");
	printf("memsafed_running %" PRIu64 "\n", ctl_juint(ping, "running"));
	head("memsafed_queued", "gauge", "Jobs waiting for a slot or for memory.");
	printf("memsafed_queued %" PRIu64 "\n", ctl_juint(ping, "queued"));
	head("memsafed_jobs", "gauge", "Jobs memsafed knows, by state.");
	for (size_t s = 0; s < ARRAY_SIZE(states); s++)
		printf("memsafed_jobs{state=\"%s\"} %" PRIu64 "\n", states[s], by_state[s]);
	head("memsafed_oom_kills", "gauge", "Kernel OOM kills in the cgroups of the jobs memsafed "
	     "knows.");
	printf("memsafed_oom_kills %" PRIu64 "\n", oom_total);
	per_job(jobs, "memsafed_job_peak_cgroup_bytes", "gauge",
		"Peak cgroup memory of a job, in bytes.", get_peak_cgroup, false);
	per_job(jobs, "memsafed_job_peak_rss_bytes", "gauge",
		"Peak worker RSS of a job, in bytes.", get_peak_rss, false);
	per_job(jobs, "memsafed_job_memory_max_bytes", "gauge",
		"The job's memory cap (memory.max), in bytes.", get_cap, false);
	per_job(jobs, "memsafed_job_oom_kills", "gauge",
		"Kernel OOM kills in the job's cgroup.", get_oom, false);
	per_job(jobs, "memsafed_job_page", "gauge",
		"The page the job's worker is on (or ended on).", get_pages, false);
	per_job(jobs, "memsafed_job_cgroup_bytes", "gauge",
		"Cgroup memory of a running job now, in bytes.", get_cgroup, true);
	per_job(jobs, "memsafed_job_psi_some_avg10", "gauge",
		"Memory PSI some avg10 of a running job (%; -1 where cgroup v1 has none).",
		get_psi, true);
	gpu_gauges(jobs);
	head("memsafed_host_mem_available_bytes", "gauge", "MemAvailable of the host, in bytes.");
	printf("memsafed_host_mem_available_bytes ");
	num(avail);
	if (psi >= 0) {
		head("memsafed_host_memory_psi_some_avg10", "gauge",
		     "System memory PSI some avg10 (%), from /proc/pressure/memory.");
		printf("memsafed_host_memory_psi_some_avg10 ");
		num(psi);
	}
	return CTL_EXIT_OK;
}
