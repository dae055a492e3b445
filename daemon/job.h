/* A job in the running daemon: its record (record.h), which the leaves
 * see, and the runtime handles the manager and a worker attempt hold. */
#ifndef MEMSAFE_JOB_H
#define MEMSAFE_JOB_H

#include <event2/event.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <yajl/yajl_gen.h>

#include "frame.h"
#include "record.h"

struct config;
struct jobs;
struct memlog;
struct sink_exec;
struct spool;
struct psi_trigger;

struct job {
	struct job_record r;     /* what outlives the process: state, artifacts */
	TAILQ_ENTRY(job) all;    /* every job the daemon knows */
	TAILQ_ENTRY(job) queue;  /* queued jobs, by priority then id */
	struct jobs *jobs;
	struct event_base *base;
	const struct config *cfg;   /* the daemon's; a reload changes it in place */

	/* document */
	int src_fd;              /* the client's fd, while spooling */
	int spool_fd;            /* <state_dir>/spool/<id>.doc */
	struct spool *spool;
	uint64_t spool_cap;      /* while spooling: the most it may take */
	const char *spool_cap_by; /* the limit that set spool_cap */

	/* submission handshake: called once spooling ends */
	void (*submitted)(struct job *job, int error, const char *code,
			  const char *msg, void *arg);
	void *submitted_arg;

	/* the worker attempt (attempt.c) */
	struct cgroup_job *cg;
	pid_t pid;
	int pidfd, in_fd, out_fd;
	struct event *ev_exit, *ev_in, *ev_out, *ev_timeout;
	char *in_buf;
	size_t in_cap;           /* in_buf's size */
	size_t in_len, in_pos;   /* bytes of in_buf pending / written */
	uint64_t in_off;         /* spool offset of the next read */
	struct frame_reader fr;
	/* the worker's stderr: lines logged as the job's, escaped, rate-limited */
	int err_fd;
	struct event *ev_err;
	char *err_buf;
	size_t err_len;
	uint64_t err_window_ms;  /* start of the current second */
	unsigned err_lines, err_dropped;
	bool saw_end, cancelled, timed_out, page_timed_out;
	bool flush_stopped;      /* a batch failed to flush: the attempt was stopped */
	uint64_t page_mono;      /* when the worker said it began its page */
	bool reaped, out_eof;    /* the worker is gone / its pipe is drained */
	siginfo_t exit_info;
	char *fatal_reason;
	/* exec sink: a flush in progress holds the frame pipe */
	struct sink_exec *exec;
	struct batch_rec exec_rec;   /* the batch it is flushing */
	size_t chunk_size;       /* the attempt's: a reload may change the config's */
	uint64_t output;         /* bytes of text the job's workers sent */
	/* where the next worker resumes inside a page (retry.h) */
	unsigned skip_page, skip_chunks;
	/* called once the worker is reaped and its pipe drained */
	void (*gone)(struct job *job);

	/* watching (pressure.c) */
	struct memlog *memlog;
	struct event *ev_events;     /* memory.events watch */
	struct psi_trigger *psi_trigger;
	uint64_t saved_mono;         /* when progress was last written */
	uint64_t last_rss;           /* worker RSS at the last sample */
	double last_psi_some;        /* job PSI some avg10 at the last sample */
	bool waiting_logged;         /* its admission wait was logged */
	bool ending;                 /* its end is being written (ends.c): replies about
				      * it wait, so status never shows an end whose
				      * summary.json is not on disk yet */
	bool high_lifted;            /* memory.high was lifted after stalling */
	bool paused, requeue;        /* frozen / killed by the pressure policy */
};

TAILQ_HEAD(job_list, job);

/* A job with nothing open (all fds -1) and its record zeroed. */
struct job *job_new(struct jobs *jobs, struct event_base *base, const struct config *cfg);
void job_free(struct job *job);
/* Free a job after the current callback has returned. */
void job_free_later(struct job *job);
/* job.json changes with the job; a failure is logged, not fatal. */
void job_save(const struct job *job);
/* Read the cgroup's counters; log and record every counter that moved. */
void job_check_events(struct job *job);
/* The worker's RSS now; once it has exited, the last sampled value, or
 * its peak. */
double job_worker_rss_mb(const struct job *job);
/* Describe a job as a JSON object (status, list). */
void job_to_json(const struct job *job, yajl_gen g);

#endif
