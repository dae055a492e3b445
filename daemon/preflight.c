#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <sys/stat.h>

#include "log.h"
#include "preflight.h"
#include "workercheck.h"

/* admin_group = memsafe was the default before memsafe-admin existed, and
 * memsafe is the socket's group (memsafed.socket): such a configuration
 * keeps working, but the per-user view never applies to anyone. */
static void warn_admin_is_socket_group(const struct config *cfg)
{
	struct group *gr;
	struct stat st;

	if (!cfg->admin_group || !(gr = getgrnam(cfg->admin_group)) || gr->gr_gid == 0)
		return;
	if (stat(cfg->socket_path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_gid != gr->gr_gid)
		return;
	log_msg(LOG_WARNING, "admin_group %s is also the group of the socket %s: everyone who "
		"may connect sees and cancels every job; set admin_group = memsafe-admin (see "
		"memsafed.conf(5)) to give users only their own jobs", cfg->admin_group,
		cfg->socket_path);
}

static int fail(const struct workercheck *wc, int r, char **err)
{
	if (asprintf(err, "%s. Fix: %s", wc->problem, wc->fix) < 0)
		*err = NULL;
	return r;
}

int preflight_check(const struct config *cfg, char **err)
{
	struct workercheck wc;
	int r;

	if ((r = workercheck_user(cfg->worker_user, NULL, NULL, &wc)) < 0 ||
	    (r = workercheck_binary(cfg->worker_path, &wc)) < 0)
		return fail(&wc, r, err);
	warn_admin_is_socket_group(cfg);
	return 0;
}
