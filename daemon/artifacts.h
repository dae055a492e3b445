/* A job's reviewable evidence in <state_dir>/jobs/<id>/: summary.json and
 * ingest_manifest.json, each written atomically (temp, fsync, rename). */
#ifndef MEMSAFE_ARTIFACTS_H
#define MEMSAFE_ARTIFACTS_H

#include "config.h"
#include "job.h"

int artifacts_write(const struct job *job, const struct config *cfg);

#endif
