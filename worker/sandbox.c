#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "util.h"

#define FAIL(err, errsz, ...) \
	({ int _e = errno; snprintf(err, errsz, __VA_ARGS__); -(_e ? _e : EPERM); })

static int drop_user(const char *user, char *err, size_t errsz)
{
	struct passwd *pw;
	uid_t r, e, s;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return FAIL(err, errsz, "worker user \"%s\" does not exist; create it "
			    "(systemd-sysusers does so from memsafed's sysusers.d entry) "
			    "or set worker_user in memsafed.conf", user);
	if (pw->pw_uid == 0)
		return FAIL(err, errsz, "worker user \"%s\" is root; it must be an "
			    "unprivileged user", user);
	if (setgroups(0, NULL) < 0)
		return FAIL(err, errsz, "setgroups: %s", strerror(errno));
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0)
		return FAIL(err, errsz, "setresgid(%u): %s", (unsigned)pw->pw_gid, strerror(errno));
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		return FAIL(err, errsz, "setresuid(%u): %s", (unsigned)pw->pw_uid, strerror(errno));
	/* Verify: none of the ids is 0 and root cannot be regained. */
	if (getresuid(&r, &e, &s) < 0 || r == 0 || e == 0 || s == 0 ||
	    setuid(0) == 0 || setgid(0) == 0) {
		errno = EPERM;
		return FAIL(err, errsz, "dropping to %s did not stick", user);
	}
	return 0;
}

static int set_limit(int res, rlim_t v)
{
	struct rlimit rl = { v, v };

	return setrlimit(res, &rl);
}

/* Calls the worker and its libraries make. Everything else kills. */
static int load_seccomp(char *err, size_t errsz)
{
	static const int allow[] = {
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
		SCMP_SYS(pread64), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(fstat),
		SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(dup), SCMP_SYS(fcntl),
		SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(brk), SCMP_SYS(madvise),
		SCMP_SYS(futex), SCMP_SYS(exit), SCMP_SYS(exit_group),
		SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
		SCMP_SYS(getrandom), SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep), SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(sched_yield),
		SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
		SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(prlimit64),
		SCMP_SYS(getrlimit), SCMP_SYS(sysinfo), SCMP_SYS(sched_getaffinity),
		SCMP_SYS(restart_syscall), SCMP_SYS(poll), SCMP_SYS(ppoll),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = 0;

	if (!ctx)
		return FAIL(err, errsz, "seccomp_init failed");
	for (size_t i = 0; i < ARRAY_SIZE(allow) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow[i], 0);
	/* Memory may be mapped, never executable. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Files may be opened read-only (poppler-data, glib's lazy loads);
	 * anything that could write kills. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ,
					     O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY));
	/* Threads only (no new processes). glibc >= 2.34 tries clone3 first
	 * and falls back to clone only on ENOSYS. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	/* Probes that libraries make and handle failing. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(access), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(faccessat), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(faccessat2), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(readlink), 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0) {
		errno = -r;
		return FAIL(err, errsz, "loading the seccomp filter failed: %s", strerror(-r));
	}
	return 0;
}

int sandbox_enter(const struct sandbox_opts *o, char *err, size_t errsz)
{
	int flags = CLONE_NEWNET | CLONE_NEWIPC;
	int r;

	/* 1. Namespaces: root can unshare directly; anyone else needs a user
	 * namespace first to hold the capability. */
	if (geteuid() != 0)
		flags |= CLONE_NEWUSER;
	if (unshare(flags) < 0)
		return FAIL(err, errsz, "unshare(network, IPC) failed: %s", strerror(errno));
	/* A mount namespace keeps any mount the worker could ever make
	 * private; best effort, as the docs promise ("where possible"). */
	(void)!unshare(CLONE_NEWNS);

	/* 2. Identity. */
	if (geteuid() == 0 || (o->user && *o->user)) {
		if (!o->user || !*o->user) {
			errno = EPERM;
			return FAIL(err, errsz, "running as root needs --user");
		}
		if (geteuid() != 0) {
			errno = EPERM;
			return FAIL(err, errsz, "--user %s needs the worker to start as root",
				    o->user);
		}
		if ((r = drop_user(o->user, err, errsz)) < 0)
			return r;
	}

	/* 3. Limits. */
	if (set_limit(RLIMIT_CORE, 0) < 0 ||
	    set_limit(RLIMIT_NOFILE, o->max_fds) < 0 ||
	    set_limit(RLIMIT_FSIZE, o->max_file_size) < 0)
		return FAIL(err, errsz, "setrlimit: %s", strerror(errno));

	/* 4. Nothing inherited but our pipes and scratch file. */
	if (syscall(SYS_close_range, 4U, ~0U, 0) < 0)
		return FAIL(err, errsz, "close_range: %s", strerror(errno));

	/* 5, 6. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return FAIL(err, errsz, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return FAIL(err, errsz, "PR_SET_DUMPABLE: %s", strerror(errno));
	return load_seccomp(err, errsz);
}
