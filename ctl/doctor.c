#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "doctor.h"
#include "json.h"
#include "gpuinfo.h"
#include "procfs.h"
#include "protocol.h"
#include "size.h"
#include "sysinfo.h"
#include "workercheck.h"

#define MB (1024.0 * 1024.0)

struct ctx {
	struct doctor_report *rep;
	struct config cfg;
	bool cfg_ok;
	enum hostinfo_cgroup_mode mode;
	pid_t daemon_pid;          /* from ping; 0 when not reachable */
	const struct doctor_opts *o;
};

static struct doctor_check *add(struct ctx *x, const char *name, const char *title,
				enum doctor_verdict v, const char *fmt, ...) _printf_(5, 6);
static struct doctor_check *add(struct ctx *x, const char *name, const char *title,
				enum doctor_verdict v, const char *fmt, ...)
{
	static struct doctor_check spare;
	struct doctor_check *c;
	va_list ap;

	if (x->rep->n >= DOCTOR_MAX_CHECKS)
		return &spare;
	c = &x->rep->checks[x->rep->n++];
	c->name = name;
	c->title = title;
	c->verdict = v;
	c->fix[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof c->detail, fmt, ap);
	va_end(ap);
	if (v == DOCTOR_FAIL)
		x->rep->failed++;
	else if (v == DOCTOR_WARN)
		x->rep->warned++;
	return c;
}

static void fix(struct doctor_check *c, const char *fmt, ...) _printf_(2, 3);
static void fix(struct doctor_check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof c->fix, fmt, ap);
	va_end(ap);
}

static bool file_has(const char *path, const char *needle)
{
	char buf[8192];

	return read_small_file(path, buf, sizeof buf) >= 0 && strstr(buf, needle);
}

/* The v2 path or the v1 memory path of a process, from /proc/PID/cgroup
 * (the daemon's own parser). */
static bool proc_cgroup(pid_t pid, bool v1_memory, char *out, size_t size)
{
	char path[64], buf[4096], *v2 = NULL, *mem = NULL, *pids = NULL;
	const char *want;

	snprintf(path, sizeof path, pid ? "/proc/%d/cgroup" : "/proc/self/cgroup", (int)pid);
	if (read_small_file(path, buf, sizeof buf) < 0 ||
	    procfs_parse_cgroup(buf, &v2, &mem, &pids) < 0)
		return false;
	want = v1_memory ? mem : v2;
	if (want)
		snprintf(out, size, "%s", want);
	free(v2);
	free(mem);
	free(pids);
	return want != NULL;
}

/* ---- the checks ------------------------------------------------------------ */

static void check_config(struct ctx *x)
{
	struct sysinfo_daemon d;
	const char *path = x->o->config;
	char *err = NULL;
	struct stat st;
	struct doctor_check *c;

	if (!path && x->daemon_pid) {
		sysinfo_daemon_find(x->daemon_pid, &d);
		if (d.config[0])
			path = strdupa(d.config);
	}
	if (!path)
		path = CONFIG_PATH_DEFAULT;
	if (config_load(path, false, &x->cfg, &err) < 0) {
		c = add(x, "config", "configuration", DOCTOR_FAIL, "%s", err ? err : path);
		fix(c, "correct the file (memsafed --check-config shows the effective values); "
		    "memsafed keeps its old configuration on SIGHUP until it is fixed");
		free(err);
		config_init(&x->cfg);
		return;
	}
	x->cfg_ok = true;
	add(x, "config", "configuration", DOCTOR_OK, "%s %s (profile %s)", path,
	    stat(path, &st) == 0 ? "loaded" : "absent: built-in defaults",
	    config_profile_name(x->cfg.profile));
}

