/* Small helpers shared by every binary: cleanup attributes, steal_pointer,
 * and fd/IO primitives that retry on EINTR. Nothing here logs. */
#ifndef MEMSAFE_UTIL_H
#define MEMSAFE_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership out of a cleanup-annotated variable. */
#define steal_pointer(pp) ({ __typeof__(*(pp)) _p = *(pp); *(pp) = NULL; _p; })
#define steal_fd(fdp) ({ int _fd = *(fdp); *(fdp) = -1; _fd; })

/* Like read(2)/write(2) but loop until done, EOF or a real error.
 * Return the byte count or a negative errno. */
ssize_t read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);

/* Read a small file (procfs, sysfs, cgroupfs) into a NUL-terminated buffer.
 * Returns length or negative errno; buf is always terminated. */
ssize_t read_small_file(const char *path, char *buf, size_t size);
ssize_t read_small_fileat(int dirfd, const char *name, char *buf, size_t size);
/* Write a string to a control file (cgroupfs), as one write(2). */
int write_fileat(int dirfd, const char *name, const char *value);
int write_file(const char *path, const char *value);

/* Write data to dir/name atomically: temp file, fsync, rename, fsync dir.
 * The temp file is created O_EXCL|O_NOFOLLOW, never through anything a
 * previous occupant of the name left there. */
int write_atomic(const char *dir, const char *name, const void *data, size_t len);
/* The same, the file then owned by uid:gid with mode (uid -1: unchanged). */
int write_atomic_owned(const char *dir, const char *name, const void *data, size_t len,
		       uid_t uid, gid_t gid, mode_t mode);

/* mkdir -p with the given mode; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode);

/* Parse a decimal unsigned integer that must fill the whole string. */
int parse_u64(const char *s, uint64_t *ret);

/* Text from users (job and document names, messages that quote them)
 * made safe for a terminal and for a line-oriented log: control
 * characters become \n, \r, \t or \xHH, a backslash \\, C1 controls,
 * line separators and bidirectional overrides \uHHHH, and bytes that are
 * not UTF-8 \xHH; everything else, valid UTF-8 included, is kept. Writes
 * the result into buf (NUL-terminated when size > 0, cut only between
 * whole characters or escapes) and returns the length of the whole result,
 * as snprintf does: str_escape(NULL, 0, s) + 1 is the size it needs. */
size_t str_escape(char *buf, size_t size, const char *s);
/* Whether str_escape would change s. */
bool str_needs_escape(const char *s);

/* Milliseconds on CLOCK_MONOTONIC and CLOCK_REALTIME. */
uint64_t now_mono_ms(void);
uint64_t now_real_ms(void);
/* Format a CLOCK_REALTIME millisecond stamp as ISO 8601 UTC. */
void format_iso8601(uint64_t real_ms, char *buf, size_t size);
/* Parse what format_iso8601 writes (fraction and Z optional) into
 * milliseconds since the epoch; -EINVAL when it is not such a stamp. */
int parse_iso8601(const char *s, uint64_t *ret);

#endif
