/* Daemon logging: native journald entries with structured fields when
 * stderr is connected to the journal (JOURNAL_STREAM names stderr's device
 * and inode), else "<N>message" lines on stderr, which journald, syslog
 * and people all read (sd-daemon(3) priority prefixes). */
#ifndef MEMSAFE_LOG_H
#define MEMSAFE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "util.h"

/* MESSAGE_IDs (journalctl MESSAGE_ID=...) for the events people search.
 * Stable: documented in memsafed(8); never reuse one for another event. */
#define MSGID_JOB_START "4a1e1f3b9d2c4c51a0e7c6b2d8f90101"
#define MSGID_JOB_END   "4a1e1f3b9d2c4c51a0e7c6b2d8f90102"
#define MSGID_OOM_KILL  "4a1e1f3b9d2c4c51a0e7c6b2d8f90103"
#define MSGID_PRESSURE  "4a1e1f3b9d2c4c51a0e7c6b2d8f90104"

/* MEMSAFE_EVENT= values of the events that carry a MESSAGE_ID. */
#define EVENT_JOB_START "job_start"
#define EVENT_JOB_END   "job_end"
#define EVENT_OOM_KILL  "oom_kill"
#define EVENT_PRESSURE  "pressure"
/* The "[MEMORY] <operation>: XX.XX MB RSS" lines. */
#define EVENT_MEMORY    "memory"

/* Decide between the journal and stderr; call once, early. */
void log_setup(void);
void log_set_max_level(int prio);

void log_msg(int prio, const char *fmt, ...) _printf_(2, 3);
/* A message about job `id` (0: none); msgid may be NULL. A known msgid
 * also sets MEMSAFE_EVENT= to its event name. */
void log_job(int prio, uint64_t id, const char *msgid, const char *fmt, ...) _printf_(4, 5);
/* A message about an event (MEMSAFE_EVENT=event, a short snake_case name)
 * of job `id` (0: none). The events above get their MESSAGE_ID. */
void log_event(int prio, uint64_t id, const char *event, const char *fmt, ...) _printf_(4, 5);
/* The toolkit's "[MEMORY] <operation>: XX.XX MB RSS" line, with
 * MEMSAFE_RSS_MB= and MEMSAFE_OPERATION= in the journal. */
void log_memory(uint64_t id, const char *operation, double rss_mb);

#endif
