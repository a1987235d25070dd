/* Counters of what policyd decided, shared by all threads (atomics), and
 * their text form (Prometheus exposition format) for the metrics socket. */
#ifndef POLICYD_METRICS_H
#define POLICYD_METRICS_H

#include <stddef.h>

enum metric {
	M_REQUESTS_RCPT,
	M_REQUESTS_EOM,
	M_REQUESTS_OTHER,
	M_PERMITTED,           /* answered DUNNO */
	M_DEFERRED_LIMIT,      /* over a limit */
	M_DEFERRED_SUSPENDED,  /* the account is suspended */
	M_DEFERRED_UNKNOWN,    /* no such sending account */
	M_DEFERRED_DB,         /* MariaDB unavailable */
	M_MALFORMED,           /* refused request */
	M_SUSPENSIONS,         /* accounts suspended by policyd */
	M_CONNECTIONS,         /* Postfix connections accepted */
	M_CONNECTIONS_REFUSED, /* over POLICYD_MAX_CONNECTIONS */
	M_USAGE_BATCHES,       /* transactions that saved counted messages */
	M_USAGE_MESSAGES_SAVED,
	M_COUNT,
};

void metrics_add(enum metric m);
void metrics_add_n(enum metric m, unsigned long long n);

/* Render every counter (and the connections open now) into buf; returns
 * the length written (truncated to size - 1). */
size_t metrics_render(char *buf, size_t size, unsigned connections_open);

#endif
