/* Memory sampling: system figures per tick and each job's memory_log.csv. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gpu.h"
#include "gpuinfo.h"
#include "procfs.h"
#include "sampler.h"
#include "util.h"

#define MEMLOG_FLUSH_MS 1000

int sampler_read_system(struct sys_sample *ret)
{
	static const char *const keys[] = { "MemAvailable", "MemTotal" };
	uint64_t v[2];
	struct psi_line some, full;
	struct sys_sample s = { .psi_some_avg10 = -1, .psi_full_avg10 = -1 };
	struct gpuinfo_host gpu;
	int r;

	if ((r = procfs_read_meminfo(keys, v, 2)) < 0)
		return r;
	s.mem_available = v[0];
	s.mem_total = v[1];
	if (procfs_read_psi(AT_FDCWD, "/proc/pressure/memory", &some, &full) == 0) {
		s.psi_some_avg10 = some.avg10;
		s.psi_full_avg10 = full.avg10;
	}
	gpuinfo_read_pools(gpu_env_daemon()->sys_root, &gpu);
	s.has_gtt = gpu.has_gtt;
	s.gtt_used = gpu.gtt_used;
	s.gtt_total = gpu.gtt_total;
	s.vram_used = gpu.vram_used;
	*ret = s;
	return 0;
}

struct memlog {
	int fd;
	char *buf;
	size_t len, cap;
	uint64_t rows, last_flush_ms;
};

int memlog_open(const char *dir, bool append, uid_t uid, gid_t gid, struct memlog **ret)
{
	char path[PATH_MAX];
	struct memlog *ml = calloc(1, sizeof *ml);

	if (!ml)
		return -ENOMEM;
	snprintf(path, sizeof path, "%s/memory_log.csv", dir);
	ml->fd = open(path, O_WRONLY | O_CREAT | (append ? 0 : O_TRUNC) | O_APPEND | O_NOFOLLOW |
		      O_NONBLOCK | O_CLOEXEC, 0600);
	if (ml->fd >= 0) {
		struct stat st;
		/* Only ever a regular file (a FIFO here would block the daemon). */
		if (fstat(ml->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uid != (uid_t)-1 && fchown(ml->fd, uid, gid) < 0)) {
			close(ml->fd);
			ml->fd = -1;
			errno = EINVAL;
		}
	}
	ml->cap = 16384;
	ml->buf = malloc(ml->cap);
	if (ml->fd < 0 || !ml->buf) {
		int r = ml->fd < 0 ? -errno : -ENOMEM;
		memlog_close(ml);
		return r;
	}
	if (lseek(ml->fd, 0, SEEK_END) == 0 &&
	    write_full(ml->fd, MEMLOG_HEADER, strlen(MEMLOG_HEADER)) < 0) {
		int r = -errno;
		memlog_close(ml);
		return r;
	}
	ml->last_flush_ms = now_mono_ms();
	*ret = ml;
	return 0;
}

static void fmt_psi(char *buf, size_t size, double v)
{
	if (v < 0)
		buf[0] = '\0';
	else
		snprintf(buf, size, "%.2f", v);
}

int memlog_add(struct memlog *ml, const struct memlog_row *r, uint64_t now)
{
	char line[384], ps[16], pf[16], sys[16], gtt[24] = "";
	int n;

	fmt_psi(ps, sizeof ps, r->psi_some_avg10);
	fmt_psi(pf, sizeof pf, r->psi_full_avg10);
	fmt_psi(sys, sizeof sys, r->sys_psi_some_avg10);
	if (r->has_gtt)
		snprintf(gtt, sizeof gtt, "%.2f", r->host_gtt_used / 1048576.0);
	n = snprintf(line, sizeof line,
		     "%" PRIu64 ",%.2f,%.2f,%.2f,%.2f,%.2f,%s,%s,%.0f,%u,%" PRIu64 ",%s,"
		     "%.2f,%.2f,%.2f,%s,%d\n",
		     r->t_ms, r->rss / 1048576.0, r->vms / 1048576.0,
		     r->cgroup_current / 1048576.0, r->anon / 1048576.0, r->file / 1048576.0,
		     ps, pf, r->mem_available / 1048576.0, r->page, r->batch_id, sys,
		     r->gpu / 1048576.0, r->gpu_host / 1048576.0, r->gpu_dev / 1048576.0, gtt,
		     r->gpu_partial);
	if (n <= 0 || (size_t)n >= sizeof line)
		return -EINVAL;
	if (ml->len + (size_t)n > ml->cap) {
		int e = memlog_flush(ml, false);
		if (e < 0)
			return e;
	}
	memcpy(ml->buf + ml->len, line, (size_t)n);
	ml->len += (size_t)n;
	ml->rows++;
	if (now - ml->last_flush_ms >= MEMLOG_FLUSH_MS)
		return memlog_flush(ml, false);
	return 0;
}

int memlog_flush(struct memlog *ml, bool sync)
{
	int r = 0;

	if (!ml)
		return 0;
	if (ml->len) {
		r = write_full(ml->fd, ml->buf, ml->len);
		ml->len = 0;
	}
	if (r == 0 && sync && fsync(ml->fd) < 0)
		r = -errno;
	ml->last_flush_ms = now_mono_ms();
	return r;
}

struct memlog *memlog_close(struct memlog *ml)
{
	if (!ml)
		return NULL;
	if (ml->fd >= 0) {
		memlog_flush(ml, true);
		close(ml->fd);
	}
	free(ml->buf);
	free(ml);
	return NULL;
}

uint64_t memlog_rows(const struct memlog *ml) { return ml ? ml->rows : 0; }
