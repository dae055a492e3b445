/* A job's durable state: <state_dir>/jobs/<id>/job.json, replaced
 * atomically whenever the job changes in a way a restart must know
 * (queued, started, a batch flushed, retried, ended). With the spool file
 * it is all a restarted daemon needs to run a queued job or resume an
 * interrupted one after its last flushed batch. */
#ifndef MEMSAFE_STATE_H
#define MEMSAFE_STATE_H

#include "job.h"

int state_save(const struct job *job);
/* Fill job's persistent fields from dir/job.json; runtime fields are left
 * alone. -ENOENT when there is none, -EINVAL when it does not parse. */
int state_load(const char *dir, struct job *job);
/* Parse an ISO 8601 UTC stamp as written by format_iso8601 (ms). */
uint64_t state_parse_iso8601(const char *s);
/* Reload the rows of dir/ingest_manifest.json into job->batch_recs. */
int state_load_manifest(const char *dir, struct job *job);

#endif
