/* libFuzzer target: the parsers of what the kernel hands memsafed
 * (daemon/kmsg.c, daemon/cgroup.c, common/procfs.c). Files under /proc
 * and /sys are not an attacker's to write, but their formats change
 * between kernels, and /dev/kmsg carries text any process can inject
 * (through /dev/kmsg itself or a driver). The first byte picks the parser,
 * the second (where one is needed) picks the key looked up; the rest is
 * the text, given to kmsg_parse as exactly that many bytes and to the
 * others NUL-terminated, as the daemon reads them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "fuzz.h"
#include "kmsg.h"
#include "procfs.h"

static const char *const cgroup_keys[] = {
	"low", "high", "max", "oom", "oom_kill", "oom_group_kill", "anon", "file",
	"rss", "cache", "under_oom", "populated", "frozen", "",
};
static const char *const meminfo_keys[] = {
	"MemAvailable", "MemTotal", "MemFree", "SwapTotal", "Mem", "",
};

enum parser {
	P_KMSG,         /* a /dev/kmsg record, then kmsg_relevant on its text */
	P_KMSG_TEXT,    /* kmsg_relevant on raw text */
	P_EVENTS,       /* memory.events */
	P_STAT_V2,      /* memory.stat, cgroup v2 */
	P_STAT_V1,      /* memory.stat, cgroup v1 */
	P_OOM_CONTROL,  /* v1 memory.oom_control */
	P_SELF,         /* /proc/self/cgroup */
	P_KEYED,        /* any flat-keyed file, key chosen by byte 1 */
	P_PSI,          /* /proc/pressure/memory, memory.pressure */
	P_MEMINFO,      /* /proc/meminfo, key chosen by byte 1 */
	P_STATM,        /* /proc/PID/statm */
	P_COUNT
};

static void parse_text(enum parser p, uint8_t sel, const char *text, size_t len)
{
	switch (p) {
	case P_EVENTS: {
		struct cgroup_events ev;
		cgroup_parse_events(text, &ev);
		break;
	}
	case P_STAT_V2:
	case P_STAT_V1: {
		uint64_t anon = 1, file = 1;
		cgroup_parse_stat(text, p == P_STAT_V2 ? CGROUP_UNIFIED : CGROUP_HYBRID,
				  &anon, &file);
		break;
	}
	case P_OOM_CONTROL: {
		uint64_t kills;
		bool under;
		cgroup_parse_oom_control(text, &kills, &under);
		break;
	}
	case P_SELF: {
		char *v2 = NULL, *mem = NULL, *pids = NULL;
		if (procfs_parse_cgroup(text, &v2, &mem, &pids) == 0) {
			fuzz_assert(v2 || mem);
			fuzz_assert(!v2 || strlen(v2) < len);
			fuzz_assert(!mem || strlen(mem) < len);
			fuzz_assert(!pids || strlen(pids) < len);
			free(v2);
			free(mem);
			free(pids);
		}
		break;
	}
	case P_KEYED: {
		const char *key = cgroup_keys[sel % (sizeof cgroup_keys / sizeof cgroup_keys[0])];
		uint64_t v = 7;
		int r = cgroup_parse_keyed(text, key, &v);
		fuzz_assert(r == 0 || r == -ENOENT || r == -EINVAL || r == -ERANGE);
		fuzz_assert(r == 0 || v == 7);
		break;
	}
	case P_PSI: {
		struct psi_line some, full;
		procfs_parse_psi(text, &some, &full);
		break;
	}
	case P_MEMINFO: {
		const char *key = meminfo_keys[sel % (sizeof meminfo_keys / sizeof meminfo_keys[0])];
		uint64_t v = 7;
		int r = procfs_parse_meminfo(text, key, &v);
		fuzz_assert(r == 0 || v == 7);
		break;
	}
	case P_STATM: {
		uint64_t vms, rss;
		procfs_parse_statm(text, &vms, &rss);
		break;
	}
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum parser p;
	uint8_t sel;
	char *buf;

	if (size < 2)
		return 0;
	p = (enum parser)(data[0] % P_COUNT);
	sel = data[1];
	data += 2;
	size -= 2;

	if (p == P_KMSG || p == P_KMSG_TEXT) {
		struct kmsg_record r;
		/* Exactly size bytes, unterminated, as read(2) returns them. */
		buf = malloc(size ? size : 1);
		fuzz_assert(buf);
		memcpy(buf, data, size);
		if (p == P_KMSG_TEXT) {
			kmsg_relevant(buf, size);
		} else if (kmsg_parse(buf, size, &r) == 0) {
			fuzz_assert(r.prio >= 0 && r.prio <= 7);
			fuzz_assert(r.text > buf && r.text + r.len <= buf + size);
			fuzz_assert(!memchr(r.text, '\n', r.len));
			kmsg_relevant(r.text, r.len);
		}
		free(buf);
		return 0;
	}
	buf = malloc(size + 1);
	fuzz_assert(buf);
	memcpy(buf, data, size);
	buf[size] = '\0';
	parse_text(p, sel, buf, size);
	free(buf);
	return 0;
}
