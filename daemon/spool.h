/* Copy a client's document fd into the daemon's spool in fixed buffers,
 * without blocking the event loop: regular files one buffer per loop turn,
 * pipes as they become readable. Enforces the size limit as it reads
 * (st_size is never trusted) and hashes with SHA-256 on the way. */
#ifndef MEMSAFE_SPOOL_H
#define MEMSAFE_SPOOL_H

#include <event2/event.h>
#include <stdint.h>

struct spool;
/* error: 0 on success, else negative errno with msg a sentence for people.
 * Called once; the spool may be freed from within it. */
typedef void (*spool_done_fn)(struct spool *sp, int error, const char *msg, void *arg);

/* Check src_fd (regular file or pipe, open for reading) and start copying
 * into dst_fd. On refusal returns a negative errno and writes why into msg;
 * src_fd and dst_fd stay the caller's either way. */
int spool_start(struct event_base *base, int src_fd, int dst_fd, uint64_t max_size,
		size_t chunk_size, uint64_t idle_timeout_ms, spool_done_fn done,
		void *arg, struct spool **ret, char *msg, size_t msgsz);
/* The name of the kernel pseudo-filesystem with this statfs f_type (proc,
 * sysfs, debugfs, cgroup2, ...), whose files spool_start refuses, or
 * NULL for a filesystem that holds data. */
const char *spool_pseudo_fs_name(unsigned long f_type);
struct spool *spool_free(struct spool *sp);
uint64_t spool_size(const struct spool *sp);
const char *spool_sha256(const struct spool *sp); /* hex, once done */

#endif