static void check_cgroup_mode(struct ctx *x)
{
	struct doctor_check *c;

	switch (x->mode) {
	case HOSTINFO_CGROUP_UNIFIED:
		add(x, "cgroup_mode", "cgroup mode", DOCTOR_OK,
		    "unified: cgroup v2 at /sys/fs/cgroup (statfs CGROUP2_SUPER_MAGIC)");
		break;
	case HOSTINFO_CGROUP_HYBRID:
		add(x, "cgroup_mode", "cgroup mode", DOCTOR_OK,
		    "hybrid: v1 controllers under /sys/fs/cgroup (tmpfs), cgroup v2 at "
		    "/sys/fs/cgroup/unified; memsafed limits memory with v1 and reads events "
		    "and PSI where v2 offers them");
		break;
	case HOSTINFO_CGROUP_LEGACY:
		c = add(x, "cgroup_mode", "cgroup mode", DOCTOR_WARN,
			"legacy: cgroup v1 only; memory limits work, per-job PSI does not");
		fix(c, "boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2");
		break;
	case HOSTINFO_CGROUP_NONE:
		c = add(x, "cgroup_mode", "cgroup mode", DOCTOR_FAIL,
			"no cgroup filesystem at /sys/fs/cgroup: memsafed cannot limit memory "
			"and refuses to start");
		fix(c, "mount cgroup2 on /sys/fs/cgroup (systemd does this at boot)");
		break;
	}
}

static void check_memory_controller(struct ctx *x)
{
	struct doctor_check *c;

	if (x->mode == HOSTINFO_CGROUP_UNIFIED) {
		if (file_has("/sys/fs/cgroup/cgroup.controllers", "memory")) {
			add(x, "memory_controller", "memory controller", DOCTOR_OK,
			    "enabled in /sys/fs/cgroup/cgroup.controllers");
		} else {
			c = add(x, "memory_controller", "memory controller", DOCTOR_FAIL,
				"memory is missing from /sys/fs/cgroup/cgroup.controllers");
			fix(c, "boot without cgroup_disable=memory (and with cgroup_enable=memory "
			    "where the kernel needs it)");
		}
	} else if (x->mode != HOSTINFO_CGROUP_NONE) {
		if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
			add(x, "memory_controller", "memory controller", DOCTOR_OK,
			    "cgroup v1 memory controller mounted at /sys/fs/cgroup/memory");
		} else {
			c = add(x, "memory_controller", "memory controller", DOCTOR_FAIL,
				"no v1 memory controller at /sys/fs/cgroup/memory");
			fix(c, "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) or enable "
			    "the memory controller");
		}
	} else {
		c = add(x, "memory_controller", "memory controller", DOCTOR_FAIL,
			"no cgroup hierarchy offers a memory controller");
		fix(c, "see the cgroup mode check");
	}
}

static bool unit_delegates(char *found, size_t size)
{
	static const char *const dirs[] = { "/etc/systemd/system", "/usr/local/lib/systemd/system",
					    "/usr/lib/systemd/system", "/lib/systemd/system" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(found, size, "%s/memsafed.service", dirs[i]);
		if (access(found, R_OK) == 0)
			return file_has(found, "\nDelegate=yes");
	}
	found[0] = '\0';
	return false;
}

