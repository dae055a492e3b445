/* GPU memory per job: DRM fdinfo parsing and sampling, and dmem. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "gpu.h"
#include "util.h"

const struct gpu_env gpu_env_host = {
	.proc_root = "/proc", .sys_root = "/sys", .is_drm = gpu_is_drm_chardev,
};

const struct gpu_env *gpu_env_daemon(void)
{
	static struct gpu_env env;

	if (!env.is_drm) {
		const char *p = getenv("MEMSAFED_GPU_PROC_ROOT"), *s = getenv("MEMSAFED_GPU_SYS_ROOT");

		env = gpu_env_host;
		env.proc_root = p && *p ? p : env.proc_root;
		env.sys_root = s && *s ? s : env.sys_root;
	}
	return &env;
}

bool gpu_is_drm_chardev(const struct stat *st, unsigned *ret_minor)
{
	if (!S_ISCHR(st->st_mode) ||
	    (major(st->st_rdev) != GPU_DRM_MAJOR && major(st->st_rdev) != GPU_ACCEL_MAJOR))
		return false;
	*ret_minor = major(st->st_rdev) << 20 | minor(st->st_rdev);
	return true;
}

int gpu_parse_size(const char *s, uint64_t *ret)
{
	static const struct { const char *unit; unsigned shift; } units[] = {
		{ "", 0 }, { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 },
	};
	char *end;
	uint64_t v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	while (*end == ' ' || *end == '\t')
		end++;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		size_t n = strlen(units[i].unit);
		const char *rest = end + n;

		if (strncmp(end, units[i].unit, n) != 0)
			continue;
		while (*rest == ' ' || *rest == '\t' || *rest == '\r')
			rest++;
		if (*rest || (units[i].shift && v > UINT64_MAX >> units[i].shift))
			continue;
		*ret = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

static struct gpu_region *region_of(struct gpu_client *c, const char *name)
{
	struct gpu_region *r;

	for (size_t i = 0; i < c->n_regions; i++)
		if (strcmp(c->regions[i].name, name) == 0)
			return &c->regions[i];
	if (c->n_regions == GPU_REGIONS_MAX || strlen(name) >= sizeof r->name || !*name)
		return NULL;
	r = &c->regions[c->n_regions++];
	snprintf(r->name, sizeof r->name, "%s", name);
	return r;
}

static void copy_value(char *dst, size_t size, const char *v)
{
	size_t n = strcspn(v, " \t\r");

	snprintf(dst, size, "%.*s", (int)MIN(n, size - 1), v);
}

/* Keys: "drm-driver:\tamdgpu". amdgpu's legacy lines are
 * "drm-memory-gtt: \t1024 KiB" (a space before the tab): whitespace
 * after the colon is skipped, whatever it is. */
int gpu_parse_fdinfo(const char *text, struct gpu_client *ret)
{
	static const struct { const char *prefix; int kind; } mem[] = {
		{ "drm-resident-", 0 }, { "drm-memory-", 1 }, { "drm-total-", 2 },
		{ "drm-shared-", 3 },
	};
	struct gpu_client c = { 0 };
	bool drm = false;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char key[96], val[96];
		const char *colon = strchr(p, ':'), *nl = strchr(p, '\n'), *v;
		size_t klen;

		if (!colon || (nl && colon > nl) || (klen = (size_t)(colon - p)) >= sizeof key)
			continue;
		memcpy(key, p, klen);
		key[klen] = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		snprintf(val, sizeof val, "%.*s", (int)(nl ? (size_t)(nl - v) : strlen(v)), v);
		if (strcmp(key, "drm-driver") == 0) {
			copy_value(c.driver, sizeof c.driver, val);
			drm = c.driver[0] != '\0';
		} else if (strcmp(key, "drm-pdev") == 0) {
			copy_value(c.pdev, sizeof c.pdev, val);
		} else if (strcmp(key, "drm-client-id") == 0) {
			c.has_client_id = parse_u64(val, &c.client_id) == 0;
		} else {
			for (size_t i = 0; i < ARRAY_SIZE(mem); i++) {
				size_t n = strlen(mem[i].prefix);
				struct gpu_region *r;
				uint64_t bytes;

				if (strncmp(key, mem[i].prefix, n) != 0)
					continue;
				if (gpu_parse_size(val, &bytes) < 0) {
					c.bad_values++;
					break;
				}
				if (!(r = region_of(&c, key + n)))
					break;
				switch (mem[i].kind) {
				case 0: r->has_resident = true; r->resident = bytes; break;
				case 1: r->has_memory = true; r->legacy = bytes; break;
				case 2: r->has_total = true; r->total = bytes; break;
				case 3: r->shared = bytes; break;
				}
				break;
			}
		}
	}
	if (!drm)
		return -ENOENT;
	/* One figure per region, never two added: drm-resident-R, else the
	 * legacy drm-memory-R (amdgpu 6.1/6.12; an alias of resident in 7.x),
	 * else drm-total-R (the core helper without a status callback). */
	for (size_t i = 0; i < c.n_regions; i++) {
		struct gpu_region *r = &c.regions[i];

		if (r->has_resident)
			r->source = GPU_KEY_RESIDENT;
		else if (r->has_memory) {
			r->source = GPU_KEY_MEMORY;
			r->resident = r->legacy;
		}
		else if (r->has_total) {
			r->source = GPU_KEY_TOTAL;
			r->resident = r->total;
		}
	}
	*ret = c;
	return 0;
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum gpu_region_class gpu_classify(const char *driver, const char *region)
{
	/* i915 system memory is shmem, charged to the allocating task's
	 * memcg (i915_gem_shmem.c): already in memory.current. */
	if (strcmp(driver, "i915") == 0 && starts(region, "system"))
		return GPU_REGION_MEMCG;
	if (strcmp(region, "memory") == 0)   /* the core helper: shmem GEM */
		return GPU_REGION_MEMCG;
	/* TTM pages: not charged (no __GFP_ACCOUNT in ttm or amdgpu, 7.3). */
	if (strcmp(region, "gtt") == 0 || strcmp(region, "cpu") == 0 || starts(region, "system"))
		return GPU_REGION_HOST;
	if (starts(region, "vram") || starts(region, "local") || starts(region, "stolen"))
		return GPU_REGION_DEVICE;
	return GPU_REGION_IGNORED;
}

