/* Jobs: submission (spooling), the queue, admission, running a worker in
 * its cgroup, following its frames, and classifying how it ended.
 *
 *   spooling -> queued -> running -> done | failed | oom_killed
 *                                    | cancelled | interrupted
 */
#ifndef MEMSAFE_JOB_H
#define MEMSAFE_JOB_H

#include <event2/event.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <yajl/yajl_gen.h>

#include "cgroup.h"
#include "config.h"
#include "frame.h"
#include "protocol.h"

enum job_state {
	JOB_SPOOLING,    /* reading the client's fd; not yet acknowledged */
	JOB_QUEUED,      /* waiting for a slot or for memory */
	JOB_RUNNING,     /* a worker is alive in the job's cgroup */
	JOB_DONE,        /* ended ok */
	JOB_FAILED,      /* ended with bad_document, crash, sandbox_violation, timeout */
	JOB_OOM_KILLED,  /* the kernel killed it at memory.max */
	JOB_CANCELLED,   /* a user cancelled it */
	JOB_INTERRUPTED, /* the daemon stopped while it ran */
};

enum job_end {
	END_NONE, END_OK, END_OOM_KILL, END_SANDBOX_VIOLATION, END_CRASH,
	END_TIMEOUT, END_CANCELLED, END_BAD_DOCUMENT, END_INTERRUPTED,
};

enum job_kind { JOB_INGEST, JOB_PRESSURE };

/* What a worker's end looked like, for job_classify(). */
struct job_exit {
	bool exited;          /* else killed by signal */
	int code_or_signal;
	bool saw_end_frame;   /* the worker reported normal completion */
	const char *fatal;    /* reason of a fatal frame, or NULL */
	uint64_t oom_kills;   /* cgroup oom_kill counter at the end */
	bool cancelled, timed_out;
};

enum batch_status { BATCH_FLUSHED, BATCH_FAILED, BATCH_KILLED };

/* One row of ingest_manifest.json. */
struct batch_rec {
	uint64_t id;
	enum batch_status status;
	unsigned first_page, last_page;
	uint64_t chunks, bytes;
	uint64_t started_ms, finished_ms;  /* CLOCK_REALTIME */
	double rss_mb;                     /* worker RSS at flush */
	char error[200];
};

/* A change of a memory.events counter, seen when it happened. */
struct job_event {
	uint64_t t_ms;       /* CLOCK_REALTIME */
	const char *name;    /* low, high, max, oom, oom_kill, oom_group_kill */
	uint64_t count;      /* the counter's new value */
	unsigned page;       /* the page the worker was on */
	uint64_t batch_id;   /* the batch being assembled */
};

/* One run of a worker for the job (retries make more). */
struct job_attempt {
	int exit_code, signal;   /* -1 when not applicable */
	unsigned first_page;
	char end[24];
};

struct jobs;
struct memlog;
struct sink_exec;

#define JOB_EVENTS_MAX 256

struct job {
	TAILQ_ENTRY(job) all;    /* every job the daemon knows */
	TAILQ_ENTRY(job) queue;  /* queued jobs, by priority then id */
	struct jobs *jobs;
	uint64_t id;
	enum job_kind kind;
	enum job_state state;
	enum job_end end;
	uid_t uid;
	gid_t gid;
	char name[PROTOCOL_NAME_MAX + 1];
	char kb[PROTOCOL_KB_MAX + 1];
	char sink[16];
	char *dir;               /* <state_dir>/jobs/<id> */
	char *message;           /* why it failed / why it waits, for people */

	/* effective options */
	struct cgroup_limits lim;
	unsigned batch_size;
	uint64_t max_bytes, max_wait_ms, timeout_ms;
	int priority;
	uint64_t target_mb, hold_ms;  /* pressure jobs */

	/* document */
	int src_fd;              /* the client's fd, while spooling */
	int spool_fd;            /* <state_dir>/spool/<id>.doc */
	struct spool *spool;
	uint64_t size;
	uint64_t spool_cap;      /* while spooling: the most it may take */
	const char *spool_cap_by; /* the limit that set spool_cap */
	char sha256[65];

	/* submission handshake: called once spooling ends */
	void (*submitted)(struct job *job, int error, const char *code,
			  const char *msg, void *arg);
	void *submitted_arg;

