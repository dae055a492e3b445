/* Unit tests for daemon/gpu.c (DRM fdinfo parsing, per-job GPU sampling,
 * dmem) and common/gpuinfo.c (the host's pools), on the fixtures in
 * tests/data/gpu/ and on fake /proc and cgroup trees built here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gpu.h"
#include "gpuinfo.h"
#include "util.h"
#include "tap.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static const char *srcdir;
static char tmp[PATH_MAX];

static char *fixture(const char *name)
{
	static char buf[16384];
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/tests/data/gpu/%s", srcdir, name);
	if (read_small_file(path, buf, sizeof buf) < 0) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	return buf;
}

static void test_sizes(void)
{
	static const struct { const char *s; int r; uint64_t v; } cases[] = {
		{ "0", 0, 0 }, { "4097", 0, 4097 }, { "12 KiB", 0, 12 * KiB },
		{ "12KiB", 0, 12 * KiB }, { "  7 MiB", 0, 7 * MiB }, { "2 GiB", 0, 2 * GiB },
		{ "3 TiB", -EINVAL, 0 }, { "12 kB", -EINVAL, 0 }, { "", -EINVAL, 0 },
		{ "KiB", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "5 MiB extra", -EINVAL, 0 },
		{ "99999999999999999999", -EINVAL, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 0;
		int r = gpu_parse_size(cases[i].s, &v);

		is_int(r, cases[i].r, "size \"%s\": %s", cases[i].s, cases[i].r ? "refused" : "parsed");
		if (!cases[i].r)
			is_int(v, cases[i].v, "size \"%s\" is %llu bytes", cases[i].s,
			       (unsigned long long)cases[i].v);
	}
}

static const struct gpu_region *region(const struct gpu_client *c, const char *name)
{
	for (size_t i = 0; i < c->n_regions; i++)
		if (strcmp(c->regions[i].name, name) == 0)
			return &c->regions[i];
	return NULL;
}

static void test_parse(void)
{
	struct gpu_client c;
	const struct gpu_region *r;

	is_int(gpu_parse_fdinfo(fixture("amdgpu-6.1.fdinfo"), &c), 0, "amdgpu 6.1 parses");
	is_str(c.driver, "amdgpu", "6.1: driver");
	is_str(c.pdev, "0000:c4:00.0", "6.1: pdev");
	ok(c.has_client_id && c.client_id == 17, "6.1: the driver's own client id");
	r = region(&c, "gtt");
	ok(r && r->source == GPU_KEY_MEMORY && r->resident == 2097152 * KiB,
	   "6.1: gtt from drm-memory-gtt (\": \\t\" spacing), in KiB");

	is_int(gpu_parse_fdinfo(fixture("amdgpu-6.12.fdinfo"), &c), 0, "amdgpu 6.12 parses");
	r = region(&c, "gtt");
	ok(r && r->resident == 4194304 * KiB && r->shared == 8192 * KiB,
	   "6.12: gtt resident from the legacy key, shared apart");
	ok(!region(&c, "visible-vram"), "6.12: amd-* keys are not regions");

	is_int(gpu_parse_fdinfo(fixture("amdgpu-7.3.fdinfo"), &c), 0, "amdgpu 7.3 parses");
	r = region(&c, "gtt");
	ok(r && r->source == GPU_KEY_RESIDENT && r->resident == 22784 * MiB,
	   "7.3: both families: drm-resident-gtt wins, drm-memory-gtt is not added");
	ok(r && r->total == 22528 * MiB, "7.3: drm-total-gtt kept apart");
	r = region(&c, "cpu");
	ok(r && r->resident == 4097, "7.3: a bare byte value (4097), not the KiB alias (4)");

	is_int(gpu_parse_fdinfo(fixture("core-total-only.fdinfo"), &c), 0, "core helper parses");
	r = region(&c, "memory");
	ok(r && r->source == GPU_KEY_TOTAL && r->resident == 4097,
	   "no drm-resident: drm-total stands in, flagged");

	is_int(gpu_parse_fdinfo(fixture("no-drm-keys.fdinfo"), &c), -ENOENT,
	       "vgem/virtio/NVIDIA fdinfo: not a DRM client");
	is_int(gpu_parse_fdinfo(fixture("no-memory-keys.fdinfo"), &c), 0,
	       "a DRM client without memory keys parses");
	is_int(c.n_regions, 0, "... with no regions");

	is_int(gpu_parse_fdinfo(fixture("bad-unit.fdinfo"), &c), 0, "a bad unit still parses");
	is_int(c.bad_values, 1, "... and counts the bad value");
	ok(!region(&c, "gtt") && region(&c, "vram"), "... keeping the good keys only");
}

static void test_classify(void)
{
	static const struct { const char *drv, *region; enum gpu_region_class want; } cases[] = {
		{ "amdgpu", "gtt", GPU_REGION_HOST }, { "amdgpu", "cpu", GPU_REGION_HOST },
		{ "amdgpu", "vram", GPU_REGION_DEVICE }, { "amdgpu", "gds", GPU_REGION_IGNORED },
		{ "amdgpu", "doorbell", GPU_REGION_IGNORED },
		{ "xe", "system", GPU_REGION_HOST }, { "xe", "gtt", GPU_REGION_HOST },
		{ "xe", "vram0", GPU_REGION_DEVICE }, { "xe", "vram1", GPU_REGION_DEVICE },
		{ "xe", "stolen", GPU_REGION_DEVICE },
		{ "i915", "system0", GPU_REGION_MEMCG }, { "i915", "local0", GPU_REGION_DEVICE },
		{ "i915", "stolen-system0", GPU_REGION_DEVICE },
		{ "i915", "stolen-local0", GPU_REGION_DEVICE },
		{ "panfrost", "memory", GPU_REGION_MEMCG }, { "msm", "memory", GPU_REGION_MEMCG },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		is_str(gpu_region_class_name(gpu_classify(cases[i].drv, cases[i].region)),
		       gpu_region_class_name(cases[i].want), "%s %s is %s", cases[i].drv,
		       cases[i].region, gpu_region_class_name(cases[i].want));
}

/* ---- a fake /proc and cgroup tree ------------------------------------------ */

