/* The host's GPU memory pools, for admission, the release check, the
 * container manifest, watch and doctor: amdgpu's mem_info_* files under
 * <sys>/class/drm/cardN/device/ (world-readable), /proc/meminfo's
 * GPUActive/GPUReclaim (7.x) and the dmem controller's dmem.capacity
 * (6.14+, VRAM only). Roots are injectable for tests. */
#ifndef MEMSAFE_GPUINFO_H
#define MEMSAFE_GPUINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

/* One card's pools (bytes); has_* says which files it has. */
struct gpuinfo_card {
	char name[16];           /* card0 */
	bool has_gtt, has_vram, has_vis_vram;
	uint64_t gtt_total, gtt_used, vram_total, vram_used, vis_vram_total, vis_vram_used;
};

struct gpuinfo_host {
	unsigned cards;          /* DRM cards seen */
	bool has_gtt, has_vram;  /* some card reports the pool */
	uint64_t gtt_total, gtt_used, vram_total, vram_used;   /* summed over cards */
	bool has_gpu_meminfo;    /* /proc/meminfo has GPUActive */
	uint64_t gpu_active, gpu_reclaim;                        /* bytes */
};

/* Read the pools of card `name` (e.g. "card0") under sys_root. */
void gpuinfo_read_card(const char *sys_root, const char *name, struct gpuinfo_card *ret);
/* Every card's pools summed, and /proc/meminfo's GPU lines. */
void gpuinfo_read(const char *sys_root, const char *proc_root, struct gpuinfo_host *ret);
/* The same without /proc/meminfo (the sample tick reads it already). */
void gpuinfo_read_pools(const char *sys_root, struct gpuinfo_host *ret);
/* GTT not yet used, or 0 without GTT figures. */
uint64_t gpuinfo_gtt_free(const struct gpuinfo_host *h);
/* JSON for container_manifest.json: {cards: [{card, gtt_total, gtt_used,
 * vram_total, vram_used, vis_vram_total, vis_vram_used}], gpu_active,
 * gpu_reclaim, dmem_capacity: [{region, bytes}] or null}. */
void gpuinfo_json(yajl_gen g, const char *sys_root, const char *proc_root,
		  const char *cgroup_root);

#endif
