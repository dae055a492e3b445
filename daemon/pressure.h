/* Watching a running job and acting on memory pressure: its memory log,
 * memory.events watch and PSI trigger; one sample row per tick; and the
 * pressure policy's actions (pause, thaw, kill, lift memory.high), as
 * policy.c decides them. */
#ifndef MEMSAFE_PRESSURE_H
#define MEMSAFE_PRESSURE_H

#include "job.h"

struct config;
struct psi_watch;
struct sys_sample;

/* Start watching a job that just got a worker: the memory log (appending
 * after an earlier attempt), the memory.events watch and the job's PSI
 * trigger (sys_psi_mode says how system pressure is watched, for v1). A
 * retry keeps what the first attempt set up. Failures are logged: the job
 * still runs, with less evidence. */
void pressure_watch(struct job *job, struct psi_watch *psi, const char *sys_psi_mode);
/* Stop the watches (the memory log stays open for the closing row). */
void pressure_unwatch(struct job *job);
/* One row of memory_log.csv for a running job. */
void pressure_sample(struct job *job, const struct sys_sample *sys, uint64_t now_mono);
/* After a GPU memory kill: has the host's GTT/VRAM use dropped by what
 * the job held? Records gpu_release_ms, or gpu_memory_not_released after
 * 10 s; rewrites summary.json of a job that has ended. */
void pressure_gpu_release(struct job *job, uint64_t now_mono);
/* System pressure is high: pause or kill the job the policy picks. */
void pressure_act(struct job_list *all, const struct config *cfg, const char *why);
/* Thaw paused jobs once pressure has been low for hold_time. */
void pressure_relax(struct job_list *all, const struct config *cfg, double sys_psi_avg10,
		    uint64_t last_high_ms);

#endif
