#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "workercheck.h"

/* The account memsafed's sysusers.d entry creates. */
#define WORKER_USER_DEFAULT "memsafe-worker"

static int problem(struct workercheck *ret, int r, const char *fix, const char *fmt, ...)
	_printf_(4, 5);
static int problem(struct workercheck *ret, int r, const char *fix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ret->problem, sizeof ret->problem, fmt, ap);
	va_end(ap);
	snprintf(ret->fix, sizeof ret->fix, "%s", fix);
	return r;
}

int workercheck_user(const char *name, uid_t *ret_uid, gid_t *ret_gid, struct workercheck *ret)
{
	char fix[256];
	struct passwd *pw;

	if (!name || !name[0])
		return problem(ret, -EINVAL, "set worker_user in [daemon] to an unprivileged "
			       "account such as " WORKER_USER_DEFAULT, "no worker_user is configured");
	errno = 0;
	pw = getpwnam(name);
	if (!pw && errno != 0 && errno != ENOENT && errno != ESRCH && errno != EBADF &&
	    errno != EPERM) {
		/* getpwnam(3): those four mean "not found" on some NSS modules. */
		int e = errno;
		return problem(ret, -e, "check /etc/nsswitch.conf and the passwd database",
			       "looking up the worker user %s failed: %s", name, strerror(e));
	}
	if (!pw) {
		if (strcmp(name, WORKER_USER_DEFAULT) == 0)
			snprintf(fix, sizeof fix, "create it: systemd-sysusers (memsafed's "
				 "sysusers.d entry; the package and make install run it), or "
				 "useradd --system --no-create-home --shell /usr/sbin/nologin %s", name);
		else
			snprintf(fix, sizeof fix, "create it (useradd --system --no-create-home "
				 "--shell /usr/sbin/nologin %s) or set worker_user to an existing "
				 "unprivileged account", name);
		return problem(ret, -ENOENT, fix, "the worker user %s does not exist: memsafed "
			       "cannot start workers", name);
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		return problem(ret, -EPERM, "set worker_user to an unprivileged account such as "
			       WORKER_USER_DEFAULT, "worker_user %s is root (uid %u, gid %u): the "
			       "sandbox would not drop privileges", name, (unsigned)pw->pw_uid,
			       (unsigned)pw->pw_gid);
	if (ret_uid)
		*ret_uid = pw->pw_uid;
	if (ret_gid)
		*ret_gid = pw->pw_gid;
	return 0;
}

int workercheck_binary(const char *path, struct workercheck *ret)
{
	static const char reinstall[] = "reinstall memsafed (its package, or make install), "
		"or set worker in [daemon] to the memsafe-worker binary";
	char fix[384];
	struct stat st;

	if (stat(path, &st) < 0) {
		int e = errno;
		return problem(ret, -e, reinstall, "the worker binary %s %s", path,
			       e == ENOENT ? "does not exist" : strerror(e));
	}
	if (S_ISDIR(st.st_mode))
		return problem(ret, -EISDIR, reinstall, "the worker binary %s is a directory", path);
	if (!S_ISREG(st.st_mode))
		return problem(ret, -EINVAL, reinstall, "the worker binary %s is not a regular file",
			       path);
	if (!(st.st_mode & 0111) || access(path, X_OK) < 0) {
		snprintf(fix, sizeof fix, "chmod 0755 %s, or %s", path, reinstall);
		return problem(ret, -EACCES, fix, "the worker binary %s is not executable "
			       "(mode %04o)", path, (unsigned)(st.st_mode & 07777));
	}
	return 0;
}