static void check_delegation(struct ctx *x)
{
	char cg[2048], path[4096], unit[512];
	struct doctor_check *c;

	if (x->mode == HOSTINFO_CGROUP_NONE) {
		c = add(x, "delegation", "delegation", DOCTOR_FAIL, "no cgroup hierarchy");
		fix(c, "see the cgroup mode check");
		return;
	}
	if (x->daemon_pid && x->mode == HOSTINFO_CGROUP_UNIFIED &&
	    proc_cgroup(x->daemon_pid, false, cg, sizeof cg)) {
		size_t n = strlen(cg);
		if (n >= 11 && strcmp(cg + n - 11, "/supervisor") == 0)
			cg[n - 11] = '\0';
		snprintf(path, sizeof path, "/sys/fs/cgroup%s/jobs/cgroup.subtree_control",
			 strcmp(cg, "/") ? cg : "");
		if (file_has(path, "memory")) {
			add(x, "delegation", "delegation", DOCTOR_OK, "memsafed (pid %d) owns "
			    "/sys/fs/cgroup%s and enables memory for its jobs/ subtree",
			    (int)x->daemon_pid, cg);
		} else {
			c = add(x, "delegation", "delegation", DOCTOR_FAIL, "memsafed (pid %d) runs "
				"in %s, but %s does not enable memory", (int)x->daemon_pid, cg, path);
			fix(c, "run memsafed as the systemd service, whose unit sets Delegate=yes");
		}
		return;
	}
	if (x->daemon_pid && x->mode != HOSTINFO_CGROUP_UNIFIED &&
	    proc_cgroup(x->daemon_pid, true, cg, sizeof cg)) {
		snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memsafed-%d",
			 strcmp(cg, "/") ? cg : "", (int)x->daemon_pid);
		if (access(path, F_OK) == 0) {
			add(x, "delegation", "delegation", DOCTOR_OK, "memsafed (pid %d) creates "
			    "job cgroups in %s (v1 memory)", (int)x->daemon_pid, path);
		} else {
			c = add(x, "delegation", "delegation", DOCTOR_WARN, "memsafed (pid %d) has "
				"no job directory %s yet", (int)x->daemon_pid, path);
			fix(c, "memsafed creates it at start; see its log for why it could not");
		}
		return;
	}
	/* memsafed is not running (or not ours to inspect): judge what it
	 * would get. */
	if (unit_delegates(unit, sizeof unit)) {
		add(x, "delegation", "delegation", DOCTOR_OK, "%s sets Delegate=yes: memsafed "
		    "gets a cgroup subtree of its own", unit);
	} else if (unit[0]) {
		c = add(x, "delegation", "delegation", DOCTOR_FAIL, "%s does not set Delegate=yes",
			unit);
		fix(c, "add Delegate=yes to [Service] (systemctl edit memsafed), then restart it");
	} else if (geteuid() == 0) {
		add(x, "delegation", "delegation", DOCTOR_OK, "no memsafed.service installed; "
		    "run as root, memsafed creates its own cgroups");
	} else {
		c = add(x, "delegation", "delegation", DOCTOR_WARN, "no memsafed.service installed "
			"and memsafed is not running; as uid %d this cannot tell whether memsafed "
			"would own a cgroup subtree", (int)geteuid());
		fix(c, "install the memsafed.service unit (Delegate=yes) or run doctor as root");
	}
}

static void check_psi(struct ctx *x)
{
	char buf[512];
	struct psi_line some, full;
	struct doctor_check *c;
	int n = procfs_read_psi(AT_FDCWD, "/proc/pressure/memory", &some, &full);
	bool opened;
	int fd = -1, e;

	if (n < 0) {
		c = add(x, "psi", "PSI averages", DOCTOR_WARN, "/proc/pressure/memory is not "
			"readable (%s): memsafed cannot see memory pressure, so admission and the "
			"pressure policy only see MemAvailable", strerror(-n));
		fix(c, "use a kernel with CONFIG_PSI=y and boot without psi=0 (some need psi=1)");
	} else {
		c = add(x, "psi", "PSI averages", DOCTOR_OK, "/proc/pressure/memory: some avg10 "
			"%.2f%%, avg60 %.2f%%; full avg10 %.2f%%", some.avg10, some.avg60,
			full.avg10);
		if (some.avg10 >= x->cfg.admission_psi_max) {
			c->verdict = DOCTOR_WARN;
			x->rep->warned++;
			fix(c, "memory pressure is above admission_psi_max (%.0f%%): jobs wait "
			    "until it falls; close memory-hungry programs",
			    x->cfg.admission_psi_max);
		}
	}

	/* A trigger: what memsafed asks for to react at once. Kernels may
	 * refuse (EINVAL for a window they dislike, EOPNOTSUPP, EPERM for
	 * unprivileged callers on some versions). */
	procfs_psi_spec(buf, sizeof buf, x->cfg.psi_threshold_us, x->cfg.psi_window_us);
	e = -procfs_psi_trigger(AT_FDCWD, "/proc/pressure/memory", x->cfg.psi_threshold_us,
				x->cfg.psi_window_us, &fd, &opened);
	if (e && !opened) {
		c = add(x, "psi_trigger", "PSI triggers", DOCTOR_WARN, "cannot open "
			"/proc/pressure/memory for writing as uid %d: %s", (int)geteuid(),
			strerror(e));
		fix(c, e == EACCES || e == EPERM ? "run doctor as root to test what memsafed gets" :
		    "memsafed falls back to reading avg10 on every sample");
		return;
	}
	if (e) {
		c = add(x, "psi_trigger", "PSI triggers", DOCTOR_WARN, "the kernel refused the "
			"trigger \"%s\" on /proc/pressure/memory: %s (%s)", buf, strerrorname_np(e) ?
			strerrorname_np(e) : "?", strerror(e));
		fix(c, "nothing is lost: memsafed falls back to reading avg10 on every sample "
		    "(every %" PRIu64 " ms) and says so in summary.json psi.trigger_mode",
		    x->cfg.sample_interval_ms);
		return;
	}
	add(x, "psi_trigger", "PSI triggers", DOCTOR_OK, "the kernel accepts the trigger "
	    "\"%s\" (a %" PRIu64 " us stall in a %" PRIu64 " us window) on "
	    "/proc/pressure/memory", buf, x->cfg.psi_threshold_us, x->cfg.psi_window_us);
	close(fd);
}

