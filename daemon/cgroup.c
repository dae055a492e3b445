/* Job cgroups: probing unified or hybrid mode, limits, counters, kill and freeze. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "cgroup.h"
#include "procfs.h"
#include "util.h"

struct cgroup_root {
	enum cgroup_mode mode;
	char *own;        /* unified: our cgroup; hybrid: our v1 memory cgroup */
	char *jobs;       /* where job-<id> directories are made */
	char *pids_jobs;  /* hybrid: v1 pids jobs directory, or NULL */
	char *pids_own;   /* hybrid: our v1 pids cgroup, or NULL */
	size_t mount_len; /* length of the mount point prefix of own */
	bool has_peak, has_kill, has_swap, has_oom_group, has_memsw;
};

struct cgroup_job {
	struct cgroup_root *root;
	uint64_t id;
	char *path;       /* memory cgroup */
	char *pids_path;  /* hybrid: v1 pids cgroup, or NULL */
	int dirfd;        /* O_PATH|O_DIRECTORY of path */
	int watch_fd;     /* inotify (v2) or eventfd (v1), or -1 */
	char name[32];    /* job-<id> */
};

const char *cgroup_mode_name(enum cgroup_mode mode)
{
	return mode == CGROUP_UNIFIED ? "unified" : "hybrid";
}

enum cgroup_mode cgroup_mode(const struct cgroup_root *root) { return root->mode; }
const char *cgroup_jobs_path(const struct cgroup_root *root) { return root->jobs; }
bool cgroup_has_peak(const struct cgroup_root *root) { return root->has_peak; }
bool cgroup_has_kill(const struct cgroup_root *root) { return root->has_kill; }

static char *path_join(const char *a, const char *b)
{
	char *s;

	/* "/" as a cgroup path adds nothing. */
	if (strcmp(b, "/") == 0)
		b = "";
	if (asprintf(&s, "%s%s%s", a, *b && *b != '/' ? "/" : "", b) < 0)
		return NULL;
	return s;
}

static bool file_exists(const char *dir, const char *name)
{
	char p[PATH_MAX];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

int cgroup_parse_keyed(const char *text, const char *key, uint64_t *ret)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			char num[32];
			size_t n = strcspn(p + klen + 1, "\n");
			if (n >= sizeof num)
				return -ERANGE;
			memcpy(num, p + klen + 1, n);
			num[n] = '\0';
			return parse_u64(num, ret);
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}

void cgroup_parse_events(const char *text, struct cgroup_events *ev)
{
	*ev = (struct cgroup_events){0};
	cgroup_parse_keyed(text, "low", &ev->low);
	cgroup_parse_keyed(text, "high", &ev->high);
	cgroup_parse_keyed(text, "max", &ev->max);
	cgroup_parse_keyed(text, "oom", &ev->oom);
	cgroup_parse_keyed(text, "oom_kill", &ev->oom_kill);
	cgroup_parse_keyed(text, "oom_group_kill", &ev->oom_group_kill);
}

void cgroup_parse_stat(const char *text, enum cgroup_mode mode, uint64_t *anon,
		       uint64_t *file)
{
	*anon = *file = 0;
	if (mode == CGROUP_UNIFIED) {
		cgroup_parse_keyed(text, "anon", anon);
		cgroup_parse_keyed(text, "file", file);
	} else {
		cgroup_parse_keyed(text, "rss", anon);
		cgroup_parse_keyed(text, "cache", file);
	}
}

void cgroup_parse_oom_control(const char *text, uint64_t *oom_kill, bool *under_oom)
{
	uint64_t v = 0;

	*oom_kill = 0;
	cgroup_parse_keyed(text, "oom_kill", oom_kill);
	*under_oom = cgroup_parse_keyed(text, "under_oom", &v) == 0 && v;
}

static long fs_type(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) < 0 ? -1 : (long)sfs.f_type;
}

