/* The wire format between memsafectl and memsafed.
 *
 * UNIX SOCK_SEQPACKET; one JSON object per message, at most
 * PROTOCOL_MAX_MSG bytes; every message carries "v": PROTOCOL_VERSION.
 * Requests have "op"; replies have "ok" and, on failure,
 * "error": {"code", "message"}. `submit` carries the document as an fd
 * (SCM_RIGHTS) on the same message.
 *
 * Events (additive in v1): after a `watch` request is answered, memsafed
 * also sends event messages on that connection, unasked, as the watched
 * jobs move; they have "event" (never "ok"), so a client tells them from
 * replies. Every event carries "v", "event" (an EVENT_* name), "t_ms"
 * (CLOCK_REALTIME) and, but for "lagged", "id" and "job" (the job as
 * `status` describes it, as of the event), plus members of its own:
 *   state     "change": queued | admitted | running | paused | resumed |
 *             retried | ending (it has ended, its artifacts are being
 *             written: "end" follows), and "state"
 *   progress  "page", "pages", "batches", "batches_flushed" (coalesced:
 *             at most one per job every EVENTS_PROGRESS_MS)
 *   memory    a memory.events counter moved: "name", "count", "page",
 *             "batch_id"
 *   pressure  a pressure-policy action: "action" (pause, thaw, kill,
 *             lift_high)
 *   sample    one sample tick of a running job: "rss_mb", "cgroup_mb",
 *             "psi_some_avg10"
 *   end       the job has ended (the last event for it): "state",
 *             "end_reason", "message"; "job" is the final summary
 *   lagged    the subscriber read too slowly and "dropped" events were
 *             lost: ask `status` for the jobs it follows. A subscriber
 *             whose queue stays full for EVENTS_STALL_MS is disconnected.
 * A watch of a job that has already ended is answered, then sent its
 * "end" event at once (once its artifacts are on disk; `status` may show
 * its final state a moment before). 
 *
 * Bump PROTOCOL_VERSION on any change an old peer would misread. */
#ifndef MEMSAFE_PROTOCOL_H
#define MEMSAFE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTOCOL_VERSION 1
#define PROTOCOL_MAX_MSG (64 * 1024)
#define PROTOCOL_NAME_MAX 255  /* document name, for display only */
#define PROTOCOL_KB_MAX 64
#define PROTOCOL_WATCH_MAX 64  /* job ids one watch request may name */
#define EVENTS_PROGRESS_MS 100 /* at most one progress event per job this often */
#define EVENTS_STALL_MS 5000   /* a subscriber full this long is disconnected */

enum protocol_op {
	OP_SUBMIT,   /* name, fd, job options -> id (after spooling) */
	OP_STATUS,   /* id -> job */
	OP_LIST,     /* -> jobs */
	OP_CANCEL,   /* id -> job */
	OP_PRESSURE, /* target_mb, memory_max, hold_ms -> id (a pressure job) */
	OP_PING,     /* -> version, pid */
	OP_WATCH,    /* id | ids | all -> ids, jobs; then events (see above) */
	OP_UNWATCH,  /* id | ids | all: stop those events -> ok */
};

/* Event names (the "event" member of an event message). */
#define EVENT_STATE "state"
#define EVENT_PROGRESS "progress"
#define EVENT_MEMORY "memory"
#define EVENT_PRESSURE "pressure"
#define EVENT_SAMPLE "sample"
#define EVENT_END "end"
#define EVENT_LAGGED "lagged"

/* Stable error codes: programs match these, people read the message. */
#define ERR_BAD_REQUEST "bad_request"   /* malformed or invalid request */
#define ERR_BAD_VERSION "bad_version"   /* "v" missing or not ours */
#define ERR_UNKNOWN_OP "unknown_op"
#define ERR_NOT_FOUND "not_found"       /* no such job (or not yours) */
#define ERR_BAD_FD "bad_fd"             /* the passed fd is unusable */
#define ERR_TOO_LARGE "too_large"       /* document above max_file_size */
#define ERR_LIMIT "limit"               /* a per-user or global limit */
#define ERR_REFUSED "refused"           /* a job that could never run */
#define ERR_INTERNAL "internal"

/* Options a submitter may set; has_* says which were given. The daemon
 * fills the rest from its configuration and enforces its ceilings. */
struct job_options {
	bool has_memory_max, has_batch_size, has_max_bytes, has_max_wait_ms,
		has_priority, has_timeout;
	uint64_t memory_max;  /* bytes */
	uint64_t batch_size;
	uint64_t max_bytes;
	uint64_t max_wait_ms;
	uint64_t timeout_ms;
	int64_t priority;     /* higher runs first; -100..100 */
	bool has_gpu_memory_max;
	uint64_t gpu_memory_max; /* bytes of device memory; 0 = no limit of its own */
	char kb[PROTOCOL_KB_MAX + 1];   /* empty: the configured default */
	char sink[16];                  /* empty: the configured default */
};

struct request {
	enum protocol_op op;
	uint64_t id;                      /* status, cancel */
	char name[PROTOCOL_NAME_MAX + 1]; /* submit: display name */
	struct job_options opts;          /* submit, pressure */
	uint64_t target_mb;               /* pressure */
	uint64_t hold_ms;                 /* pressure */
	uint64_t ids[PROTOCOL_WATCH_MAX]; /* watch, unwatch: "id" or "ids" */
	size_t n_ids;
	bool all;                         /* watch, unwatch: every job you may see */
};

/* Parse and validate one request. On failure returns -EINVAL, sets
 * *ret_code to a stable ERR_* code and writes a sentence into msg. */
int protocol_parse_request(const char *buf, size_t len, struct request *ret,
			   const char **ret_code, char *msg, size_t msgsz);
const char *protocol_op_name(enum protocol_op op);

/* True when s is a valid knowledge-base name: [A-Za-z0-9_.-]{1,64}, not
 * starting with a dot. */
bool protocol_kb_valid(const char *s);

/* A complete error reply as a malloc'd string. */
char *protocol_error_reply(const char *code, const char *message);

#endif
