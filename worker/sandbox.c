#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
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

/* The worker user's ids, looked up while /etc/passwd can still be read. */
static int lookup_user(const char *user, uid_t *ret_uid, gid_t *ret_gid, char *err, size_t errsz)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return FAIL(err, errsz, "worker user \"%s\" does not exist; create it "
			    "(systemd-sysusers does so from memsafed's sysusers.d entry) "
			    "or set worker_user in memsafed.conf", user);
	if (pw->pw_uid == 0)
		return FAIL(err, errsz, "worker user \"%s\" is root; it must be an "
			    "unprivileged user", user);
	*ret_uid = pw->pw_uid;
	*ret_gid = pw->pw_gid;
	return 0;
}

static int drop_user(const char *user, uid_t uid, gid_t gid, char *err, size_t errsz)
{
	uid_t r, e, s;

	if (setgroups(0, NULL) < 0)
		return FAIL(err, errsz, "setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		return FAIL(err, errsz, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		return FAIL(err, errsz, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
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

/* ---- Landlock (linux/landlock.h; raw syscalls, glibc has no wrappers) ----
 * Defined here rather than taken from the header: the build host's
 * headers may predate the kernel the worker runs on, and the ABI is
 * stable (Documentation/userspace-api/landlock.rst). */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_ABI1 ((1ULL << 13) - 1)   /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER (1ULL << 13)        /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)     /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)    /* ABI 5 */
#define LL_NET_ALL 3ULL                 /* ABI 4: bind, connect TCP */
#define LL_SCOPE_ALL 3ULL               /* ABI 6: abstract sockets, signals */

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;  /* ABI 4 */
	uint64_t scoped;              /* ABI 6 */
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

/* What the worker may still read once the sandbox is up: only what
 * poppler may load on first use after its globals are initialised,
 * the CMaps and cidToUnicode tables of poppler-data for CJK fonts (its
 * built-in data directory). The document and the scratch file are open
 * already; text extraction needs no fonts. (ASan builds need nothing
 * more: the runtime read /proc/self/maps at start and reports from that
 * copy when it cannot read it again.) */
static const char *const readable[] = {
	"/usr/share/poppler",
};

int sandbox_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

	return abi < 0 ? -errno : (int)abi;
}

static void report_readable(struct sandbox_report *rep, const char *path)
{
	if (rep->n_readable < ARRAY_SIZE(rep->readable))
		rep->readable[rep->n_readable++] = path;
}

/* Deny every filesystem access the kernel's Landlock knows but reading
 * beneath the `readable` directories; with ABI 4 and 6 also TCP bind and
 * connect, abstract UNIX sockets and signals to processes outside. Needs
 * no_new_privs. Verified: "/" cannot be opened afterwards. */
