/* memsafectl submit: queue documents, optionally following them. */
#ifndef MEMSAFE_CTL_SUBMIT_H
#define MEMSAFE_CTL_SUBMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

struct submit_opts {
	const char *kb, *sink;
	uint64_t memory_max, batch_size, max_bytes, max_wait_ms, timeout_ms;
	int64_t priority;
	bool has_priority;
	uint64_t gpu_memory_max;     /* bytes; 0 with has_ = no limit of its own */
	bool has_gpu_memory_max;
};

/* getopt_long codes and table entries for the job options that submit
 * and repro share. */
enum { SUBMIT_O_KB = 256, SUBMIT_O_MEM, SUBMIT_O_BATCH, SUBMIT_O_BYTES, SUBMIT_O_WAIT_MS,
       SUBMIT_O_SINK, SUBMIT_O_PRIO, SUBMIT_O_TIMEOUT, SUBMIT_O_GPU_MEM, SUBMIT_O_NEXT };
#define SUBMIT_JOB_OPTIONS \
	{ "kb", required_argument, NULL, SUBMIT_O_KB }, \
	{ "memory-max", required_argument, NULL, SUBMIT_O_MEM }, \
	{ "batch-size", required_argument, NULL, SUBMIT_O_BATCH }, \
	{ "max-bytes", required_argument, NULL, SUBMIT_O_BYTES }, \
	{ "max-wait-ms", required_argument, NULL, SUBMIT_O_WAIT_MS }, \
	{ "sink", required_argument, NULL, SUBMIT_O_SINK }, \
	{ "priority", required_argument, NULL, SUBMIT_O_PRIO }, \
	{ "timeout", required_argument, NULL, SUBMIT_O_TIMEOUT }, \
	{ "gpu-memory-max", required_argument, NULL, SUBMIT_O_GPU_MEM }
/* Apply getopt's c (with optarg) to o; false when c is not a job option.
 * Exits with a usage error on a bad value. */
bool submit_job_option(const char *cmd, int c, struct submit_opts *o);

int submit_main(int argc, char **argv);
/* Submit one file (path, or "-" for standard input) with o. Returns the
 * daemon's reply (ok or not; caller frees) or NULL with errno set when
 * the file cannot be opened, after saying why on stderr. Exits when
 * memsafed is unreachable. */
yajl_val submit_file(const char *path, const struct submit_opts *o);

#endif
