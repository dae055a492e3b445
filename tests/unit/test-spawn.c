/* Unit test for daemon/spawn.c: a child the daemon lets go of
 * (spawn_abandon) is killed and reaped, never left a zombie. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>

#include "spawn.h"
#include "util.h"
#include "tap.h"

/* A running child let go of, from an event loop (base) or at once (NULL):
 * afterwards it no longer exists, not even as a zombie. */
static void abandon_case(struct event_base *base, const char *how)
{
	char *argv[] = { "sleep", "30", NULL }, *envp[] = { NULL };
	struct spawn_args sa = { .path = "/bin/sleep", .argv = argv, .envp = envp,
				 .fds = { -1 }, .cgroup_dirfd = -1, .procs_fds = { -1, -1 } };
	struct timeval limit = { 5, 0 };
	pid_t pid;
	int pidfd;

	if (!ok(spawn_process(&sa, &pid, &pidfd) == 0, "%s: a child starts", how))
		return;
	ok(kill(pid, 0) == 0, "%s: it runs", how);
	spawn_abandon(base, pidfd);
	if (base) {
		event_base_loopexit(base, &limit);   /* if it never exits */
		event_base_loop(base, EVLOOP_ONCE);
	}
	ok(kill(pid, 0) < 0 && errno == ESRCH, "%s: it was killed and reaped", how);
}

static void test_abandon(void)
{
	struct event_base *base = event_base_new();

	abandon_case(base, "from the loop");
	abandon_case(NULL, "at once");
	event_base_free(base);
}

int main(void)
{
	test_abandon();
	return tap_done();
}