static int confine_landlock(int abi, struct sandbox_report *rep, char *err, size_t errsz)
{
	struct ll_ruleset_attr attr = { .handled_access_fs = LL_FS_ABI1 };
	size_t size = sizeof attr.handled_access_fs;
	int ruleset, fd, r = 0;

	if (abi >= 2)
		attr.handled_access_fs |= LL_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		attr.handled_access_fs |= LL_FS_IOCTL_DEV;
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_ALL;
		size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ALL;
		size = sizeof attr;
	}
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (ruleset < 0)
		return FAIL(err, errsz, "landlock_create_ruleset (ABI %d): %s", abi, strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(readable) && r == 0; i++) {
		struct ll_path_beneath_attr pb = {
			.allowed_access = LL_FS_READ_FILE | LL_FS_READ_DIR,
		};

		fd = open(readable[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;   /* not installed: nothing to allow */
		if (fd < 0) {
			r = FAIL(err, errsz, "opening %s for its Landlock rule: %s", readable[i],
				 strerror(errno));
			break;
		}
		pb.parent_fd = fd;
		if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
			r = FAIL(err, errsz, "landlock_add_rule(%s): %s", readable[i], strerror(errno));
		else
			report_readable(rep, readable[i]);
		close(fd);
	}
	if (r == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		r = FAIL(err, errsz, "landlock_restrict_self: %s", strerror(errno));
	close(ruleset);
	if (r < 0)
		return r;
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		errno = EPERM;
		return FAIL(err, errsz, "Landlock was applied but / can still be read");
	}
	rep->fs = "landlock";
	rep->landlock_abi = abi;
	return 0;
}

/* The fallback where the kernel has no Landlock: an empty, read-only
 * tmpfs becomes the root, holding read-only binds of the `readable`
 * directories and nothing else. Needs the mount namespace and
 * CAP_SYS_ADMIN in it (root, or the worker's own user namespace), so it
 * runs before the drop. The old root is detached (pivot_root; from an
 * initramfs, which cannot be pivoted away from, the new root is moved
 * onto / and chrooted into); escaping a chroot needs CAP_SYS_CHROOT,
 * which the drop and the empty bounding set take away. Verified: /etc
 * is gone afterwards. */
static int confine_empty_root(struct sandbox_report *rep, char *err, size_t errsz)
{
	static const char *const mountpoints[] = { "/tmp", "/mnt", "/run", "/var/tmp" };
	const char *base = NULL;
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	char dst[256];
	struct stat st;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return FAIL(err, errsz, "making the mounts private: %s", strerror(errno));
	/* Any directory serves as the place to build the new root: in this
	 * mount namespace, what is mounted over it is ours alone. */
	for (size_t i = 0; i < ARRAY_SIZE(mountpoints) && !base; i++)
		if (stat(mountpoints[i], &st) == 0 && S_ISDIR(st.st_mode) &&
		    mount("memsafe-root", mountpoints[i], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "size=64k,nr_inodes=64,mode=0755") == 0)
			base = mountpoints[i];
	if (!base)
		return FAIL(err, errsz, "cannot mount a tmpfs for the empty root: %s", strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(readable); i++) {
		const char *src = readable[i];

		if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;   /* not installed: nothing to bind */
		snprintf(dst, sizeof dst, "%s%s", base, src);
		if (mkdir_p(dst, 0755) < 0 ||
		    mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | ro, NULL) < 0)
			return FAIL(err, errsz, "binding %s read-only into the empty root: %s",
				    src, strerror(errno));
		report_readable(rep, src);
	}
	if (mount(NULL, base, NULL, MS_REMOUNT | ro, "size=64k,nr_inodes=64,mode=0755") < 0)
		return FAIL(err, errsz, "making the empty root read-only: %s", strerror(errno));
	if (chdir(base) < 0)
		return FAIL(err, errsz, "chdir(%s): %s", base, strerror(errno));
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		/* The old root now sits on top of the new one: detach it. */
		if (umount2(".", MNT_DETACH) < 0)
			return FAIL(err, errsz, "detaching the old root: %s", strerror(errno));
	} else if (errno == EINVAL) {
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
			return FAIL(err, errsz, "moving into the empty root: %s", strerror(errno));
	} else {
		return FAIL(err, errsz, "pivot_root into the empty root: %s", strerror(errno));
	}
	if (chdir("/") < 0)
		return FAIL(err, errsz, "chdir(/) in the empty root: %s", strerror(errno));
	if (stat("/etc", &st) == 0) {
		errno = EPERM;
		return FAIL(err, errsz, "the empty root still shows /etc");
	}
	rep->fs = "empty_root";
	return 0;
}

/* Empty the capability bounding set (no exec can ever gain a capability
 * again), then, for a worker that stays in its own user namespace (the
 * unprivileged path, where it holds every capability of that namespace),
 * the capabilities themselves; the drop to the worker user clears them
 * for a worker started as root. Needs CAP_SETPCAP: before the drop. */
static int drop_bounding_set(char *err, size_t errsz)
{
	int cap;

	/* PR_CAPBSET_READ fails with EINVAL past the kernel's last one. */
	for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return FAIL(err, errsz, "PR_CAPBSET_DROP(%d): %s", cap, strerror(errno));
	if (cap == 0)
		return FAIL(err, errsz, "PR_CAPBSET_READ: %s", strerror(errno));
	return 0;
}

static int drop_caps(char *err, size_t errsz)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return FAIL(err, errsz, "clearing ambient capabilities: %s", strerror(errno));
	if (syscall(SYS_capset, &h, d) < 0)
		return FAIL(err, errsz, "capset: %s", strerror(errno));
	return 0;
}

