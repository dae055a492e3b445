/* memsafectl bundle: the bug-report archive with system metadata. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "artifact.h"
#include "bundle.h"
#include "ctl.h"
#include "doctor.h"
#include "json.h"
#include "run.h"
#include "sysinfo.h"

#define BUNDLE_MAX_JOBS 256
#define BUNDLE_MAX_FILES 2048

struct bundle_job {
	uint64_t id;
	char *dir;
	char state[24];
};

struct bundle {
	char staging[PATH_MAX];     /* the temporary directory */
	char top[128];              /* the archive's top directory */
	char *files[BUNDLE_MAX_FILES];
	size_t nfiles;
};

static void add_file(struct bundle *b, const char *fmt, ...) _printf_(2, 3);
static void add_file(struct bundle *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (b->nfiles >= BUNDLE_MAX_FILES)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0)
		b->files[b->nfiles++] = s;
	va_end(ap);
}

static int write_member(struct bundle *b, const char *name, const void *data, size_t len,
			char *err, size_t errsz)
{
	char dir[PATH_MAX];
	int r;

	snprintf(dir, sizeof dir, "%s/%s", b->staging, b->top);
	if ((r = write_atomic(dir, name, data, len)) < 0) {
		snprintf(err, errsz, "cannot write %s/%s: %s", dir, name, strerror(-r));
		return r;
	}
	add_file(b, "%s/%s", b->top, name);
	return 0;
}

/* metadata.json: what a developer needs to know about the machine and
 * the daemon to read the jobs' artifacts. */
static char *metadata(const struct bundle_job *jobs, size_t njobs, yajl_val ping,
		      const char *ping_err, const struct sysinfo_daemon *d, const char *config,
		      const char *config_why, const struct doctor_report *doc, size_t *len)
{
	_cleanup_json_gen_ yajl_gen g = ctl_gen_new();
	char now[40];

	format_iso8601(now_real_ms(), now, sizeof now);
	yajl_gen_map_open(g);
	json_kint(g, "bundle_version", 1);
	json_kstr(g, "created_at", now);
	json_kstr(g, "memsafectl_version", PACKAGE_VERSION);
	json_key(g, "host");
	hostinfo_json(g);
	json_key(g, "cgroup");
	yajl_gen_map_open(g);
	json_kstr(g, "mode", hostinfo_cgroup_mode_name(hostinfo_cgroup_mode()));
	yajl_gen_map_close(g);
	json_key(g, "memsafed");
	yajl_gen_map_open(g);
	json_kstr(g, "socket", ctl_socket);
	json_kbool(g, "reachable", ping && ctl_reply_ok(ping));
	if (ping && ctl_reply_ok(ping)) {
		json_kstr(g, "version", ctl_jstr(ping, "version"));
		json_kuint(g, "pid", ctl_juint(ping, "pid"));
		json_kuint(g, "running", ctl_juint(ping, "running"));
		json_kuint(g, "queued", ctl_juint(ping, "queued"));
	} else {
		json_kstr(g, "error", ping_err);
	}
	json_kstr(g, "binary", d->exe[0] ? d->exe : NULL);
	yajl_gen_map_close(g);
	json_key(g, "config");
	yajl_gen_map_open(g);
	json_kstr(g, "source", d->exe[0] ? d->exe : NULL);
	json_kstr(g, "config_file", d->config[0] ? d->config : NULL);
	json_kstr(g, "effective", config);
	json_kstr(g, "skipped", config ? NULL : config_why);
	yajl_gen_map_close(g);
	json_key(g, "doctor");
	doctor_json(doc, g);
	json_key(g, "jobs");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < njobs; i++) {
		yajl_gen_map_open(g);
		json_kuint(g, "id", jobs[i].id);
		json_kstr(g, "state", jobs[i].state[0] ? jobs[i].state : NULL);
		json_kstr(g, "dir", jobs[i].dir);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	return json_gen_dup(g, len);
}

/* Name the jobs: those given (ids or artifact directories), or every job
 * memsafed lists. */
