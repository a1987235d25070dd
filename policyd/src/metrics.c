/* Decision counters; see metrics.h. The only mutable global of policyd:
 * counters that only grow, updated with relaxed atomics. */
#include <stdatomic.h>
#include <stdio.h>

#include "common.h"
#include "metrics.h"

static atomic_ullong counters[M_COUNT];

static const struct {
	const char *name;
	const char *help;
} metric_info[M_COUNT] = {
    [M_REQUESTS_RCPT] = {"policyd_requests_total{state=\"RCPT\"}", NULL},
    [M_REQUESTS_EOM] = {"policyd_requests_total{state=\"END-OF-MESSAGE\"}", NULL},
    [M_REQUESTS_OTHER] = {"policyd_requests_total{state=\"other\"}", NULL},
    [M_PERMITTED] = {"policyd_decisions_total{action=\"dunno\"}", NULL},
    [M_DEFERRED_LIMIT] = {"policyd_decisions_total{action=\"defer_limit\"}", NULL},
    [M_DEFERRED_SUSPENDED] = {"policyd_decisions_total{action=\"defer_suspended\"}", NULL},
    [M_DEFERRED_UNKNOWN] = {"policyd_decisions_total{action=\"defer_unknown_account\"}", NULL},
    [M_DEFERRED_DB] = {"policyd_decisions_total{action=\"defer_db_unavailable\"}", NULL},
    [M_MALFORMED] = {"policyd_decisions_total{action=\"defer_malformed\"}", NULL},
    [M_SUSPENSIONS] = {"policyd_suspensions_total", "accounts suspended from sending"},
    [M_CONNECTIONS] = {"policyd_connections_total", "Postfix connections accepted"},
    [M_CONNECTIONS_REFUSED] = {"policyd_connections_refused_total",
        "connections closed at once: over POLICYD_MAX_CONNECTIONS"},
    [M_USAGE_BATCHES] = {"policyd_usage_batches_total",
        "transactions that saved counted messages (one per group commit)"},
    [M_USAGE_MESSAGES_SAVED] = {"policyd_usage_messages_saved_total",
        "counted messages saved to MariaDB"},
};

void
metrics_add(enum metric m)
{
	metrics_add_n(m, 1);
}

void
metrics_add_n(enum metric m, unsigned long long n)
{
	atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

size_t
metrics_render(char *buf, size_t size, unsigned connections_open)
{
	size_t len = 0;
	int n;

	for (size_t i = 0; i < M_COUNT && len < size; i++) {
		unsigned long long v = atomic_load_explicit(&counters[i], memory_order_relaxed);

		if (metric_info[i].help != NULL)
			n = snprintf(buf + len, size - len, "# HELP %s %s\n%s %llu\n",
			    metric_info[i].name, metric_info[i].help, metric_info[i].name, v);
		else
			n = snprintf(buf + len, size - len, "%s %llu\n", metric_info[i].name, v);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (len < size) {
		n = snprintf(
		    buf + len, size - len, "policyd_connections_open %u\n", connections_open);
		if (n > 0)
			len += (size_t)n;
	}
	return len < size ? len : size - 1;
}
