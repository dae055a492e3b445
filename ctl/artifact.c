/* memsafectl: finding and reading a job's artifacts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "ctl.h"
#include "json.h"
#include "util.h"

/* ---- memory_log.csv ------------------------------------------------------ */

enum { C_T, C_RSS, C_CG, C_PSI, C_SYS_PSI, C_PAGE, C_AVAIL, C_GPU, C_GPU_HOST, C_N };
static const char *const col_names[C_N] = {
	[C_T] = "t_ms", [C_RSS] = "rss_mb", [C_CG] = "cgroup_current_mb",
	[C_PSI] = "psi_some_avg10", [C_SYS_PSI] = "sys_psi_some_avg10", [C_PAGE] = "page",
	[C_AVAIL] = "mem_available_mb", [C_GPU] = "gpu_mb", [C_GPU_HOST] = "gpu_host_mb",
};

static double **column(struct artifact_memlog *m, int c)
{
	switch (c) {
	case C_T: return &m->t_ms;
	case C_RSS: return &m->rss_mb;
	case C_CG: return &m->cgroup_mb;
	case C_PSI: return &m->psi_some;
	case C_SYS_PSI: return &m->sys_psi_some;
	case C_PAGE: return &m->page;
	case C_GPU: return &m->gpu_mb;
	case C_GPU_HOST: return &m->gpu_host_mb;
	default: return &m->mem_available_mb;
	}
}

/* The i-th comma-separated cell of line as a number, or NAN. */
static double cell_at(const char *line, int i)
{
	const char *p = line;
	char *end;
	double d;

	for (; i > 0 && p; i--)
		p = (p = strchr(p, ',')) ? p + 1 : NULL;
	if (!p || *p == ',' || *p == '\n' || !*p)
		return NAN;
	d = strtod(p, &end);
	return end == p ? NAN : d;
}

