/* Pressure mode: allocate and touch target_mb MiB in steps, report each
 * step, hold, release. The engine of `memsafectl simulate-pressure` and of
 * the OOM tests. */
#ifndef MEMSAFE_PRESSURE_H
#define MEMSAFE_PRESSURE_H

#include <stdint.h>

int pressure_run(uint64_t target_mb, uint64_t step_mb, uint64_t hold_ms);

#endif
