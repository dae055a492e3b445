/* The state directory: made where missing, refused unless memsafed's own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statedir.h"
#include "util.h"

/* The daemon writes as root below state_dir: a directory someone else
 * owns or may write, or a link in its place, would let them choose where
 * (a link planted where a job directory or a chunks.jsonl goes). */
static int trusted_dir(const char *path, char **err)
{
	struct stat st;
	const char *why = NULL;

	if (lstat(path, &st) < 0)
		why = strerror(errno);
	else if (S_ISLNK(st.st_mode))
		why = "it is a symbolic link";
	else if (!S_ISDIR(st.st_mode))
		why = "it is not a directory";
	else if (st.st_uid != geteuid())
		why = "it belongs to another user";
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		why = "its group or others may write to it";
	if (!why)
		return 0;
	if (asprintf(err, "refusing the state directory: %s: %s; use a directory of memsafed's "
		     "own (for example: install -d -o root -g root -m 0755 %s)", path, why, path) < 0)
		*err = NULL;
	return -EPERM;
}

int statedir_open(const char *state_dir, char **ret_jobs, char **ret_spool, char **err)
{
	char *jobs = NULL, *spool = NULL;
	int r;

	if (asprintf(&jobs, "%s/jobs", state_dir) < 0 || asprintf(&spool, "%s/spool", state_dir) < 0) {
		free(jobs);
		return -ENOMEM;
	}
	if ((r = mkdir_p(jobs, 0755)) < 0 || (r = mkdir_p(spool, 0700)) < 0) {
		if (asprintf(err, "cannot create the state directory %s: %s", state_dir,
			     strerror(-r)) < 0)
			*err = NULL;
	} else if ((r = trusted_dir(state_dir, err)) == 0 && (r = trusted_dir(jobs, err)) == 0) {
		r = trusted_dir(spool, err);
	}
	if (r < 0) {
		free(jobs);
		free(spool);
		return r;
	}
	*ret_jobs = jobs;
	*ret_spool = spool;
	return 0;
}