static void check_swap(struct ctx *x)
{
	static const char *const key[] = { "SwapTotal" };
	uint64_t swap = 0;
	struct doctor_check *c;

	if (procfs_read_meminfo(key, &swap, 1) < 0 || swap == 0) {
		add(x, "swap", "swap", DOCTOR_OK, "no swap: a job over its cap is stopped at "
		    "once, never swapped");
		return;
	}
	if (x->cfg.swap_max > 0) {
		c = add(x, "swap", "swap", DOCTOR_WARN, "%.0f MB of swap and swap_max = %.0f MB: "
			"jobs may swap, which slows the desktop before the cap is reached",
			(double)swap / MB, (double)x->cfg.swap_max / MB);
		fix(c, "set swap_max = 0 in [job]");
		return;
	}
	if (x->mode != HOSTINFO_CGROUP_UNIFIED &&
	    access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) < 0) {
		c = add(x, "swap", "swap", DOCTOR_WARN, "%.0f MB of swap but no swap accounting "
			"(memory.memsw.* is missing): swap_max = 0 cannot be enforced on cgroup "
			"v1, so a job may swap beyond memory_max", (double)swap / MB);
		fix(c, "boot with swapaccount=1, or turn swap off (swapoff -a)");
		return;
	}
	add(x, "swap", "swap", DOCTOR_OK, "%.0f MB of swap; memsafed gives each job "
	    "swap_max = 0 so it cannot swap", (double)swap / MB);
}

static void check_seccomp(struct ctx *x)
{
	char buf[4096], avail[256] = "";
	const char *s;
	int mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
	struct doctor_check *c;

	if (read_small_file("/proc/sys/kernel/seccomp/actions_avail", avail, sizeof avail) >= 0)
		avail[strcspn(avail, "\n")] = '\0';
	if (mode < 0) {
		c = add(x, "seccomp", "seccomp", DOCTOR_FAIL, "the kernel has no seccomp "
			"(prctl PR_GET_SECCOMP: %s): the worker cannot be sandboxed and never runs "
			"unsandboxed", strerror(errno));
		fix(c, "use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER");
		return;
	}
	if (avail[0] && !strstr(avail, "kill_process")) {
		c = add(x, "seccomp", "seccomp", DOCTOR_WARN, "seccomp works, but its actions "
			"(%s) lack kill_process", avail);
		fix(c, "use a kernel >= 4.14");
		return;
	}
	s = read_small_file("/proc/self/status", buf, sizeof buf) >= 0 ?
	    strstr(buf, "Seccomp:") : NULL;
	add(x, "seccomp", "seccomp", DOCTOR_OK, "available (this process: mode %d%s); actions: %s",
	    mode, s ? ", per /proc/self/status" : "", avail[0] ? avail : "unknown");
}

