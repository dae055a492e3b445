/* Unit tests for the parsers of daemon/cgroup.c, on files recorded under
 * tests/data/cgroup/ (see its README), and for cgroup_probe() refusing a
 * root that is no cgroup filesystem. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "cgroup.h"
#include "procfs.h"
#include "util.h"
#include "tap.h"

static const char *srcdir;

/* Contents of tests/data/cgroup/name; exits (hard error) if missing. */
static const char *data(const char *name)
{
	static char buf[8][16384];
	static int next;
	char path[PATH_MAX];
	char *b = buf[next++ % 8];

	snprintf(path, sizeof path, "%s/tests/data/cgroup/%s", srcdir, name);
	if (read_small_file(path, b, sizeof buf[0]) < 0) {
		printf("Bail out! cannot read %s: %s\n", path, strerror(errno));
		exit(99);
	}
	return b;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* ---- /proc/self/cgroup ------------------------------------------------- */

struct self_case {
	const char *what;
	const char *file;  /* a recorded file, or NULL to use text */
	const char *text;
	int r;
	const char *v2, *mem, *pids;  /* NULL: expected NULL */
};

static const struct self_case self_cases[] = {
	{ "pure v2 service", "unified-self-cgroup", NULL,
	  0, "/system.slice/memsafed.service", NULL, NULL },
	{ "hybrid systemd service", "hybrid-systemd-self-cgroup", NULL,
	  0, "/system.slice/memsafed.service", "/system.slice/memsafed.service",
	  "/system.slice/memsafed.service" },
	{ "this host (hybrid, recorded)", "hybrid-host-self-cgroup", NULL,
	  0, "/", "/process_api/b06060ed82992d8a4c7addee4a0fb287", "/" },
	{ "empty", NULL, "", -ENOENT, NULL, NULL, NULL },
	{ "only name=systemd", NULL, "1:name=systemd:/x\n", -ENOENT, NULL, NULL, NULL },
	{ "only pids (no memory anywhere)", NULL, "3:pids:/p\n", -ENOENT, NULL, NULL, NULL },
	{ "only cpu,cpuacct", NULL, "2:cpu,cpuacct:/c\n", -ENOENT, NULL, NULL, NULL },
	{ "v1 memory only, no trailing newline", NULL, "4:memory:/m", 0, NULL, "/m", NULL },
	{ "memory among joined controllers", NULL, "4:cpu,memory,blkio:/j\n",
	  0, NULL, "/j", NULL },
	{ "name=memory is not the memory controller", NULL,
	  "5:name=memory:/n\n0::/y\n", 0, "/y", NULL, NULL },
	{ "memoryx is not memory", NULL, "5:memoryx:/n\n", -ENOENT, NULL, NULL, NULL },
	{ "v2 root", NULL, "0::/\n", 0, "/", NULL, NULL },
	{ "a path with a colon", NULL, "0::/a:b\n", 0, "/a:b", NULL, NULL },
	{ "a path with spaces", NULL, "0::/user.slice/my app.scope\n",
	  0, "/user.slice/my app.scope", NULL, NULL },
	{ "the first of each kind wins", NULL,
	  "10:memory:/first\n11:memory:/second\n0::/v2a\n0::/v2b\n9:pids:/p1\n8:pids:/p2\n",
	  0, "/v2a", "/first", "/p1" },
	{ "garbage lines are skipped", NULL,
	  "garbage\n\n::\n:\n12\n0::/ok\n", 0, "/ok", NULL, NULL },
	{ "v2 line first, then v1", NULL,
	  "0::/u\n7:pids:/p\n6:memory:/m\n", 0, "/u", "/m", "/p" },
};

static void test_parse_self(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(self_cases); i++) {
		const struct self_case *c = &self_cases[i];
		const char *text = c->file ? data(c->file) : c->text;
		char *sentinel = (char *)"untouched";
		char *v2 = sentinel, *mem = sentinel, *pids = sentinel;
		int r = procfs_parse_cgroup(text, &v2, &mem, &pids);

		is_int(r, c->r, "self %s: returns %d", c->what, c->r);
		if (c->r == 0) {
			ok(str_eq(v2, c->v2), "self %s: v2 path %s (got %s)", c->what,
			   c->v2 ? c->v2 : "none", v2 ? v2 : "none");
			ok(str_eq(mem, c->mem), "self %s: v1 memory path %s (got %s)", c->what,
			   c->mem ? c->mem : "none", mem ? mem : "none");
			ok(str_eq(pids, c->pids), "self %s: v1 pids path %s (got %s)", c->what,
			   c->pids ? c->pids : "none", pids ? pids : "none");
			free(v2);
			free(mem);
			free(pids);
		} else {
			ok(v2 == sentinel && mem == sentinel && pids == sentinel,
			   "self %s: outputs untouched on failure", c->what);
		}
	}
}

