/* Daemon logging: structured journald entries when stderr is the journal
 * (JOURNAL_STREAM) or --journal was asked for, else "<N>message" lines on
 * stderr that journald and people both read. */
#ifndef MEMSAFE_LOG_H
#define MEMSAFE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "util.h"

/* MESSAGE_IDs (journalctl MESSAGE_ID=...) for the events people search. */
#define MSGID_JOB_START "4a1e1f3b9d2c4c51a0e7c6b2d8f90101"
#define MSGID_JOB_END   "4a1e1f3b9d2c4c51a0e7c6b2d8f90102"
#define MSGID_OOM_KILL  "4a1e1f3b9d2c4c51a0e7c6b2d8f90103"
#define MSGID_PRESSURE  "4a1e1f3b9d2c4c51a0e7c6b2d8f90104"

void log_setup(void);
void log_set_max_level(int prio);
void log_msg(int prio, const char *fmt, ...) _printf_(2, 3);
/* A message about job `id`; msgid may be NULL. */
void log_job(int prio, uint64_t id, const char *msgid, const char *fmt, ...) _printf_(4, 5);
/* The toolkit's "[MEMORY] <operation>: XX.XX MB RSS" line. */
void log_memory(uint64_t id, const char *operation, double rss_mb);

#endif