#define DEVS 3
static ino_t dev_ino[DEVS];

/* Fake DRM devices: regular files whose inodes the predicate knows. */
static bool fake_is_drm(const struct stat *st, unsigned *ret_minor)
{
	for (unsigned i = 0; i < DEVS; i++)
		if (S_ISREG(st->st_mode) && st->st_ino == dev_ino[i]) {
			*ret_minor = 128 + i;
			return true;
		}
	return false;
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		printf("Bail out! %s\n", cmd);
		exit(1);
	}
}

static void reset_tree(void)
{
	run("rm -rf '%s/proc' '%s/cg' '%s/dev' && mkdir -p '%s/proc' '%s/cg' '%s/dev' "
	    "&& : > '%s/dev/renderD128' && : > '%s/dev/renderD129' && : > '%s/dev/null' "
	    "&& : > '%s/cg/cgroup.procs'", tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
	for (unsigned i = 0; i < DEVS; i++) {
		char p[PATH_MAX];
		struct stat st;
		snprintf(p, sizeof p, "%s/dev/%s", tmp, i == 2 ? "null" : i ? "renderD129" : "renderD128");
		stat(p, &st);
		dev_ino[i] = i == 2 ? 0 : st.st_ino;   /* dev/null is not DRM */
	}
}

/* pid's fd N points at dev (renderD128, renderD129, null) with fdinfo from
 * fixture (NULL: no fdinfo file; "DIR": an unreadable one). */
static void add_fd(const char *cg, int pid, int fd, const char *dev, const char *fixture_name)
{
	run("mkdir -p '%s/proc/%d/fd' '%s/proc/%d/fdinfo' && ln -sf '%s/dev/%s' '%s/proc/%d/fd/%d'",
	    tmp, pid, tmp, pid, tmp, dev, tmp, pid, fd);
	if (fixture_name && strcmp(fixture_name, "DIR") == 0)
		run("mkdir -p '%s/proc/%d/fdinfo/%d'", tmp, pid, fd);
	else if (fixture_name)
		run("cp '%s/tests/data/gpu/%s' '%s/proc/%d/fdinfo/%d'", srcdir, fixture_name, tmp,
		    pid, fd);
	run("mkdir -p '%s/%s' && (grep -qx %d '%s/%s/cgroup.procs' 2>/dev/null || "
	    "echo %d >> '%s/%s/cgroup.procs')", tmp, cg, pid, tmp, cg, pid, tmp, cg);
}

static struct gpu_env fake_env(void)
{
	static char proc[PATH_MAX], sys[PATH_MAX];

	snprintf(proc, sizeof proc, "%s/proc", tmp);
	snprintf(sys, sizeof sys, "%s/tests/data/gpu/sys", srcdir);
	return (struct gpu_env){ .proc_root = proc, .sys_root = sys, .is_drm = fake_is_drm };
}

static int sample(struct gpu_sample *s)
{
	struct gpu_env env = fake_env();
	char cg[PATH_MAX];

	snprintf(cg, sizeof cg, "%s/cg", tmp);
	return gpu_sample_job(&env, cg, s);
}

/* One fd of each fixture: what the job's figures become. */
static void test_fixture_sums(void)
{
	static const struct {
		const char *fixture;
		uint64_t host, dev, memcg;
	} cases[] = {
		{ "amdgpu-6.1.fdinfo", 2 * GiB, 12 * MiB, 0 },
		{ "amdgpu-6.12.fdinfo", 4 * GiB + 1 * MiB, 256 * MiB, 0 },
		{ "amdgpu-7.3.fdinfo", 22784 * MiB + 4097, 256 * MiB, 0 },
		{ "i915.fdinfo", 0, 0, 100 * MiB },
		{ "xe.fdinfo", 64 * MiB, 1024 * MiB, 0 },
		{ "core-total-only.fdinfo", 0, 0, 4097 },
		{ "no-memory-keys.fdinfo", 0, 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct gpu_sample s;

		reset_tree();
		add_fd("cg", 100, 5, "renderD128", cases[i].fixture);
		is_int(sample(&s), 0, "%s: sampled", cases[i].fixture);
		ok(s.host == cases[i].host && s.dev == cases[i].dev && s.memcg == cases[i].memcg &&
		   s.total == s.host + s.dev + s.memcg && !s.partial,
		   "%s: host %llu, device %llu, memcg %llu bytes", cases[i].fixture,
		   (unsigned long long)cases[i].host, (unsigned long long)cases[i].dev,
		   (unsigned long long)cases[i].memcg);
		if (s.host != cases[i].host || s.dev != cases[i].dev || s.memcg != cases[i].memcg)
			printf("#   got host %llu dev %llu memcg %llu\n", (unsigned long long)s.host,
			       (unsigned long long)s.dev, (unsigned long long)s.memcg);
	}
}

static void test_dedup(void)
{
	struct gpu_sample s;

	reset_tree();
	/* One client (id 108) seen through dup() and a fork()ed child. */
	add_fd("cg", 100, 5, "renderD128", "amdgpu-7.3.fdinfo");
	add_fd("cg", 100, 6, "renderD128", "amdgpu-7.3.fdinfo");
	add_fd("cg", 101, 5, "renderD128", "amdgpu-7.3.fdinfo");
	/* A non-DRM fd and a DRM fd with no memory stats. */
	add_fd("cg", 101, 7, "null", "amdgpu-6.12.fdinfo");
	is_int(sample(&s), 0, "dup and fork: sampled");
	is_int(s.clients, 1, "dup and fork: one client");
	is_int(s.dup_fds, 2, "dup and fork: two duplicate fds");
	is_int(s.drm_fds, 3, "dup and fork: three DRM fds, /dev/null not among them");
	is_int(s.pids, 2, "dup and fork: two processes");
	is_int(s.host, 22784 * MiB + 4097, "dup and fork: GTT counted once");

	/* A second client in a child cgroup of the job. */
	add_fd("cg/stage", 102, 3, "renderD128", "amdgpu-6.12.fdinfo");
	is_int(sample(&s), 0, "child cgroup: sampled");
	is_int(s.clients, 2, "child cgroup: its process is the job's too");
	is_int(s.host, 22784 * MiB + 4097 + 4 * GiB + 1 * MiB, "child cgroup: both clients added");

	/* The same id on two devices (6.1 amdgpu's fence-context ids). */
	reset_tree();
	add_fd("cg", 100, 5, "renderD128", "amdgpu-6.1.fdinfo");
	run("sed 's/0000:c4:00.0/0000:03:00.0/' '%s/tests/data/gpu/amdgpu-6.1.fdinfo' > "
	    "'%s/proc/100/fdinfo/6' && ln -s '%s/dev/renderD129' '%s/proc/100/fd/6'",
	    srcdir, tmp, tmp, tmp);
	is_int(sample(&s), 0, "two devices: sampled");
	is_int(s.clients, 2, "two devices, same client id: two clients");
	is_int(s.host, 4 * GiB, "two devices: both GTT figures added");
}

static void test_partial(void)
{
	struct gpu_sample s;

	reset_tree();
	add_fd("cg", 100, 5, "renderD128", "amdgpu-6.12.fdinfo");
	add_fd("cg", 100, 6, "renderD129", "DIR");   /* a read error (as EACCES would be) */
	is_int(sample(&s), 0, "unreadable fdinfo: sampled");
	ok(s.partial && s.errors == 1, "unreadable fdinfo: the sample is partial");
	is_int(s.host, 4 * GiB + 1 * MiB, "unreadable fdinfo: what could be read still counts");

	reset_tree();
	add_fd("cg", 100, 5, "renderD128", "amdgpu-6.12.fdinfo");
	add_fd("cg", 100, 6, "renderD129", NULL);    /* the fd closed mid-scan */
	is_int(sample(&s), 0, "fd gone mid-scan: sampled");
	ok(!s.partial && s.errors == 0, "fd gone mid-scan: not partial (nothing hidden)");

	reset_tree();
	add_fd("cg", 100, 5, "renderD128", "bad-unit.fdinfo");
	is_int(sample(&s), 0, "bad unit: sampled");
	ok(s.partial && s.dev == 1 * MiB, "bad unit: partial, the good key counted");

	reset_tree();
	run("echo 4242 >> '%s/cg/cgroup.procs'", tmp);   /* a pid that exited */
	is_int(sample(&s), 0, "an exited process: sampled");
	ok(!s.partial && s.pids == 0 && s.total == 0, "an exited process: nothing, not partial");

	{
		struct gpu_env env = fake_env();
		char cg[PATH_MAX];
		snprintf(cg, sizeof cg, "%s/no-such-cgroup", tmp);
		ok(gpu_sample_job(&env, cg, &s) < 0, "a cgroup that is gone: an error, not zero");
	}
}

/* The real /proc: this process's own fds are not DRM devices (a host
 * with a GPU: the test opens none). */
static void test_real_proc(void)
{
	char cg[PATH_MAX], pid[32];
	struct gpu_sample s;

	snprintf(cg, sizeof cg, "%s/self-cg", tmp);
	mkdir(cg, 0755);
	snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	run("printf '%%s' '%s' > '%s/cgroup.procs'", pid, cg);
	is_int(gpu_sample_job(&gpu_env_host, cg, &s), 0, "real /proc: sampled");
	ok(s.pids == 1 && s.drm_fds == 0 && s.clients == 0 && !s.partial && s.total == 0,
	   "real /proc: our own fds are not DRM clients");
}

static void test_dmem(void)
{
	char root[PATH_MAX], job[PATH_MAX], buf[256];
	uint64_t v = 0;

	is_int(gpu_dmem_parse_sum(fixture("dmem.current")), 256 * MiB, "dmem.current: VRAM summed");
	is_int(gpu_dmem_parse_sum("drm/0000:03:00.0/vram0 100\ndrm/0000:03:00.0/vram1 20\n"
				  "nvidia/0000:01:00.0/vidmem 3\nsomething/else 1000\n"), 123,
	       "dmem: vram0, vram1 and vidmem count, other regions not");
	snprintf(root, sizeof root, "%s/dmem-root", tmp);
	snprintf(job, sizeof job, "%s/dmem-root/job-1", tmp);
	run("mkdir -p '%s' && cp '%s/tests/data/gpu/dmem.capacity' '%s/' && "
	    "cp '%s/tests/data/gpu/dmem.current' '%s/' && : > '%s/dmem.max'",
	    job, srcdir, root, srcdir, job, job);
	is_int(gpu_dmem_current(job, &v), 0, "dmem.current read");
	is_int(v, 256 * MiB, "dmem.current: 256 MiB");
	is_int(gpu_dmem_set_max(root, job, 128 * MiB), 1, "dmem.max set for the one VRAM region");
	snprintf(buf, sizeof buf, "%s/dmem.max", job);
	{
		char got[256];
		read_small_file(buf, got, sizeof got);
		is_str(got, "drm/0000:c4:00.0/vram 134217728", "dmem.max holds region and bytes");
	}
	snprintf(job, sizeof job, "%s/cg", tmp);
	ok(gpu_dmem_set_max(root, job, 128 * MiB) < 0, "no dmem.max in the job: an error");
	ok(gpu_dmem_current(job, &v) == -ENOENT, "no dmem.current: -ENOENT");
}

static void test_host(void)
{
	struct gpuinfo_host h;
	struct gpu_env env = fake_env();
	char sys[PATH_MAX], proc[PATH_MAX];

	snprintf(sys, sizeof sys, "%s/tests/data/gpu/sys", srcdir);
	snprintf(proc, sizeof proc, "%s/tests/data/gpu/proc", srcdir);
	gpuinfo_read(sys, proc, &h);
	is_int(h.cards, 1, "host: one card (connectors are not cards)");
	ok(h.has_gtt && h.gtt_total == 32 * GiB && h.gtt_used == 2 * GiB, "host: GTT pool");
	ok(h.has_vram && h.vram_total == 512 * MiB && h.vram_used == 256 * MiB, "host: VRAM pool");
	is_int(gpuinfo_gtt_free(&h), 30 * GiB, "host: 30 GiB of GTT free");
	ok(h.has_gpu_meminfo && h.gpu_active == 204800 * KiB && h.gpu_reclaim == 10240 * KiB,
	   "host: GPUActive and GPUReclaim from /proc/meminfo");
	ok(gpu_host_has_drm(&env), "host: the fixture has a DRM card");
	gpuinfo_read(tmp, tmp, &h);
	ok(h.cards == 0 && !h.has_gtt && !h.has_gpu_meminfo && gpuinfo_gtt_free(&h) == 0,
	   "a host without a GPU: no pools, no GTT headroom figures");
	env.sys_root = tmp;
	ok(!gpu_host_has_drm(&env), "a host without a GPU: no DRM device");
}

/* What one job's sample costs: 2 processes with 3 DRM fds and 20 other
 * fds, and the same without DRM fds. A diagnostic, not a pass/fail. */
static void test_cost(void)
{
	struct timespec a, b;
	struct gpu_sample s;
	const int n = 500;

	for (int with = 0; with < 2; with++) {
		reset_tree();
		for (int fd = 10; fd < 30; fd++)
			add_fd("cg", 100 + fd % 2, fd, "null", NULL);
		if (with) {
			add_fd("cg", 100, 5, "renderD128", "amdgpu-7.3.fdinfo");
			add_fd("cg", 100, 6, "renderD128", "amdgpu-7.3.fdinfo");
			add_fd("cg", 101, 5, "renderD129", "xe.fdinfo");
		}
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; i < n; i++)
			sample(&s);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("# sample cost %s DRM fds: %.1f us per job sample (2 pids, %u fds scanned)\n",
		       with ? "with" : "without",
		       ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n / 1000.0,
		       20 + s.drm_fds);
		ok(s.clients == (unsigned)(with ? 2 : 0), "cost run %s DRM fds: %u clients",
		   with ? "with" : "without", s.clients);
	}
}

int main(void)
{
	srcdir = getenv("top_srcdir");
	if (!srcdir) {
		printf("1..0 # SKIP top_srcdir is not set (run through make check, or set "
		       "top_srcdir to the source tree)\n");
		return 0;
	}
	snprintf(tmp, sizeof tmp, "%s/memsafe-test-gpu.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	test_sizes();
	test_parse();
	test_classify();
	test_fixture_sums();
	test_dedup();
	test_partial();
	test_real_proc();
	test_dmem();
	test_host();
	test_cost();
	run("rm -rf '%s'", tmp);
	return tap_done();
}