/* ---- memory.events ----------------------------------------------------- */

struct events_case {
	const char *what;
	const char *file;
	const char *text;
	struct cgroup_events want;
};

static const struct events_case events_cases[] = {
	{ "v2 with oom_group_kill", "v2-memory.events", NULL, { 0, 1742, 311, 3, 2, 1 } },
	{ "kernel 5.4 without oom_group_kill", "v2-memory.events-5.4", NULL,
	  { 0, 58, 7, 1, 1, 0 } },
	{ "empty", NULL, "", { 0, 0, 0, 0, 0, 0 } },
	{ "oom_kill alone is not oom", NULL, "oom_kill 5\n", { 0, 0, 0, 0, 5, 0 } },
	{ "oom_group_kill alone is not oom_kill", NULL, "oom_group_kill 4\n",
	  { 0, 0, 0, 0, 0, 4 } },
	{ "reordered keys", NULL, "oom_group_kill 9\noom_kill 4\noom 2\nmax 1\nhigh 8\nlow 6\n",
	  { 6, 8, 1, 2, 4, 9 } },
	{ "no trailing newline", NULL, "low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6",
	  { 1, 2, 3, 4, 5, 6 } },
	{ "unknown keys ignored", NULL,
	  "sock_throttled 3\nlow 1\nfuture_counter 99\nmaximum 7\nhighest 8\n",
	  { 1, 0, 0, 0, 0, 0 } },
	{ "keys only at line start", NULL, "xlow 5\nfoo high\nmax_x 3\n",
	  { 0, 0, 0, 0, 0, 0 } },
	{ "garbage value leaves 0, the rest parse", NULL, "high 5\nmax abc\noom 1\n",
	  { 0, 5, 0, 1, 0, 0 } },
	{ "negative value", NULL, "max -1\n", { 0, 0, 0, 0, 0, 0 } },
	{ "fraction", NULL, "max 1.5\n", { 0, 0, 0, 0, 0, 0 } },
	{ "trailing space", NULL, "max 5 \n", { 0, 0, 0, 0, 0, 0 } },
	{ "two spaces", NULL, "max  5\n", { 0, 0, 0, 0, 0, 0 } },
	{ "empty value", NULL, "max \noom 2\n", { 0, 0, 0, 2, 0, 0 } },
	{ "key without value", NULL, "max\noom 2\n", { 0, 0, 0, 2, 0, 0 } },
	{ "2^64-1", NULL, "max 18446744073709551615\n", { 0, 0, UINT64_MAX, 0, 0, 0 } },
	{ "2^64 overflows to 0", NULL, "max 18446744073709551616\n", { 0, 0, 0, 0, 0, 0 } },
	{ "a 40-digit value", NULL, "max 1234567890123456789012345678901234567890\noom 1\n",
	  { 0, 0, 0, 1, 0, 0 } },
};

static void test_parse_events(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(events_cases); i++) {
		const struct events_case *c = &events_cases[i];
		const char *text = c->file ? data(c->file) : c->text;
		struct cgroup_events ev;

		memset(&ev, 0xee, sizeof ev); /* missing keys must come out 0 */
		cgroup_parse_events(text, &ev);
		if (!ok(memcmp(&ev, &c->want, sizeof ev) == 0,
			"events %s: low %llu high %llu max %llu oom %llu oom_kill %llu "
			"oom_group_kill %llu", c->what,
			(unsigned long long)ev.low, (unsigned long long)ev.high,
			(unsigned long long)ev.max, (unsigned long long)ev.oom,
			(unsigned long long)ev.oom_kill, (unsigned long long)ev.oom_group_kill))
			printf("#   want low %llu high %llu max %llu oom %llu oom_kill %llu "
			       "oom_group_kill %llu\n", (unsigned long long)c->want.low,
			       (unsigned long long)c->want.high, (unsigned long long)c->want.max,
			       (unsigned long long)c->want.oom, (unsigned long long)c->want.oom_kill,
			       (unsigned long long)c->want.oom_group_kill);
	}
}

/* ---- flat keyed lookup ------------------------------------------------- */

struct keyed_case {
	const char *text, *key;
	int r;
	uint64_t want;
};

