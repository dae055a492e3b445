#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <signal.h>
#include <sys/wait.h>

#include "cgroup.h"
#include "config.h"
#include "job.h"
#include "spawn.h"
#include "json.h"
#include "sink.h"
#include "util.h"

/* Every chunk of the batch as one JSON line each, in one buffer, so the
 * batch reaches the file with a single write. */
static char *batch_lines(const struct job *job, yajl_val batch, size_t *ret_len)
{
	yajl_val chunks = json_get(batch, "chunks");
	uint64_t bid = 0;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);

	if (!out || !YAJL_IS_ARRAY(chunks)) {
		free(out);
		return NULL;
	}
	json_get_u64(batch, "batch", &bid);
	for (size_t i = 0; i < chunks->u.array.len; i++) {
		yajl_val c = chunks->u.array.values[i];
		_cleanup_json_gen_ yajl_gen g = json_gen_new(false);
		const unsigned char *buf;
		const char *text = "";
		uint64_t page = 0;
		size_t n;

		json_get_str(c, "text", &text);
		json_get_u64(c, "page", &page);
		yajl_gen_map_open(g);
		json_kuint(g, "job", job->id);
		json_kstr(g, "document", job->name);
		json_kstr(g, "sha256", job->sha256);
		json_kuint(g, "batch", bid);
		json_kuint(g, "chunk", i);
		json_kuint(g, "page", page);
		json_kstr(g, "text", text);
		yajl_gen_map_close(g);
		yajl_gen_get_buf(g, &buf, &n);
		while (len + n + 1 > cap) {
			char *p = realloc(out, cap * 2);
			if (!p) {
				free(out);
				return NULL;
			}
			out = p;
			cap *= 2;
		}
		memcpy(out + len, buf, n);
		len += n;
		out[len++] = '\n';
	}
	*ret_len = len;
	return out;
}

static int flush_jsonl(struct job *job, const char *state_dir, yajl_val batch,
		       char *err, size_t errsz)
{
	char dir[PATH_MAX];
	_cleanup_free_ char *lines = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0;
	int r;

	snprintf(dir, sizeof dir, "%s/kb/%s", state_dir, job->kb);
	if ((r = mkdir_p(dir, 0755)) < 0) {
		snprintf(err, errsz, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	lines = batch_lines(job, batch, &len);
	if (!lines) {
		snprintf(err, errsz, "the batch has no chunks array");
		return -EBADMSG;
	}
	if (len == 0)
		return 0;
	strncat(dir, "/chunks.jsonl", sizeof dir - strlen(dir) - 1);
	fd = open(dir, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errsz, "cannot open %s: %s", dir, strerror(errno));
		return r;
	}
	if ((r = write_full(fd, lines, len)) < 0 || (fsync(fd) < 0 && (r = -errno))) {
		snprintf(err, errsz, "writing %s failed: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

int sink_flush(struct job *job, const char *state_dir, yajl_val batch,
	       char *err, size_t errsz)
{
	if (strcmp(job->sink, "mock") == 0)
		return 0;
	if (strcmp(job->sink, "jsonl") == 0)
		return flush_jsonl(job, state_dir, batch, err, errsz);
	snprintf(err, errsz, "sink \"%s\" cannot flush here", job->sink);
	return -EOPNOTSUPP;
}

struct sink_exec {
	struct job *job;
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
	x->done(x->job, r, r ? err : NULL);
}

int sink_exec_start(struct job *job, struct event_base *base, const struct config *cfg,
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
	x->job = job;
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
	snprintf(e_job, sizeof e_job, "MEMSAFE_JOB=%llu", (unsigned long long)job->id);
	snprintf(e_kb, sizeof e_kb, "MEMSAFE_KB=%s", job->kb);
	snprintf(e_batch, sizeof e_batch, "MEMSAFE_BATCH=%llu",
		 (unsigned long long)job->last_batch_id);
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

int sink_jsonl_recover(const char *state_dir, const char *kb, uint64_t job_id,
		       uint64_t *max_batch, unsigned *max_page)
{
	char path[PATH_MAX], prefix[48], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	off_t good = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/kb/%s/chunks.jsonl", state_dir, kb);
	snprintf(prefix, sizeof prefix, "{\"job\":%llu,", (unsigned long long)job_id);
	f = fopen(path, "r+e");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while ((n = getline(&line, &cap, f)) > 0) {
		_cleanup_json_ yajl_val v = NULL;
		uint64_t b = 0, p = 0;
		char err[64];

		if (line[n - 1] != '\n')
			break;            /* torn: the crash hit mid-write */
		good += n;
		if (strncmp(line, prefix, strlen(prefix)) != 0 ||
		    json_parse(line, (size_t)n, &v, err, sizeof err) < 0)
			continue;
		json_get_u64(v, "batch", &b);
		json_get_u64(v, "page", &p);
		*max_batch = MAX(*max_batch, b);
		*max_page = MAX(*max_page, (unsigned)MIN(p, UINT32_MAX));
	}
	free(line);
	if (ftruncate(fileno(f), good) < 0) {
		int r = -errno;
		fclose(f);
		return r;
	}
	fclose(f);
	return 0;
}
