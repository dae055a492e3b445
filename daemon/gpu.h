/* GPU memory per job, from DRM fdinfo (Documentation/gpu/drm-usage-stats.rst):
 * every process in the job's cgroup, every fd that is a DRM device (char
 * major 226, accel 261), /proc/PID/fdinfo/FD parsed, clients counted once
 * by (device, drm-client-id), each region's resident bytes classified as
 * host-backed (system RAM the memory cgroup is not charged for: amdgpu
 * gtt/cpu, xe system/gtt), device memory (vram*, local*, stolen*), or
 * already charged to the memory cgroup (shmem-backed: i915 system*, the
 * core helper's "memory"). Also the job's dmem.current and the dmem.max
 * backstop. The parsers are pure; the readers take injectable roots. */
#ifndef MEMSAFE_GPU_H
#define MEMSAFE_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define GPU_DRM_MAJOR 226     /* DRM_MAJOR, include/drm/drm_ioctl.h */
#define GPU_ACCEL_MAJOR 261   /* ACCEL_MAJOR */

enum gpu_region_class {
	GPU_REGION_IGNORED,   /* on-chip or MMIO (amdgpu gds, gws, oa, doorbell) */
	GPU_REGION_HOST,      /* system RAM not charged to the memory cgroup */
	GPU_REGION_DEVICE,    /* VRAM, local memory, the APU carve-out, stolen */
	GPU_REGION_MEMCG,     /* system RAM the memory cgroup already charges */
};

/* Which key gave a region's resident figure. */
enum gpu_key_source { GPU_KEY_RESIDENT, GPU_KEY_MEMORY, GPU_KEY_TOTAL };

#define GPU_REGIONS_MAX 16
struct gpu_region {
	char name[32];
	uint64_t resident, total, shared;  /* bytes */
	uint64_t legacy;                   /* drm-memory-R (amdgpu) */
	enum gpu_key_source source;
	bool has_resident, has_memory, has_total;
};

/* One DRM client as its fdinfo describes it. */
struct gpu_client {
	char driver[32];          /* drm-driver */
	char pdev[32];            /* drm-pdev, or "" */
	uint64_t client_id;       /* drm-client-id */
	bool has_client_id;
	size_t n_regions;
	struct gpu_region regions[GPU_REGIONS_MAX];
	unsigned bad_values;      /* memory keys whose value could not be parsed */
};

/* A size as drm_fdinfo_print_size() prints it: bare bytes, "N KiB" or
 * "N MiB" (GiB accepted too). 0 or -EINVAL. */
int gpu_parse_size(const char *s, uint64_t *ret);
/* Parse one fdinfo text. -ENOENT when it has no drm-driver key (not a DRM
 * client, or a driver that prints nothing: vgem, virtio-gpu, NVIDIA). */
int gpu_parse_fdinfo(const char *text, struct gpu_client *ret);
enum gpu_region_class gpu_classify(const char *driver, const char *region);
const char *gpu_region_class_name(enum gpu_region_class c);

/* The job's GPU memory at one sample. */
struct gpu_sample {
	uint64_t total;     /* every counted region (host + dev + memcg), bytes */
	uint64_t host;      /* host-backed, not in memory.current */
	uint64_t dev;       /* device memory */
	uint64_t memcg;     /* GPU buffers memory.current already holds */
	uint64_t shared;    /* drm-shared-*: counted in every client holding them */
	unsigned pids, drm_fds, clients, dup_fds;
	unsigned errors;    /* fdinfo files that could not be read or parsed */
	bool partial;       /* some fdinfo could not be read: figures are a floor */
};

/* Where the readers look. is_drm says whether an fd's target (stat
 * followed) is a DRM device and gives its minor for the client key. */
struct gpu_env {
	const char *proc_root;    /* "/proc" */
	const char *sys_root;     /* "/sys" */
	bool (*is_drm)(const struct stat *st, unsigned *ret_minor);
};
extern const struct gpu_env gpu_env_host;
/* The daemon's: gpu_env_host, or with MEMSAFED_GPU_PROC_ROOT and
 * MEMSAFED_GPU_SYS_ROOT in its environment (which only whoever starts it
 * controls) those roots: tests/integration/gpu.test fakes a GPU there. */
const struct gpu_env *gpu_env_daemon(void);
/* The daemon's is_drm: a character device of major 226 or 261. */
bool gpu_is_drm_chardev(const struct stat *st, unsigned *ret_minor);

/* Sample every process of the cgroup at cgroup_dir (and its children):
 * 0, or -errno when cgroup.procs cannot be read. */
int gpu_sample_job(const struct gpu_env *env, const char *cgroup_dir, struct gpu_sample *ret);

/* dmem (6.14+): the sum of the job's dmem.current, bytes; -ENOENT where
 * the job cgroup has no dmem files. */
int gpu_dmem_current(const char *cgroup_dir, uint64_t *ret);
/* Parse "region bytes" lines (dmem.current, dmem.capacity): the sum of
 * the values of regions whose name ends in a VRAM name (vram*, vidmem). */
uint64_t gpu_dmem_parse_sum(const char *text);
/* Where the job cgroup has dmem.max, write limit for every VRAM region
 * that dmem.capacity at cgroup_root lists. Returns the number of regions
 * set, -ENOENT without dmem, or -errno. */
int gpu_dmem_set_max(const char *cgroup_root, const char *cgroup_dir, uint64_t limit);

/* Whether the host has a DRM or accel device at all (sys_root/class/drm,
 * sys_root/class/accel). */
bool gpu_host_has_drm(const struct gpu_env *env);

#endif
