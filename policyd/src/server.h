/* The policy socket: a unix stream socket Postfix's smtpd processes connect
 * to (each keeps its connection and sends many requests over it). One thread
 * per connection, at most POLICYD_MAX_CONNECTIONS; each request must arrive
 * whole within POLICYD_REQUEST_TIMEOUT, and an idle connection is closed
 * after POLICYD_IDLE_TIMEOUT. An optional second socket answers every
 * connection with the metrics text and closes it. SIGTERM or SIGINT: stop
 * accepting, let connections finish the request in hand (up to 5 s), exit. */
#ifndef POLICYD_SERVER_H
#define POLICYD_SERVER_H

#include "common.h"
#include "config.h"

/* Serve until SIGTERM/SIGINT. Returns the process exit status. */
MUST_CHECK int server_run(const struct config *cfg);

#endif
