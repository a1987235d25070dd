/* `mailnest-policyd milter`: the From:/Sender: check (from_check.h) served
 * to Postfix over the milter protocol through libmilter, before OpenDKIM in
 * Postfix's milter list, so that our DKIM key signs only mail that passed.
 *
 * A process of its own, apart from the policy server: libmilter's
 * smfi_main() owns the main loop and the signals (it blocks SIGHUP, SIGINT
 * and SIGTERM in every thread and waits for them in a thread of its own),
 * while the policy server waits for its signals on a signalfd in its own
 * poll loop; the two cannot share one process's signal mask and main
 * thread. It shares policyd's settings and database layer (db.h), and
 * answers a temporary failure (451 4.3.0) whenever it cannot decide. */
#ifndef POLICYD_MILTER_H
#define POLICYD_MILTER_H

#include "config.h"

/* Serve until SIGTERM/SIGINT; the process's exit status. */
int milter_run(const struct config *cfg);

#endif
