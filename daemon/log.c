#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
/* CODE_FILE= and friends would name this file, not the caller. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

/* Longer messages are cut; nothing we log comes near. */
#define LOG_MSG_MAX 2048
/* A message once escaped: at most four bytes (\xHH) for each. */
#define LOG_LINE_MAX (4 * LOG_MSG_MAX)

static bool use_journal;
static int max_level = LOG_INFO;

static const struct {
	const char *event, *msgid;
} event_ids[] = {
	{ EVENT_JOB_START, MSGID_JOB_START },
	{ EVENT_JOB_END, MSGID_JOB_END },
	{ EVENT_OOM_KILL, MSGID_OOM_KILL },
	{ EVENT_PRESSURE, MSGID_PRESSURE },
};

/* Whether JOURNAL_STREAM ("DEV:INO") names the file stderr is. A variable
 * inherited from a parent whose stderr was the journal does not count when
 * ours has been redirected (systemd.exec(5), JOURNAL_STREAM). */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(void)
{
	use_journal = stderr_is_journal();
}

void log_set_max_level(int prio) { max_level = prio; }


/* One entry; the fields other than prio are optional (0, NULL). */
struct entry {
	int prio;
	uint64_t job;
	const char *msgid, *event;
	const char *extra[2];  /* "FIELD=value" strings */
};

static int journal_send(const struct entry *e, const char *msg)
{
	char prio[16], job[48], msgid[48], event[80], message[LOG_LINE_MAX + 16];
	struct iovec iov[8];
	int n = 0;

#define ADD(s) (iov[n].iov_base = (void *)(s), iov[n].iov_len = strlen(s), n++)
	ADD("SYSLOG_IDENTIFIER=memsafed");
	snprintf(prio, sizeof prio, "PRIORITY=%d", e->prio);
	ADD(prio);
	if (e->job) {
		snprintf(job, sizeof job, "MEMSAFE_JOB=%" PRIu64, e->job);
		ADD(job);
	}
	if (e->msgid) {
		snprintf(msgid, sizeof msgid, "MESSAGE_ID=%s", e->msgid);
		ADD(msgid);
	}
	if (e->event) {
		snprintf(event, sizeof event, "MEMSAFE_EVENT=%s", e->event);
		ADD(event);
	}
	for (size_t i = 0; i < ARRAY_SIZE(e->extra); i++)
		if (e->extra[i])
			ADD(e->extra[i]);
	snprintf(message, sizeof message, "MESSAGE=%s", msg);
	ADD(message);
#undef ADD
	return sd_journal_sendv(iov, n);
}

/* Every message is escaped (str_escape) before it goes out: job and
 * document names, kernel log lines and paths are text a user chose, and a
 * newline in one would forge a log line of its own, an escape sequence
 * would reach the terminal of whoever reads the log. */
_printf_(2, 0) static void log_emit(const struct entry *e, const char *fmt, va_list ap)
{
	char raw[LOG_MSG_MAX], msg[LOG_LINE_MAX];

	if (e->prio > max_level)
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	str_escape(msg, sizeof msg, raw);
	/* If journald has gone away, the line still reaches stderr. */
	if (use_journal && journal_send(e, msg) >= 0)
		return;
	if (e->job)
		fprintf(stderr, "<%d>job %" PRIu64 ": %s\n", e->prio, e->job, msg);
	else
		fprintf(stderr, "<%d>%s\n", e->prio, msg);
}

void log_msg(int prio, const char *fmt, ...)
{
	struct entry e = { .prio = prio };
	va_list ap;

	va_start(ap, fmt);
	log_emit(&e, fmt, ap);
	va_end(ap);
}

void log_job(int prio, uint64_t id, const char *msgid, const char *fmt, ...)
{
	struct entry e = { .prio = prio, .job = id, .msgid = msgid };
	va_list ap;

	for (size_t i = 0; msgid && i < ARRAY_SIZE(event_ids); i++)
		if (strcmp(event_ids[i].msgid, msgid) == 0)
			e.event = event_ids[i].event;
	va_start(ap, fmt);
	log_emit(&e, fmt, ap);
	va_end(ap);
}

void log_event(int prio, uint64_t id, const char *event, const char *fmt, ...)
{
	struct entry e = { .prio = prio, .job = id, .event = event };
	va_list ap;

	for (size_t i = 0; event && i < ARRAY_SIZE(event_ids); i++)
		if (strcmp(event_ids[i].event, event) == 0)
			e.msgid = event_ids[i].msgid;
	va_start(ap, fmt);
	log_emit(&e, fmt, ap);
	va_end(ap);
}

static void log_entry(const struct entry *e, const char *fmt, ...) _printf_(2, 3);
static void log_entry(const struct entry *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(e, fmt, ap);
	va_end(ap);
}

void log_memory(uint64_t id, const char *operation, double rss_mb)
{
	char rss[64], op[96], safe[64];
	struct entry e = { .prio = LOG_INFO, .job = id, .event = EVENT_MEMORY,
			   .extra = { rss, op } };

	snprintf(rss, sizeof rss, "MEMSAFE_RSS_MB=%.2f", rss_mb);
	str_escape(safe, sizeof safe, operation);
	snprintf(op, sizeof op, "MEMSAFE_OPERATION=%s", safe);
	log_entry(&e, "[MEMORY] %s: %.2f MB RSS", operation, rss_mb);
}
