/* The job record: everything about a job that outlives the process running
 * it — its options, progress, evidence and outcome — and the names of its
 * enums. The leaves (state, artifacts, sinks) see only this record, never
 * the manager's runtime struct job.
 *
 *   spooling -> queued -> running -> done | failed | oom_killed
 *                                    | cancelled | interrupted
 */
#ifndef MEMSAFE_RECORD_H
#define MEMSAFE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "protocol.h"

enum job_state {
	JOB_SPOOLING,    /* reading the client's fd; not yet acknowledged */
	JOB_QUEUED,      /* waiting for a slot or for memory */
	JOB_RUNNING,     /* a worker is alive in the job's cgroup */
	JOB_DONE,        /* ended ok */
	JOB_FAILED,      /* bad_document, crash, sandbox_violation, timeout, page_timeout,
			  * flush_failed */
	JOB_OOM_KILLED,  /* the kernel killed it at memory.max */
	JOB_CANCELLED,   /* a user cancelled it */
	JOB_INTERRUPTED, /* the daemon stopped while it ran */
	_JOB_STATE_MAX,
};

enum job_end {
	END_NONE, END_OK, END_OOM_KILL, END_SANDBOX_VIOLATION, END_CRASH,
	END_TIMEOUT, END_CANCELLED, END_BAD_DOCUMENT, END_INTERRUPTED,
	END_FLUSH_FAILED,   /* extracted, but batches did not reach the sink */
	END_PAGE_TIMEOUT,   /* one page took longer than page_timeout */
	END_GPU_MEMORY,  /* the daemon killed it over a GPU memory limit */
	_JOB_END_MAX,
};

enum job_kind { JOB_INGEST, JOB_PRESSURE, _JOB_KIND_MAX };

enum batch_status { BATCH_FLUSHED, BATCH_FAILED, BATCH_KILLED, _BATCH_STATUS_MAX };

/* Where a job's batches go (sink.h). */
enum sink_kind { SINK_MOCK, SINK_JSONL, SINK_EXEC, _SINK_KIND_MAX };

/* Names people and programs see (job.json, summary.json, the protocol).
 * _to_string gives NULL for END_NONE; _from_string -1 for an unknown name. */
const char *job_state_to_string(enum job_state s);
int job_state_from_string(const char *s);
const char *job_end_to_string(enum job_end e);
int job_end_from_string(const char *s);
const char *job_kind_to_string(enum job_kind k);
int job_kind_from_string(const char *s);
const char *batch_status_to_string(enum batch_status s);
int batch_status_from_string(const char *s);
const char *sink_kind_to_string(enum sink_kind k);
int sink_kind_from_string(const char *s);

/* One row of ingest_manifest.json. */
struct batch_rec {
	uint64_t id;
	enum batch_status status;
	unsigned first_page, last_page;
	uint64_t chunks, bytes;
	uint64_t started_ms, finished_ms;  /* CLOCK_REALTIME */
	double rss_mb;                     /* worker RSS at flush */
	char error[200];
	unsigned tail_chunks;   /* chunks of last_page at the batch's end (not in the manifest) */
};

/* A change of a memory.events counter, seen when it happened. */
struct job_event {
	uint64_t t_ms;       /* CLOCK_REALTIME */
	const char *name;    /* low, high, max, oom, oom_kill, oom_group_kill */
	uint64_t count;      /* the counter's new value */
	unsigned page;       /* the page the worker was on */
	uint64_t batch_id;   /* the batch being assembled */
};

/* One run of a worker for the job (retries and restarts make more). */
struct job_attempt {
	int exit_code, signal;   /* -1 when not applicable */
	unsigned first_page;
	char end[24];
};

/* A pressure-policy action on the job. */
struct job_action {
	uint64_t t_ms;           /* CLOCK_REALTIME */
	const char *action;      /* pause, thaw, kill */
};

/* GPU memory (gpu.c samples it from DRM fdinfo, gpuguard.c decides). */
struct job_gpu {
	uint64_t limit;              /* gpu_memory_max: device memory, bytes; 0 = none */
	uint64_t peak, peak_host, peak_dev;  /* bytes */
	uint64_t last_host, last_dev;        /* at the last sample */
	uint64_t partial_samples;    /* samples with an unreadable fdinfo */
	unsigned over;               /* consecutive samples over a limit */
	bool seen_fdinfo, seen_dmem; /* some sample found DRM clients / dmem.current */
	/* the kill and the check that the driver gave the memory back */
	bool killed, release_pending, released, not_released;
	uint64_t kill_mono;          /* when the daemon killed the job */
	uint64_t held;               /* host GTT+VRAM the job held then, bytes */
	uint64_t host_used_at_kill;  /* the host's GTT+VRAM use then */
	uint64_t release_ms;         /* how long the driver took, once released */
};

