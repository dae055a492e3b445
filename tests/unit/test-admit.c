/* Unit tests for daemon/admit.c, the admission decider: table cases in
 * the style of systemd-oomd's test-oomd-util.c. Each case is the host's
 * figures and whether the job may start, and what the reason names. */
#include <stdio.h>
#include <string.h>

#include "admit.h"
#include "util.h"
#include "tap.h"

#define MB (UINT64_C(1) << 20)
#define GB (UINT64_C(1) << 30)

struct admit_case {
	const char *what;
	struct admit_input in;
	bool want;
	const char *why;    /* a phrase the refusal must contain */
};

/* 16 GB available, 2 GB reserve, a 4 GB job, no pressure: the baseline. */
#define HOST .have_meminfo = true, .mem_available = 16 * GB, .reserve = 2 * GB, \
	     .memory_max = 4 * GB, .admission_psi_max = 10.0, .now_ms = 100000, \
	     .hold_ms = 5000

static const struct admit_case cases[] = {
	{ "an idle host with room", { HOST }, true, NULL },
	{ "no /proc/meminfo: the caps still hold",
	  { .have_meminfo = false, .mem_available = 0, .memory_max = 4 * GB, .reserve = 2 * GB },
	  true, NULL },
	{ "exactly the reserve left", { HOST, .mem_available = 6 * GB }, true, NULL },
	{ "one byte below the reserve", { HOST, .mem_available = 6 * GB - 1 }, false,
	  "below reserve 2048 MB" },
	{ "running jobs' headroom counts", { HOST, .headroom = 11 * GB }, false,
	  "less 11264 MB running jobs may still use" },
	{ "headroom that still leaves the reserve", { HOST, .headroom = 10 * GB }, true, NULL },
	{ "a job bigger than all that is available", { HOST, .memory_max = 32 * GB }, false,
	  "leaves 0 MB" },
	{ "PSI at the admission limit", { HOST, .psi_some_avg10 = 10.0 }, false,
	  "admission_psi_max 10.00%" },
	{ "PSI just below the limit", { HOST, .psi_some_avg10 = 9.99 }, true, NULL },
	{ "memory is checked before PSI",
	  { HOST, .mem_available = 1 * GB, .psi_some_avg10 = 50 }, false, "waiting for memory:" },
	{ "a policy that fired 1 s ago holds jobs back",
	  { HOST, .policy_active = true, .last_high_ms = 99000 }, false,
	  "fired 1.0 s ago" },
	{ "the same with no policy", { HOST, .policy_active = false, .last_high_ms = 99000 },
	  true, NULL },
	{ "a policy quiet for hold_time", { HOST, .policy_active = true, .last_high_ms = 95000 },
	  true, NULL },
	{ "a policy that never fired", { HOST, .policy_active = true, .last_high_ms = 0 },
	  true, NULL },
	{ "GTT with room", { HOST, .have_gtt = true, .gtt_free = 8 * GB }, true, NULL },
	{ "GTT below the reserve: GPU memory is why it waits",
	  { HOST, .have_gtt = true, .gtt_free = 2 * GB - 1 }, false,
	  "waiting for GPU memory: GTT free 2047 MB" },
	{ "GTT exactly at the reserve", { HOST, .have_gtt = true, .gtt_free = 2 * GB }, true, NULL },
	{ "running jobs' headroom counts against GTT",
	  { HOST, .have_gtt = true, .gtt_free = 8 * GB, .headroom = 7 * GB }, false,
	  "less 7168 MB running jobs may still take, leaves 1024 MB, below reserve 2048 MB" },
	{ "GTT headroom that still leaves the reserve",
	  { HOST, .have_gtt = true, .gtt_free = 8 * GB, .headroom = 6 * GB }, true, NULL },
	{ "no GTT figures (no amdgpu): MemAvailable alone decides",
	  { HOST, .have_gtt = false, .gtt_free = 0 }, true, NULL },
	{ "MemAvailable is checked before GTT",
	  { HOST, .mem_available = 1 * GB, .have_gtt = true, .gtt_free = 0 }, false,
	  "waiting for memory:" },
	{ "GTT is checked before PSI",
	  { HOST, .have_gtt = true, .gtt_free = 0, .psi_some_avg10 = 50 }, false,
	  "waiting for GPU memory" },
};

static void test_decide(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct admit_case *c = &cases[i];
		char why[512] = "";
		bool got = admit_decide(&c->in, why, sizeof why);

		ok(got == c->want, "%s: %s", c->what, c->want ? "starts" : "waits");
		if (!c->want)
			ok(strstr(why, c->why) != NULL, "%s: the reason says \"%s\" (%s)", c->what,
			   c->why, why);
	}
}

static void test_headroom(void)
{
	is_int(admit_headroom(4 * GB, 1 * GB), 3 * GB, "a job at 1 of 4 GB may take 3 more");
	is_int(admit_headroom(4 * GB, 5 * GB), 0, "a job above its cap (v1 slack) takes none");
}

static void test_fits(void)
{
	char msg[256] = "";

	is_int(admit_fits(4 * GB, 2 * GB, 24 * GB, msg, sizeof msg), 0, "4 GB fits in 24 GB");
	is_int(admit_fits(22 * GB, 2 * GB, 24 * GB, msg, sizeof msg), 0,
	       "exactly RAM less reserve fits");
	is_int(admit_fits(23 * GB, 2 * GB, 24 * GB, msg, sizeof msg), -EINVAL,
	       "23 GB + 2 GB reserve never fits in 24 GB");
	ok(strstr(msg, "lower memory_max by at least 1024 MB") != NULL,
	   "and the message says by how much (%s)", msg);
	is_int(admit_fits(23 * GB, 2 * GB, 0, msg, sizeof msg), 0, "an unknown MemTotal refuses nothing");
}

int main(void)
{
	test_decide();
	test_headroom();
	test_fits();
	return tap_done();
}