static const struct keyed_case keyed_cases[] = {
	{ "a 1\nb 2\n", "a", 0, 1 },
	{ "a 1\nb 2\n", "b", 0, 2 },
	{ "a 1\nb 2", "b", 0, 2 },
	{ "a 1\nb 2\n", "c", -ENOENT, 0 },
	{ "", "a", -ENOENT, 0 },
	{ "oom_kill 3\n", "oom", -ENOENT, 0 },
	{ "anon_thp 5\n", "anon", -ENOENT, 0 },
	{ "total_rss 5\n", "rss", -ENOENT, 0 },
	{ "anon_thp 5\nanon 7\n", "anon", 0, 7 },
	{ "rss_huge 2097152\nrss 100\n", "rss", 0, 100 },
	{ "x oom\noom 3\n", "oom", 0, 3 },
	{ "oom\noom 3\n", "oom", 0, 3 },
	{ "a 0\n", "a", 0, 0 },
	{ "a abc\n", "a", -EINVAL, 0 },
	{ "a \n", "a", -EINVAL, 0 },
	{ "a 1 \n", "a", -EINVAL, 0 },
	{ "a -1\n", "a", -EINVAL, 0 },
	{ "a 18446744073709551615\n", "a", 0, UINT64_MAX },
	{ "a 18446744073709551616\n", "a", -ERANGE, 0 },
	{ "a 00000000000000000000000000000000000001\n", "a", -ERANGE, 0 }, /* > 31 chars */
	{ "a 0000000000000000000000000000001\n", "a", 0, 1 },              /* 31 chars */
};

static void test_parse_keyed(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(keyed_cases); i++) {
		const struct keyed_case *c = &keyed_cases[i];
		uint64_t v = 4242;
		int r = cgroup_parse_keyed(c->text, c->key, &v);

		is_int(r, c->r, "keyed case %zu (key %s): returns %d", i, c->key, c->r);
		is_int(v, c->r == 0 ? c->want : 4242,
		       "keyed case %zu: value %s", i, c->r == 0 ? "parsed" : "untouched");
	}
}

/* ---- memory.stat ------------------------------------------------------- */

struct stat_case {
	const char *what;
	const char *file;
	const char *text;
	enum cgroup_mode mode;
	uint64_t anon, file_bytes;
};

static const struct stat_case stat_cases[] = {
	{ "v2 recorded", "v2-memory.stat", NULL, CGROUP_UNIFIED, 392503296, 31326208 },
	{ "v1 recorded on this host", "hybrid-host-v1-memory.stat", NULL, CGROUP_HYBRID,
	  1757184, 196608 },
	{ "v2 file read as v1 finds neither", "v2-memory.stat", NULL, CGROUP_HYBRID, 0, 0 },
	{ "v1 file read as v2 finds neither", "hybrid-host-v1-memory.stat", NULL,
	  CGROUP_UNIFIED, 0, 0 },
	{ "v2 prefixes before the keys", NULL,
	  "anon_thp 2097152\nfile_mapped 5\nfile_dirty 6\nanon 7\nfile 9\n",
	  CGROUP_UNIFIED, 7, 9 },
	{ "v1 prefixes and totals before the keys", NULL,
	  "rss_huge 2097152\ntotal_rss 99\ntotal_cache 98\nrss 100\ncache 200\n",
	  CGROUP_HYBRID, 100, 200 },
	{ "v2 garbage anon", NULL, "anon x\nfile 9\n", CGROUP_UNIFIED, 0, 9 },
	{ "v2 empty", NULL, "", CGROUP_UNIFIED, 0, 0 },
	{ "v1 missing cache", NULL, "rss 4096\n", CGROUP_HYBRID, 4096, 0 },
};

static void test_parse_stat(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(stat_cases); i++) {
		const struct stat_case *c = &stat_cases[i];
		const char *text = c->file ? data(c->file) : c->text;
		uint64_t anon = 123, file = 456;

		cgroup_parse_stat(text, c->mode, &anon, &file);
		is_int(anon, c->anon, "stat %s: anon", c->what);
		is_int(file, c->file_bytes, "stat %s: file", c->what);
	}
}

/* ---- v1 memory.oom_control --------------------------------------------- */

struct oom_case {
	const char *what;
	const char *file;
	const char *text;
	uint64_t oom_kill;
	bool under_oom;
};

static const struct oom_case oom_cases[] = {
	{ "recorded on this host", "hybrid-host-v1-memory.oom_control", NULL, 0, false },
	{ "after an OOM kill", "v1-memory.oom_control-after-oom", NULL, 1, false },
	{ "kernel 4.9 (no oom_kill)", "v1-memory.oom_control-4.9", NULL, 0, false },
	{ "under OOM, kills counted", NULL, "oom_kill_disable 1\nunder_oom 1\noom_kill 7\n",
	  7, true },
	{ "oom_kill_disable is not oom_kill", NULL, "oom_kill_disable 1\nunder_oom 0\n",
	  0, false },
	{ "under_oom any non-zero", NULL, "under_oom 2\n", 0, true },
	{ "garbage values", NULL, "under_oom x\noom_kill y\n", 0, false },
	{ "empty", NULL, "", 0, false },
};

