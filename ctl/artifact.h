/* Reading a job's artifact directory on the client side: copying it,
 * memory_log.csv as columns, and the kernel's OOM lines of
 * dmesg_excerpt.txt. */
#ifndef MEMSAFE_CTL_ARTIFACT_H
#define MEMSAFE_CTL_ARTIFACT_H

#include <stddef.h>
#include <stdint.h>

/* memory_log.csv by column name; a missing column or empty cell is NAN. */
struct artifact_memlog {
	size_t n;
	double *t_ms, *rss_mb, *cgroup_mb, *psi_some, *sys_psi_some, *page, *mem_available_mb;
	double *gpu_mb, *gpu_host_mb;   /* the job's GPU memory, host-backed part */
};

int artifact_memlog_load(const char *dir, struct artifact_memlog *ret, char *err, size_t errsz);
/* The newest complete row of dir/memory_log.csv: the values of the
 * columns named in cols (NAN where absent), without reading the whole
 * file. 0, or a negative errno. */
int artifact_memlog_last(const char *dir, const char *const *cols, double *vals, size_t n);
void artifact_memlog_free(struct artifact_memlog *m);

/* Copy every regular file of src into dst (created, mode 0755), each
 * through a temporary name and rename. names (may be NULL) gets up to
 * max copied file names (malloc'd). Returns the count or a negative
 * errno with err set. */
int artifact_copy_dir(const char *src, const char *dst, char **names, size_t max,
		      char *err, size_t errsz);

/* The kernel OOM lines of dir/dmesg_excerpt.txt ("oom-kill:", "Killed
 * process", "Memory cgroup out of memory"), up to max (malloc'd);
 * returns how many, or a negative errno when the file is unreadable.
 * A line that names a memory cgroup ("memcg=") is kept only when it names
 * the job's (from container_manifest.json): other daemons' jobs share
 * the kernel log and even the job-N names. */
int artifact_oom_lines(const char *dir, char **lines, size_t max);

/* Remove a directory tree (the bundle's staging area). */
int artifact_rm_rf(const char *path);

#endif
