/* Memory sampling: the system figures read once per tick (MemAvailable,
 * memory PSI) and the per-job ones (worker RSS/VMS, cgroup memory), and the
 * job's memory_log.csv, written through a buffer that is flushed at least
 * once a second and at job end. */
#ifndef MEMSAFE_SAMPLER_H
#define MEMSAFE_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sys_sample {
	uint64_t mem_available;   /* bytes */
	uint64_t mem_total;       /* bytes */
	double psi_some_avg10, psi_full_avg10; /* -1 when unreadable */
	bool has_gtt;             /* the host reports GTT (amdgpu mem_info_gtt_*) */
	uint64_t gtt_used, gtt_total, vram_used; /* bytes */
};

/* MemAvailable, MemTotal and the system's memory PSI, now. */
int sampler_read_system(struct sys_sample *ret);

/* memory_log.csv of one job. */
struct memlog;
struct memlog_row {
	uint64_t t_ms;
	uint64_t rss, vms, cgroup_current, anon, file; /* bytes */
	double psi_some_avg10, psi_full_avg10;       /* job's; -1 unknown */
	uint64_t mem_available;
	unsigned page;
	uint64_t batch_id;
	double sys_psi_some_avg10;
	uint64_t gpu, gpu_host, gpu_dev;  /* the job's GPU memory (gpu.h), bytes */
	bool gpu_partial;                 /* some fdinfo unreadable: a floor */
	bool has_gtt;                     /* host_gtt_used is known */
	uint64_t host_gtt_used;
};
#define MEMLOG_HEADER "t_ms,rss_mb,vms_mb,cgroup_current_mb,anon_mb,file_mb," \
	"psi_some_avg10,psi_full_avg10,mem_available_mb,page,batch_id,sys_psi_some_avg10," \
	"gpu_mb,gpu_host_mb,gpu_dev_mb,host_gtt_used_mb,gpu_partial\n"

/* Open dir/memory_log.csv, anew or (a resumed job) appending. */
int memlog_open(const char *dir, bool append, uid_t uid, gid_t gid, struct memlog **ret);
/* Append a row to the buffer; flushes when a second has passed. */
int memlog_add(struct memlog *ml, const struct memlog_row *row, uint64_t now_mono_ms);
/* Write the buffer out (whole lines only) and optionally fsync. */
int memlog_flush(struct memlog *ml, bool sync);
struct memlog *memlog_close(struct memlog *ml);
uint64_t memlog_rows(const struct memlog *ml);

#endif
