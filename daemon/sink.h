/* Flush sinks: where a job's batches go. mock records the flush and keeps
 * nothing; jsonl (sink-jsonl.c) appends one line per chunk to
 * <state_dir>/kb/<uid>/<kb>/chunks.jsonl (the submitter's, 0600) with one write and one fsync per batch;
 * exec (sink-exec.c) runs the configured command with the batch on stdin,
 * inside the job's cgroup. Sinks see the job record, nothing more. */
#ifndef MEMSAFE_SINK_H
#define MEMSAFE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include <yajl/yajl_tree.h>

#include "record.h"

struct config;
struct cgroup_job;
struct sink_exec;

/* Flush one batch frame (the worker's JSON object) through a sink that
 * flushes in place (mock, jsonl). 0 when flushed; else a negative errno
 * with a sentence in err. */
int sink_flush(const struct job_record *rec, const char *state_dir, yajl_val batch,
	       char *err, size_t errsz);

int sink_jsonl_flush(const struct job_record *rec, const char *state_dir, yajl_val batch,
		     char *err, size_t errsz);
/* Before a job resumes after a crash: cut a torn last line off
 * <state_dir>/kb/<uid>/<kb>/chunks.jsonl and find the highest batch and page of
 * job_id already in it, and how many chunks of that page it holds, so no
 * flushed chunk is written twice. */
int sink_jsonl_recover(const char *state_dir, uid_t uid, const char *kb, uint64_t job_id,
		       uint64_t *max_batch, unsigned *max_page, unsigned *page_chunks);

/* The exec sink, asynchronous: runs [sink.exec] command through /bin/sh
 * inside the job's cgroup with the batch JSON on stdin and
 * MEMSAFE_JOB/MEMSAFE_KB/MEMSAFE_BATCH in its environment; exit 0 within
 * [sink.exec] timeout means flushed. done is called once, from the event
 * loop, with arg, 0 or a negative errno and a sentence. */
typedef void (*sink_exec_done_fn)(void *arg, int error, const char *err);
int sink_exec_start(const struct job_record *rec, void *arg, struct event_base *base,
		    const struct config *cfg, struct cgroup_job *cg, const char *body,
		    size_t len, sink_exec_done_fn done, struct sink_exec **ret,
		    char *err, size_t errsz);
/* Kill (if still running) and free; NULL-safe. Does not call done. */
struct sink_exec *sink_exec_free(struct sink_exec *x);

#endif
