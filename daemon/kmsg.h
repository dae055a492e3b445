/* The kernel log: a /dev/kmsg reader started with the daemon (from the
 * end: only new records), keeping the recent lines that matter to memory
 * failures (OOM killer, memcg, page allocation failures, GPU drivers,
 * seccomp kills) so a job's window can be excerpted when it ends. */
#ifndef MEMSAFE_KMSG_H
#define MEMSAFE_KMSG_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct kmsg_record {
	int prio;
	uint64_t seq;
	uint64_t ts_usec;   /* CLOCK_MONOTONIC, as the kernel stamps it */
	const char *text;   /* first line of the message, not terminated */
	size_t len;
};

/* Parse one record as read(2) returns it: "prio,seq,ts,flags;text\n". */
int kmsg_parse(const char *buf, size_t len, struct kmsg_record *ret);
/* Whether a kernel message is one we keep. */
bool kmsg_relevant(const char *text, size_t len);

struct kmsg;
/* Never fails: when /dev/kmsg cannot be read the reader keeps the reason
 * and every excerpt says it. */
struct kmsg *kmsg_new(struct event_base *base, const char *path);
struct kmsg *kmsg_free(struct kmsg *k);
/* Read everything available now (called at job end, so lines the kernel
 * printed while killing a worker are in before the excerpt is cut). */
void kmsg_drain(struct kmsg *k);
/* Write the kept lines between from and to (monotonic µs) that concern
 * the job (its cgroup path as the kernel prints it, its worker pid) or the
 * GPU driver to f.
 * Returns how many were written, or -1 when kmsg is unavailable, in which
 * case a line saying why is written instead. */
int kmsg_excerpt(struct kmsg *k, FILE *f, uint64_t from_usec, uint64_t to_usec,
		 const char *cgroup_name, pid_t pid);
/* The syscall number of a seccomp kill of pid, from the audit record
 * (type=1326 … pid=N … syscall=M), or -1. */
long kmsg_seccomp_syscall(struct kmsg *k, pid_t pid);
const char *kmsg_status(const struct kmsg *k); /* "reading /dev/kmsg" or why not */

#endif
