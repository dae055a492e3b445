/* sd_notify: READY, STATUS, RELOADING, STOPPING and the watchdog. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "notify.h"
#include "util.h"

static struct {
	bool enabled;        /* NOTIFY_SOCKET is set */
	bool stopping;
	uint64_t watchdog_usec;
	char last_status[256];
} n;

void notify_setup(void)
{
	uint64_t usec = 0;

	n.enabled = getenv("NOTIFY_SOCKET") != NULL;
	/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is us. */
	if (n.enabled && sd_watchdog_enabled(0, &usec) > 0)
		n.watchdog_usec = usec;
}

bool notify_enabled(void)
{
	return n.enabled;
}

static void send_state(const char *state)
{
	if (n.enabled)
		(void)sd_notify(0, state);
}

void notify_ready(void)
{
	send_state("READY=1");
}

void notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	if (!n.enabled)
		return;
	/* systemd >= 253 wants the CLOCK_MONOTONIC time with RELOADING=1
	 * (Type=notify-reload); older versions ignore it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	send_state(msg);
}

void notify_stopping(void)
{
	n.stopping = true;
	send_state("STOPPING=1");
}

/* System memory pressure, "some avg10" in %, or -1 when unreadable. */
static double memory_pressure(void)
{
	char buf[512], *p, *end;
	double v;

	if (read_small_file("/proc/pressure/memory", buf, sizeof buf) < 0 ||
	    !(p = strstr(buf, "some avg10=")))
		return -1;
	v = strtod(p + strlen("some avg10="), &end);
	return end == p + strlen("some avg10=") ? -1 : v;
}

void notify_status(unsigned running, unsigned queued)
{
	char status[sizeof n.last_status], msg[sizeof status + 8];
	double psi;

	if (!n.enabled)
		return;
	if (n.stopping) {
		snprintf(status, sizeof status, "stopping: %u running, %u queued", running, queued);
	} else if ((psi = memory_pressure()) >= 0) {
		snprintf(status, sizeof status, "%u running, %u queued, memory pressure %.2f%% "
			 "(some avg10)", running, queued, psi);
	} else {
		snprintf(status, sizeof status, "%u running, %u queued", running, queued);
	}
	if (strcmp(status, n.last_status) == 0)
		return;
	snprintf(msg, sizeof msg, "STATUS=%s", status);
	if (sd_notify(0, msg) > 0)
		memcpy(n.last_status, status, sizeof status);
}

uint64_t notify_watchdog_usec(void)
{
	return n.watchdog_usec;
}

void notify_watchdog(void)
{
	if (n.watchdog_usec)
		send_state("WATCHDOG=1");
}
