/* memsafectl's helpers for running other programs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"
#include "util.h"

int run_capture(char *const argv[], char **ret_out, size_t max, int timeout_ms,
		int *ret_status, char *err, size_t errsz)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, exec_err[2] = { -1, -1 };
	char ebuf[1024];
	size_t elen = 0, len = 0;
	_cleanup_free_ char *buf = malloc(max + 1);
	uint64_t deadline = now_mono_ms() + (uint64_t)timeout_ms;
	int status = 0, e = 0, r = 0;
	bool timed_out = false;
	pid_t pid;

	if (!buf)
		return -ENOMEM;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(exec_err, O_CLOEXEC) < 0) {
		r = -errno;
		goto close_all;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto close_all;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
		    dup2(errp[1], STDERR_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		e = errno;
		(void)!write(exec_err[1], &e, sizeof e);
		_exit(127);
	}
	close(out[1]);
	close(errp[1]);
	close(exec_err[1]);
	out[1] = errp[1] = exec_err[1] = -1;

	for (bool out_open = true, err_open = true; out_open || err_open;) {
		struct pollfd pfd[2] = { { out_open ? out[0] : -1, POLLIN, 0 },
					 { err_open ? errp[0] : -1, POLLIN, 0 } };
		uint64_t now = now_mono_ms();
		int n;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			timed_out = true;
			break;
		}
		n = poll(pfd, 2, (int)(deadline - now));
		if (n < 0 && errno != EINTR)
			break;
		if (pfd[0].revents) {
			char tmp[4096];
			ssize_t k = read(out[0], tmp, sizeof tmp);
			if (k <= 0)
				out_open = false;
			else if (len < max) {
				size_t take = MIN((size_t)k, max - len);
				memcpy(buf + len, tmp, take);
				len += take;
			}
		}
		if (pfd[1].revents) {
			char tmp[1024];
			ssize_t k = read(errp[0], tmp, sizeof tmp);
			if (k <= 0)
				err_open = false;
			else if (elen < sizeof ebuf - 1) {
				size_t take = MIN((size_t)k, sizeof ebuf - 1 - elen);
				memcpy(ebuf + elen, tmp, take);
				elen += take;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (read(exec_err[0], &e, sizeof e) == (ssize_t)sizeof e) {
		r = -e;
		snprintf(err, errsz, "cannot run %s: %s", argv[0], strerror(e));
		goto close_all;
	}
	if (timed_out) {
		r = -ETIMEDOUT;
		snprintf(err, errsz, "%s did not finish within %d ms and was killed", argv[0],
			 timeout_ms);
		goto close_all;
	}
	ebuf[elen] = '\0';
	ebuf[strcspn(ebuf, "\n")] = '\0';
	snprintf(err, errsz, "%s", ebuf);
	buf[len] = '\0';
	*ret_status = status;
	if (ret_out)
		*ret_out = steal_pointer(&buf);
close_all:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (exec_err[i] >= 0)
			close(exec_err[i]);
	}
	return r;
}

void run_describe(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by SIG%s", sigabbrev_np(WTERMSIG(status)) ?
			 sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(buf, size, "wait status %d", status);
}
