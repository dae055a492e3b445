/* Whether memsafed can start workers at all: the worker user and the
 * worker binary. memsafed refuses to start (and a reload keeps the old
 * configuration) on a problem found here; `memsafectl doctor` prints the
 * same sentences. Nothing here logs. */
#ifndef MEMSAFE_WORKERCHECK_H
#define MEMSAFE_WORKERCHECK_H

#include <sys/types.h>

/* What is wrong and what to do about it, each one sentence without a
 * final period. */
struct workercheck {
	char problem[384];
	char fix[384];
};

/* 0 when name is an existing account other than root (its ids in
 * *ret_uid and *ret_gid, either may be NULL). Otherwise a negative errno
 * (-ENOENT: no such user, -EPERM: uid or primary group 0, or the errno of
 * the lookup) and *ret explains; the ids are left untouched. */
int workercheck_user(const char *name, uid_t *ret_uid, gid_t *ret_gid, struct workercheck *ret);

/* 0 when path is an executable regular file. Otherwise a negative errno
 * (-ENOENT, -EISDIR, -EINVAL: not a regular file, -EACCES: no execute
 * permission, or stat's) and *ret explains. */
int workercheck_binary(const char *path, struct workercheck *ret);

#endif
