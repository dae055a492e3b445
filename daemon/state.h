/* A job's durable state: <state_dir>/jobs/<id>/job.json, replaced
 * atomically whenever the job changes in a way a restart must know
 * (queued, started, a batch flushed, retried, ended). With the spool file
 * it is all a restarted daemon needs to run a queued job or resume an
 * interrupted one after its last flushed batch. One table of fields drives
 * both save and load, so the two cannot drift. */
#ifndef MEMSAFE_STATE_H
#define MEMSAFE_STATE_H

#include "record.h"

/* The daemon's own copy of ingest_manifest.json (root's, 0600), which
 * artifacts.c writes beside the submitter's and a restart reads back. */
#define STATE_MANIFEST "ingest_manifest.state.json"

int state_save(const struct job_record *r);
/* Fill r's persistent fields from dir/job.json; the rest is left alone.
 * -ENOENT when there is none, -EINVAL when it does not parse or names a
 * kb or sink that is not valid. */
int state_load(const char *dir, struct job_record *r);
/* Reload the batch rows from dir/STATE_MANIFEST into r->batch_recs. */
int state_load_manifest(const char *dir, struct job_record *r);

#endif
