/* Talking to the service manager (sd_notify(3)): readiness, STATUS= lines
 * people see in `systemctl status memsafed`, watchdog pings, reload and
 * stop. Every call is a cheap no-op when NOTIFY_SOCKET is unset. */
#ifndef MEMSAFE_NOTIFY_H
#define MEMSAFE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Read the environment; call once, before any other notify_* call. */
void notify_setup(void);
/* Whether a service manager listens (NOTIFY_SOCKET is set). */
bool notify_enabled(void);

void notify_ready(void);
/* A reload begins (RELOADING=1 with MONOTONIC_USEC=); notify_ready ends it. */
void notify_reloading(void);
/* Shutdown begins: STOPPING=1, and later STATUS= lines say "stopping". */
void notify_stopping(void);

/* STATUS="N running, M queued, memory pressure X% (some avg10)". Called
 * whenever the job counts change (main.c hands it to jobs_set_changed_cb);
 * the line is sent only when its text differs from the last one sent. */
void notify_status(unsigned running, unsigned queued);

/* The interval at which the service manager wants WATCHDOG=1, in µs,
 * or 0 when it does not (sd_watchdog_enabled(3)). */
uint64_t notify_watchdog_usec(void);
void notify_watchdog(void);

#endif
