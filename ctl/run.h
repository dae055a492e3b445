/* Running a helper program (tar, memsafed --check-config): fork and exec,
 * never a shell, stdin from /dev/null, bounded in time. */
#ifndef MEMSAFE_CTL_RUN_H
#define MEMSAFE_CTL_RUN_H

#include <stddef.h>

/* Run argv (argv[0] looked up in $PATH) and capture up to max bytes of
 * its stdout into *ret_out (malloc'd, NUL-terminated) and its stderr's
 * first line into err. *ret_status is the wait status. Kills it after
 * timeout_ms. Returns 0 when it ran (whatever its exit), or a negative
 * errno (ENOENT: no such program; ETIMEDOUT). */
int run_capture(char *const argv[], char **ret_out, size_t max, int timeout_ms,
		int *ret_status, char *err, size_t errsz);

/* Describe a wait status: "exit status 2", "killed by SIGTERM". */
void run_describe(int status, char *buf, size_t size);

#endif
