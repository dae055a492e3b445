/* The exec sink: the configured command per batch, inside the job's cgroup, with a timeout. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "config.h"
#include "sink.h"
#include "spawn.h"
#include "util.h"

struct sink_exec {
	void *arg;
	sink_exec_done_fn done;
	pid_t pid;
	int pidfd, in_fd;
	char *body;
	size_t len, pos;
	bool timed_out;
	uint64_t timeout_ms;
	struct event *ev_exit, *ev_in, *ev_timeout;
};

static void exec_close_input(struct sink_exec *x)
{
	if (x->ev_in) {
		event_free(x->ev_in);
		x->ev_in = NULL;
	}
	if (x->in_fd >= 0) {
		close(x->in_fd);
		x->in_fd = -1;
	}
}

static void exec_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_exec *x = arg;
	ssize_t n = write(x->in_fd, x->body + x->pos, x->len - x->pos);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		x->pos += (size_t)n;
	/* Done, or the command stopped reading (EPIPE): its exit decides. */
	if (n < 0 || x->pos == x->len)
		exec_close_input(x);
}

static void exec_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_exec *x = arg;

	x->timed_out = true;
	kill(x->pid, SIGKILL);
}

static void exec_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_exec *x = arg;
	struct rusage ru;
	siginfo_t si;
	char err[160];
	int r = 0;

	if (spawn_reap(x->pidfd, &si, &ru) < 0)
		return;
	x->pid = 0;
	if (x->timed_out) {
		snprintf(err, sizeof err, "the exec sink command ran longer than %llu ms "
			 "and was killed", (unsigned long long)x->timeout_ms);
		r = -ETIMEDOUT;
	} else if (si.si_code != CLD_EXITED) {
		snprintf(err, sizeof err, "the exec sink command was killed by signal %d (%s)",
			 si.si_status, strsignal(si.si_status));
		r = -EINTR;
	} else if (si.si_status != 0) {
		snprintf(err, sizeof err, "the exec sink command exited with status %d",
			 si.si_status);
		r = -EIO;
	}
	/* done frees x (through sink_exec_free); nothing touches x after. */
	x->done(x->arg, r, r ? err : NULL);
}

int sink_exec_start(const struct job_record *rec, void *arg, struct event_base *base, const struct config *cfg,
		    struct cgroup_job *cg, const char *body, size_t len,
		    sink_exec_done_fn done, struct sink_exec **ret, char *err, size_t errsz)
{
	char e_job[48], e_kb[96], e_batch[48];
	char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", e_job, e_kb, e_batch, NULL };
	char *argv[] = { "/bin/sh", "-c", cfg->exec_command, NULL };
	struct spawn_args sa = { .path = "/bin/sh", .argv = argv, .envp = envp,
				 .cgroup_dirfd = -1, .procs_fds = { -1, -1 } };
	struct sink_exec *x;
	int in[2], devnull, r;
	struct timeval tv;

	if (!cfg->exec_command) {
		snprintf(err, errsz, "the exec sink has no [sink.exec] command configured");
		return -EINVAL;
	}
	x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	x->arg = arg;
	x->done = done;
	x->pidfd = x->in_fd = -1;
	x->timeout_ms = cfg->exec_timeout_ms;
	x->body = malloc(len);
	if (!x->body) {
		free(x);
		return -ENOMEM;
	}
	memcpy(x->body, body, len);
	x->len = len;
	snprintf(e_job, sizeof e_job, "MEMSAFE_JOB=%llu", (unsigned long long)rec->id);
	snprintf(e_kb, sizeof e_kb, "MEMSAFE_KB=%s", rec->kb);
	snprintf(e_batch, sizeof e_batch, "MEMSAFE_BATCH=%llu",
		 (unsigned long long)rec->last_batch_id);
	if (pipe2(in, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	/* Inside the job's cgroup: what the sink costs counts against the
	 * job's memory.max, not against the desktop. */
	r = cgroup_job_procs_fds(cg, sa.procs_fds, 2);
	sa.cgroup_dirfd = cgroup_job_dirfd(cg);
	sa.fds[0] = in[0];
	sa.fds[1] = devnull >= 0 ? devnull : STDERR_FILENO;
	sa.fds[2] = STDERR_FILENO;
	sa.fds[3] = -1;
	if (r >= 0)
		r = spawn_process(&sa, &x->pid, &x->pidfd);
	for (int i = 0; i < 2; i++)
		if (sa.procs_fds[i] >= 0)
			close(sa.procs_fds[i]);
	close(in[0]);
	if (devnull >= 0)
		close(devnull);
	if (r < 0) {
		close(in[1]);
		goto fail;
	}
	x->in_fd = in[1];
	evutil_make_socket_nonblocking(x->in_fd);
	x->ev_exit = event_new(base, x->pidfd, EV_READ, exec_exit_cb, x);
	x->ev_in = event_new(base, x->in_fd, EV_WRITE | EV_PERSIST, exec_in_cb, x);
	x->ev_timeout = evtimer_new(base, exec_timeout_cb, x);
	if (!x->ev_exit || !x->ev_in || !x->ev_timeout) {
		sink_exec_free(x);
		snprintf(err, errsz, "out of memory starting the exec sink");
		return -ENOMEM;
	}
	tv.tv_sec = (time_t)(x->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(x->timeout_ms % 1000) * 1000;
	event_add(x->ev_exit, NULL);
	event_add(x->ev_in, NULL);
	event_add(x->ev_timeout, &tv);
	*ret = x;
	return 0;
fail:
	snprintf(err, errsz, "cannot run the exec sink command: %s", strerror(-r));
	free(x->body);
	free(x);
	return r;
}

struct sink_exec *sink_exec_free(struct sink_exec *x)
{
	if (!x)
		return NULL;
	exec_close_input(x);
	if (x->pid > 0)   /* still running: killed, and reaped by the loop */
		spawn_abandon(x->ev_exit ? event_get_base(x->ev_exit) : NULL, x->pidfd);
	else if (x->pidfd >= 0)
		close(x->pidfd);
	if (x->ev_exit)
		event_free(x->ev_exit);
	if (x->ev_timeout)
		event_free(x->ev_timeout);
	free(x->body);
	free(x);
	return NULL;
}