static void check_kmsg(struct ctx *x)
{
	char buf[2048], restrict_[16] = "?";
	struct doctor_check *c;
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ssize_t n;

	if (read_small_file("/proc/sys/kernel/dmesg_restrict", restrict_, sizeof restrict_) >= 0)
		restrict_[strcspn(restrict_, "\n")] = '\0';
	if (fd < 0) {
		int e = errno;
		c = add(x, "kmsg", "kernel log", DOCTOR_WARN, "/dev/kmsg is not readable as uid "
			"%d: %s (kernel.dmesg_restrict = %s)", (int)geteuid(), strerror(e), restrict_);
		fix(c, geteuid() ? "memsafed runs as root and normally can read it; run doctor as "
		    "root to check what it gets" : "give memsafed CAP_SYSLOG; without it "
		    "dmesg_excerpt.txt says why it has no kernel lines");
		return;
	}
	n = read(fd, buf, sizeof buf);
	if (n < 0 && errno != EAGAIN && errno != EINVAL && errno != EPIPE) {
		int e = errno;
		c = add(x, "kmsg", "kernel log", DOCTOR_WARN, "/dev/kmsg opens but reading it "
			"fails: %s", strerror(e));
		fix(c, "dmesg_excerpt.txt will say why it has no kernel lines");
	} else {
		add(x, "kmsg", "kernel log", DOCTOR_OK, "/dev/kmsg is readable: OOM-killer lines "
		    "reach dmesg_excerpt.txt");
	}
	close(fd);
}

static void check_worker_user(struct ctx *x)
{
	const char *name = x->o->worker_user ? x->o->worker_user : x->cfg.worker_user;
	struct workercheck wc;
	struct doctor_check *c;
	uid_t uid;
	gid_t gid;

	if (workercheck_user(name, &uid, &gid, &wc) == 0) {
		add(x, "worker_user", "worker user", DOCTOR_OK, "%s exists (uid %u, gid %u)", name,
		    (unsigned)uid, (unsigned)gid);
	} else {
		c = add(x, "worker_user", "worker user", DOCTOR_FAIL, "%s", wc.problem);
		fix(c, "%s", wc.fix);
	}
}

/* The --worker PATH the running daemon was started with, if any. */
static bool daemon_worker_arg(pid_t pid, char *out, size_t size)
{
	char p[64], cmd[8192];
	ssize_t n;

	snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
	if (pid <= 0 || (n = read_small_file(p, cmd, sizeof cmd)) <= 0)
		return false;
	for (char *a = cmd; a < cmd + n; a += strlen(a) + 1) {
		char *next = a + strlen(a) + 1;
		if (!strncmp(a, "--worker=", 9) && a[9] == '/')
			return snprintf(out, size, "%s", a + 9) < (int)size;
		if (!strcmp(a, "--worker") && next < cmd + n && next[0] == '/')
			return snprintf(out, size, "%s", next) < (int)size;
	}
	return false;
}

/* memsafed refuses to start without an executable worker binary. */
static void check_worker_binary(struct ctx *x)
{
	char path[PATH_MAX];
	struct workercheck wc;
	struct doctor_check *c;

	if (x->o->worker)
		snprintf(path, sizeof path, "%s", x->o->worker);
	else if (!daemon_worker_arg(x->daemon_pid, path, sizeof path))
		snprintf(path, sizeof path, "%s", x->cfg.worker_path);
	if (workercheck_binary(path, &wc) == 0) {
		add(x, "worker", "worker binary", DOCTOR_OK, "%s is executable", path);
	} else {
		c = add(x, "worker", "worker binary", DOCTOR_FAIL, "%s", wc.problem);
		fix(c, "%s", wc.fix);
	}
}

static void check_socket(struct ctx *x, yajl_val ping, int err_no, const char *err)
{
	struct doctor_check *c;

	if (ping && ctl_reply_ok(ping)) {
		add(x, "socket", "socket", DOCTOR_OK, "memsafed %s (pid %" PRIu64 ") answers on "
		    "%s: %" PRIu64 " running, %" PRIu64 " queued", ctl_jtext(ping, "version"),
		    ctl_juint(ping, "pid"), ctl_socket, ctl_juint(ping, "running"),
		    ctl_juint(ping, "queued"));
	} else if (ping) {
		c = add(x, "socket", "socket", DOCTOR_FAIL, "memsafed on %s refused a ping: %s",
			ctl_socket, ctl_jtext(json_get(ping, "error"), "message"));
		fix(c, "check the daemon's log: journalctl -u memsafed");
	} else if (err_no == -ENOENT || err_no == -ECONNREFUSED) {
		c = add(x, "socket", "socket", DOCTOR_WARN, "%s", err);
		fix(c, "systemctl start memsafed (or pass --socket PATH for a private daemon)");
	} else {
		c = add(x, "socket", "socket", DOCTOR_FAIL, "%s", err);
		fix(c, err_no == -EACCES ? "join the memsafe group: usermod -aG memsafe $USER, "
		    "then log in again" : "check the socket path and the daemon's log");
	}
}

