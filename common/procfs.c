/* Parsers and readers for PSI files, /proc/meminfo and statm. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "procfs.h"
#include "util.h"

static int parse_psi_line(const char *p, struct psi_line *l)
{
	unsigned long long total;

	if (sscanf(p, " avg10=%lf avg60=%lf avg300=%lf total=%llu", &l->avg10, &l->avg60,
		   &l->avg300, &total) != 4)
		return -EINVAL;
	l->total = total;
	return 0;
}

/* The line of text that starts with word, or NULL. */
static const char *line_starting(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, word, n) == 0)
			return p;
	return NULL;
}

static const struct psi_line unknown = { -1, -1, -1, 0 };

int procfs_parse_psi(const char *text, struct psi_line *some, struct psi_line *full)
{
	const char *s = line_starting(text, "some "), *f = line_starting(text, "full ");

	/* "full" is missing on kernels before 5.13 for the system file of
	 * some resources; a missing line stays -1. */
	*some = *full = unknown;
	if (f && parse_psi_line(f + 4, full) < 0)
		*full = unknown;
	if (!s || parse_psi_line(s + 4, some) < 0) {
		*some = unknown;
		return -EINVAL;
	}
	return 0;
}

int procfs_parse_meminfo(const char *text, const char *key, uint64_t *ret)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		unsigned long long kb;
		if (strncmp(p, key, klen) == 0 && p[klen] == ':' &&
		    sscanf(p + klen + 1, " %llu", &kb) == 1) {
			*ret = (uint64_t)kb * 1024;
			return 0;
		}
	}
	return -ENOENT;
}

int procfs_parse_statm(const char *text, uint64_t *vms, uint64_t *rss)
{
	static long page;
	unsigned long long size, resident;

	if (!page)
		page = sysconf(_SC_PAGESIZE);
	if (sscanf(text, "%llu %llu", &size, &resident) != 2)
		return -EINVAL;
	*vms = (uint64_t)size * (uint64_t)page;
	*rss = (uint64_t)resident * (uint64_t)page;
	return 0;
}

int procfs_read_psi(int dirfd, const char *name, struct psi_line *some, struct psi_line *full)
{
	char buf[512];
	ssize_t r = read_small_fileat(dirfd, name, buf, sizeof buf);

	if (r < 0) {
		*some = *full = unknown;
		return (int)r;
	}
	return procfs_parse_psi(buf, some, full);
}

int procfs_read_meminfo(const char *const *keys, uint64_t *ret, unsigned n)
{
	char buf[8192];
	ssize_t r = read_small_file("/proc/meminfo", buf, sizeof buf);

	if (r < 0)
		return (int)r;
	for (unsigned i = 0; i < n; i++)
		if (procfs_parse_meminfo(buf, keys[i], &ret[i]) < 0)
			ret[i] = 0;
	return 0;
}

int procfs_read_statm(pid_t pid, uint64_t *vms, uint64_t *rss)
{
	char path[64], buf[256];
	ssize_t r;

	if (pid)
		snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	else
		snprintf(path, sizeof path, "/proc/self/statm");
	if ((r = read_small_file(path, buf, sizeof buf)) < 0)
		return (int)r;
	return procfs_parse_statm(buf, vms, rss);
}

int procfs_parse_cgroup(const char *text, char **ret_v2, char **ret_memory_v1,
		      char **ret_pids_v1)
{
	char *v2 = NULL, *mem = NULL, *pids = NULL;
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *c1 = memchr(line, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;

		if (c2) {
			size_t clen = (size_t)(c2 - c1 - 1);
			char *path = strndup(c2 + 1, len - (size_t)(c2 + 1 - line));
			char ctl[256];

			if (!path)
				goto oom;
			snprintf(ctl, sizeof ctl, ",%.*s,", (int)MIN(clen, 250), c1 + 1);
			if (strncmp(line, "0::", 3) == 0 && !v2) {
				v2 = path;
			} else if (strstr(ctl, ",memory,") && !mem) {
				mem = path;
			} else if (strstr(ctl, ",pids,") && !pids) {
				pids = path;
			} else {
				free(path);
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!v2 && !mem) {
		free(pids);
		return -ENOENT;
	}
	*ret_v2 = v2;
	*ret_memory_v1 = mem;
	*ret_pids_v1 = pids;
	return 0;
oom:
	free(v2);
	free(mem);
	free(pids);
	return -ENOMEM;
}

void procfs_psi_spec(char *buf, size_t size, uint64_t threshold_us, uint64_t window_us)
{
	snprintf(buf, size, "some %llu %llu", (unsigned long long)threshold_us,
		 (unsigned long long)window_us);
}

int procfs_psi_trigger(int dirfd, const char *name, uint64_t threshold_us, uint64_t window_us,
		       int *ret_fd, bool *ret_opened)
{
	char spec[64];
	int fd, r;

	*ret_opened = false;
	fd = openat(dirfd, name, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_opened = true;
	/* The kernel wants the terminating NUL too. */
	procfs_psi_spec(spec, sizeof spec, threshold_us, window_us);
	if (write(fd, spec, strlen(spec) + 1) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}