const char *gpu_region_class_name(enum gpu_region_class c)
{
	static const char *const names[] = {
		[GPU_REGION_IGNORED] = "ignored", [GPU_REGION_HOST] = "host",
		[GPU_REGION_DEVICE] = "device", [GPU_REGION_MEMCG] = "memcg",
	};
	return (unsigned)c < ARRAY_SIZE(names) ? names[c] : "unknown";
}

/* ---- sampling ------------------------------------------------------------ */

struct client_key {
	char dev[40];     /* drm-pdev, else driver:minor */
	uint64_t id;
};

struct scan {
	const struct gpu_env *env;
	struct gpu_sample s;
	struct client_key *keys;
	size_t n_keys, cap_keys;
	bool oom;
};

/* True when the client was already counted this sample. */
static bool seen(struct scan *sc, const struct gpu_client *c, unsigned minor)
{
	struct client_key k = { .id = c->client_id };

	if (c->pdev[0])
		snprintf(k.dev, sizeof k.dev, "%s", c->pdev);
	else
		snprintf(k.dev, sizeof k.dev, "%.24s:%u", c->driver, minor);
	for (size_t i = 0; i < sc->n_keys; i++)
		if (sc->keys[i].id == k.id && strcmp(sc->keys[i].dev, k.dev) == 0)
			return true;
	if (sc->n_keys == sc->cap_keys) {
		size_t cap = sc->cap_keys ? sc->cap_keys * 2 : 8;
		struct client_key *p = realloc(sc->keys, cap * sizeof *p);
		if (!p) {
			sc->oom = true;
			return false;
		}
		sc->keys = p;
		sc->cap_keys = cap;
	}
	sc->keys[sc->n_keys++] = k;
	return false;
}

static void add_client(struct scan *sc, const struct gpu_client *c)
{
	for (size_t i = 0; i < c->n_regions; i++) {
		const struct gpu_region *r = &c->regions[i];

		switch (gpu_classify(c->driver, r->name)) {
		case GPU_REGION_HOST: sc->s.host += r->resident; break;
		case GPU_REGION_DEVICE: sc->s.dev += r->resident; break;
		case GPU_REGION_MEMCG: sc->s.memcg += r->resident; break;
		case GPU_REGION_IGNORED: continue;
		}
		sc->s.shared += r->shared;
	}
	sc->s.clients++;
}

/* Read errors that mean the fd or process went away mid-scan. */
static bool gone(int e) { return e == ENOENT || e == ESRCH; }

static void scan_pid(struct scan *sc, const char *pid)
{
	char path[PATH_MAX], buf[8192];
	_cleanup_close_ int infodir = -1;
	int fddir;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof path, "%s/%s/fd", sc->env->proc_root, pid);
	if (!(d = opendir(path))) {
		if (!gone(errno)) {      /* EACCES: another user's, non-dumpable */
			sc->s.errors++;
			sc->s.partial = true;
		}
		return;
	}
	sc->s.pids++;
	fddir = dirfd(d);
	while ((de = readdir(d))) {
		struct stat st;
		struct gpu_client c;
		unsigned minor = 0;
		ssize_t n;

		if (de->d_name[0] == '.' || fstatat(fddir, de->d_name, &st, 0) < 0 ||
		    !sc->env->is_drm(&st, &minor))
			continue;
		sc->s.drm_fds++;
		if (infodir < 0) {
			snprintf(path, sizeof path, "%s/%s/fdinfo", sc->env->proc_root, pid);
			infodir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		n = infodir < 0 ? -errno : read_small_fileat(infodir, de->d_name, buf, sizeof buf);
		if (n < 0) {
			if (!gone((int)-n)) {
				sc->s.errors++;
				sc->s.partial = true;
			}
			continue;
		}
		if (gpu_parse_fdinfo(buf, &c) < 0)
			continue;   /* a DRM driver that reports nothing */
		if (c.bad_values) {
			sc->s.errors++;
			sc->s.partial = true;
		}
		/* Without an id (no driver prints memory without one) each fd
		 * stands alone. */
		if (c.has_client_id && seen(sc, &c, minor)) {
			sc->s.dup_fds++;
			continue;
		}
		add_client(sc, &c);
	}
	closedir(d);
}

