/* memsafectl's connection to memsafed: one request, one reply; or, after
 * a watch request, the events memsafed pushes (protocol.h). */
#ifndef MEMSAFE_CLIENT_H
#define MEMSAFE_CLIENT_H

#include <stdint.h>
#include <yajl/yajl_tree.h>

struct client;

/* Connect; on failure err says why and what to do. */
int client_connect(const char *path, struct client **ret, char *err, size_t errsz);
void client_close(struct client *c);
/* Send one request (with fd passed when >= 0) and parse the reply. On a
 * transport or parse failure returns a negative errno with err set; a
 * daemon-side error is a successful call whose reply has "ok": false.
 * A reply that takes longer than timeout_ms is -ETIMEDOUT, except for a
 * request passing a document (fd >= 0): memsafed answers that once the
 * document is spooled, however long its source takes. */
int client_call(struct client *c, const char *req, int fd, uint64_t timeout_ms,
		yajl_val *ret, char *err, size_t errsz);

/* Send one request without waiting for its reply. */
int client_send(struct client *c, const char *req, char *err, size_t errsz);
/* Receive the next message, a reply or an event, waiting up to
 * timeout_ms (-1: no limit): 0 with *ret set, -ETIMEDOUT, or another
 * negative errno with err set (memsafed closed the connection: it
 * stopped, or dropped a subscriber that did not read). */
int client_recv(struct client *c, int timeout_ms, yajl_val *ret, char *err, size_t errsz);

#endif
