/* Facts about the host for manifests and bug reports: kernel, OS, CPU,
 * RAM, and GPUs (APU or discrete) with their drivers, read from /proc and
 * /sys (injectable roots for tests). */
#ifndef MEMSAFE_HOSTINFO_H
#define MEMSAFE_HOSTINFO_H

#include <yajl/yajl_gen.h>

/* Emit a JSON object describing the host. */
void hostinfo_json(yajl_gen g, const char *proc_root, const char *sys_root);

#endif