static size_t collect_jobs(int argc, char **argv, yajl_val list, struct bundle_job *jobs)
{
	size_t n = 0;

	for (int i = 0; i < argc && n < BUNDLE_MAX_JOBS; i++) {
		yajl_val reply;
		struct bundle_job *j = &jobs[n++];
		ctl_job_ref("bundle", argv[i], &j->dir, &j->id, &reply);
		if (reply)
			snprintf(j->state, sizeof j->state, "%s",
				 ctl_jstr(json_get(reply, "job"), "state"));
		yajl_tree_free(reply);
		if (!j->id) {
			/* A directory without a job number: use its name. */
			const char *base = strrchr(j->dir, '/');
			parse_u64(base ? base + 1 : j->dir, &j->id);
		}
	}
	if (argc == 0 && list) {
		yajl_val arr = json_get(list, "jobs");
		for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len &&
		     n < BUNDLE_MAX_JOBS; i++) {
			yajl_val j = arr->u.array.values[i];
			if (!ctl_jhas_str(j, "dir"))
				continue;
			jobs[n].id = ctl_juint(j, "id");
			jobs[n].dir = strdup(ctl_jstr(j, "dir"));
			snprintf(jobs[n].state, sizeof jobs[n].state, "%s", ctl_jstr(j, "state"));
			if (jobs[n].dir)
				n++;
		}
	}
	return n;
}

