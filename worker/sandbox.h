/* The worker's sandbox, entered before it reads a byte of the document,
 * in a fixed order where each step is checked and any failure aborts:
 *
 *   0. look up the worker user
 *   1. unshare network and IPC (and mount) namespaces; memsafed has
 *      started the worker as PID 1 of its own PID namespace
 *   2. the filesystem view: with Landlock (step 8) or, where the kernel
 *      has none, an empty read-only root (needs the mount namespace);
 *      either way only poppler-data's directory stays readable
 *   3. empty the capability bounding set
 *   4. drop to the worker user: groups, gid, uid; verify uid 0 is gone
 *      (unprivileged: drop the user namespace's capabilities); verify no
 *      capability is left; set PR_SET_PDEATHSIG again (the uid change
 *      cleared it) and check the parent is still there
 *   5. rlimits: no core dumps, few fds, bounded file size (SIGXFSZ
 *      ignored, so a write past the limit fails with EFBIG)
 *   6. close every fd but 0-3 (document, frames, stderr, scratch)
 *   7. no_new_privs, not dumpable
 *   8. Landlock, where the kernel has it (verified: / cannot be opened)
 *   9. seccomp allowlist, kill-process default
 *
 * The worker never runs unsandboxed. */
#ifndef MEMSAFE_SANDBOX_H
#define MEMSAFE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Built with AddressSanitizer (./configure --enable-sanitizers)? */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

struct sandbox_opts {
	const char *user;         /* drop to this user (required when root) */
	uint64_t max_file_size;   /* RLIMIT_FSIZE for the scratch file */
	unsigned max_fds;         /* RLIMIT_NOFILE */
	pid_t parent;             /* getppid() at start: the daemon, or 0 */
	bool no_landlock;         /* tests: use the empty-root fallback */
};

/* What sandbox_enter applied, for the worker's "sandbox" frame. */
struct sandbox_report {
	const char *user;         /* dropped to, or NULL (started unprivileged) */
	bool user_ns, mount_ns, pid_ns, bounding_set_empty, seccomp;
	const char *fs;           /* "landlock" or "empty_root" */
	int landlock_abi;         /* with "landlock" */
	const char *readable[4];  /* directories still readable */
	size_t n_readable;
};

/* 0, or a negative errno with the failing step explained in err. */
int sandbox_enter(const struct sandbox_opts *o, struct sandbox_report *ret_report,
		  char *err, size_t errsz);
/* The kernel's Landlock ABI version, or a negative errno (-ENOSYS: not
 * built in; -EOPNOTSUPP: disabled at boot). */
int sandbox_landlock_abi(void);

/* For the tests only (memsafe-worker --test-violate NAME, an option the
 * daemon never passes and no document can reach): make one forbidden
 * call after sandbox_enter, which must kill the worker with SIGSYS. */
enum sandbox_violation {
	SANDBOX_VIOLATE_NONE,
	SANDBOX_VIOLATE_SOCKET,     /* socket(AF_INET, SOCK_STREAM) */
	SANDBOX_VIOLATE_OPEN_WRITE, /* create SANDBOX_VIOLATION_FILE in the cwd */
	SANDBOX_VIOLATE_EXECVE,     /* execve("/bin/true") */
	SANDBOX_VIOLATE_PTRACE,     /* ptrace(PTRACE_TRACEME) */
};
#define SANDBOX_VIOLATION_FILE "memsafe-test-violation"

/* The violation called name ("socket", "open-write", "execve",
 * "ptrace"), or -EINVAL. */
int sandbox_violation_from_name(const char *name);
/* Make the call. Returns only if the sandbox let it through: -EPERM,
 * with what happened in err. */
int sandbox_violate(enum sandbox_violation v, char *err, size_t errsz);

/* For the tests only (--test-read PATH): try to read PATH. 0 when the
 * sandbox refused (err says how), -EPERM when it let the read through. */
int sandbox_test_read(const char *path, char *err, size_t errsz);

#endif