int cgroup_probe(const char *sys_root, const char *self_text,
		 struct cgroup_root **ret, char **err)
{
	_cleanup_free_ char *v2 = NULL, *mem = NULL, *pids = NULL;
	_cleanup_free_ char *memroot = NULL, *unified = NULL;
	struct cgroup_root *root;
	char ctl[512];

	*err = NULL;
	if (procfs_parse_cgroup(self_text, &v2, &mem, &pids) < 0) {
		*err = strdup("cannot tell our cgroup from /proc/self/cgroup");
		return -ENOENT;
	}
	root = calloc(1, sizeof *root);
	if (!root)
		return -ENOMEM;

	if (fs_type(sys_root) == CGROUP2_SUPER_MAGIC && v2) {
		root->mode = CGROUP_UNIFIED;
		root->mount_len = strlen(sys_root);
		root->own = path_join(sys_root, v2);
		if (!root->own)
			goto oom;
		{
			char p[PATH_MAX];
			snprintf(p, sizeof p, "%s/cgroup.controllers", root->own);
			if (read_small_file(p, ctl, sizeof ctl) < 0 ||
			    !strstr(ctl, "memory")) {
				if (asprintf(err, "the memory controller is not available to "
					     "%s (its cgroup.controllers is \"%.*s\"): run "
					     "memsafed as a systemd service with Delegate=yes, "
					     "or enable +memory in the parent's "
					     "cgroup.subtree_control",
					     root->own, (int)strcspn(ctl, "\n"), ctl) < 0)
					*err = NULL;
				cgroup_root_free(root);
				return -EOPNOTSUPP;
			}
		}
		root->jobs = path_join(root->own, "jobs");
		if (!root->jobs)
			goto oom;
		root->has_kill = file_exists(root->own, "cgroup.kill");
		return *ret = root, 0;
	}

	memroot = path_join(sys_root, "memory");
	unified = path_join(sys_root, "unified");
	if (!memroot || !unified)
		goto oom;
	if (mem && fs_type(memroot) == CGROUP_SUPER_MAGIC) {
		root->mode = CGROUP_HYBRID;
		root->mount_len = strlen(memroot);
		root->own = path_join(memroot, mem);
		if (!root->own)
			goto oom;
		if (!file_exists(root->own, "memory.limit_in_bytes")) {
			if (asprintf(err, "the v1 memory controller has no "
				     "memory.limit_in_bytes in %s", root->own) < 0)
				*err = NULL;
			cgroup_root_free(root);
			return -EOPNOTSUPP;
		}
		/* v1 gives no cgroup of our own: several daemons (tests, users)
		 * may share this one, so each takes memsafed-<pid>. */
		char inst[32];
		snprintf(inst, sizeof inst, "memsafed-%d", (int)getpid());
		root->jobs = path_join(root->own, inst);
		if (!root->jobs)
			goto oom;
		if (pids) {
			_cleanup_free_ char *pidsroot = path_join(sys_root, "pids");
			_cleanup_free_ char *pown = pidsroot ? path_join(pidsroot, pids) : NULL;
			if (pown && fs_type(pidsroot) == CGROUP_SUPER_MAGIC) {
				root->pids_own = strdup(pown);
				root->pids_jobs = path_join(pown, inst);
			}
		}
		root->has_peak = true; /* memory.max_usage_in_bytes */
		root->has_memsw = file_exists(root->own, "memory.memsw.limit_in_bytes");
		return *ret = root, 0;
	}

	if (asprintf(err, "no usable memory controller: %s is neither cgroup v2 with "
		     "the memory controller nor a hybrid layout with a v1 memory "
		     "hierarchy at %s. Boot with cgroup v2 (systemd.unified_cgroup_"
		     "hierarchy=1) or mount the v1 memory controller; "
		     "`memsafectl doctor` explains more", sys_root, memroot) < 0)
		*err = NULL;
	cgroup_root_free(root);
	return -EOPNOTSUPP;
oom:
	cgroup_root_free(root);
	return -ENOMEM;
}

