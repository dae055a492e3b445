#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-journal.h>

#include "log.h"

static bool use_journal;
static int max_level = LOG_INFO;

void log_setup(void)
{
	/* systemd sets JOURNAL_STREAM when stderr is connected to journald;
	 * then native entries carry our fields. */
	use_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_max_level(int prio) { max_level = prio; }

static void log_emit(int prio, uint64_t id, const char *msgid, const char *extra,
		     const char *fmt, va_list ap)
{
	char msg[2048];

	if (prio > max_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (use_journal) {
		char jid[48] = "", mid[64] = "";
		if (id)
			snprintf(jid, sizeof jid, "MEMSAFE_JOB=%" PRIu64, id);
		if (msgid)
			snprintf(mid, sizeof mid, "MESSAGE_ID=%s", msgid);
		/* sd_journal_send stops at the first NULL; empty fields are
		 * skipped by putting them last. */
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio,
				"SYSLOG_IDENTIFIER=memsafed",
				extra ? extra : "MEMSAFE=1",
				id ? jid : NULL, msgid ? mid : NULL, NULL);
		return;
	}
	if (id)
		fprintf(stderr, "<%d>job %" PRIu64 ": %s\n", prio, id, msg);
	else
		fprintf(stderr, "<%d>%s\n", prio, msg);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(prio, 0, NULL, NULL, fmt, ap);
	va_end(ap);
}

void log_job(int prio, uint64_t id, const char *msgid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(prio, id, msgid, NULL, fmt, ap);
	va_end(ap);
}

static void log_memory_fmt(uint64_t id, const char *extra, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, id, NULL, extra, fmt, ap);
	va_end(ap);
}

void log_memory(uint64_t id, const char *operation, double rss_mb)
{
	char extra[64];

	snprintf(extra, sizeof extra, "MEMSAFE_RSS_MB=%.2f", rss_mb);
	log_memory_fmt(id, extra, "[MEMORY] %s: %.2f MB RSS", operation, rss_mb);
}
