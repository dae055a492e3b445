/* The control socket: SOCK_SEQPACKET, one JSON request per message, peers
 * identified by SO_PEERCRED. Takes a socket from systemd (sd_listen_fds)
 * or binds its own. */
#ifndef MEMSAFE_SERVER_H
#define MEMSAFE_SERVER_H

#include <event2/event.h>

#include "config.h"
#include "jobs.h"

struct server;

int server_new(struct event_base *base, struct jobs *jobs, const struct config *cfg,
	       struct server **ret, char **err);
/* Stop accepting connections (shutdown); open ones are served until freed. */
void server_stop_accepting(struct server *srv);
struct server *server_free(struct server *srv);
/* Whether the socket came from systemd. */
bool server_activated(const struct server *srv);

#endif
