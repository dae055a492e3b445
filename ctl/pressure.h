/* memsafectl simulate-pressure: allocate under a cap, then verify that
 * the memory comes back. */
#ifndef MEMSAFE_CTL_PRESSURE_H
#define MEMSAFE_CTL_PRESSURE_H

#include <stdint.h>

int pressure_main(int argc, char **argv);

/* MemAvailable from /proc/meminfo, in bytes; 0 when unreadable. */
uint64_t pressure_mem_available(void);

#endif
