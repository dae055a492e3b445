/* The host's GPU memory pools: amdgpu mem_info_*, GPUActive, dmem.capacity. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "gpuinfo.h"
#include "json.h"
#include "procfs.h"
#include "util.h"

static bool read_u64(const char *dir, const char *name, uint64_t *ret)
{
	char path[PATH_MAX], buf[64];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (read_small_file(path, buf, sizeof buf) <= 0)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	return parse_u64(buf, ret) == 0;
}

void gpuinfo_read_card(const char *sys_root, const char *name, struct gpuinfo_card *ret)
{
	char dir[PATH_MAX];
	struct gpuinfo_card c = { 0 };

	snprintf(c.name, sizeof c.name, "%s", name);
	snprintf(dir, sizeof dir, "%s/class/drm/%s/device", sys_root, name);
	c.has_gtt = read_u64(dir, "mem_info_gtt_total", &c.gtt_total) &&
		    read_u64(dir, "mem_info_gtt_used", &c.gtt_used);
	c.has_vram = read_u64(dir, "mem_info_vram_total", &c.vram_total) &&
		     read_u64(dir, "mem_info_vram_used", &c.vram_used);
	c.has_vis_vram = read_u64(dir, "mem_info_vis_vram_total", &c.vis_vram_total) &&
			 read_u64(dir, "mem_info_vis_vram_used", &c.vis_vram_used);
	*ret = c;
}

/* cardN, not cardN-CONNECTOR. */
static bool is_card(const char *name)
{
	return strncmp(name, "card", 4) == 0 && name[4] && !strchr(name, '-');
}

/* Call fn for each DRM card of sys_root, in readdir order. */
static void each_card(const char *sys_root, void (*fn)(const struct gpuinfo_card *c, void *arg),
		      void *arg)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof path, "%s/class/drm", sys_root);
	if (!(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		struct gpuinfo_card c;

		if (!is_card(de->d_name))
			continue;
		gpuinfo_read_card(sys_root, de->d_name, &c);
		fn(&c, arg);
	}
	closedir(d);
}

static void add_pools(const struct gpuinfo_card *c, void *arg)
{
	struct gpuinfo_host *h = arg;

	h->cards++;
	if (c->has_gtt) {
		h->has_gtt = true;
		h->gtt_total += c->gtt_total;
		h->gtt_used += c->gtt_used;
	}
	if (c->has_vram) {
		h->has_vram = true;
		h->vram_total += c->vram_total;
		h->vram_used += c->vram_used;
	}
}

void gpuinfo_read_pools(const char *sys_root, struct gpuinfo_host *ret)
{
	struct gpuinfo_host h = { 0 };

	each_card(sys_root, add_pools, &h);
	*ret = h;
}

void gpuinfo_read(const char *sys_root, const char *proc_root, struct gpuinfo_host *ret)
{
	struct gpuinfo_host h;
	char path[PATH_MAX], *buf;

	gpuinfo_read_pools(sys_root, &h);
	snprintf(path, sizeof path, "%s/meminfo", proc_root);
	if ((buf = malloc(16384)) && read_small_file(path, buf, 16384) > 0 &&
	    procfs_parse_meminfo(buf, "GPUActive", &h.gpu_active) == 0) {
		h.has_gpu_meminfo = true;
		procfs_parse_meminfo(buf, "GPUReclaim", &h.gpu_reclaim);
	}
	free(buf);
	*ret = h;
}

uint64_t gpuinfo_gtt_free(const struct gpuinfo_host *h)
{
	return h->has_gtt && h->gtt_total > h->gtt_used ? h->gtt_total - h->gtt_used : 0;
}

static void kpool(yajl_gen g, const char *key, bool has, uint64_t v)
{
	if (has)
		json_kuint(g, key, v);
	else
		json_knull(g, key);
}

static void card_json(const struct gpuinfo_card *c, void *arg)
{
	yajl_gen g = arg;

	yajl_gen_map_open(g);
	json_kstr(g, "card", c->name);
	kpool(g, "gtt_total", c->has_gtt, c->gtt_total);
	kpool(g, "gtt_used", c->has_gtt, c->gtt_used);
	kpool(g, "vram_total", c->has_vram, c->vram_total);
	kpool(g, "vram_used", c->has_vram, c->vram_used);
	kpool(g, "vis_vram_total", c->has_vis_vram, c->vis_vram_total);
	kpool(g, "vis_vram_used", c->has_vis_vram, c->vis_vram_used);
	yajl_gen_map_close(g);
}

void gpuinfo_json(yajl_gen g, const char *sys_root, const char *proc_root,
		  const char *cgroup_root)
{
	struct gpuinfo_host h;
	char path[PATH_MAX], buf[4096];

	yajl_gen_map_open(g);
	json_key(g, "cards");
	yajl_gen_array_open(g);
	each_card(sys_root, card_json, g);
	yajl_gen_array_close(g);
	gpuinfo_read(sys_root, proc_root, &h);
	kpool(g, "gpu_active", h.has_gpu_meminfo, h.gpu_active);
	kpool(g, "gpu_reclaim", h.has_gpu_meminfo, h.gpu_reclaim);
	json_key(g, "dmem_capacity");
	snprintf(path, sizeof path, "%s/dmem.capacity", cgroup_root);
	if (read_small_file(path, buf, sizeof buf) >= 0) {
		yajl_gen_array_open(g);
		for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			char name[128];
			unsigned long long v;

			if (sscanf(l, "%127s %llu", name, &v) != 2)
				continue;
			yajl_gen_map_open(g);
			json_kstr(g, "region", name);
			json_kuint(g, "bytes", v);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
	} else {
		yajl_gen_null(g);
	}
	yajl_gen_map_close(g);
}
