/* memsafectl's system facts for bundles and doctor. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "run.h"
#include "sysinfo.h"
#include "util.h"

#ifndef SBINDIR
#define SBINDIR "/usr/sbin"
#endif

/* Find an executable name in $PATH, then in sbin directories (root's
 * PATH has them, a user's often not). */
static bool find_binary(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *dirs = NULL;
	static const char *const extra[] = { SBINDIR, "/usr/sbin", "/usr/local/sbin", "/sbin" };

	if (asprintf(&dirs, "%s:%s:%s:%s:%s", path ? path : "", extra[0], extra[1], extra[2],
		     extra[3]) < 0) {
		dirs = NULL;
		return false;
	}
	for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", dir, name);
		if (access(out, X_OK) == 0)
			return true;
	}
	out[0] = '\0';
	return false;
}

void sysinfo_daemon_find(pid_t pid, struct sysinfo_daemon *d)
{
	char p[64], cmd[8192], cwd[PATH_MAX] = "", absval[2 * PATH_MAX];
	ssize_t n;
	size_t used = 0;

	memset(d, 0, sizeof *d);
	if (pid > 0) {
		snprintf(p, sizeof p, "/proc/%d/exe", (int)pid);
		n = readlink(p, d->exe, sizeof d->exe - 1);
		if (n > 0) {
			d->exe[n] = '\0';
			/* An upgraded binary shows as "PATH (deleted)": still the
			 * right one to ask about the configuration syntax. */
			char *del = strstr(d->exe, " (deleted)");
			if (del)
				*del = '\0';
			d->from_proc = access(d->exe, X_OK) == 0;
		}
		/* Relative paths in its arguments are relative to its cwd. */
		snprintf(p, sizeof p, "/proc/%d/cwd", (int)pid);
		if ((n = readlink(p, cwd, sizeof cwd - 1)) > 0)
			cwd[n] = '\0';
		else
			cwd[0] = '\0';
		snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
		if (d->from_proc && (n = read_small_file(p, cmd, sizeof cmd)) > 0) {
			/* Arguments are NUL-separated; keep those that choose
			 * the configuration. */
			for (char *a = cmd; a < cmd + n; a += strlen(a) + 1) {
				static const char *const longs[] = { "--config", "--state-dir",
								     "--socket" };
				static const char shorts[] = { 'c', 'd', 's' };
				for (size_t k = 0; k < ARRAY_SIZE(longs); k++) {
					const char *val = NULL, *next = a + strlen(a) + 1;
					size_t l = strlen(longs[k]);
					if (!strncmp(a, longs[k], l) && a[l] == '=')
						val = a + l + 1;
					else if ((!strcmp(a, longs[k]) ||
						  (a[0] == '-' && a[1] == shorts[k] && !a[2])) &&
						 next < cmd + n)
						val = next;
					if (val && val[0] != '/' && cwd[0]) {
						snprintf(absval, sizeof absval, "%s/%s", cwd, val);
						val = absval;
					}
					if (!val || d->nargs + 2 > (int)ARRAY_SIZE(d->args) - 1 ||
					    used + strlen(longs[k]) + strlen(val) + 2 > sizeof d->argbuf)
						continue;
					d->args[d->nargs++] = strcpy(d->argbuf + used, longs[k]);
					used += strlen(longs[k]) + 1;
					d->args[d->nargs++] = strcpy(d->argbuf + used, val);
					used += strlen(val) + 1;
					if (k == 0)
						snprintf(d->config, sizeof d->config, "%s", val);
				}
			}
		}
	}
	if (!d->from_proc) {
		d->nargs = 0;
		find_binary("memsafed", d->exe, sizeof d->exe);
	}
}

char *sysinfo_check_config(const struct sysinfo_daemon *d, char *why, size_t whysz)
{
	char *argv[16], err[512], desc[64];
	char *out = NULL;
	int status, r, n = 0;

	if (!d->exe[0]) {
		snprintf(why, whysz, "skipped: no memsafed binary found in $PATH or %s", SBINDIR);
		return NULL;
	}
	argv[n++] = (char *)d->exe;
	argv[n++] = (char *)"--check-config";
	for (int i = 0; i < d->nargs && n < 15; i++)
		argv[n++] = d->args[i];
	argv[n] = NULL;
	r = run_capture(argv, &out, 256 * 1024, 5000, &status, err, sizeof err);
	if (r < 0) {
		snprintf(why, whysz, "%s", err);
		return NULL;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		run_describe(status, desc, sizeof desc);
		snprintf(why, whysz, "%s --check-config failed (%s): %s", d->exe, desc, err);
		free(out);
		return NULL;
	}
	return out;
}