	/* worker */
	struct cgroup_job *cg;
	pid_t pid;
	int pidfd, in_fd, out_fd;
	struct event *ev_exit, *ev_in, *ev_out, *ev_timeout;
	char *in_buf;
	size_t in_cap;           /* in_buf's size */
	size_t in_len, in_pos;   /* bytes of in_buf pending / written */
	uint64_t in_off;         /* spool offset of the next read */
	struct frame_reader fr;
	bool saw_end, cancelled, timed_out;
	bool waiting_logged;     /* its admission wait was logged */
	bool high_lifted;        /* memory.high was lifted after stalling */
	bool reaped, out_eof;    /* the worker is gone / its pipe is drained */
	siginfo_t exit_info;
	char *fatal_reason;

	/* progress and outcome */
	unsigned pages, page;
	unsigned flushed_page;   /* last page of the last flushed batch */
	uint64_t last_batch_id;  /* id of the last batch the worker sent */
	unsigned first_page;     /* where the current attempt started */
	unsigned retries_used, last_oom_page;
	unsigned culprits[16];   /* pages skipped after two OOM kills each */
	size_t n_culprits;
	struct job_event *events;
	size_t n_events;
	struct job_attempt attempts[8];
	size_t n_attempts;
	struct memlog *memlog;
	struct event *ev_events;     /* memory.events watch */
	uint64_t samples;
	uint64_t peak_rss_sampled, peak_cgroup_sampled;
	uint64_t last_rss;           /* worker RSS at the last sample */
	uint64_t saved_mono;         /* when progress was last written */
	double last_psi_some;        /* job PSI some avg10 at the last sample */
	double psi_some_max, psi_full_max, sys_psi_some_max;
	char psi_mode[200];          /* how pressure was observed */
	struct psi_trigger *psi_trigger;
	uint64_t psi_triggers;       /* times the job's trigger fired */
	bool paused, requeue;        /* frozen / killed by the pressure policy */
	struct job_action { uint64_t t_ms; const char *action; } actions[32];
	size_t n_actions;
	char *syscall;               /* seccomp-killed syscall, when known */
	/* exec sink: a flush in progress holds the frame pipe */
	struct sink_exec *exec;
	struct batch_rec exec_rec;   /* the batch it is flushing */
	uint64_t chunks, batches, batches_flushed, batches_failed;
	struct batch_rec *batch_recs;
	size_t n_batch_recs, cap_batch_recs;
	uint64_t pressure_mb;
	int exit_code, exit_signal;
	uint64_t peak_rss_kb;
	struct cgroup_stats cgstats;
	uint64_t submitted_ms, started_ms, ended_ms; /* CLOCK_REALTIME */
	uint64_t started_mono, ended_mono;
};

/* Open the state directory and return the job manager. */
int jobs_new(struct event_base *base, const struct config *cfg,
	     struct cgroup_root *cg, struct jobs **ret, char **err);
struct jobs *jobs_free(struct jobs *jobs);
/* After a reload (the config jobs_new was given has new values): re-arm
 * the sampler's interval and the system PSI trigger. Running jobs keep the
 * options they started with. */
void jobs_reconfigure(struct jobs *jobs);
/* Called whenever the number of running or queued jobs changes. */
void jobs_set_changed_cb(struct jobs *jobs, void (*cb)(unsigned running, unsigned queued));

/* Start a submit (ingest: src_fd is the document, which the job then
 * owns; pressure: src_fd -1). Returns 1 when the job is queued at once,
 * 0 when it is spooling and job->submitted (set by the caller) will be
 * called when spooling ends, or a negative errno with *code and msg (src_fd
 * stays the caller's). */
int jobs_submit(struct jobs *jobs, const struct request *rq, uid_t uid, gid_t gid,
		int src_fd, struct job **ret, const char **code, char *msg, size_t msgsz);
struct job *jobs_find(struct jobs *jobs, uint64_t id);
struct job *jobs_last(struct jobs *jobs);
struct job *jobs_prev(struct job *job);
/* Cancel a queued or running job. */
int job_cancel(struct job *job);
/* Shutdown has begun: queued jobs stay queued (on disk, for the next
 * start); running ones may finish. */
void jobs_drain(struct jobs *jobs);
/* Stop every running job (daemon shutdown): they end as interrupted. */
void jobs_interrupt_all(struct jobs *jobs);
unsigned jobs_running(const struct jobs *jobs);
unsigned jobs_queued(const struct jobs *jobs);

/* Describe a job as a JSON object. */
void job_to_json(const struct job *job, yajl_gen g);
const char *job_state_name(enum job_state s);
const char *job_end_name(enum job_end e);
/* Decide how a worker's end counts. Pure: tested on its own. */
enum job_end job_classify(const struct job_exit *x);
enum job_state job_state_for_end(enum job_end e);

#endif