#define JOB_EVENTS_MAX 256
#define JOB_ATTEMPTS_MAX 64     /* more than retries (<= 10) and restarts need */
#define JOB_CULPRITS_MAX 16
#define JOB_ACTIONS_MAX 32

struct job_record {
	uint64_t id;
	enum job_kind kind;
	enum job_state state;
	enum job_end end;
	uid_t uid;
	gid_t gid;
	bool admin;              /* submitted by root or admin_group: not capped per user */
	char name[PROTOCOL_NAME_MAX + 1];
	char kb[PROTOCOL_KB_MAX + 1];
	enum sink_kind sink;
	char *dir;               /* <state_dir>/jobs/<id> */
	char *message;           /* why it failed / why it waits, for people */

	/* effective options */
	struct cgroup_limits lim;
	unsigned batch_size;
	uint64_t max_bytes, max_wait_ms, timeout_ms, page_timeout_ms;
	int priority;
	uint64_t target_mb, hold_ms;  /* pressure jobs */

	/* document */
	uint64_t size;
	char sha256[65];

	/* progress */
	unsigned pages, page;
	unsigned flushed_page;   /* last page of the last flushed batch */
	unsigned flushed_page_chunks; /* chunks of flushed_page flushed so far */
	uint64_t last_batch_id;  /* id of the last batch the worker sent */
	unsigned first_page;     /* where the current attempt started */
	unsigned retries_used, last_oom_page;
	unsigned restarts;       /* daemon restarts since the last batch flushed */
	bool resumable;          /* interrupted by a stop of memsafed: the next start resumes it */
	unsigned culprits[JOB_CULPRITS_MAX]; /* pages skipped after two OOM kills each */
	size_t n_culprits;
	uint64_t chunks, batches, batches_flushed, batches_failed;
	/* Failed batches a resume does not redo (a later batch was flushed
	 * after them), and those it does (none flushed since): what decides
	 * flush_failed at the end. */
	uint64_t batches_lost, batches_failing;

	/* evidence */
	struct job_event *events;
	size_t n_events;
	struct job_attempt *attempts;
	size_t n_attempts;
	struct job_action actions[JOB_ACTIONS_MAX];
	size_t n_actions;
	struct batch_rec *batch_recs;
	size_t n_batch_recs, cap_batch_recs;
	uint64_t samples;
	uint64_t peak_rss_sampled, peak_cgroup_sampled;
	double psi_some_max, psi_full_max, sys_psi_some_max;
	char psi_mode[200];          /* how pressure was observed */
	uint64_t psi_triggers;       /* times the job's trigger fired */
	char *syscall;               /* seccomp-killed syscall, when known */
	/* what the last worker's sandbox applied, as it reported it */
	struct job_sandbox {
		bool reported;
		char namespaces[64];     /* "user,network,ipc,mount,pid" */
		char filesystem[16];     /* landlock, empty_root */
		int landlock_abi;
		char readable[256];      /* directories left readable, ":"-separated */
		bool bounding_set_empty, seccomp;
	} sandbox;
	uint64_t pressure_mb;        /* what a pressure job's worker reached */
	struct job_gpu gpu;
	int exit_code, exit_signal;
	uint64_t peak_rss_kb;
	struct cgroup_stats cgstats;
	uint64_t submitted_ms, started_ms, ended_ms; /* CLOCK_REALTIME */
	uint64_t started_mono, ended_mono;
};

/* Replace the message (printf-style; NULL fmt clears it). */
void record_set_message(struct job_record *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int record_add_batch(struct job_record *r, const struct batch_rec *b);
/* Add an attempt (dropped past JOB_ATTEMPTS_MAX); returns it or NULL. */
struct job_attempt *record_add_attempt(struct job_record *r, const struct job_attempt *a);
void record_add_event(struct job_record *r, const struct job_event *e);
void record_add_culprit(struct job_record *r, unsigned page);
void record_add_action(struct job_record *r, uint64_t t_ms, const char *action);
/* What is on disk need not stay in memory: drop the batch rows. */
void record_drop_batches(struct job_record *r);
/* Free what the record owns (not the record itself). */
void record_done(struct job_record *r);

#endif
