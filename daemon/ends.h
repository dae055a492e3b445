/* The end of a job, written off the loop: what a job leaves on disk as it
 * ends (its memory log closed, the kernel log excerpt, the artifacts,
 * then job.json), and its artifacts as it starts, are written by a thread
 * of their own, so that the fsyncs
 * never hold up the event loop and the ends of jobs side by side share
 * the file system's journal commits. The manager hears back on the loop
 * once it is all on disk. */
#ifndef MEMSAFE_ENDS_H
#define MEMSAFE_ENDS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup.h"
#include "config.h"
#include "record.h"

struct ends;
struct memlog;

/* done(arg, id) is called on the loop once job id's end is on disk (or
 * failed to be: the log says so). */
int ends_new(struct event_base *base, void (*done)(void *arg, uint64_t id), void *arg,
	     struct ends **ret);
/* Wait for the ends being written, call done for each, and free. */
struct ends *ends_free(struct ends *e);
/* Write the end of a job whose record r is final. Works on a copy of r
 * (the job may be asked about, or freed, meanwhile); takes ml and dmesg
 * (dmesg_excerpt.txt's text, malloc'd, or NULL). */
void ends_write(struct ends *e, const struct job_record *r, const struct config *cfg,
		const struct cgroup_root *cg, const char *kmsg_status, struct memlog *ml,
		char *dmesg, size_t dmesg_len);
/* The artifacts and job.json of a job that just got a worker, saying
 * "running": the same off the loop, and always on disk before the job's
 * end is written (a job's writes here are done one after the other, in
 * order). */
void ends_write_start(struct ends *e, const struct job_record *r, const struct config *cfg,
		      const struct cgroup_root *cg, const char *kmsg_status);
/* Whether job id's end is still being written. */
bool ends_pending(const struct ends *e, uint64_t id);

#endif
