/* memsafectl logs: a job's journal lines. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "json.h"
#include "logs.h"

static int cat_artifact(const char *dir, const char *name)
{
	char path[PATH_MAX], buf[65536];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			ctl_errorf("logs: %s has no %s yet (it is written when the job starts "
				   "or ends; see `memsafectl logs` for what there is)", dir, name);
		else
			ctl_errorf("logs: cannot read %s: %s", path, strerror(errno));
		return CTL_EXIT_LOCAL;
	}
	while ((n = read_full(fd, buf, sizeof buf)) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return CTL_EXIT_LOCAL;
	if (n < 0) {
		ctl_errorf("logs: cannot read %s: %s", path, strerror((int)-n));
		return CTL_EXIT_LOCAL;
	}
	return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_LOCAL;
}

static bool is_artifact(const char *name)
{
	for (size_t i = 0; i < CTL_N_ARTIFACTS; i++)
		if (strcmp(name, ctl_artifacts[i]) == 0)
			return true;
	return false;
}

/* Regular files in dir that are not one of the artifacts (memsafed's
 * job.json, files a later version adds): name, or NULL at the end. */
static const char *next_other(DIR *d)
{
	struct dirent *de;
	struct stat st;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && !is_artifact(de->d_name) &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			return de->d_name;
	return NULL;
}

int logs_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cat", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *cat = NULL;
	_cleanup_free_ char *dir = NULL;
	_cleanup_json_ yajl_val reply = NULL;
	uint64_t id;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': cat = optarg; break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl logs JOB [--cat NAME] [--json]\n"
			       "List a job's artifact files with their paths and sizes. JOB is a job id\n"
			       "or an artifact directory (such as one written by repro).\n"
			       "  -c, --cat NAME  print one artifact as it is: summary.json,\n"
			       "                  memory_log.csv, ingest_manifest.json,\n"
			       "                  container_manifest.json or dmesg_excerpt.txt\n"
			       "  --json          {\"id\": JOB, \"state\": ..., \"dir\": ..., \"artifacts\":\n"
			       "                  [{\"name\", \"path\", \"present\", \"size_bytes\"}],\n"
			       "                  \"other_files\": [path...]}\n"
			       "Exit: 0, 2 usage, 3/4 as for every command, 5 the file for --cat is\n"
			       "missing or unreadable.\n");
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	if (optind != argc - 1)
		ctl_die_usage("logs", "name one JOB");
	if (cat) {
		bool known = false;
		for (size_t i = 0; i < CTL_N_ARTIFACTS; i++)
			known |= strcmp(cat, ctl_artifacts[i]) == 0;
		if (!known)
			ctl_die_usage("logs", "--cat takes one of summary.json, memory_log.csv, "
				      "ingest_manifest.json, container_manifest.json, "
				      "dmesg_excerpt.txt; not '%s'", cat);
		if (ctl_json)
			ctl_die_usage("logs", "--cat prints the file as it is; leave out --json");
	}
	ctl_job_ref("logs", argv[optind], &dir, &id, &reply);
	if (cat)
		return cat_artifact(dir, cat);

	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();

		yajl_gen_map_open(g);
		json_kuint(g, "id", id);
		json_kstr(g, "state", reply ? ctl_jstr(json_get(reply, "job"), "state") : NULL);
		json_kstr(g, "dir", dir);
		json_key(g, "artifacts");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < CTL_N_ARTIFACTS; i++) {
			char path[PATH_MAX];
			struct stat st;
			bool present;

			snprintf(path, sizeof path, "%s/%s", dir, ctl_artifacts[i]);
			present = stat(path, &st) == 0 && S_ISREG(st.st_mode);
			yajl_gen_map_open(g);
			json_kstr(g, "name", ctl_artifacts[i]);
			json_kstr(g, "path", path);
			json_kbool(g, "present", present);
			if (present)
				json_kuint(g, "size_bytes", (uint64_t)st.st_size);
			else
				json_knull(g, "size_bytes");
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		json_key(g, "other_files");
		yajl_gen_array_open(g);
		{
			DIR *d = opendir(dir);
			for (const char *n; (n = next_other(d));) {
				char path[PATH_MAX];
				snprintf(path, sizeof path, "%s/%s", dir, n);
				json_str(g, path);
			}
			if (d)
				closedir(d);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		ctl_gen_print(g);
		return CTL_EXIT_OK;
	}
	if (reply)
		printf("job %" PRIu64 " (%s): %s\n", id, ctl_jtext(json_get(reply, "job"), "state"),
		       ctl_text(dir));
	else
		printf("job %" PRIu64 ": %s\n", id, ctl_text(dir));
	for (size_t i = 0; i < CTL_N_ARTIFACTS; i++) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof path, "%s/%s", dir, ctl_artifacts[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			printf("  %-24s %9lld bytes  %s\n", ctl_artifacts[i], (long long)st.st_size, path);
		else
			printf("  %-24s %9s        %s (not written yet)\n", ctl_artifacts[i], "-", path);
	}
	{
		DIR *d = opendir(dir);
		for (const char *n; (n = next_other(d));) {
			char path[PATH_MAX];
			struct stat st;
			snprintf(path, sizeof path, "%s/%s", dir, n);
			if (stat(path, &st) == 0)
				printf("  %-24s %9lld bytes  %s\n", n, (long long)st.st_size, path);
		}
		if (d)
			closedir(d);
	}
	return CTL_EXIT_OK;
}