static void check_free_memory(struct ctx *x)
{
	static const char *const keys[] = { "MemTotal", "MemAvailable" };
	uint64_t v[2] = { 0, 0 };
	uint64_t cap = x->o->memory_max ? x->o->memory_max : x->cfg.memory_max;
	uint64_t reserve = x->o->reserve ? x->o->reserve : x->cfg.reserve;
	double total, avail, left;
	char capstr[32], resstr[32];
	struct doctor_check *c;

	format_size(cap, capstr, sizeof capstr);
	format_size(reserve, resstr, sizeof resstr);
	if (procfs_read_meminfo(keys, v, 2) < 0 || !v[0] || !v[1]) {
		c = add(x, "free_memory", "free memory", DOCTOR_WARN, "/proc/meminfo has no "
			"MemTotal/MemAvailable");
		fix(c, "use a kernel >= 3.14");
		return;
	}
	total = (double)v[0];
	avail = (double)v[1];
	left = avail - (double)cap;
	if (total < (double)cap + (double)reserve) {
		c = add(x, "free_memory", "free memory", DOCTOR_FAIL, "MemTotal %.0f MB cannot hold "
			"a memory_max %s job and the %s reserve: such jobs are refused at submit",
			total / MB, capstr, resstr);
		fix(c, "lower memory_max in [job] to at most %.0fM (MemTotal less reserve), or "
		    "lower reserve in [limits]", (total - (double)reserve) / MB);
	} else if (left < (double)reserve) {
		c = add(x, "free_memory", "free memory", DOCTOR_WARN, "MemAvailable %.0f MB less "
			"memory_max %s leaves %.0f MB, below the %s reserve: a job waits until "
			"memory is free", avail / MB, capstr, MAX(left, 0) / MB, resstr);
		fix(c, "close memory-hungry programs, or submit with a smaller --memory-max");
	} else {
		add(x, "free_memory", "free memory", DOCTOR_OK, "MemAvailable %.0f MB of %.0f MB: a "
		    "memory_max %s job leaves %.0f MB above the %s reserve", avail / MB, total / MB,
		    capstr, (left - (double)reserve) / MB, resstr);
	}
}

/* GPU memory: an APU's GTT is system RAM the memory cgroup is not
 * charged for; memsafed measures it per job from DRM fdinfo and bounds it
 * by memory_max. Whether the host's GTT can outgrow what the desktop can
 * spare is the kernel's setting (ttm.pages_limit), checked here. */
static void check_gpu(struct ctx *x)
{
	static const char *const keys[] = { "MemTotal" };
	uint64_t total = 0, reserve = x->o->reserve ? x->o->reserve : x->cfg.reserve;
	struct gpuinfo_host h;
	struct doctor_check *c;
	char ctl[512] = "", dmem[64];

	gpuinfo_read("/sys", "/proc", &h);
	read_small_file("/sys/fs/cgroup/cgroup.controllers", ctl, sizeof ctl);
	snprintf(dmem, sizeof dmem, "%s", strstr(ctl, "dmem") ?
		 "the dmem controller is available (VRAM backstop)" :
		 "no dmem controller (6.14+, not in Debian's kernels)");
	if (h.cards == 0) {
		add(x, "gpu", "GPU memory", DOCTOR_OK, "no DRM GPU on this host: jobs report "
		    "gpu.source none");
		return;
	}
	procfs_read_meminfo(keys, &total, 1);
	if (!h.has_gtt) {
		add(x, "gpu", "GPU memory", DOCTOR_OK, "%u DRM card(s), none reporting GTT "
		    "(amdgpu mem_info_gtt_*): per-job GPU memory comes from DRM fdinfo, "
		    "admission uses MemAvailable only; %s", h.cards, dmem);
		return;
	}
	if (total && h.gtt_total + reserve > total) {
		c = add(x, "gpu", "GPU memory", DOCTOR_WARN, "GTT %.0f MB (%.0f MB used) of MemTotal "
			"%.0f MB: GPU buffers can take more RAM than the %.0f MB reserve leaves; "
			"memsafed kills a job over memory_max within two samples, but one "
			"allocation can outrun a sample; %s", (double)h.gtt_total / MB,
			(double)h.gtt_used / MB, (double)total / MB, (double)reserve / MB, dmem);
		fix(c, "cap GTT in the kernel: ttm.pages_limit=%" PRIu64 " (4 KiB pages: MemTotal "
		    "less reserve) on the kernel command line", (total - reserve) / 4096);
		return;
	}
	add(x, "gpu", "GPU memory", DOCTOR_OK, "GTT %.0f MB (%.0f MB used), VRAM %.0f MB (%.0f MB "
	    "used): GTT fits in MemTotal %.0f MB less the reserve; per-job figures from DRM "
	    "fdinfo; %s", (double)h.gtt_total / MB, (double)h.gtt_used / MB,
	    (double)h.vram_total / MB, (double)h.vram_used / MB, (double)total / MB, dmem);
}

