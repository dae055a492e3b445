/* The /proc parsers (common/procfs.c), the sampler's memory log and the
 * kernel log reader, on recorded files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "kmsg.h"
#include "procfs.h"
#include "sampler.h"
#include "tap.h"
#include "util.h"

static const char *srcdir;

static char *fixture(const char *name, char *buf, size_t size)
{
	char p[PATH_MAX];

	snprintf(p, sizeof p, "%s/tests/data/proc/%s", srcdir, name);
	if (read_small_file(p, buf, size) < 0) {
		printf("# cannot read %s\n", p);
		buf[0] = '\0';
	}
	return buf;
}

static void test_psi(void)
{
	char buf[512];
	struct psi_line some, full;

	ok(procfs_parse_psi(fixture("pressure-memory-busy", buf, sizeof buf), &some, &full) == 0,
	   "psi: busy file parses");
	ok(some.avg10 == 1.50 && some.avg60 == 0.75 && some.total == 123456, "psi: some line");
	ok(full.avg10 == 0.25 && full.total == 4567, "psi: full line");
	ok(procfs_parse_psi(fixture("pressure-memory", buf, sizeof buf), &some, &full) == 0,
	   "psi: this host's /proc/pressure/memory parses");
	ok(procfs_parse_psi("some avg10=2.00 avg60=1.00 avg300=0.50 total=9\n", &some, &full) == 0 &&
	   some.avg10 == 2.0 && full.avg10 == -1, "psi: no full line leaves full at -1");
	ok(procfs_parse_psi("garbage\n", &some, &full) < 0, "psi: garbage is refused");
	ok(procfs_parse_psi("xsome avg10=1.00 avg60=1.00 avg300=1.00 total=1\n", &some, &full) < 0,
	   "psi: 'some' must start a line");
	ok(procfs_parse_psi("full avg10=3.00 avg60=0 avg300=0 total=5\n"
			    "some avg10=4.00 avg60=0 avg300=0 total=6\n", &some, &full) == 0 &&
	   some.avg10 == 4.0 && full.avg10 == 3.0, "psi: lines in either order");
	ok(procfs_parse_psi("some avg10=4.00 avg60=0 avg300=0 total=6\nfull avg10=x\n",
			    &some, &full) == 0 && full.avg10 == -1 && full.avg60 == -1,
	   "psi: a malformed full line stays unknown");
	ok(procfs_read_psi(AT_FDCWD, "/nonexistent/memory.pressure", &some, &full) == -ENOENT &&
	   some.avg10 == -1 && full.avg10 == -1, "psi: a missing file says ENOENT, both unknown");
}

static void test_meminfo(void)
{
	char buf[8192];
	uint64_t v = 0, total = 0;

	fixture("meminfo", buf, sizeof buf);
	ok(procfs_parse_meminfo(buf, "MemTotal", &total) == 0 && total > 0,
	   "meminfo: MemTotal found");
	ok(procfs_parse_meminfo(buf, "MemAvailable", &v) == 0 && v > 0 && v <= total,
	   "meminfo: MemAvailable found, not above MemTotal");
	ok(procfs_parse_meminfo("MemTotal:  1000 kB\nMemAvailable:  500 kB\n", "MemAvailable", &v) == 0 &&
	   v == 500 * 1024, "meminfo: kB converted to bytes");
	ok(procfs_parse_meminfo("MemAvailableX:  5 kB\n", "MemAvailable", &v) == -ENOENT,
	   "meminfo: a longer key is not a match");
	ok(procfs_parse_meminfo("", "MemTotal", &v) == -ENOENT, "meminfo: empty text");
	{
		static const char *const keys[] = { "MemTotal", "NoSuchKey" };
		uint64_t got[2] = { 0, 7 };
		ok(procfs_read_meminfo(keys, got, 2) == 0 && got[0] > 0 && got[1] == 0,
		   "meminfo: this host's MemTotal reads; an absent key reads 0");
	}
}

static void test_statm(void)
{
	uint64_t vms, rss;
	long page = sysconf(_SC_PAGESIZE);

	ok(procfs_parse_statm("100 25 10 1 0 20 0\n", &vms, &rss) == 0 &&
	   vms == (uint64_t)(100 * page) && rss == (uint64_t)(25 * page), "statm: pages to bytes");
	ok(procfs_parse_statm("x", &vms, &rss) < 0, "statm: garbage refused");
	ok(procfs_read_statm(getpid(), &vms, &rss) == 0 && rss > 0 && vms >= rss,
	   "statm: our own process reads");
	ok(procfs_read_statm(0, &vms, &rss) == 0 && rss > 0 && vms >= rss,
	   "statm: pid 0 is our own");
}

static void test_memlog(void)
{
	char dir[] = "/tmp/memsafe-memlog-XXXXXX", p[PATH_MAX], buf[4096];
	struct memlog *ml = NULL;
	struct memlog_row row = { .t_ms = 200, .rss = 10 << 20, .vms = 20 << 20,
				  .cgroup_current = 5 << 20, .psi_some_avg10 = -1,
				  .psi_full_avg10 = 0.5, .mem_available = 1 << 30, .page = 3,
				  .batch_id = 2, .sys_psi_some_avg10 = 1.25 };

	ok(mkdtemp(dir) != NULL, "memlog: temp dir");
	ok(memlog_open(dir, false, (uid_t)-1, (gid_t)-1, &ml) == 0, "memlog: opens");
	ok(memlog_add(ml, &row, now_mono_ms()) == 0, "memlog: a row buffers");
	snprintf(p, sizeof p, "%s/memory_log.csv", dir);
	read_small_file(p, buf, sizeof buf);
	is_str(buf, MEMLOG_HEADER, "memlog: only the header before a flush");
	ok(memlog_add(ml, &row, now_mono_ms() + 1000) == 0, "memlog: a row a second later flushes");
	read_small_file(p, buf, sizeof buf);
	is_str(strchr(buf, '\n') + 1,
	       "200,10.00,20.00,5.00,0.00,0.00,,0.50,1024,3,2,1.25,0.00,0.00,0.00,,0\n"
	       "200,10.00,20.00,5.00,0.00,0.00,,0.50,1024,3,2,1.25,0.00,0.00,0.00,,0\n",
	       "memlog: rows as written, unknown PSI and host GTT left empty");
	row.gpu = 3 << 20;
	row.gpu_host = 2 << 20;
	row.gpu_dev = 1 << 20;
	row.gpu_partial = true;
	row.has_gtt = true;
	row.host_gtt_used = 512 << 20;
	ok(memlog_add(ml, &row, now_mono_ms() + 2000) == 0, "memlog: a GPU row");
	read_small_file(p, buf, sizeof buf);
	ok(strstr(buf, ",1.25,3.00,2.00,1.00,512.00,1\n") != NULL,
	   "memlog: gpu_mb, gpu_host_mb, gpu_dev_mb, host_gtt_used_mb, gpu_partial at the end");
	is_int(memlog_rows(ml), 3, "memlog: rows counted");
	memlog_close(ml);
	unlink(p);
	rmdir(dir);
}

static void test_kmsg(void)
{
	static const char oom[] = "6,1234,2185896910,-;Memory cgroup out of memory: Killed process "
				  "3508 (memsafe-worker) total-vm:61960kB\n SUBSYSTEM=memory\n";
	static const char audit[] = "5,99,1957977490,-;audit: type=1326 audit(1795397416.660:2): "
				    "auid=4294967295 uid=0 gid=0 ses=4294967295 pid=32283 "
				    "comm=\"sc\" exe=\"/tmp/sc\" sig=31 arch=c000003e syscall=41 "
				    "compat=0 ip=0x7f0058a32dc7 code=0x80000000\n";
	struct kmsg_record r;

	ok(kmsg_parse(oom, sizeof oom - 1, &r) == 0, "kmsg: a record parses");
	is_int(r.prio, 6, "kmsg: priority");
	is_int(r.seq, 1234, "kmsg: sequence");
	ok(r.ts_usec == 2185896910ULL, "kmsg: timestamp");
	ok(r.len == strlen("Memory cgroup out of memory: Killed process 3508 (memsafe-worker) "
			   "total-vm:61960kB"), "kmsg: text stops before the continuation lines");
	ok(kmsg_relevant(r.text, r.len), "kmsg: an OOM line is kept");
	ok(kmsg_parse("6,1,2,-,extra;hello\n", 20, &r) == 0 && r.len == 5,
	   "kmsg: unknown header fields are ignored");
	ok(kmsg_parse("no semicolon", 12, &r) < 0, "kmsg: no ';' is refused");
	ok(kmsg_parse("a,b,c;x", 7, &r) < 0, "kmsg: non-numeric header is refused");
	ok(!kmsg_relevant("usb 1-1: new device", 19), "kmsg: unrelated lines are dropped");
	ok(kmsg_relevant("amdgpu 0000:03:00.0: VM fault", 29), "kmsg: GPU driver lines are kept");
	ok(kmsg_parse(audit, sizeof audit - 1, &r) == 0 && kmsg_relevant(r.text, r.len),
	   "kmsg: a seccomp audit line is kept");
}

int main(void)
{
	srcdir = getenv("top_srcdir");
	if (!srcdir) {
		printf("1..0 # SKIP top_srcdir is not set (run through make check)\n");
		return 77;
	}
	test_psi();
	test_meminfo();
	test_statm();
	test_memlog();
	test_kmsg();
	return tap_done();
}