/* Verify: no capability left in any set, none to gain. */
static int check_caps(char *err, size_t errsz)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return FAIL(err, errsz, "capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable) {
			errno = EPERM;
			return FAIL(err, errsz, "capabilities remain after the drop");
		}
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0) {
			errno = EPERM;
			return FAIL(err, errsz, "capability %d is still in the bounding set", cap);
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

int sandbox_enter(const struct sandbox_opts *o, struct sandbox_report *rep,
		  char *err, size_t errsz)
{
	int flags = CLONE_NEWNET | CLONE_NEWIPC;
	int abi = -ENOSYS, r;
	uid_t uid = 0;
	gid_t gid = 0;

	memset(rep, 0, sizeof *rep);
	/* 0. Who to become, checked before anything changes. */
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
		if ((r = lookup_user(o->user, &uid, &gid, err, errsz)) < 0)
			return r;
	}
	/* 1. Namespaces: root can unshare directly; anyone else needs a user
	 * namespace first to hold the capability. */
	if (geteuid() != 0)
		flags |= CLONE_NEWUSER;
	if (unshare(flags) < 0)
		return FAIL(err, errsz, "unshare(network, IPC) failed: %s", strerror(errno));
	rep->user_ns = flags & CLONE_NEWUSER;
	/* A mount namespace keeps any mount the worker could ever make
	 * private; required only for the empty-root fallback below. */
	rep->mount_ns = unshare(CLONE_NEWNS) == 0;
	/* memsafed starts every worker as PID 1 of a PID namespace of its
	 * own (daemon/spawn.c); a worker started by hand has none. */
	rep->pid_ns = getpid() == 1;

	/* 2. The filesystem view: Landlock where the kernel has it (applied
	 * in step 8, it needs no_new_privs), else an empty root, built now
	 * while the worker still may mount. */
	if (!o->no_landlock)
		abi = sandbox_landlock_abi();
	if (abi < 1) {
		if (!rep->mount_ns)
			return FAIL(err, errsz, "the kernel has no Landlock (%s) and the worker "
				    "has no mount namespace for an empty root: its filesystem "
				    "view cannot be confined", strerror(abi < 0 ? -abi : ENOSYS));
		if ((r = confine_empty_root(rep, err, errsz)) < 0)
			return r;
	}

	/* 3. Capabilities: an empty bounding set, and none left in the
	 * worker's own user namespace. */
	if ((r = drop_bounding_set(err, errsz)) < 0)
		return r;
	rep->bounding_set_empty = true;

	/* 4. Identity. */
	if (uid != 0) {
		if ((r = drop_user(o->user, uid, gid, err, errsz)) < 0)
			return r;
		rep->user = o->user;
	} else if ((r = drop_caps(err, errsz)) < 0) {
		return r;
	}
	if ((r = check_caps(err, errsz)) < 0)
		return r;
	if ((r = watch_parent(o->parent, err, errsz)) < 0)
		return r;

	/* 5. Limits. */
	if (set_limit(RLIMIT_CORE, 0) < 0 ||
	    set_limit(RLIMIT_NOFILE, o->max_fds) < 0 ||
	    set_limit(RLIMIT_FSIZE, o->max_file_size) < 0)
		return FAIL(err, errsz, "setrlimit: %s", strerror(errno));
	/* Past RLIMIT_FSIZE a write fails with EFBIG, which the worker
	 * reports, instead of SIGXFSZ killing it unexplained. */
	if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		return FAIL(err, errsz, "ignoring SIGXFSZ: %s", strerror(errno));

	/* 6. Nothing inherited but our pipes and scratch file. */
	if (syscall(SYS_close_range, 4U, ~0U, 0) < 0)
		return FAIL(err, errsz, "close_range: %s", strerror(errno));

	/* 7, 8, 9. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return FAIL(err, errsz, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return FAIL(err, errsz, "PR_SET_DUMPABLE: %s", strerror(errno));
	if (abi >= 1 && (r = confine_landlock(abi, rep, err, errsz)) < 0)
		return r;
	if ((r = load_seccomp(err, errsz)) < 0)
		return r;
	rep->seccomp = true;
	return 0;
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

int sandbox_test_read(const char *path, char *err, size_t errsz)
{
	char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errsz, "--test-read %s: refused: %s", path, strerror(errno));
		return 0;
	}
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0) {
		snprintf(err, errsz, "--test-read %s: opened, but reading was refused: %s",
			 path, strerror(errno));
		return 0;
	}
	snprintf(err, errsz, "--test-read %s: the sandbox let it be read (%zd bytes)", path, n);
	return -EPERM;
}