static void checklist(struct ctx *x)
{
	struct doctor_report *r = x->rep;
	char res[32], swap[32];

	format_size(x->cfg.reserve, res, sizeof res);
	format_size(x->cfg.swap_max, swap, sizeof swap);
#define ITEM(...) snprintf(r->checklist[r->nchecklist++], sizeof r->checklist[0], __VA_ARGS__)
	ITEM("Save your work before the first run of a large or untrusted document.");
	ITEM("Keep reserve (now %s) above what the desktop and GPU need: an APU's GPU "
	     "memory is system RAM.", res);
	ITEM("Keep swap_max = 0 (now %s) so a job over its cap is stopped, not swapped.", swap);
	ITEM("Start with profile = safety on a new machine; loosen limits once "
	     "`memsafectl check` passes on your documents.");
	ITEM("Follow big jobs with `memsafectl watch JOB`; after a failure, "
	     "`memsafectl bundle JOB -o bug.tar.gz` keeps the evidence.");
	ITEM("After kernel or driver updates, `memsafectl simulate-pressure --target-mb 256` "
	     "proves that memory still comes back.");
#undef ITEM
}

void doctor_run(const struct doctor_opts *o, struct doctor_report *rep)
{
	struct ctx x = { .rep = rep, .o = o };
	_cleanup_json_ yajl_val ping = NULL;
	char req[64], err[512] = "";
	int r;

	memset(rep, 0, sizeof *rep);
	ctl_simple_request(req, sizeof req, "ping", 0);
	r = ctl_request(req, -1, &ping, err, sizeof err);
	if (r < 0)
		ping = NULL;
	else if (ctl_reply_ok(ping))
		x.daemon_pid = (pid_t)ctl_juint(ping, "pid");
	x.mode = hostinfo_cgroup_mode();

	check_config(&x);
	check_cgroup_mode(&x);
	check_memory_controller(&x);
	check_delegation(&x);
	check_psi(&x);
	check_swap(&x);
	check_seccomp(&x);
	check_kmsg(&x);
	check_worker_user(&x);
	check_worker_binary(&x);
	check_socket(&x, ping, r, err);
	check_free_memory(&x);
	check_gpu(&x);
	checklist(&x);
	config_done(&x.cfg);
}

static const char *verdict_name(enum doctor_verdict v)
{
	return v == DOCTOR_OK ? "ok" : v == DOCTOR_WARN ? "warn" : "fail";
}

void doctor_print(const struct doctor_report *rep, FILE *f)
{
	fprintf(f, "memsafed pre-flight checks\n");
	for (size_t i = 0; i < rep->n; i++) {
		const struct doctor_check *c = &rep->checks[i];
		fprintf(f, "  %-5s %-18s %s\n", c->verdict == DOCTOR_OK ? "ok" :
			c->verdict == DOCTOR_WARN ? "WARN" : "FAIL", c->title, c->detail);
		if (c->fix[0])
			fprintf(f, "  %-5s %-18s -> %s\n", "", "", c->fix);
	}
	fprintf(f, "\nSafety checklist:\n");
	for (size_t i = 0; i < rep->nchecklist; i++)
		fprintf(f, "  [ ] %s\n", rep->checklist[i]);
	fprintf(f, "\ndoctor: %zu checks, %d failed, %d warning%s\n", rep->n, rep->failed,
		rep->warned, rep->warned == 1 ? "" : "s");
}