static int scan_cgroup(struct scan *sc, const char *dir, unsigned depth)
{
	char path[PATH_MAX];
	_cleanup_free_ char *procs = NULL;
	size_t cap = 65536;
	ssize_t n;
	DIR *d;
	struct dirent *de;
	struct stat st;

	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	if (!(procs = malloc(cap)))
		return -ENOMEM;
	if ((n = read_small_file(path, procs, cap)) < 0)
		return (int)n;
	for (char *save = NULL, *tok = strtok_r(procs, "\n", &save); tok;
	     tok = strtok_r(NULL, "\n", &save))
		if (tok[strspn(tok, "0123456789")] == '\0')
			scan_pid(sc, tok);
	/* A job's processes may make child cgroups of their own. kernfs
	 * counts subdirectories in a directory's link count (2: none), which
	 * spares a readdir of every control file on each sample; a link
	 * count of 1 (file systems that do not keep it) means "look". */
	if (depth >= 8 || (stat(dir, &st) == 0 && st.st_nlink == 2) || !(d = opendir(dir)))
		return 0;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		scan_cgroup(sc, path, depth + 1);
	}
	closedir(d);
	return 0;
}

int gpu_sample_job(const struct gpu_env *env, const char *cgroup_dir, struct gpu_sample *ret)
{
	struct scan sc = { .env = env };
	int r = scan_cgroup(&sc, cgroup_dir, 0);

	free(sc.keys);
	if (r < 0)
		return r;
	if (sc.oom)
		sc.s.partial = true;
	sc.s.total = sc.s.host + sc.s.dev + sc.s.memcg;
	*ret = sc.s;
	return 0;
}

/* ---- dmem ---------------------------------------------------------------- */

static bool vram_region(const char *name)
{
	const char *last = strrchr(name, '/');

	last = last ? last + 1 : name;
	return starts(last, "vram") || starts(last, "vidmem");
}

uint64_t gpu_dmem_parse_sum(const char *text)
{
	uint64_t sum = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char name[128];
		unsigned long long v;

		if (sscanf(p, "%127s %llu", name, &v) == 2 && vram_region(name))
			sum += v;
	}
	return sum;
}

int gpu_dmem_current(const char *cgroup_dir, uint64_t *ret)
{
	char path[PATH_MAX], buf[4096];
	ssize_t n;

	snprintf(path, sizeof path, "%s/dmem.current", cgroup_dir);
	if ((n = read_small_file(path, buf, sizeof buf)) < 0)
		return (int)n;
	*ret = gpu_dmem_parse_sum(buf);
	return 0;
}

int gpu_dmem_set_max(const char *cgroup_root, const char *cgroup_dir, uint64_t limit)
{
	char path[PATH_MAX], buf[4096], line[192];
	int set = 0, r;

	snprintf(path, sizeof path, "%s/dmem.max", cgroup_dir);
	if (access(path, W_OK) < 0)
		return -errno;
	snprintf(path, sizeof path, "%s/dmem.capacity", cgroup_root);
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -ENOENT;
	snprintf(path, sizeof path, "%s/dmem.max", cgroup_dir);
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char name[128];
		unsigned long long cap;

		if (sscanf(p, "%127s %llu", name, &cap) != 2 || !vram_region(name))
			continue;
		snprintf(line, sizeof line, "%s %" PRIu64, name, limit);
		if ((r = write_file(path, line)) < 0)
			return r;
		set++;
	}
	return set;
}

bool gpu_host_has_drm(const struct gpu_env *env)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *de;
	bool any = false;

	for (int i = 0; i < 2 && !any; i++) {
		snprintf(path, sizeof path, "%s/class/%s", env->sys_root, i ? "accel" : "drm");
		if (!(d = opendir(path)))
			continue;
		while (!any && (de = readdir(d)))
			any = (starts(de->d_name, "card") && !strchr(de->d_name, '-')) ||
			      starts(de->d_name, "renderD") || starts(de->d_name, "accel");
		closedir(d);
	}
	return any;
}
