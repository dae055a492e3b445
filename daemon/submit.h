/* Submission, the entry point for new jobs: the submitter's options
 * resolved against the configuration's defaults and ceilings, the per-user
 * and total limits (queued jobs, spool bytes), the job directory, and
 * spooling the passed document before the job is queued. */
#ifndef MEMSAFE_SUBMIT_H
#define MEMSAFE_SUBMIT_H

#include <stddef.h>
#include <sys/types.h>

#include "jobs.h"

struct request;

/* Start a submit (ingest: src_fd is the document, which the job then
 * owns; pressure: src_fd -1). Returns 1 when the job is queued at once,
 * 0 when it is spooling and job->submitted (set by the caller) will be
 * called when spooling ends, or a negative errno with *code and msg (src_fd
 * stays the caller's). admin: root or admin_group, who may ask for a
 * priority above 0 and are not held to max_running_per_user. */
int submit_job(struct jobs *jobs, const struct request *rq, uid_t uid, gid_t gid, bool admin,
	       int src_fd, struct job **ret, const char **code, char *msg, size_t msgsz);

/* A submitter that went away before its document was spooled has not
 * submitted it (nothing was acknowledged; a client aborts a piped upload
 * that failed half-way so): stop spooling and keep nothing. */
void submit_abandon(struct job *job);

#endif
