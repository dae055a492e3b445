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