static void test_parse_oom_control(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(oom_cases); i++) {
		const struct oom_case *c = &oom_cases[i];
		const char *text = c->file ? data(c->file) : c->text;
		uint64_t kills = 99;
		bool under = !c->under_oom;

		cgroup_parse_oom_control(text, &kills, &under);
		is_int(kills, c->oom_kill, "oom_control %s: oom_kill", c->what);
		is_int(under, c->under_oom, "oom_control %s: under_oom", c->what);
	}
}

/* ---- cgroup_probe: refusing what cannot limit memory -------------------- */

static void expect_probe_fails(const char *what, const char *root, const char *self,
			       int want, const char *const *mentions)
{
	struct cgroup_root *sentinel = (struct cgroup_root *)&srcdir, *ret = sentinel;
	char *err = NULL;
	int r = cgroup_probe(root, self, &ret, &err);

	is_int(r, want, "probe %s: fails with %d", what, want);
	ok(ret == sentinel, "probe %s: ret untouched", what);
	ok(err && *err, "probe %s: says why: %s", what, err ? err : "(null)");
	for (; err && *mentions; mentions++)
		ok(strstr(err, *mentions) != NULL, "probe %s: message mentions \"%s\"", what,
		   *mentions);
	if (r == 0 && ret != sentinel)
		cgroup_root_free(ret);
	free(err);
}

static void test_probe(void)
{
	static const char *const fix_it[] = {
		"no usable memory controller", "systemd.unified_cgroup_hierarchy=1",
		"mount the v1 memory controller", "memsafectl doctor", NULL,
	};
	static const char *const why_self[] = { "/proc/self/cgroup", NULL };
	char tmpl[] = "/tmp/test-cgroup.XXXXXX", p[PATH_MAX];
	const char *dir = mkdtemp(tmpl);
	struct statfs sfs;

	if (!dir) {
		ok(false, "mkdtemp: %s", strerror(errno));
		return;
	}
	expect_probe_fails("on a plain directory (v2 self)", dir, data("unified-self-cgroup"),
			   -EOPNOTSUPP, fix_it);
	expect_probe_fails("on a plain directory (hybrid self)", dir,
			   data("hybrid-systemd-self-cgroup"), -EOPNOTSUPP, fix_it);

	/* a look-alike v1 tree made of plain directories and files */
	snprintf(p, sizeof p, "%s/memory", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/memory/memory.limit_in_bytes", dir);
	close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	snprintf(p, sizeof p, "%s/cgroup.controllers", dir);
	{
		int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd >= 0) {
			write_full(fd, "cpu memory pids\n", 16);
			close(fd);
		}
	}
	expect_probe_fails("on a look-alike tree of plain files", dir, "4:memory:/\n0::/\n",
			   -EOPNOTSUPP, fix_it);
	expect_probe_fails("when /proc/self/cgroup names no cgroup", dir, "garbage\n", -ENOENT,
			   why_self);

	snprintf(p, sizeof p, "%s/memory/memory.limit_in_bytes", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/memory", dir);
	rmdir(p);
	snprintf(p, sizeof p, "%s/cgroup.controllers", dir);
	unlink(p);
	ok(rmdir(dir) == 0, "temporary directory removed");

	/* A real cgroup2 mount without the memory controller: on a hybrid
	 * host that is /sys/fs/cgroup/unified. */
	{
		char ctl[512] = "";
		static const char *const delegate[] = { "memory controller", "Delegate=yes",
							"subtree_control", NULL };
		const char *u = "/sys/fs/cgroup/unified";
		char cf[PATH_MAX];

		snprintf(cf, sizeof cf, "%s/cgroup.controllers", u);
		if (statfs(u, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC &&
		    read_small_file(cf, ctl, sizeof ctl) >= 0 && !strstr(ctl, "memory"))
			expect_probe_fails("on a cgroup2 mount without memory", u, "0::/\n",
					   -EOPNOTSUPP, delegate);
		else
			printf("ok %d # SKIP %s is not a cgroup2 mount without the memory "
			       "controller\n", ++tap_n, u);
	}
}

int main(void)
{
	srcdir = getenv("top_srcdir");
	if (!srcdir || !*srcdir) {
		printf("1..0 # SKIP top_srcdir is not set (run through make check, or set "
		       "top_srcdir to the source tree)\n");
		return 77;
	}
	test_parse_self();
	test_parse_events();
	test_parse_keyed();
	test_parse_stat();
	test_parse_oom_control();
	test_probe();
	return tap_done();
}