int artifact_memlog_last(const char *dir, const char *const *cols, double *vals, size_t n)
{
	char path[PATH_MAX], head[1024], tail[4096], *last, *nl;
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t len, hl;
	off_t off;

	for (size_t k = 0; k < n; k++)
		vals[k] = NAN;
	snprintf(path, sizeof path, "%s/memory_log.csv", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((hl = pread(fd, head, sizeof head - 1, 0)) <= 0)
		return hl < 0 ? -errno : -ENODATA;
	head[hl] = '\0';
	if (!(nl = strchr(head, '\n')))
		return -EINVAL;
	*nl = '\0';
	off = st.st_size > (off_t)sizeof tail - 1 ? st.st_size - (off_t)sizeof tail + 1 : 0;
	if ((len = pread(fd, tail, sizeof tail - 1, off)) <= 0)
		return len < 0 ? -errno : -ENODATA;
	tail[len] = '\0';
	/* The last complete line (a torn one has no newline yet). */
	if (len < 2 || tail[len - 1] != '\n')
		nl = strrchr(tail, '\n');
	else
		nl = &tail[len - 1];
	if (!nl)
		return -ENODATA;
	*nl = '\0';
	last = strrchr(tail, '\n');
	last = last ? last + 1 : tail;
	if (strncmp(last, "t_ms", 4) == 0)
		return -ENODATA;   /* the header only */
	{
		int i = 0;
		for (char *save = NULL, *tok = strtok_r(head, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save), i++)
			for (size_t k = 0; k < n; k++)
				if (strcmp(tok, cols[k]) == 0)
					vals[k] = cell_at(last, i);
	}
	return 0;
}

void artifact_memlog_free(struct artifact_memlog *m)
{
	for (int c = 0; c < C_N; c++) {
		free(*column(m, c));
		*column(m, c) = NULL;
	}
	m->n = 0;
}

int artifact_memlog_load(const char *dir, struct artifact_memlog *ret, char *err, size_t errsz)
{
	struct artifact_memlog m = {0};
	char path[PATH_MAX], *line = NULL;
	int map[64], ncols = 0, r = 0;
	size_t cap = 0, lcap = 0;
	ssize_t len;
	FILE *f;

	snprintf(path, sizeof path, "%s/memory_log.csv", dir);
	if (!(f = fopen(path, "re"))) {
		snprintf(err, errsz, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	if ((len = getline(&line, &lcap, f)) <= 0 || strncmp(line, "t_ms", 4) != 0) {
		snprintf(err, errsz, "%s has no memory_log.csv header", path);
		r = -EINVAL;
		goto out;
	}
	/* Columns by name: more may follow in later versions. */
	for (char *save = NULL, *tok = strtok_r(line, ",\n", &save); tok && ncols < 64;
	     tok = strtok_r(NULL, ",\n", &save)) {
		map[ncols] = -1;
		for (int c = 0; c < C_N; c++)
			if (strcmp(tok, col_names[c]) == 0)
				map[ncols] = c;
		ncols++;
	}
	while ((len = getline(&line, &lcap, f)) > 0) {
		double vals[C_N];
		const char *p = line;

		if (line[len - 1] != '\n')
			break;   /* a torn last row */
		for (int c = 0; c < C_N; c++)
			vals[c] = NAN;
		for (int i = 0; i < ncols && *p && *p != '\n'; i++) {
			size_t n = strcspn(p, ",\n");
			if (map[i] >= 0 && n > 0) {
				char cell[64], *end;
				snprintf(cell, sizeof cell, "%.*s", (int)MIN(n, 63), p);
				double d = strtod(cell, &end);
				if (end != cell)
					vals[map[i]] = d;
			}
			p += n;
			if (*p == ',')
				p++;
		}
		if (isnan(vals[C_T]))
			continue;
		if (m.n == cap) {
			cap = cap ? cap * 2 : 256;
			for (int c = 0; c < C_N; c++) {
				double *nv = realloc(*column(&m, c), cap * sizeof(double));
				if (!nv) {
					r = -ENOMEM;
					goto out;
				}
				*column(&m, c) = nv;
			}
		}
		for (int c = 0; c < C_N; c++)
			(*column(&m, c))[m.n] = vals[c];
		m.n++;
	}
	*ret = m;
	memset(&m, 0, sizeof m);
out:
	artifact_memlog_free(&m);
	free(line);
	fclose(f);
	return r;
}

/* ---- copying --------------------------------------------------------------- */

static int copy_file(int sdir, int ddir, const char *name)
{
	char tmp[NAME_MAX + 16], buf[65536];
	_cleanup_close_ int in = openat(sdir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_close_ int out = -1;
	ssize_t n;
	int r = 0;

	if (in < 0)
		return -errno;
	snprintf(tmp, sizeof tmp, ".%s.tmp", name);
	out = openat(ddir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return -errno;
	while ((n = read_full(in, buf, sizeof buf)) > 0)
		if ((r = write_full(out, buf, (size_t)n)) < 0)
			break;
	if (n < 0)
		r = (int)n;
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (r == 0 && renameat(ddir, tmp, ddir, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(ddir, tmp, 0);
	return r;
}

int artifact_copy_dir(const char *src, const char *dst, char **names, size_t max,
		      char *err, size_t errsz)
{
	DIR *d;
	struct dirent *de;
	_cleanup_close_ int ddir = -1;
	int r, count = 0;

	if ((r = mkdir_p(dst, 0755)) < 0) {
		snprintf(err, errsz, "cannot create %s: %s", dst, strerror(-r));
		return r;
	}
	ddir = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ddir < 0 || !(d = opendir(src))) {
		r = -errno;
		snprintf(err, errsz, "cannot open %s: %s", ddir < 0 ? dst : src, strerror(errno));
		return r;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if ((r = copy_file(dirfd(d), ddir, de->d_name)) < 0) {
			snprintf(err, errsz, "cannot copy %s/%s to %s: %s", src, de->d_name, dst,
				 strerror(-r));
			closedir(d);
			return r;
		}
		if (names && (size_t)count < max)
			names[count] = strdup(de->d_name);
		count++;
	}
	closedir(d);
	return count;
}

/* ---- dmesg_excerpt.txt ----------------------------------------------------- */

/* The job's memory cgroup as the kernel names it ("/a/b/memsafed-N/job-7"),
 * from container_manifest.json; "" when unknown. */
static void job_memcg(const char *dir, char *out, size_t size)
{
	static const char *const roots[] = { "/sys/fs/cgroup/memory", "/sys/fs/cgroup" };
	_cleanup_json_ yajl_val cm = NULL;
	char path[PATH_MAX], err[256];
	const char *jobs;

	out[0] = '\0';
	snprintf(path, sizeof path, "%s/container_manifest.json", dir);
	if (ctl_load_json(path, &cm, err, sizeof err) < 0 ||
	    !ctl_jhas_str(json_get(cm, "cgroup"), "jobs_path"))
		return;
	jobs = ctl_jstr(json_get(cm, "cgroup"), "jobs_path");
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
		size_t l = strlen(roots[i]);
		if (!strncmp(jobs, roots[i], l) && jobs[l] == '/') {
			snprintf(out, size, "%s/job-%" PRIu64, jobs + l, ctl_juint(cm, "job"));
			return;
		}
	}
}

int artifact_oom_lines(const char *dir, char **lines, size_t max)
{
	char path[PATH_MAX], memcg[PATH_MAX], *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	int n = 0;
	FILE *f;

	job_memcg(dir, memcg, sizeof memcg);
	snprintf(path, sizeof path, "%s/dmesg_excerpt.txt", dir);
	if (!(f = fopen(path, "re")))
		return -errno;
	while ((len = getline(&line, &lcap, f)) > 0 && (size_t)n < max) {
		if (line[0] == '#')
			continue;
		if (memcg[0] && strstr(line, "memcg=")) {
			/* "memcg=/x/job-2," or at the end of the line. */
			const char *m = strstr(line, memcg);
			char after = m ? m[strlen(memcg)] : '\0';
			if (!m || (after != ',' && after != '\n' && after != ' ' && after != '\0'))
				continue;
		}
		if (strstr(line, "oom-kill:") || strstr(line, "Killed process") ||
		    strstr(line, "Memory cgroup out of memory") || strstr(line, "invoked oom-killer")) {
			line[strcspn(line, "\n")] = '\0';
			lines[n++] = strdup(line);
		}
	}
	free(line);
	fclose(f);
	return n;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

int artifact_rm_rf(const char *path)
{
	return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}