struct cgroup_root *cgroup_root_free(struct cgroup_root *root)
{
	if (!root)
		return NULL;
	/* Our instance directory goes with us (hybrid); jobs/ stays (v2). */
	if (root->mode == CGROUP_HYBRID && root->jobs) {
		rmdir(root->jobs);
		if (root->pids_jobs)
			rmdir(root->pids_jobs);
	}
	free(root->own);
	free(root->jobs);
	free(root->pids_jobs);
	free(root->pids_own);
	free(root);
	return NULL;
}

/* SIGKILL every pid listed in dir/cgroup.procs; returns how many. */
static int kill_procs(const char *dir)
{
	char p[PATH_MAX], buf[8192];
	int n = 0;

	snprintf(p, sizeof p, "%s/cgroup.procs", dir);
	if (read_small_file(p, buf, sizeof buf) <= 0)
		return 0;
	for (char *s = buf, *e; *s; s = e) {
		long pid = strtol(s, &e, 10);
		if (e == s)
			break;
		if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
		while (*e == '\n')
			e++;
	}
	return n;
}

/* Remove dir, killing what is inside and waiting up to wait_ms for the
 * kernel to let the last exiting task go. */
static int remove_cgroup(const char *dir, bool use_kill_file, unsigned wait_ms)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	if (use_kill_file) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/cgroup.kill", dir);
		if (write_file(p, "1") < 0)
			kill_procs(dir);
	} else {
		kill_procs(dir);
	}
	for (unsigned i = 0;; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		if (i >= wait_ms / 2)
			return -EBUSY;
		kill_procs(dir);
		nanosleep(&ts, NULL);
	}
}

/* Remove job-* cgroups an earlier daemon left behind. */
static void remove_orphans(const char *jobs, bool use_kill_file)
{
	DIR *d = opendir(jobs);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		if (strncmp(de->d_name, "job-", 4) != 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", jobs, de->d_name);
		remove_cgroup(p, use_kill_file, 200);
	}
	closedir(d);
}

/* memsafed-<pid> directories of daemons that are gone (and the older
 * memsafed-jobs): their job cgroups are orphans. */
