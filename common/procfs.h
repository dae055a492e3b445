/* /proc's memory figures, parsed once for every binary: PSI files
 * (/proc/pressure/memory, a cgroup's memory.pressure), /proc/meminfo and
 * /proc/PID/statm. The parsers take the text; the readers read the file. */
#ifndef MEMSAFE_PROCFS_H
#define MEMSAFE_PROCFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct psi_line { double avg10, avg60, avg300; uint64_t total; };

/* PSI text ("some avg10=… avg60=… avg300=… total=…" / "full …"). A
 * line that is missing or malformed stays -1; -EINVAL without "some". */
int procfs_parse_psi(const char *text, struct psi_line *some, struct psi_line *full);
/* A "Key:   N kB" value of /proc/meminfo, in bytes; -ENOENT if absent. */
int procfs_parse_meminfo(const char *text, const char *key, uint64_t *ret);
/* /proc/PID/statm: size and resident, in bytes. */
int procfs_parse_statm(const char *text, uint64_t *vms, uint64_t *rss);

/* Read a PSI file: dirfd AT_FDCWD and a path, or a directory fd and a
 * name in it. What cannot be read is -1, as above. */
int procfs_read_psi(int dirfd, const char *name, struct psi_line *some, struct psi_line *full);
/* Values of /proc/meminfo, in bytes: keys[i] into ret[i] (0 when that key
 * is absent). Returns -errno when the file cannot be read. */
int procfs_read_meminfo(const char *const *keys, uint64_t *ret, unsigned n);
/* /proc/PID/statm (pid 0: our own), in bytes. */
int procfs_read_statm(pid_t pid, uint64_t *vms, uint64_t *rss);
/* /proc/PID/cgroup: the v2 path ("0::") and the v1 memory and pids
 * controllers' paths, each allocated (NULL when absent). -ENOENT when it
 * names neither a v2 nor a v1 memory cgroup. */
int procfs_parse_cgroup(const char *text, char **ret_v2, char **ret_memory_v1,
			char **ret_pids_v1);
/* A PSI trigger's specification, "some THRESHOLD WINDOW" (microseconds). */
void procfs_psi_spec(char *buf, size_t size, uint64_t threshold_us, uint64_t window_us);
/* Arm a PSI trigger on dirfd/name: 0 with the trigger's fd (POLLPRI when
 * it fires), or a negative errno; *ret_opened says whether the file
 * opened (a refusal of the trigger is the kernel's, not the file's). */
int procfs_psi_trigger(int dirfd, const char *name, uint64_t threshold_us, uint64_t window_us,
		       int *ret_fd, bool *ret_opened);

#endif
