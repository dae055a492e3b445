/* Flush sinks: where a job's batches go. mock records the flush and keeps
 * nothing; jsonl appends one line per chunk to <state_dir>/kb/<kb>/
 * chunks.jsonl with one write and one fsync per batch; exec runs the
 * configured command with the batch on stdin, inside the job's cgroup. */
#ifndef MEMSAFE_SINK_H
#define MEMSAFE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>

struct job;

bool sink_name_valid(const char *name);
/* Flush one batch frame (the worker's JSON object). 0 when flushed; else a
 * negative errno with a sentence in err. */
int sink_flush(struct job *job, const char *state_dir, yajl_val batch,
	       char *err, size_t errsz);

#endif
