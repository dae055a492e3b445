/* Admission: may a queued job start now, and if not, the sentence why.
 * Pure: the manager gathers the figures, this decides. */
#ifndef MEMSAFE_ADMIT_H
#define MEMSAFE_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct admit_input {
	bool have_meminfo;          /* false: no /proc/meminfo, the caps still hold */
	uint64_t mem_available;     /* bytes */
	uint64_t headroom;          /* what running jobs may still take (admit_headroom) */
	uint64_t memory_max;        /* the job's cap */
	uint64_t reserve;           /* kept for the desktop */
	double psi_some_avg10;      /* system memory PSI, % */
	double admission_psi_max;
	bool policy_active;         /* a pressure policy is configured */
	uint64_t now_ms, last_high_ms; /* monotonic; last_high_ms 0 = never */
	uint64_t hold_ms;           /* quiet time a policy needs */
	bool have_gtt;              /* the host reports GTT (amdgpu) */
	uint64_t gtt_free;          /* GTT total less used, bytes */
};

/* What a running job may still take up to its cap. */
uint64_t admit_headroom(uint64_t memory_max, uint64_t current);
/* True when the job may start; else false with why filled in. GTT is
 * system RAM running jobs' GPU buffers may still take (headroom counts
 * memory.current and their host-backed GPU memory against memory_max):
 * what is free of it, less headroom, must stay above reserve too. */
bool admit_decide(const struct admit_input *in, char *why, size_t whysz);
/* At submission: can memory_max ever fit on a machine of mem_total bytes
 * that keeps reserve? 0, or -EINVAL with msg saying by how much to lower. */
int admit_fits(uint64_t memory_max, uint64_t reserve, uint64_t mem_total,
	       char *msg, size_t msgsz);

#endif
