#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "util.h"

/* Argument n equals v (libseccomp's SCMP_An leaves datum_b to chance
 * warnings; a designated initializer zeroes it). */
#define ARG_EQ(n, v) \
	((struct scmp_arg_cmp){ .arg = (n), .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)(v) })

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

/* The worker must not outlive the daemon that started it. The daemon's
 * spawn sets PR_SET_PDEATHSIG(SIGKILL) before the exec, but the kernel
 * clears it on every change of uid or gid (commit_creds), so the drop to
 * the worker user disarmed it: set it again, then make sure the parent
 * did not die before it was set (it would never fire). As long as the
 * daemon's pid is visible, getppid() must still be it; a worker that is
 * PID 1 of its own PID namespace sees 0 before and after its parent dies,
 * and for it the sign is the frame pipe: the daemon holds its only read
 * end, which its death closes (EPOLLERR on our write end). The kernel
 * closes a dying process's files before it signals its children, so one
 * of the two always catches it. */
static int watch_parent(pid_t parent, char *err, size_t errsz)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = 0 };
	struct stat st;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return FAIL(err, errsz, "PR_SET_PDEATHSIG: %s", strerror(errno));
	if (getppid() != parent) {
		errno = ESRCH;
		return FAIL(err, errsz, "the process that started the worker (pid %ld) "
			    "has exited", (long)parent);
	}
	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode) &&
	    poll(&p, 1, 0) == 1 && (p.revents & POLLERR)) {
		errno = EPIPE;
		return FAIL(err, errsz, "nothing reads the worker's frames any more "
			    "(the daemon that started it has exited)");
	}
	return 0;
}

static int set_limit(int res, rlim_t v)
{
	struct rlimit rl = { v, v };

	return setrlimit(res, &rl);
}

/* The system calls text extraction makes once the document is being read,
 * found with strace -f on generated and real PDFs (text, images, many
 * pages, Type 1 and TrueType fonts, broken files) and on text input, plus
 * the few paths those runs do not reach but that must not be mistaken for
 * an attack. Everything else kills the whole process with SIGSYS. */
