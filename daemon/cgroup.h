/* Per-job cgroups with one interface over two layouts, probed at start:
 *
 *   unified  cgroup v2 everywhere (the primary target). The daemon moves
 *            itself into <own>/supervisor, enables +memory +pids for
 *            <own>'s children and creates <own>/jobs/job-<id>.
 *   hybrid   memory (and pids) controllers on v1, cgroup v2 at
 *            <root>/unified without them. Jobs are
 *            <root>/memory/<own v1 path>/jobs/job-<id> (and the same under
 *            pids/).
 *
 * Paths are relative to an injectable root (default /sys/fs/cgroup) and
 * /proc/self/cgroup text, so the parsers are tested on recorded files. */
#ifndef MEMSAFE_CGROUP_H
#define MEMSAFE_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum cgroup_mode { CGROUP_UNIFIED, CGROUP_HYBRID };

struct cgroup_limits {
	uint64_t memory_max;   /* bytes */
	uint64_t memory_high;  /* bytes; 0 = none */
	uint64_t swap_max;     /* bytes */
	unsigned pids_max;     /* 0 = none */
};

/* memory.events counters (v1: derived from failcnt and oom_control). */
struct cgroup_events {
	uint64_t low, high, max, oom, oom_kill, oom_group_kill;
};

struct cgroup_stats {
	uint64_t current;  /* memory.current / usage_in_bytes */
	uint64_t peak;     /* memory.peak / max_usage_in_bytes; 0 if unknown */
	uint64_t anon, file;
	struct cgroup_events ev;
};

struct cgroup_root;
struct cgroup_job;

/* Decide the layout and find our own cgroup. On failure *err says what is
 * missing and what to change. */
int cgroup_probe(const char *sys_root, const char *self_cgroup_text,
		 struct cgroup_root **ret, char **err);
/* Take ownership of the subtree: unified: move into supervisor/, enable
 * controllers, create jobs/; hybrid: create jobs/. Then remove job
 * cgroups left behind by an earlier run (killing what is in them). */
int cgroup_setup(struct cgroup_root *root, char **err);
struct cgroup_root *cgroup_root_free(struct cgroup_root *root);
enum cgroup_mode cgroup_mode(const struct cgroup_root *root);
const char *cgroup_mode_name(enum cgroup_mode mode);
/* Directory of our jobs (for messages and the container manifest). */
const char *cgroup_jobs_path(const struct cgroup_root *root);
/* Kernel features found by probing. */
bool cgroup_has_peak(const struct cgroup_root *root);
bool cgroup_has_kill(const struct cgroup_root *root);

int cgroup_job_create(struct cgroup_root *root, uint64_t id,
		      const struct cgroup_limits *lim, struct cgroup_job **ret);
/* Kill everything, wait up to wait_ms for the cgroup to empty, remove it
 * and free job. -EBUSY (or another error) leaves job allocated, holding
 * what could not be removed yet: call again later. */
int cgroup_job_destroy(struct cgroup_job *job, unsigned wait_ms);
/* v2: an O_PATH fd of the cgroup (clone3(CLONE_INTO_CGROUP), memory.pressure
 * triggers); else -1. */
int cgroup_job_dirfd(const struct cgroup_job *job);
/* Open fds of every cgroup.procs a new worker must join (the child writes
 * "0" to each before exec). Returns the count (<= max) or negative errno. */
int cgroup_job_procs_fds(const struct cgroup_job *job, int *fds, int max);
int cgroup_job_stats(const struct cgroup_job *job, struct cgroup_stats *ret);
/* SIGKILL every process in the cgroup (cgroup.kill where present). */
int cgroup_job_kill(const struct cgroup_job *job);
const char *cgroup_job_path(const struct cgroup_job *job);
/* The cgroup's name ("job-<id>"). */
const char *cgroup_job_name(const struct cgroup_job *job);
/* Its path as the kernel prints it in OOM lines ("/…/jobs/job-<id>"). */
const char *cgroup_job_kernel_path(const struct cgroup_job *job);
/* An fd (owned by the job) that becomes readable when its memory events
 * change: inotify IN_MODIFY on memory.events (v2), an eventfd registered
 * for memory.oom_control (v1). Negative errno if neither can be had. */
int cgroup_job_watch_fd(struct cgroup_job *job);
/* Consume the notification so the fd stops being readable. */
void cgroup_job_watch_ack(struct cgroup_job *job);
/* Lift memory.high (v2): the job then runs up to memory.max. */
int cgroup_job_lift_high(const struct cgroup_job *job);
/* Freeze (or thaw) everything in the job: cgroup.freeze on v2, SIGSTOP
 * and SIGCONT to each process on v1. */
int cgroup_job_freeze(const struct cgroup_job *job, bool frozen);
/* The job's memory PSI avg10 values (v2 memory.pressure); -ENOENT on v1. */
int cgroup_job_psi(const struct cgroup_job *job, char *buf, size_t size);

/* Parsers, exposed for tests. Unknown keys are ignored. */
void cgroup_parse_events(const char *text, struct cgroup_events *ev);
void cgroup_parse_stat(const char *text, enum cgroup_mode mode, uint64_t *anon,
		       uint64_t *file);
/* v1 memory.oom_control: "oom_kill N", "under_oom N". */
void cgroup_parse_oom_control(const char *text, uint64_t *oom_kill, bool *under_oom);
/* Look up "key value" in a flat-keyed file; 0 or -ENOENT. */
int cgroup_parse_keyed(const char *text, const char *key, uint64_t *ret);

#endif
