/* A job's reviewable evidence in <state_dir>/jobs/<id>/: summary.json,
 * ingest_manifest.json and container_manifest.json, each written
 * atomically (temp, fsync, rename), at start, after every batch and at
 * the end, so a daemon killed at any moment leaves parseable files.
 * (memory_log.csv and dmesg_excerpt.txt are written by the job.) They see
 * the job record only. */
#ifndef MEMSAFE_ARTIFACTS_H
#define MEMSAFE_ARTIFACTS_H

#include "config.h"
#include "cgroup.h"
#include "record.h"

int artifacts_write(const struct job_record *r, const struct config *cfg,
		    const struct cgroup_root *cg, const char *kmsg_status);
/* Only what changes while a job runs: summary.json, ingest_manifest.json. */
int artifacts_write_progress(const struct job_record *r, const struct config *cfg);

/* summary.json alone (evidence that comes after the end: GPU release). */
int artifacts_write_summary(const struct job_record *r, const struct config *cfg);

#endif