static const int allow[] = {
	/* The document, the frames, the scratch file (a PDF is copied into
	 * it with splice from a pipe or copy_file_range from a file, fd to
	 * fd: no new file is reached). */
	SCMP_SYS(read), SCMP_SYS(pread64), SCMP_SYS(write), SCMP_SYS(lseek),
	SCMP_SYS(close), SCMP_SYS(dup), SCMP_SYS(poll), SCMP_SYS(splice),
	SCMP_SYS(copy_file_range),
	/* poppler fstat()s the fd it is given; glibc >= 2.33 implements fstat
	 * as newfstatat(fd, "", AT_EMPTY_PATH). */
	SCMP_SYS(newfstatat),
	/* malloc: brk for the main heap, mmap (filtered below) for large
	 * blocks, mremap for realloc of those, madvise when it trims. */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* glibc qsort() sizes its buffer with sysconf(_SC_PHYS_PAGES). */
	SCMP_SYS(sysinfo),
	/* Our clock (a vDSO call, unless the clocksource forces the syscall)
	 * and the pressure mode's hold (glibc's nanosleep is clock_nanosleep);
	 * restart_syscall resumes a sleep after SIGSTOP or a cgroup freeze. */
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(restart_syscall),
	/* abort(), on a failed assertion or heap corruption detected by
	 * glibc: it unblocks SIGABRT, resets its handler and raises it
	 * (gettid, getpid, then tgkill, filtered below), so the daemon sees a
	 * crash, not a sandbox violation. */
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(getpid), SCMP_SYS(gettid),
	/* Threads. Neither poppler's text path nor glib starts one today, but
	 * a thread is no new privilege (it inherits this filter), and a
	 * library update that adds one must not look like an attack. */
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* Calls answered with an error instead: probes a library makes and
 * copes with failing. */
static const struct {
	int nr, err;
} refuse[] = {
	/* glibc >= 2.34 creates threads with clone3 and falls back to clone
	 * only on ENOSYS; clone3 passes flags in memory, which seccomp cannot
	 * inspect, so it cannot be filtered like clone below. */
	{ SCMP_SYS(clone3), ENOSYS },
	/* isatty(): glibc's stdio asks it of a stream on a character
	 * device (stderr on /dev/null, say) when it sets up its buffer. */
	{ SCMP_SYS(ioctl), ENOTTY },
};

/* ASan/UBSan builds (./configure --enable-sanitizers, for the test suite
 * only): the sanitizer runtime itself calls these while reporting. Never
 * part of a production filter. */
#ifdef SANITIZER_BUILD
static const int sanitizer_allow[] = {
	SCMP_SYS(prctl), SCMP_SYS(sigaltstack), SCMP_SYS(getrlimit), SCMP_SYS(prlimit64),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(readlink), SCMP_SYS(mincore), SCMP_SYS(getppid),
	SCMP_SYS(uname), SCMP_SYS(getrusage), SCMP_SYS(sched_yield), SCMP_SYS(nanosleep),
};
#endif

static int load_seccomp(char *err, size_t errsz)
{
	static const int fcntl_ok[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = 0;

	if (!ctx)
		return FAIL(err, errsz, "seccomp_init failed");
	for (size_t i = 0; i < ARRAY_SIZE(allow) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow[i], 0);
#ifdef SANITIZER_BUILD
	for (size_t i = 0; i < ARRAY_SIZE(sanitizer_allow) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sanitizer_allow[i], 0);
#endif
	for (size_t i = 0; i < ARRAY_SIZE(refuse) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(refuse[i].err), refuse[i].nr, 0);
	/* Memory may be mapped, never executable: no new code. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Files may be opened read-only (with poppler-data installed, poppler
	 * loads CMaps and cidToUnicode tables for CJK fonts on first use);
	 * anything that could create or change a file kills. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ,
					     O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY));
	/* fcntl: reading and setting fd and status flags only (poppler asks
	 * F_GETFL of the document's fd). */
	for (size_t i = 0; i < ARRAY_SIZE(fcntl_ok) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				     ARG_EQ(1, fcntl_ok[i]));
	/* Threads of this process, never a new process. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	/* abort() signals itself, and nothing else. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2,
				     ARG_EQ(0, getpid()), ARG_EQ(2, SIGABRT));
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
	if ((r = watch_parent(o->parent, err, errsz)) < 0)
		return r;

	/* 3. Limits. */
	if (set_limit(RLIMIT_CORE, 0) < 0 ||
	    set_limit(RLIMIT_NOFILE, o->max_fds) < 0 ||
	    set_limit(RLIMIT_FSIZE, o->max_file_size) < 0)
		return FAIL(err, errsz, "setrlimit: %s", strerror(errno));
	/* Past RLIMIT_FSIZE a write fails with EFBIG, which the worker
	 * reports, instead of SIGXFSZ killing it unexplained. */
	if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		return FAIL(err, errsz, "ignoring SIGXFSZ: %s", strerror(errno));

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

static const char *const violation_names[] = {
	[SANDBOX_VIOLATE_SOCKET] = "socket",
	[SANDBOX_VIOLATE_OPEN_WRITE] = "open-write",
	[SANDBOX_VIOLATE_EXECVE] = "execve",
	[SANDBOX_VIOLATE_PTRACE] = "ptrace",
};

int sandbox_violation_from_name(const char *name)
{
	for (size_t i = 1; i < ARRAY_SIZE(violation_names); i++)
		if (strcmp(name, violation_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

int sandbox_violate(enum sandbox_violation v, char *err, size_t errsz)
{
	char *const argv[] = { "true", NULL }, *const envp[] = { NULL };
	long r = -1;

	errno = 0;
	switch (v) {
	case SANDBOX_VIOLATE_SOCKET:
		r = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case SANDBOX_VIOLATE_OPEN_WRITE:
		r = open(SANDBOX_VIOLATION_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		break;
	case SANDBOX_VIOLATE_EXECVE:
		r = execve("/bin/true", argv, envp);
		break;
	case SANDBOX_VIOLATE_PTRACE:
		r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	case SANDBOX_VIOLATE_NONE:
		return 0;
	}
	/* Still alive: the filter let the call through. */
	snprintf(err, errsz, "--test-violate %s: the sandbox did not stop the call "
		 "(it returned %ld%s%s)", violation_names[v], r, errno ? ", " : "",
		 errno ? strerror(errno) : "");
	return -EPERM;
}
