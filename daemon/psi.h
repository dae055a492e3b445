/* PSI triggers (Documentation/accounting/psi.rst): write "some <stall µs>
 * <window µs>" to a pressure file and wait for POLLPRI. libevent 2.1 has
 * no EV_PRI, so every trigger fd sits in one epoll fd (EPOLLPRI), which a
 * 100 ms timer asks for events. (Watching that epoll fd from libevent's
 * own epoll loses the events: polling a trigger clears it.) */
#ifndef MEMSAFE_PSI_H
#define MEMSAFE_PSI_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

struct psi_watch;
struct psi_trigger;
/* fired: the stall threshold was crossed; gone: the file's cgroup was
 * removed (POLLERR), the trigger is dead. */
typedef void (*psi_fn)(void *arg, bool gone);

int psi_watch_new(struct event_base *base, struct psi_watch **ret);
struct psi_watch *psi_watch_free(struct psi_watch *w);
/* Arm a trigger on dirfd/name (dirfd AT_FDCWD for an absolute path).
 * Kernels may refuse: -EINVAL, -EPERM or -EOPNOTSUPP then say so. */
int psi_trigger_add(struct psi_watch *w, int dirfd, const char *name,
		    uint64_t threshold_us, uint64_t window_us, psi_fn fn, void *arg,
		    struct psi_trigger **ret);
struct psi_trigger *psi_trigger_free(struct psi_trigger *t);

#endif