int bundle_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *out = NULL;
	char abs_out[PATH_MAX], part[PATH_MAX + 8], err[1024] = "", why[1024] = "", req[64];
	char ping_err[512] = "", desc[64];
	struct bundle_job jobs[BUNDLE_MAX_JOBS];
	struct bundle b = {0};
	struct sysinfo_daemon d;
	struct doctor_report *doc = NULL;
	struct doctor_opts dopts = {0};
	_cleanup_json_ yajl_val ping = NULL, list = NULL;
	_cleanup_free_ char *config = NULL, *meta = NULL;
	const char *tmp = getenv("TMPDIR");
	size_t njobs, mlen;
	int c, r = CTL_EXIT_OK, status;

	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl bundle [JOB...] -o FILE.tar.gz [--json]\n"
			       "Make the bug-report archive: each job's artifacts (every job memsafed\n"
			       "lists when none is named; a JOB may also be an artifact directory) and\n"
			       "metadata.json (OS, kernel, CPU, RAM, GPU/APU model and driver, cgroup\n"
			       "mode, memsafed's version and effective configuration, doctor's verdicts),\n"
			       "doctor.txt and memsafed.conf.effective. tar writes the archive.\n"
			       "  -o, --output FILE  the archive, ending in .tar.gz or .tgz\n"
			       "  --json             {\"ok\", \"output\", \"jobs\": [ids], \"files\": [...]}\n"
			       "Exit: 0 written, 3/4 as for every command, 5 a file or tar failed.\n");
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	if (!out)
		ctl_die_usage("bundle", "say where to write the archive: -o FILE.tar.gz");
	{
		size_t n = strlen(out);
		if (!((n > 7 && !strcmp(out + n - 7, ".tar.gz")) || (n > 4 && !strcmp(out + n - 4, ".tgz"))))
			ctl_die_usage("bundle", "-o %s: the archive name must end in .tar.gz or .tgz",
				      out);
	}
	if (out[0] == '/') {
		snprintf(abs_out, sizeof abs_out, "%s", out);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd)) {
			ctl_errorf("bundle: cannot tell the current directory: %s", strerror(errno));
			return CTL_EXIT_LOCAL;
		}
		snprintf(abs_out, sizeof abs_out, "%s/%s", cwd, out);
	}

	ctl_simple_request(req, sizeof req, "ping", 0);
	if (ctl_request(req, -1, &ping, ping_err, sizeof ping_err) < 0)
		ping = NULL;
	if (optind == argc && ping) {
		ctl_simple_request(req, sizeof req, "list", 0);
		if (ctl_request(req, -1, &list, err, sizeof err) < 0 || !ctl_reply_ok(list)) {
			if (list)
				r = ctl_print_error(list, "bundle: list");
			else
				ctl_errorf("bundle: %s", err);
			return list ? r : CTL_EXIT_UNREACHABLE;
		}
	}
	memset(jobs, 0, sizeof jobs);
	njobs = collect_jobs(argc - optind, argv + optind, list, jobs);

	/* Stage everything in a private directory, then let tar pack it. */
	snprintf(b.staging, sizeof b.staging, "%s/memsafe-bundle.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(b.staging)) {
		ctl_errorf("bundle: cannot make a staging directory in %s: %s",
			   tmp && *tmp ? tmp : "/tmp", strerror(errno));
		return CTL_EXIT_LOCAL;
	}
	{
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(b.top, sizeof b.top, "memsafe-bundle-%Y%m%dT%H%M%SZ", &tm);
	}
	for (size_t i = 0; i < njobs; i++) {
		char dst[PATH_MAX], *names[64] = {0};
		int n;

		snprintf(dst, sizeof dst, "%s/%s/jobs/%" PRIu64, b.staging, b.top, jobs[i].id);
		n = artifact_copy_dir(jobs[i].dir, dst, names, ARRAY_SIZE(names), err, sizeof err);
		if (n < 0) {
			ctl_errorf("bundle: %s", err);
			r = CTL_EXIT_LOCAL;
			goto out;
		}
		for (int k = 0; k < n && k < (int)ARRAY_SIZE(names); k++) {
			if (names[k])
				add_file(&b, "%s/jobs/%" PRIu64 "/%s", b.top, jobs[i].id, names[k]);
			free(names[k]);
		}
	}

	doc = malloc(sizeof *doc);
	if (!doc) {
		r = CTL_EXIT_LOCAL;
		goto out;
	}
	doctor_run(&dopts, doc);
	{
		char *text = NULL;
		size_t tlen = 0;
		FILE *f = open_memstream(&text, &tlen);
		if (f) {
			doctor_print(doc, f);
			fclose(f);
		}
		if (!text || write_member(&b, "doctor.txt", text, tlen, err, sizeof err) < 0) {
			free(text);
			ctl_errorf("bundle: %s", err[0] ? err : "out of memory");
			r = CTL_EXIT_LOCAL;
			goto out;
		}
		free(text);
	}
	sysinfo_daemon_find(ping && ctl_reply_ok(ping) ? (pid_t)ctl_juint(ping, "pid") : 0, &d);
	config = sysinfo_check_config(&d, why, sizeof why);
	if (config && write_member(&b, "memsafed.conf.effective", config, strlen(config), err,
				   sizeof err) < 0) {
		ctl_errorf("bundle: %s", err);
		r = CTL_EXIT_LOCAL;
		goto out;
	}
	meta = metadata(jobs, njobs, ping, ping_err, &d, config, why, doc, &mlen);
	if (!meta || write_member(&b, "metadata.json", meta, mlen, err, sizeof err) < 0) {
		ctl_errorf("bundle: %s", err[0] ? err : "out of memory");
		r = CTL_EXIT_LOCAL;
		goto out;
	}

	/* tar writes a .part file next to the output; rename makes it whole. */
	snprintf(part, sizeof part, "%s.part", abs_out);
	{
		char *targv[] = { "tar", "-czf", part, "-C", b.staging, b.top, NULL };
		int e = run_capture(targv, NULL, 0, 120000, &status, err, sizeof err);
		if (e < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			if (e >= 0)
				run_describe(status, desc, sizeof desc);
			ctl_errorf("bundle: tar could not write %s (%s)%s%s", out,
				   e < 0 ? strerror(-e) : desc, err[0] ? ": " : "", err);
			unlink(part);
			r = CTL_EXIT_LOCAL;
			goto out;
		}
	}
	if (rename(part, abs_out) < 0) {
		ctl_errorf("bundle: cannot rename %s to %s: %s", part, abs_out, strerror(errno));
		unlink(part);
		r = CTL_EXIT_LOCAL;
		goto out;
	}

	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();
		yajl_gen_map_open(g);
		json_kbool(g, "ok", true);
		json_kstr(g, "output", out);
		json_kstr(g, "top", b.top);
		json_key(g, "jobs");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < njobs; i++)
			yajl_gen_integer(g, (long long)jobs[i].id);
		yajl_gen_array_close(g);
		json_key(g, "files");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < b.nfiles; i++)
			json_str(g, b.files[i]);
		yajl_gen_array_close(g);
		json_kstr(g, "config_skipped", config ? NULL : why);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
	} else {
		printf("wrote %s: %zu job%s, %zu files under %s/\n", out, njobs,
		       njobs == 1 ? "" : "s", b.nfiles, b.top);
		for (size_t i = 0; i < b.nfiles; i++)
			printf("  %s\n", b.files[i]);
		if (!config)
			printf("  (no memsafed.conf.effective: %s)\n", why);
		if (!ping || !ctl_reply_ok(ping))
			printf("  (memsafed was not reachable: %s)\n", ping_err);
	}
out:
	if (b.staging[0])
		artifact_rm_rf(b.staging);
	for (size_t i = 0; i < b.nfiles; i++)
		free(b.files[i]);
	for (size_t i = 0; i < njobs; i++)
		free(jobs[i].dir);
	free(doc);
	return r;
}
