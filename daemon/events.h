/* Pushed job events: the subscribers (connections that sent `watch`),
 * what each follows, its bounded queue, and the hooks the manager and the
 * actions call as a job moves. The message shapes are in protocol.h.
 * server.c owns the connections; this file only writes to them. */
#ifndef MEMSAFE_EVENTS_H
#define MEMSAFE_EVENTS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "job.h"

/* A subscriber's queue holds at most this many messages and bytes;
 * beyond that events are dropped and counted into one "lagged" event. */
#define EVENTS_QUEUE_MAX 128
#define EVENTS_QUEUE_BYTES (512 * 1024)

struct events_sub;

/* A subscriber writing to fd (which stays the caller's) for a peer that
 * sees its own jobs, or every job when admin. drop(arg) is called, from
 * the loop, when its queue has stayed full for EVENTS_STALL_MS: the
 * caller closes the connection and frees the subscriber. NULL when out
 * of memory. */
struct events_sub *events_sub_new(struct event_base *base, int fd, uid_t uid, bool admin,
				  void (*drop)(void *arg), void *arg);
struct events_sub *events_sub_free(struct events_sub *s);
/* Send a message (a reply) in order with the events already queued. */
void events_sub_send(struct events_sub *s, const char *msg);
/* Follow the jobs (already checked visible to the peer), or all it may
 * see, now and later; answers the request, then sends each named job
 * one event: "end" when it has ended, else "state" with its state now.
 * Returns 0 or -ENOMEM (nothing answered). */
int events_sub_watch(struct events_sub *s, struct job *const *jobs, size_t n, bool all);
/* Stop following those jobs (or every one, and "all"); answers. */
void events_sub_unwatch(struct events_sub *s, const uint64_t *ids, size_t n, bool all);

/* Hooks, cheap when nobody subscribes. change: queued, admitted, running,
 * paused, resumed, retried. */
void events_state(struct job *job, const char *change);
/* Progress moved (page, pages, batches): coalesced per job. */
void events_progress(struct job *job);
/* job_check_events(), and a "memory" event for each counter that moved. */
void events_check(struct job *job);
/* A pressure-policy action on the job (pause, thaw, kill, lift_high). */
void events_pressure(struct job *job, const char *action);
/* A sample tick of a running job. */
void events_sample(struct job *job);
/* The job has ended (its record is final) and its end is being written:
 * a watch of it now gets "state" (change "ending"), not yet "end". */
void events_ending(struct job *job);
/* Its end is on disk: the last event for it. */
void events_end(struct job *job);

#endif
