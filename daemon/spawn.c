#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <event2/event.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "spawn.h"
#include "util.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* Write a short string to a /proc file, as one write. Async-signal-safe. */
static int write_proc(const char *path, const char *s, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* "ID ID 1\n" for a uid or gid map, without snprintf (not
 * async-signal-safe). Returns the length. */
static size_t id_map(char *buf, unsigned id)
{
	char digits[12];
	size_t n = 0, len = 0;

	do
		digits[n++] = (char)('0' + id % 10);
	while ((id /= 10) != 0);
	for (int k = 0; k < 2; k++) {
		for (size_t i = n; i > 0; i--)
			buf[len++] = digits[i - 1];
		buf[len++] = ' ';
	}
	buf[len++] = '1';
	buf[len++] = '\n';
	return len;
}

/* In the child: only async-signal-safe calls; report errno on errfd. */
static _Noreturn void child(const struct spawn_args *a, int errfd, uid_t uid, gid_t gid)
{
	int n = 0, err;
	sigset_t all;

	sigemptyset(&all);
	for (int sig = 1; sig < _NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		goto fail;
	/* The daemon protects itself from the OOM killer (the unit's
	 * OOMScoreAdjust=-900); what it starts for a job must not inherit
	 * that: it is the first to go when the whole machine runs out. */
	if (write_proc("/proc/self/oom_score_adj", "1000", 4) < 0 && errno != ENOENT)
		goto fail;
	/* An unprivileged daemon's child is in a user namespace of its own
	 * (which is what lets it have a PID namespace): map the daemon's
	 * ids onto themselves, so it runs as the daemon's user there too
	 * and gets no capability past its exec. */
	if (uid != 0) {
		char map[32];

		if (write_proc("/proc/self/setgroups", "deny", 4) < 0 ||
		    write_proc("/proc/self/uid_map", map, id_map(map, (unsigned)uid)) < 0 ||
		    write_proc("/proc/self/gid_map", map, id_map(map, (unsigned)gid)) < 0)
			goto fail;
	}

	for (int i = 0; i < 2; i++)
		if (a->procs_fds[i] >= 0 && write(a->procs_fds[i], "0", 1) != 1)
			goto fail;

	/* Move the wanted fds above the range they go to, so dup2 into
	 * 0..n-1 cannot clobber one not yet placed. */
	while (n < SPAWN_MAX_FDS && a->fds[n] >= 0)
		n++;
	int moved[SPAWN_MAX_FDS];
	for (int i = 0; i < n; i++) {
		moved[i] = fcntl(a->fds[i], F_DUPFD_CLOEXEC, 64);
		if (moved[i] < 0)
			goto fail;
	}
	for (int i = 0; i < n; i++)
		if (dup2(moved[i], i) < 0)
			goto fail;
	/* Nothing else may leak into the sandbox: mark every other fd
	 * close-on-exec (5.11+; the daemon opens all its fds CLOEXEC anyway),
	 * which keeps errfd open until the exec succeeds. */
	syscall(SYS_close_range, (unsigned)n, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(a->path, a->argv, a->envp);
fail:
	err = errno;
	if (errfd >= 0)
		(void)!write(errfd, &err, sizeof err);
	_exit(127);
}

/* Every child starts as PID 1 of a PID namespace of its own: it cannot
 * see or signal any other process by pid, and whatever it forks dies
 * with it. Only root may create one outright; anyone else creates a user
 * namespace along with it. */
static uint64_t ns_flags(void)
{
	return CLONE_NEWPID | (geteuid() != 0 ? CLONE_NEWUSER : 0);
}

static pid_t do_clone3(int cgroup_dirfd, int *pidfd)
{
	struct clone_args ca = {
		.flags = CLONE_PIDFD | ns_flags() | (cgroup_dirfd >= 0 ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)(cgroup_dirfd >= 0 ? cgroup_dirfd : 0),
	};

	return (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
}

int spawn_process(const struct spawn_args *a, pid_t *ret_pid, int *ret_pidfd)
{
	int errpipe[2], pidfd = -1, err = 0;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	pid_t pid;
	ssize_t n;

	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return -errno;
	pid = do_clone3(a->cgroup_dirfd, &pidfd);
	if (pid < 0 && (errno == ENOSYS || errno == EINVAL || errno == E2BIG ||
			errno == EPERM)) {
		/* No clone3 (or no CLONE_INTO_CGROUP): fork, into the same
		 * namespaces, and let the child join cgroup.procs itself.
		 * Only valid with procs_fds. A kernel that refuses the
		 * namespaces fails the spawn: no child runs without them. */
		pid = (pid_t)syscall(SYS_clone, (unsigned long)(ns_flags() | SIGCHLD),
				     NULL, NULL, NULL, NULL);
	}
	if (pid < 0) {
		err = -errno;
		close(errpipe[0]);
		close(errpipe[1]);
		return err;
	}
	if (pid == 0) {
		close(errpipe[0]);
		child(a, errpipe[1], uid, gid);
	}
	close(errpipe[1]);
	n = read(errpipe[0], &err, sizeof err);
	close(errpipe[0]);
	if (pidfd < 0)
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (n == (ssize_t)sizeof err) {
		/* The child failed before exec and has exited: reap it. */
		waitpid(pid, NULL, 0);
		if (pidfd >= 0)
			close(pidfd);
		return -err;
	}
	if (pidfd < 0) {
		err = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return err;
	}
	*ret_pid = pid;
	*ret_pidfd = pidfd;
	return 0;
}

int spawn_reap(int pidfd, siginfo_t *si, struct rusage *ru)
{
	memset(si, 0, sizeof *si);
	/* The raw syscall takes a rusage pointer; glibc's waitid does not. */
	if (syscall(SYS_waitid, P_PIDFD, pidfd, si, WEXITED | WNOHANG, ru) < 0)
		return -errno;
	return si->si_pid == 0 ? -EAGAIN : 0;
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rusage ru;
	siginfo_t si;

	if (spawn_reap(fd, &si, &ru) == -EAGAIN)   /* cannot be: it was readable */
		spawn_abandon(arg, fd);
	else
		close(fd);
}

void spawn_abandon(struct event_base *base, int pidfd)
{
	struct rusage ru;
	siginfo_t si;

	if (pidfd < 0)
		return;
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	if (spawn_reap(pidfd, &si, &ru) != -EAGAIN) {
		close(pidfd);
		return;
	}
	/* Reaped when its pidfd turns readable, off the event loop's path. */
	if (base && event_base_once(base, pidfd, EV_READ, reap_cb, base, NULL) == 0)
		return;
	/* SIGKILL cannot be ignored: the wait is short. */
	while (spawn_reap(pidfd, &si, &ru) == -EAGAIN)
		usleep(1000);
	close(pidfd);
}
