/* Recovery, the entry point at start: bring back the jobs on disk after a
 * restart. Queued jobs run, interrupted ones resume after their last
 * flushed batch (or end, with no retries left), ended ones are history;
 * spool files no job refers to are removed. */
#ifndef MEMSAFE_RECOVER_H
#define MEMSAFE_RECOVER_H

#include "jobs.h"

void recover_jobs(struct jobs *jobs);

#endif
