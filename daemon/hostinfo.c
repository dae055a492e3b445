#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hostinfo.h"
#include "json.h"
#include "util.h"

/* The value of "key" in a "key: value" or "key=value" text, unquoted. */
static bool text_value(const char *text, const char *key, char sep, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *v;
		size_t n;

		if (strncmp(p, key, klen) != 0)
			continue;
		v = p + klen;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != sep)
			continue;
		v++;
		while (*v == ' ' || *v == '"')
			v++;
		n = strcspn(v, "\n");
		while (n && (v[n - 1] == '"' || v[n - 1] == ' '))
			n--;
		snprintf(out, size, "%.*s", (int)n, v);
		return true;
	}
	return false;
}

static void gpus_json(yajl_gen g, const char *sys_root)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof dir, "%s/class/drm", sys_root);
	yajl_gen_array_open(g);
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		char p[PATH_MAX], buf[512], link[PATH_MAX], ver[64] = "";
		const char *driver = NULL;
		ssize_t n;

		/* cardN only: cardN-DP-1 and renderD* are views of the same device. */
		if (strncmp(de->d_name, "card", 4) != 0 || strchr(de->d_name, '-'))
			continue;
		yajl_gen_map_open(g);
		json_kstr(g, "card", de->d_name);
		snprintf(p, sizeof p, "%s/%s/device/driver", dir, de->d_name);
		n = readlink(p, link, sizeof link - 1);
		if (n > 0) {
			link[n] = '\0';
			driver = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
		}
		json_kstr(g, "driver", driver);
		if (driver) {
			snprintf(p, sizeof p, "%s/module/%s/version", sys_root, driver);
			if (read_small_file(p, ver, sizeof ver) > 0)
				ver[strcspn(ver, "\n")] = '\0';
		}
		json_kstr(g, "driver_version", ver[0] ? ver : NULL);
		static const char *const ids[] = { "vendor", "device", "subsystem_device" };
		for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
			snprintf(p, sizeof p, "%s/%s/device/%s", dir, de->d_name, ids[i]);
			if (read_small_file(p, buf, sizeof buf) > 0) {
				buf[strcspn(buf, "\n")] = '\0';
				json_kstr(g, ids[i], buf);
			}
		}
		/* amdgpu's memory pools: an APU's "VRAM" is carved from RAM and
		 * GTT maps system RAM, neither charged to any memcg. */
		static const char *const mem[] = { "mem_info_vram_total", "mem_info_vram_used",
						   "mem_info_gtt_total", "mem_info_gtt_used" };
		for (size_t i = 0; i < ARRAY_SIZE(mem); i++) {
			uint64_t v;
			snprintf(p, sizeof p, "%s/%s/device/%s", dir, de->d_name, mem[i]);
			if (read_small_file(p, buf, sizeof buf) > 0) {
				buf[strcspn(buf, "\n")] = '\0';
				if (parse_u64(buf, &v) == 0)
					json_kuint(g, mem[i], v);
			}
		}
		yajl_gen_map_close(g);
	}
	if (d)
		closedir(d);
	yajl_gen_array_close(g);
}

void hostinfo_json(yajl_gen g, const char *proc_root, const char *sys_root)
{
	char p[PATH_MAX], val[256];
	char *buf = malloc(65536);
	struct utsname u;

	yajl_gen_map_open(g);
	if (uname(&u) == 0) {
		json_kstr(g, "kernel", u.release);
		json_kstr(g, "kernel_version", u.version);
		json_kstr(g, "machine", u.machine);
		json_kstr(g, "hostname", u.nodename);
	}
	if (buf && read_small_file("/etc/os-release", buf, 65536) > 0 &&
	    text_value(buf, "PRETTY_NAME", '=', val, sizeof val))
		json_kstr(g, "os", val);
	snprintf(p, sizeof p, "%s/cpuinfo", proc_root);
	if (buf && read_small_file(p, buf, 65536) > 0 &&
	    text_value(buf, "model name", ':', val, sizeof val))
		json_kstr(g, "cpu", val);
	json_kint(g, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
	snprintf(p, sizeof p, "%s/meminfo", proc_root);
	if (buf && read_small_file(p, buf, 65536) > 0) {
		static const char *const keys[] = { "MemTotal", "MemAvailable", "SwapTotal" };
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			if (text_value(buf, keys[i], ':', val, sizeof val)) {
				char k[32];
				snprintf(k, sizeof k, "%s_kb", keys[i]);
				json_kuint(g, k, strtoull(val, NULL, 10));
			}
		}
	}
	json_key(g, "gpus");
	gpus_json(g, sys_root);
	yajl_gen_map_close(g);
	free(buf);
}