void doctor_json(const struct doctor_report *rep, yajl_gen g)
{
	yajl_gen_map_open(g);
	json_kbool(g, "ok", rep->failed == 0);
	json_kint(g, "failed", rep->failed);
	json_kint(g, "warnings", rep->warned);
	json_key(g, "checks");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < rep->n; i++) {
		const struct doctor_check *c = &rep->checks[i];
		yajl_gen_map_open(g);
		json_kstr(g, "name", c->name);
		json_kstr(g, "title", c->title);
		json_kstr(g, "verdict", verdict_name(c->verdict));
		json_kstr(g, "detail", c->detail);
		json_kstr(g, "fix", c->fix[0] ? c->fix : NULL);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_key(g, "checklist");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < rep->nchecklist; i++)
		json_str(g, rep->checklist[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

int doctor_main(int argc, char **argv)
{
	enum { O_CONFIG = 256, O_USER, O_WORKER, O_MEM, O_RESERVE };
	static const struct option lo[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "worker-user", required_argument, NULL, O_USER },
		{ "worker", required_argument, NULL, O_WORKER },
		{ "memory-max", required_argument, NULL, O_MEM },
		{ "reserve", required_argument, NULL, O_RESERVE },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct doctor_opts o = {0};
	struct doctor_report rep;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: o.config = optarg; break;
		case O_USER: o.worker_user = optarg; break;
		case O_WORKER: o.worker = optarg; break;
		case O_MEM: o.memory_max = ctl_opt_size("doctor", "--memory-max", optarg); break;
		case O_RESERVE: o.reserve = ctl_opt_size("doctor", "--reserve", optarg); break;
		case 'j': ctl_json = true; break;
		case 'h':
			printf("Usage: memsafectl doctor [--config PATH] [--worker-user NAME]\n"
			       "         [--worker PATH] [--memory-max SIZE] [--reserve SIZE] [--json]\n"
			       "Pre-flight checks, one verdict per line (ok, WARN, FAIL) with what to do:\n"
			       "configuration, cgroup mode, memory controller, delegation, PSI averages\n"
			       "and triggers, swap, seccomp, /dev/kmsg, the worker user and binary, memsafed's\n"
			       "socket, free memory against the job cap and reserve; then the safety\n"
			       "checklist. Run it as root to see what memsafed sees.\n"
			       "  --config PATH       memsafed.conf to judge (default: the running\n"
			       "                      daemon's --config, else %s)\n"
			       "  --worker-user NAME  instead of the configuration's worker_user\n"
			       "  --worker PATH       instead of the running daemon's --worker or the\n"
			       "                      configuration's worker\n"
			       "  --memory-max SIZE   instead of the configuration's memory_max\n"
			       "  --reserve SIZE      instead of the configuration's reserve\n"
			       "  --json              {\"ok\", \"failed\", \"warnings\", \"checks\": [{\"name\",\n"
			       "                      \"title\", \"verdict\": \"ok|warn|fail\", \"detail\",\n"
			       "                      \"fix\"}], \"checklist\": [...]}\n"
			       "Exit: 0 nothing failed (warnings allowed), 1 a check failed.\n",
			       CONFIG_PATH_DEFAULT);
			return CTL_EXIT_OK;
		default: ctl_bad_option(argv[0]);
		}
	}
	if (optind < argc)
		ctl_die_usage("doctor", "unexpected argument '%s'", argv[optind]);
	doctor_run(&o, &rep);
	if (ctl_json) {
		_cleanup_json_gen_ yajl_gen g = ctl_gen_new();
		doctor_json(&rep, g);
		ctl_gen_print(g);
	} else {
		doctor_print(&rep, stdout);
	}
	return rep.failed ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}
