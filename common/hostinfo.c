/* Host facts for manifests and bug reports: kernel, OS, CPU, RAM, GPUs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hostinfo.h"
#include "json.h"
#include "util.h"

static long fs_type(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) < 0 ? -1 : (long)sfs.f_type;
}

enum hostinfo_cgroup_mode hostinfo_cgroup_mode(void)
{
	long t = fs_type("/sys/fs/cgroup");

	if (t == CGROUP2_SUPER_MAGIC)
		return HOSTINFO_CGROUP_UNIFIED;
	if (t != TMPFS_MAGIC)
		return HOSTINFO_CGROUP_NONE;
	if (fs_type("/sys/fs/cgroup/unified") == CGROUP2_SUPER_MAGIC)
		return HOSTINFO_CGROUP_HYBRID;
	if (fs_type("/sys/fs/cgroup/memory") == CGROUP_SUPER_MAGIC)
		return HOSTINFO_CGROUP_LEGACY;
	return HOSTINFO_CGROUP_NONE;
}

const char *hostinfo_cgroup_mode_name(enum hostinfo_cgroup_mode m)
{
	static const char *const names[] = {
		[HOSTINFO_CGROUP_UNIFIED] = "unified", [HOSTINFO_CGROUP_HYBRID] = "hybrid",
		[HOSTINFO_CGROUP_LEGACY] = "legacy", [HOSTINFO_CGROUP_NONE] = "none",
	};
	return names[m];
}

/* The value of key in "key: value" or "key=value" text, unquoted. */
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
		if (*v++ != sep)
			continue;
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

static void kfile(yajl_gen g, const char *key, const char *path)
{
	char buf[256];

	if (read_small_file(path, buf, sizeof buf) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		json_kstr(g, key, buf);
	}
}

/* Vendor and device names from the pci.ids database (pciutils, hwdata)
 * when it is installed: "Advanced Micro Devices, Inc. [AMD/ATI]",
 * "Rembrandt [Radeon 680M]". The GPU's model is what bug reports need. */
static void pci_names(unsigned vendor, unsigned device, char *vname, char *dname, size_t size)
{
	static const char *const dbs[] = { "/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids" };
	char line[512];
	bool in_vendor = false;
	FILE *f = NULL;

	vname[0] = dname[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(dbs) && !f; i++)
		f = fopen(dbs[i], "re");
	while (f && fgets(line, sizeof line, f)) {
		unsigned id;
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || !line[0])
			continue;
		if (line[0] != '\t') {
			if (in_vendor)
				break;   /* past our vendor's devices */
			if (sscanf(line, "%4x %n", &id, &n) == 1 && n && id == vendor) {
				snprintf(vname, size, "%s", line + n);
				in_vendor = true;
			}
		} else if (in_vendor && line[1] != '\t' &&
			   sscanf(line + 1, "%4x %n", &id, &n) == 1 && n && id == device) {
			snprintf(dname, size, "%s", line + 1 + n);
			break;
		}
	}
	if (f)
		fclose(f);
}

/* Every DRM card: on an APU the integrated GPU, whose memory is system
 * RAM, is the reason memsafed exists. cardN-CONNECTOR and renderD* are
 * views of the same devices. */
static void gpus_json(yajl_gen g)
{
	DIR *d = opendir("/sys/class/drm");
	struct dirent *de;

	yajl_gen_array_open(g);
	while (d && (de = readdir(d))) {
		char p[PATH_MAX], link[PATH_MAX], ver[64] = "", buf[512];
		const char *driver = NULL;
		ssize_t n;

		if (strncmp(de->d_name, "card", 4) != 0 || strchr(de->d_name, '-'))
			continue;
		yajl_gen_map_open(g);
		json_kstr(g, "card", de->d_name);
		snprintf(p, sizeof p, "/sys/class/drm/%s/device/driver", de->d_name);
		if ((n = readlink(p, link, sizeof link - 1)) > 0) {
			link[n] = '\0';
			driver = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
		}
		json_kstr(g, "driver", driver);
		if (driver) {
			snprintf(p, sizeof p, "/sys/module/%s/version", driver);
			if (read_small_file(p, ver, sizeof ver) > 0)
				ver[strcspn(ver, "\n")] = '\0';
		}
		/* In-tree drivers have no version of their own: the kernel's is. */
		json_kstr(g, "driver_version", ver[0] ? ver : NULL);
		snprintf(p, sizeof p, "/sys/class/drm/%s/device/vendor", de->d_name);
		kfile(g, "vendor", p);
		snprintf(p, sizeof p, "/sys/class/drm/%s/device/device", de->d_name);
		kfile(g, "device", p);
		snprintf(p, sizeof p, "/sys/class/drm/%s/device/product_name", de->d_name);
		kfile(g, "product_name", p);
		{
			char v[32] = "", dv[32] = "", vname[256], dname[256];
			unsigned vi, di;
			snprintf(p, sizeof p, "/sys/class/drm/%s/device/vendor", de->d_name);
			read_small_file(p, v, sizeof v);
			snprintf(p, sizeof p, "/sys/class/drm/%s/device/device", de->d_name);
			read_small_file(p, dv, sizeof dv);
			if (sscanf(v, "%x", &vi) == 1 && sscanf(dv, "%x", &di) == 1) {
				pci_names(vi, di, vname, dname, sizeof vname);
				json_kstr(g, "vendor_name", vname[0] ? vname : NULL);
				json_kstr(g, "model", dname[0] ? dname : NULL);
			}
		}
		snprintf(p, sizeof p, "/sys/class/drm/%s/device/uevent", de->d_name);
		if (read_small_file(p, buf, sizeof buf) > 0) {
			char id[64];
			if (text_value(buf, "PCI_ID", '=', id, sizeof id))
				json_kstr(g, "pci_id", id);
		}
		yajl_gen_map_close(g);
	}
	if (d)
		closedir(d);
	yajl_gen_array_close(g);
}

void hostinfo_json(yajl_gen g)
{
	_cleanup_free_ char *buf = malloc(65536);
	char val[256];
	struct utsname u;

	yajl_gen_map_open(g);
	if (buf && read_small_file("/etc/os-release", buf, 65536) > 0 &&
	    text_value(buf, "PRETTY_NAME", '=', val, sizeof val))
		json_kstr(g, "os", val);
	if (uname(&u) == 0) {
		json_kstr(g, "kernel", u.release);
		json_kstr(g, "kernel_version", u.version);
		json_kstr(g, "machine", u.machine);
		json_kstr(g, "hostname", u.nodename);
	}
	if (buf && read_small_file("/proc/cpuinfo", buf, 65536) > 0 &&
	    text_value(buf, "model name", ':', val, sizeof val))
		json_kstr(g, "cpu", val);
	json_kint(g, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
	if (buf && read_small_file("/proc/meminfo", buf, 65536) > 0) {
		static const char *const keys[][2] = {
			{ "MemTotal", "mem_total_kb" }, { "MemAvailable", "mem_available_kb" },
			{ "SwapTotal", "swap_total_kb" },
		};
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
			if (text_value(buf, keys[i][0], ':', val, sizeof val))
				json_kuint(g, keys[i][1], strtoull(val, NULL, 10));
	}
	json_kstr(g, "cgroup_mode", hostinfo_cgroup_mode_name(hostinfo_cgroup_mode()));
	json_key(g, "gpus");
	gpus_json(g);
	yajl_gen_map_close(g);
}

