/* Facts about the host for manifests, bug reports and doctor: OS,
 * kernel, CPU, RAM, the cgroup layout, and GPUs (APU or discrete) with
 * their drivers and, where pci.ids is installed, their model names. */
#ifndef MEMSAFE_HOSTINFO_H
#define MEMSAFE_HOSTINFO_H

#include <yajl/yajl_gen.h>

enum hostinfo_cgroup_mode {
	HOSTINFO_CGROUP_UNIFIED,  /* cgroup v2 at /sys/fs/cgroup */
	HOSTINFO_CGROUP_HYBRID,   /* v1 controllers, v2 at /sys/fs/cgroup/unified */
	HOSTINFO_CGROUP_LEGACY,   /* v1 only */
	HOSTINFO_CGROUP_NONE,     /* no cgroup filesystem found */
};

/* statfs(2) on /sys/fs/cgroup and /sys/fs/cgroup/unified. */
enum hostinfo_cgroup_mode hostinfo_cgroup_mode(void);
const char *hostinfo_cgroup_mode_name(enum hostinfo_cgroup_mode m);

/* A JSON object: os, kernel, kernel_version, machine, hostname, cpu,
 * cpus, mem_total_kb, mem_available_kb, swap_total_kb, cgroup_mode, gpus
 * [{card, driver, driver_version, vendor, device, product_name,
 * vendor_name, model (from pci.ids when installed), pci_id}]. */
void hostinfo_json(yajl_gen g);

#endif
