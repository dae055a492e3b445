/* Facts about this host and the running memsafed, for bundle and doctor:
 * OS, kernel, CPU, RAM, GPUs and their drivers (read from /proc and /sys
 * like the daemon's container_manifest.json "host"), the cgroup layout,
 * and memsafed's binary and effective configuration. */
#ifndef MEMSAFE_CTL_SYSINFO_H
#define MEMSAFE_CTL_SYSINFO_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include <yajl/yajl_gen.h>

#include "hostinfo.h"

/* The memsafed binary and the arguments that select its configuration
 * (--config, --state-dir, --socket, made absolute), taken from the
 * running daemon's /proc/PID when it can be read, else found in $PATH
 * and sbin. */
struct sysinfo_daemon {
	char exe[PATH_MAX];     /* "" when not found */
	char config[PATH_MAX];  /* its --config, "" for the default */
	char *args[8];          /* --config X ... (point into argbuf) */
	int nargs;
	char argbuf[3 * PATH_MAX];
	bool from_proc;         /* found through /proc/PID */
};
void sysinfo_daemon_find(pid_t pid, struct sysinfo_daemon *ret);
/* Output of "memsafed --check-config ARGS" (malloc'd) or NULL with why
 * set to the reason it was skipped or failed. */
char *sysinfo_check_config(const struct sysinfo_daemon *d, char *why, size_t whysz);

#endif
