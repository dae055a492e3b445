/* Start a worker process inside a job cgroup: clone3(CLONE_INTO_CGROUP |
 * CLONE_PIDFD) where the kernel has it (5.7+, unified mode), else fork and
 * join cgroup.procs before exec. The child gets exactly the fds in
 * `fds` (child fd i = fds[i]) and nothing else, an empty signal mask,
 * default dispositions and PR_SET_PDEATHSIG(SIGKILL), and is PID 1 of a
 * new PID namespace (an unprivileged daemon's child also of a new user
 * namespace, its uid and gid mapped onto themselves). Being PID 1, it
 * gets no signal it has no handler for from itself (SIGPIPE, or abort()'s
 * SIGABRT: glibc's abort then ends it with SIGSEGV); SIGKILL from outside
 * always works. */
#ifndef MEMSAFE_SPAWN_H
#define MEMSAFE_SPAWN_H

#include <sys/resource.h>
#include <sys/types.h>

#define SPAWN_MAX_FDS 8

struct spawn_args {
	const char *path;
	char *const *argv;
	char *const *envp;
	int fds[SPAWN_MAX_FDS];  /* -1 ends the list */
	int cgroup_dirfd;        /* v2 cgroup for CLONE_INTO_CGROUP, or -1 */
	int procs_fds[2];        /* cgroup.procs files to join (-1 = unused) */
};

/* Returns 0 with the pid and a pidfd, or a negative errno; an exec
 * failure in the child is reported here (not as an exit status). */
int spawn_process(const struct spawn_args *a, pid_t *ret_pid, int *ret_pidfd);
/* Reap a child via its pidfd: returns 0 with si filled and the child's
 * resource usage (ru_maxrss is its peak RSS), or -EAGAIN if still running. */
int spawn_reap(int pidfd, siginfo_t *si, struct rusage *ru);
/* Let go of a child that may still run: SIGKILL it and reap it once it
 * has exited, from base's loop (at once when base is NULL). Takes pidfd. */
struct event_base;
void spawn_abandon(struct event_base *base, int pidfd);

#endif
