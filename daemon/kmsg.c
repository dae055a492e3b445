/* The kernel log: /dev/kmsg records kept for OOM and seccomp lines, and excerpts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmsg.h"
#include "util.h"

#define KMSG_KEEP 1024     /* lines kept, oldest dropped first */
#define KMSG_LINE_MAX 512  /* characters kept of one line */

struct kept {
	uint64_t ts_usec;
	int prio;
	char *text;
};

struct kmsg {
	int fd;
	struct event *ev;
	struct kept ring[KMSG_KEEP];
	size_t head, count;
	char status[256];
};

int kmsg_parse(const char *buf, size_t len, struct kmsg_record *ret)
{
	const char *semi = memchr(buf, ';', len), *nl;
	unsigned long long prio, seq, ts;
	char head[96];
	size_t hlen;

	if (!semi)
		return -EINVAL;
	hlen = (size_t)(semi - buf);
	if (hlen >= sizeof head)
		return -EINVAL;
	memcpy(head, buf, hlen);
	head[hlen] = '\0';
	/* Fields after ts (flags, and others later kernels add) are ignored. */
	if (sscanf(head, "%llu,%llu,%llu", &prio, &seq, &ts) != 3)
		return -EINVAL;
	ret->prio = (int)(prio & 7);
	ret->seq = seq;
	ret->ts_usec = ts;
	ret->text = semi + 1;
	nl = memchr(ret->text, '\n', len - hlen - 1);
	ret->len = nl ? (size_t)(nl - ret->text) : len - hlen - 1;
	return 0;
}

bool kmsg_relevant(const char *text, size_t len)
{
	static const char *const needles[] = {
		"oom", "out of memory", "memory cgroup", "memcg", "page allocation failure",
		"killed process", "amdgpu", "drm", "type=1326", "seccomp", "memsafe",
	};
	char low[KMSG_LINE_MAX + 1];
	size_t n = MIN(len, (size_t)KMSG_LINE_MAX);

	for (size_t i = 0; i < n; i++)
		low[i] = (char)((text[i] >= 'A' && text[i] <= 'Z') ? text[i] + 32 : text[i]);
	low[n] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(needles); i++)
		if (strstr(low, needles[i]))
			return true;
	return false;
}

static void keep(struct kmsg *k, const struct kmsg_record *r)
{
	struct kept *slot = &k->ring[(k->head + k->count) % KMSG_KEEP];

	if (k->count == KMSG_KEEP) {
		slot = &k->ring[k->head];
		k->head = (k->head + 1) % KMSG_KEEP;
		k->count--;
	}
	free(slot->text);
	slot->text = strndup(r->text, MIN(r->len, (size_t)KMSG_LINE_MAX));
	if (!slot->text)
		return;
	slot->ts_usec = r->ts_usec;
	slot->prio = r->prio;
	k->count++;
}

void kmsg_drain(struct kmsg *k)
{
	char buf[8192];

	if (!k || k->fd < 0)
		return;
	for (;;) {
		struct kmsg_record r;
		ssize_t n = read(k->fd, buf, sizeof buf - 1);

		if (n < 0 && errno == EPIPE)
			continue;   /* overrun: records were lost; go on */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		if (kmsg_parse(buf, (size_t)n, &r) == 0 && kmsg_relevant(r.text, r.len))
			keep(k, &r);
	}
}

static void kmsg_cb(evutil_socket_t fd, short what, void *arg)
{
	kmsg_drain(arg);
}

struct kmsg *kmsg_new(struct event_base *base, const char *path)
{
	struct kmsg *k = calloc(1, sizeof *k);

	if (!k)
		return NULL;
	k->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0) {
		snprintf(k->status, sizeof k->status, "%s could not be read: %s%s", path,
			 strerror(errno), errno == EPERM || errno == EACCES ?
			 " (reading it needs CAP_SYSLOG when kernel.dmesg_restrict=1)" : "");
		return k;
	}
	/* Only what happens from now on is ours to excerpt. */
	lseek(k->fd, 0, SEEK_END);
	k->ev = event_new(base, k->fd, EV_READ | EV_PERSIST, kmsg_cb, k);
	if (!k->ev || event_add(k->ev, NULL) < 0) {
		snprintf(k->status, sizeof k->status, "cannot watch %s", path);
		close(k->fd);
		k->fd = -1;
		return k;
	}
	snprintf(k->status, sizeof k->status, "reading %s", path);
	return k;
}

struct kmsg *kmsg_free(struct kmsg *k)
{
	if (!k)
		return NULL;
	if (k->ev)
		event_free(k->ev);
	if (k->fd >= 0)
		close(k->fd);
	for (size_t i = 0; i < KMSG_KEEP; i++)
		free(k->ring[i].text);
	free(k);
	return NULL;
}

const char *kmsg_status(const struct kmsg *k)
{
	return k ? k->status : "no kernel log reader";
}

/* name occurs in text as a whole cgroup name ("job-1" not in "job-12"). */
static bool has_name(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; (p = strstr(p, name)); p += n)
		if (p[n] < '0' || p[n] > '9')
			return true;
	return false;
}

static bool concerns(const char *text, const char *cgroup_name, pid_t pid)
{
	char pidpat[32], procpat[32];

	snprintf(pidpat, sizeof pidpat, "pid=%d,", (int)pid);
	snprintf(procpat, sizeof procpat, "process %d ", (int)pid);
	return (cgroup_name && has_name(text, cgroup_name)) ||
	       (pid > 0 && (strstr(text, pidpat) || strstr(text, procpat))) ||
	       strstr(text, "amdgpu") || strstr(text, "[drm]") ||
	       strstr(text, "page allocation failure");
}

int kmsg_excerpt(struct kmsg *k, FILE *f, uint64_t from_usec, uint64_t to_usec,
		 const char *cgroup_name, pid_t pid)
{
	int n = 0;

	if (!k || k->fd < 0) {
		fprintf(f, "# no kernel log lines: %s\n", kmsg_status(k));
		return -1;
	}
	for (size_t i = 0; i < k->count; i++) {
		const struct kept *e = &k->ring[(k->head + i) % KMSG_KEEP];
		if (e->ts_usec < from_usec || e->ts_usec > to_usec)
			continue;
		if (!concerns(e->text, cgroup_name, pid))
			continue;
		fprintf(f, "[%5" PRIu64 ".%06" PRIu64 "] <%d> %s\n", e->ts_usec / 1000000,
			e->ts_usec % 1000000, e->prio, e->text);
		n++;
	}
	if (n == 0)
		fprintf(f, "# no kernel log lines concern this job between %" PRIu64
			".%06" PRIu64 " and %" PRIu64 ".%06" PRIu64 " (monotonic seconds)\n",
			from_usec / 1000000, from_usec % 1000000, to_usec / 1000000,
			to_usec % 1000000);
	return n;
}

long kmsg_seccomp_syscall(struct kmsg *k, pid_t pid)
{
	char pidpat[32];

	if (!k)
		return -1;
	snprintf(pidpat, sizeof pidpat, " pid=%d ", (int)pid);
	for (size_t i = k->count; i-- > 0;) {
		const struct kept *e = &k->ring[(k->head + i) % KMSG_KEEP];
		const char *s;
		if (strstr(e->text, "type=1326") && strstr(e->text, pidpat) &&
		    (s = strstr(e->text, " syscall=")))
			return strtol(s + 9, NULL, 10);
	}
	return -1;
}
