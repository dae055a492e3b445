/* Unit tests for daemon/gpuguard.c, the GPU memory enforcement decider:
 * table cases, each a sample's figures and the count of samples already
 * over, and what the decider says (the hysteresis, the 1.25x instant
 * kill, the two limits); then the gpu_memory_max option's resolution. */
#include <stdio.h>
#include <string.h>

#include "gpuguard.h"
#include "util.h"
#include "tap.h"

#define MB (UINT64_C(1) << 20)
#define GB (UINT64_C(1) << 30)

struct guard_case {
	const char *what;
	struct gpuguard_input in;
	enum gpuguard_verdict want;
	unsigned want_over;
	const char *limit;
};

/* An 8 GB job with no device limit. */
#define JOB .memory_max = 8 * GB

static const struct guard_case cases[] = {
	{ "no GPU memory at all", { JOB, .current = 2 * GB }, GPUGUARD_OK, 0, NULL },
	{ "memory.current at the cap, no GTT: the kernel's business",
	  { JOB, .current = 9 * GB }, GPUGUARD_OK, 0, NULL },
	{ "2 GB charged + 22 GB GTT: far over, killed at once",
	  { JOB, .current = 2 * GB, .gpu_host = 22 * GB }, GPUGUARD_KILL, 1, "memory_max" },
	{ "combined exactly at memory_max is within",
	  { JOB, .current = 2 * GB, .gpu_host = 6 * GB }, GPUGUARD_OK, 0, NULL },
	{ "one byte over, first sample: over, not yet killed",
	  { JOB, .current = 2 * GB, .gpu_host = 6 * GB + 1 }, GPUGUARD_OVER, 1, "memory_max" },
	{ "one byte over, second sample in a row: killed",
	  { JOB, .current = 2 * GB, .gpu_host = 6 * GB + 1, .over = 1 }, GPUGUARD_KILL, 2,
	  "memory_max" },
	{ "back under after one sample over: the count resets",
	  { JOB, .current = 2 * GB, .gpu_host = 5 * GB, .over = 1 }, GPUGUARD_OK, 0, NULL },
	{ "just under 1.25x on the first sample: not yet",
	  { JOB, .current = 2 * GB, .gpu_host = 8 * GB - 1 }, GPUGUARD_OVER, 1, "memory_max" },
	{ "exactly 1.25x on the first sample: killed",
	  { JOB, .current = 2 * GB, .gpu_host = 8 * GB }, GPUGUARD_KILL, 1, "memory_max" },
	{ "a partial sample under the limit keeps the count",
	  { JOB, .current = 2 * GB, .gpu_host = 1 * GB, .partial = true, .over = 1 },
	  GPUGUARD_OK, 1, NULL },
	{ "a partial sample over the limit counts (its figures are a floor)",
	  { JOB, .current = 2 * GB, .gpu_host = 6 * GB + 1, .partial = true, .over = 1 },
	  GPUGUARD_KILL, 2, "memory_max" },
	{ "device memory with no gpu_memory_max: no limit",
	  { JOB, .gpu_dev = 64 * GB }, GPUGUARD_OK, 0, NULL },
	{ "VRAM over gpu_memory_max, first sample",
	  { JOB, .gpu_memory_max = 1 * GB, .gpu_dev = 1 * GB + 1 }, GPUGUARD_OVER, 1,
	  "gpu_memory_max" },
	{ "VRAM over gpu_memory_max, second sample",
	  { JOB, .gpu_memory_max = 1 * GB, .gpu_dev = 1 * GB + 1, .over = 1 }, GPUGUARD_KILL, 2,
	  "gpu_memory_max" },
	{ "VRAM at 1.25x gpu_memory_max: killed at once",
	  { JOB, .gpu_memory_max = 1 * GB, .gpu_dev = 1280 * MB }, GPUGUARD_KILL, 1,
	  "gpu_memory_max" },
	{ "VRAM at gpu_memory_max is within",
	  { JOB, .gpu_memory_max = 1 * GB, .gpu_dev = 1 * GB }, GPUGUARD_OK, 0, NULL },
	{ "device memory does not count against memory_max",
	  { JOB, .current = 7 * GB, .gpu_dev = 4 * GB }, GPUGUARD_OK, 0, NULL },
	{ "RAM is judged before VRAM when both are over",
	  { JOB, .current = 7 * GB, .gpu_host = 2 * GB, .gpu_memory_max = 1 * GB,
	    .gpu_dev = 2 * GB }, GPUGUARD_OVER, 1, "memory_max" },
};

static const char *name(enum gpuguard_verdict v)
{
	return v == GPUGUARD_OK ? "ok" : v == GPUGUARD_OVER ? "over" : "kill";
}

static void test_decide(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct guard_case *c = &cases[i];
		struct gpuguard_result r;

		gpuguard_decide(&c->in, &r);
		is_str(name(r.verdict), name(c->want), "%s: %s", c->what, name(c->want));
		is_int(r.over, c->want_over, "%s: %u sample(s) over", c->what, c->want_over);
		if (c->limit)
			is_str(r.limit, c->limit, "%s: the limit is %s", c->what, c->limit);
		else
			ok(r.limit == NULL, "%s: no limit named", c->what);
	}
}

static void test_resolve(void)
{
	char msg[256] = "";
	uint64_t v = 1;

	is_int(gpuguard_resolve_limit(false, 0, 0, 0, &v, msg, sizeof msg), 0, "defaults: fine");
	is_int(v, 0, "defaults: no device limit");
	gpuguard_resolve_limit(true, 2 * GB, 0, 0, &v, msg, sizeof msg);
	is_int(v, 2 * GB, "the submitter's 2 GB, no ceiling");
	gpuguard_resolve_limit(false, 0, 1 * GB, 4 * GB, &v, msg, sizeof msg);
	is_int(v, 1 * GB, "the configured default within the ceiling");
	gpuguard_resolve_limit(false, 0, 0, 4 * GB, &v, msg, sizeof msg);
	is_int(v, 4 * GB, "no limit asked, a ceiling set: the ceiling");
	gpuguard_resolve_limit(true, 0, 1 * GB, 4 * GB, &v, msg, sizeof msg);
	is_int(v, 4 * GB, "0 asked under a ceiling: the ceiling, not unlimited");
	v = 7;
	is_int(gpuguard_resolve_limit(true, 5 * GB, 0, 4 * GB, &v, msg, sizeof msg), -EINVAL,
	       "above the ceiling: refused");
	is_int(v, 7, "refused: the result untouched");
	ok(strstr(msg, "gpu_memory_max_ceiling") && strstr(msg, "5120 MB"),
	   "refused: the message names the ceiling and the value (%s)", msg);
}

int main(void)
{
	test_decide();
	test_resolve();
	return tap_done();
}