static void remove_dead_instances(const char *own)
{
	DIR *d = opendir(own);
	struct dirent *de;
	uint64_t pid;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		if (strncmp(de->d_name, "memsafed-", 9) != 0)
			continue;
		if (parse_u64(de->d_name + 9, &pid) == 0 &&
		    (pid == (uint64_t)getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;   /* ours, or a live daemon's */
		snprintf(p, sizeof p, "%s/%s", own, de->d_name);
		remove_orphans(p, false);
		rmdir(p);
	}
	closedir(d);
}

int cgroup_setup(struct cgroup_root *root, char **err)
{
	char p[PATH_MAX];
	int r;

	*err = NULL;
	if (root->mode == CGROUP_UNIFIED) {
		/* v2 lets a cgroup enable controllers for its children only
		 * while it has no processes: move ourselves into a leaf first. */
		snprintf(p, sizeof p, "%s/supervisor", root->own);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			goto fail;
		snprintf(p, sizeof p, "%s/supervisor/cgroup.procs", root->own);
		if ((r = write_file(p, "0")) < 0) {
			errno = -r;
			goto fail;
		}
		snprintf(p, sizeof p, "%s/cgroup.subtree_control", root->own);
		if (write_file(p, "+memory +pids") < 0 && (r = write_file(p, "+memory")) < 0) {
			errno = -r;
			goto fail;
		}
		if (mkdir(root->jobs, 0755) < 0 && errno != EEXIST)
			goto fail;
		snprintf(p, sizeof p, "%s/cgroup.subtree_control", root->jobs);
		if (write_file(p, "+memory +pids") < 0 && (r = write_file(p, "+memory")) < 0) {
			errno = -r;
			goto fail;
		}
		snprintf(p, sizeof p, "%s/memory.peak", root->jobs);
		root->has_peak = access(p, F_OK) == 0;
		root->has_swap = file_exists(root->jobs, "memory.swap.max");
		root->has_oom_group = file_exists(root->jobs, "memory.oom.group");
	} else {
		if (mkdir(root->jobs, 0755) < 0 && errno != EEXIST) {
			snprintf(p, sizeof p, "%s", root->jobs);
			goto fail;
		}
		if (root->pids_jobs && mkdir(root->pids_jobs, 0755) < 0 && errno != EEXIST) {
			free(root->pids_jobs);
			root->pids_jobs = NULL;
		}
	}
	remove_orphans(root->jobs, root->has_kill);
	if (root->pids_jobs)
		remove_orphans(root->pids_jobs, false);
	if (root->mode == CGROUP_HYBRID) {
		remove_dead_instances(root->own);
		if (root->pids_own)
			remove_dead_instances(root->pids_own);
	}
	return 0;
fail:
	r = -errno;
	if (asprintf(err, "cannot set up the job cgroups (%s): %s. memsafed needs a "
		     "cgroup subtree it owns: run it as the systemd service "
		     "(Delegate=yes) or as root in a cgroup with no other processes",
		     p, strerror(-r)) < 0)
		*err = NULL;
	return r;
}

static int write_u64(const char *dir, const char *name, uint64_t v)
{
	char p[PATH_MAX], val[32];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	snprintf(val, sizeof val, "%" PRIu64, v);
	return write_file(p, val);
}

int cgroup_job_create(struct cgroup_root *root, uint64_t id,
		      const struct cgroup_limits *lim, struct cgroup_job **ret)
{
	struct cgroup_job *job = calloc(1, sizeof *job);
	char name[32];
	int r;

	if (!job)
		return -ENOMEM;
	job->root = root;
	job->id = id;
	job->dirfd = -1;
	job->watch_fd = -1;
	snprintf(name, sizeof name, "job-%" PRIu64, id);
	snprintf(job->name, sizeof job->name, "%s", name);
	job->path = path_join(root->jobs, name);
	if (!job->path) {
		free(job);
		return -ENOMEM;
	}
	if (mkdir(job->path, 0755) < 0) {
		r = -errno;
		goto fail_nodir;
	}

	if (root->mode == CGROUP_UNIFIED) {
		if ((r = write_u64(job->path, "memory.max", lim->memory_max)) < 0)
			goto fail;
		if (lim->memory_high && (r = write_u64(job->path, "memory.high", lim->memory_high)) < 0)
			goto fail;
		if (root->has_swap && (r = write_u64(job->path, "memory.swap.max", lim->swap_max)) < 0)
			goto fail;
		if (root->has_oom_group && (r = write_u64(job->path, "memory.oom.group", 1)) < 0)
			goto fail;
		if (lim->pids_max && file_exists(job->path, "pids.max") &&
		    (r = write_u64(job->path, "pids.max", lim->pids_max)) < 0)
			goto fail;
	} else {
		if ((r = write_u64(job->path, "memory.limit_in_bytes", lim->memory_max)) < 0)
			goto fail;
		/* memsw is memory+swap and must not be below the memory limit. */
		if (root->has_memsw &&
		    (r = write_u64(job->path, "memory.memsw.limit_in_bytes",
				   lim->memory_max + lim->swap_max)) < 0)
			goto fail;
		/* v1 has no memory.high; the soft limit is the nearest thing
		 * (reclaimed towards under global pressure). */
		if (lim->memory_high)
			write_u64(job->path, "memory.soft_limit_in_bytes", lim->memory_high);
		if (root->pids_jobs) {
			job->pids_path = path_join(root->pids_jobs, name);
			if (job->pids_path && mkdir(job->pids_path, 0755) == 0) {
				if (lim->pids_max)
					write_u64(job->pids_path, "pids.max", lim->pids_max);
			} else {
				free(job->pids_path);
				job->pids_path = NULL;
			}
		}
	}
	job->dirfd = open(job->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (job->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	*ret = job;
	return 0;
fail:
	if (job->pids_path)
		rmdir(job->pids_path);
	rmdir(job->path);
fail_nodir:
	free(job->pids_path);
	free(job->path);
	free(job);
	return r;
}

int cgroup_job_destroy(struct cgroup_job *job, unsigned wait_ms)
{
	int r = 0;

	if (!job)
		return 0;
	if (job->dirfd >= 0)
		close(job->dirfd);
	if (job->watch_fd >= 0)
		close(job->watch_fd);
	job->dirfd = job->watch_fd = -1;
	/* Once removed, a path is forgotten, so a retry after -EBUSY only
	 * tries what is left. */
	if (job->path && (r = remove_cgroup(job->path, job->root->has_kill, wait_ms)) == 0) {
		free(job->path);
		job->path = NULL;
	}
	if (job->pids_path && remove_cgroup(job->pids_path, false, wait_ms) == 0) {
		free(job->pids_path);
		job->pids_path = NULL;
	}
	if (job->path || job->pids_path)
		return r < 0 ? r : -EBUSY;
	free(job);
	return 0;
}

int cgroup_job_dirfd(const struct cgroup_job *job)
{
	return job->root->mode == CGROUP_UNIFIED ? job->dirfd : -1;
}

int cgroup_job_procs_fds(const struct cgroup_job *job, int *fds, int max)
{
	const char *dirs[2] = { job->path, job->pids_path };
	int n = 0;

	for (int i = 0; i < 2 && dirs[i]; i++) {
		char p[PATH_MAX];
		int fd;

		if (n == max)
			break;
		snprintf(p, sizeof p, "%s/cgroup.procs", dirs[i]);
		fd = open(p, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			int r = -errno;
			while (n > 0)
				close(fds[--n]);
			return r;
		}
		fds[n++] = fd;
	}
	return n;
}

int cgroup_job_stats(const struct cgroup_job *job, struct cgroup_stats *ret)
{
	struct cgroup_stats st = {0};
	char buf[4096];
	int fd = job->dirfd;

	if (job->root->mode == CGROUP_UNIFIED) {
		ssize_t n = read_small_fileat(fd, "memory.current", buf, sizeof buf);
		if (n < 0)
			return (int)n;
		buf[strcspn(buf, "\n")] = '\0';
		parse_u64(buf, &st.current);
		if (job->root->has_peak &&
		    read_small_fileat(fd, "memory.peak", buf, sizeof buf) > 0) {
			buf[strcspn(buf, "\n")] = '\0';
			parse_u64(buf, &st.peak);
		}
		if (read_small_fileat(fd, "memory.events", buf, sizeof buf) > 0)
			cgroup_parse_events(buf, &st.ev);
	} else {
		uint64_t oom_kill = 0;
		bool under = false;

		ssize_t n = read_small_fileat(fd, "memory.usage_in_bytes", buf, sizeof buf);
		if (n < 0)
			return (int)n;
		buf[strcspn(buf, "\n")] = '\0';
		parse_u64(buf, &st.current);
		if (read_small_fileat(fd, "memory.max_usage_in_bytes", buf, sizeof buf) > 0) {
			buf[strcspn(buf, "\n")] = '\0';
			parse_u64(buf, &st.peak);
		}
		/* Hitting the limit counts in failcnt, or in memsw.failcnt
		 * when memory+swap is what ran out: "max" is the larger. */
		for (int i = 0; i < 2; i++) {
			uint64_t v = 0;
			if (read_small_fileat(fd, i ? "memory.memsw.failcnt" : "memory.failcnt",
					      buf, sizeof buf) > 0) {
				buf[strcspn(buf, "\n")] = '\0';
				parse_u64(buf, &v);
				st.ev.max = MAX(st.ev.max, v);
			}
		}
		if (read_small_fileat(fd, "memory.oom_control", buf, sizeof buf) > 0)
			cgroup_parse_oom_control(buf, &oom_kill, &under);
		st.ev.oom_kill = oom_kill;
		st.ev.oom = oom_kill + (under ? 1 : 0);
	}
	if (read_small_fileat(fd, "memory.stat", buf, sizeof buf) > 0)
		cgroup_parse_stat(buf, job->root->mode, &st.anon, &st.file);
	*ret = st;
	return 0;
}

int cgroup_job_kill(const struct cgroup_job *job)
{
	if (job->root->has_kill && write_fileat(job->dirfd, "cgroup.kill", "1") == 0)
		return 0;
	kill_procs(job->path);
	if (job->pids_path)
		kill_procs(job->pids_path);
	return 0;
}

const char *cgroup_job_path(const struct cgroup_job *job) { return job->path; }

const char *cgroup_job_name(const struct cgroup_job *job) { return job->name; }

const char *cgroup_job_kernel_path(const struct cgroup_job *job)
{
	return job->path + job->root->mount_len;
}

int cgroup_job_watch_fd(struct cgroup_job *job)
{
	char p[PATH_MAX], val[64];
	int efd = -1, cfd = -1;

	if (job->watch_fd >= 0)
		return job->watch_fd;
	if (job->root->mode == CGROUP_UNIFIED) {
		int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		snprintf(p, sizeof p, "%s/memory.events", job->path);
		if (fd < 0)
			return -errno;
		if (inotify_add_watch(fd, p, IN_MODIFY) < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
		return job->watch_fd = fd;
	}
	/* v1: the OOM notifier (Documentation/admin-guide/cgroup-v1/memory.rst
	 * section 9): "<eventfd> <fd of memory.oom_control>" into
	 * cgroup.event_control. */
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	snprintf(p, sizeof p, "%s/memory.oom_control", job->path);
	cfd = open(p, O_RDONLY | O_CLOEXEC);
	if (efd < 0 || cfd < 0)
		goto fail;
	snprintf(val, sizeof val, "%d %d", efd, cfd);
	snprintf(p, sizeof p, "%s/cgroup.event_control", job->path);
	if (write_file(p, val) < 0)
		goto fail;
	close(cfd);
	return job->watch_fd = efd;
fail:
	{
		int r = errno ? -errno : -EIO;
		if (efd >= 0)
			close(efd);
		if (cfd >= 0)
			close(cfd);
		return r;
	}
}

void cgroup_job_watch_ack(struct cgroup_job *job)
{
	char buf[4096];

	if (job->watch_fd < 0)
		return;
	while (read(job->watch_fd, buf, sizeof buf) > 0)
		;
}

int cgroup_job_psi(const struct cgroup_job *job, char *buf, size_t size)
{
	if (job->root->mode != CGROUP_UNIFIED)
		return -ENOENT;
	return (int)read_small_fileat(job->dirfd, "memory.pressure", buf, size);
}

int cgroup_job_freeze(const struct cgroup_job *job, bool frozen)
{
	char p[PATH_MAX], buf[8192];

	if (job->root->mode == CGROUP_UNIFIED)
		return write_fileat(job->dirfd, "cgroup.freeze", frozen ? "1" : "0");
	snprintf(p, sizeof p, "%s/cgroup.procs", job->path);
	if (read_small_file(p, buf, sizeof buf) < 0)
		return -errno;
	for (char *s = buf, *e; *s; s = e) {
		long pid = strtol(s, &e, 10);
		if (e == s)
			break;
		if (pid > 0)
			kill((pid_t)pid, frozen ? SIGSTOP : SIGCONT);
		while (*e == '\n')
			e++;
	}
	return 0;
}

int cgroup_job_lift_high(const struct cgroup_job *job)
{
	if (job->root->mode != CGROUP_UNIFIED)
		return -EOPNOTSUPP;
	return write_fileat(job->dirfd, "memory.high", "max");
}
