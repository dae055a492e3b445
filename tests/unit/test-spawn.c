/* Unit tests for daemon/spawn.c: a child the daemon lets go of
 * (spawn_abandon) is killed and reaped, never left a zombie; and every
 * child starts as PID 1 of a PID namespace of its own, through clone3 and
 * through the fork fallback (clone3 answered with ENOSYS by a seccomp
 * filter, as on old kernels), as root and as an unprivileged daemon
 * (which also gets a user namespace with its ids mapped onto themselves;
 * those cases need root and are skipped otherwise). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"
#include "util.h"
#include "tap.h"

#define NOBODY 65534

/* In a forked process: become uid (0: stay root), optionally make clone3
 * fail with ENOSYS, spawn a shell that prints what it sees of itself, and
 * write that to outfd. Exit 0, or 1 when the spawn failed. */
static _Noreturn void spawn_child(uid_t uid, bool no_clone3, int outfd)
{
	char *argv[] = { "sh", "-c", "echo pid=$$; echo oom=$(cat /proc/self/oom_score_adj); exec grep -E '^(NSpid|Uid):' /proc/self/status", NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct spawn_args a = { .path = "/bin/sh", .argv = argv, .envp = envp,
				.cgroup_dirfd = -1, .procs_fds = { -1, -1 } };
	int p[2], pidfd, devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	char buf[1024];
	ssize_t n;
	siginfo_t si;
	struct rusage ru;
	pid_t pid;

	/* Dumpable again after the uid change, as a daemon started by that
	 * user is: else /proc/self belongs to root and the child cannot write
	 * its own uid_map. */
	if (uid && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
		    setresuid(uid, uid, uid) < 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0))
		_exit(2);
	if (no_clone3) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

		if (!ctx || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0 ||
		    seccomp_load(ctx) < 0)
			_exit(2);
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		_exit(2);
	a.fds[0] = devnull;
	a.fds[1] = p[1];
	a.fds[2] = STDERR_FILENO;
	a.fds[3] = -1;
	if ((n = spawn_process(&a, &pid, &pidfd)) < 0) {
		dprintf(1, "#   spawn_process: %s\n", strerror((int)-n));
		_exit(1);
	}
	close(p[1]);
	while ((n = read(p[0], buf, sizeof buf)) > 0)
		(void)!write(outfd, buf, (size_t)n);
	while (spawn_reap(pidfd, &si, &ru) == -EAGAIN)
		usleep(1000);
	_exit(0);
}

/* Run spawn_child; returns its exit status, with what the shell printed. */
static int run(uid_t uid, bool no_clone3, char *out, size_t size)
{
	int p[2], st;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		spawn_child(uid, no_clone3, p[1]);
	}
	close(p[1]);
	while (len + 1 < size && (n = read(p[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Whether unprivileged users may create user namespaces here. */
static bool userns_allowed(void)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		if (setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(1);
		_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A running child let go of, from an event loop (base) or at once (NULL):
 * afterwards it no longer exists, not even as a zombie. */
static void abandon_case(struct event_base *base, const char *how)
{
	char *argv[] = { "sleep", "30", NULL }, *envp[] = { NULL };
	struct spawn_args sa = { .path = "/bin/sleep", .argv = argv, .envp = envp,
				 .fds = { -1 }, .cgroup_dirfd = -1, .procs_fds = { -1, -1 } };
	struct timeval limit = { 5, 0 };
	pid_t pid;
	int pidfd;

	if (!ok(spawn_process(&sa, &pid, &pidfd) == 0, "%s: a child starts", how))
		return;
	ok(kill(pid, 0) == 0, "%s: it runs", how);
	spawn_abandon(base, pidfd);
	if (base) {
		event_base_loopexit(base, &limit);   /* if it never exits */
		event_base_loop(base, EVLOOP_ONCE);
	}
	ok(kill(pid, 0) < 0 && errno == ESRCH, "%s: it was killed and reaped", how);
}

static void test_abandon(void)
{
	struct event_base *base = event_base_new();

	abandon_case(base, "from the loop");
	abandon_case(NULL, "at once");
	event_base_free(base);
}

int main(void)
{
	static const struct {
		uid_t uid;
		bool no_clone3;
		const char *what;
	} cases[] = {
		{ 0, false, "root, clone3" },
		{ 0, true, "root, fork fallback" },
		{ NOBODY, false, "unprivileged, clone3" },
		{ NOBODY, true, "unprivileged, fork fallback" },
	};
	char out[1024], want[64];

	test_abandon();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uid_t uid = cases[i].uid;

		if (geteuid() != 0) {
			ok(1, "# SKIP %s: needs root to spawn as root and as another user",
			   cases[i].what);
			continue;
		}
		if (uid && !userns_allowed()) {
			ok(1, "# SKIP %s: unprivileged user namespaces are disabled", cases[i].what);
			continue;
		}
		is_int(run(uid, cases[i].no_clone3, out, sizeof out), 0, "%s: the spawn works",
		       cases[i].what);
		ok(strstr(out, "pid=1\n") != NULL, "%s: the child is PID 1", cases[i].what);
		ok(strstr(out, "oom=1000\n") != NULL, "%s: the first the OOM killer takes "
		   "(oom_score_adj 1000, not the daemon's)", cases[i].what);
		{
			const char *ns = strstr(out, "NSpid:");
			unsigned outer = 0, inner = 0;

			ok(ns && sscanf(ns, "NSpid:\t%u\t%u", &outer, &inner) == 2 && outer > 1 &&
			   inner == 1, "%s: of a PID namespace of its own (%s)", cases[i].what,
			   ns ? ns : "no NSpid line");
		}
		snprintf(want, sizeof want, "Uid:\t%u\t%u\t%u\t%u\n", uid, uid, uid, uid);
		ok(strstr(out, want) != NULL, "%s: as the daemon's own uid, %u", cases[i].what, uid);
	}
	return tap_done();
}
