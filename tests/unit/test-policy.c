/* Unit tests for daemon/policy.c, the pressure policy's decisions: which
 * running job is the victim, when paused jobs thaw, when memory.high is
 * lifted. Table cases in the style of systemd-oomd's test-oomd-util.c. */
#include "policy.h"
#include "util.h"
#include "tap.h"

#define MB (UINT64_C(1) << 20)

/* A job at `cur` MB of a 1000 MB cap, memory.high 800 MB, started at t. */
#define JOB(t, cur) { .actionable = true, .started_mono = (t), .current = (cur) * MB, \
		      .memory_max = 1000 * MB, .memory_high = 800 * MB }

struct victim_case {
	const char *what;
	struct policy_job jobs[4];
	size_t n;
	ssize_t want;
};

static const struct victim_case victims[] = {
	{ "no running job", { { 0 } }, 0, -1 },
	{ "one job", { JOB(10, 100) }, 1, 0 },
	{ "the newest of three", { JOB(10, 100), JOB(30, 100), JOB(20, 100) }, 3, 1 },
	{ "not one that is paused or requeued",
	  { JOB(10, 100), { .actionable = false, .started_mono = 30, .memory_max = 1000 * MB } },
	  2, 0 },
	{ "not one pressed against its cap (90% of memory.max)",
	  { JOB(10, 100), JOB(30, 900) }, 2, 0 },
	{ "just below 90% is fair game (memory.high lifted)",
	  { JOB(10, 100), { .actionable = true, .started_mono = 30, .current = 899 * MB,
			    .memory_max = 1000 * MB, .memory_high = 800 * MB,
			    .high_lifted = true } }, 2, 1 },
	{ "just below 95% of memory.high is fair game", { JOB(10, 100), JOB(30, 759) }, 2, 1 },
	{ "not one at 95% of memory.high", { JOB(10, 100), JOB(30, 760) }, 2, 0 },
	{ "at 95% of a lifted memory.high it is",
	  { JOB(10, 100), { .actionable = true, .started_mono = 30, .current = 760 * MB,
			    .memory_max = 1000 * MB, .memory_high = 800 * MB,
			    .high_lifted = true } }, 2, 1 },
	{ "every job at its cap: none",
	  { JOB(10, 950), JOB(30, 990) }, 2, -1 },
};

static void test_victim(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(victims); i++) {
		const struct victim_case *c = &victims[i];

		is_int(policy_victim(c->jobs, c->n), c->want, "victim: %s", c->what);
	}
}

static void test_thaw(void)
{
	ok(policy_may_thaw(1.0, 15.0, 20000, 10000, 5000), "quiet for 10 s of 5: thaw");
	ok(!policy_may_thaw(1.0, 15.0, 12000, 10000, 5000), "quiet for 2 s of 5: hold");
	ok(!policy_may_thaw(15.0, 15.0, 20000, 10000, 5000), "PSI at the limit: hold");
	ok(policy_may_thaw(14.9, 15.0, 20000, 0, 5000), "never high, PSI below: thaw");
}

static void test_lift_high(void)
{
	/* cap 1000, high 800: lifted once current + (1000-800)/4 >= 800 */
	ok(policy_should_lift_high(750 * MB, 1000 * MB, 800 * MB, 0, false), "750 of 800: lift");
	ok(!policy_should_lift_high(749 * MB, 1000 * MB, 800 * MB, 0, false), "749 of 800: not yet");
	ok(!policy_should_lift_high(790 * MB, 1000 * MB, 800 * MB, 64 * MB, false),
	   "with swap to reclaim into: never");
	ok(!policy_should_lift_high(790 * MB, 1000 * MB, 800 * MB, 0, true), "already lifted");
	ok(!policy_should_lift_high(999 * MB, 1000 * MB, 0, 0, false), "no memory.high set");
}

static void test_limit(void)
{
	ok(policy_psi_limit(150000, 1000000) == 15.0, "150 ms in 1 s is 15%%");
	ok(policy_psi_limit(100000, 2000000) == 5.0, "100 ms in 2 s is 5%%");
}

int main(void)
{
	test_victim();
	test_thaw();
	test_lift_high();
	test_limit();
	return tap_done();
}
