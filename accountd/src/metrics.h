/* Prometheus metrics kept in lock-free counters: requests by route and
 * status, latency histograms by route, password-hash time, DB errors,
 * rate-limit refusals and hashing load. */
#ifndef ACCOUNTD_METRICS_H
#define ACCOUNTD_METRICS_H

#include <stddef.h>

#include "common.h"

enum metrics_limit {
	LIMIT_REQUESTS,
	LIMIT_REGISTER,
	LIMIT_LOGIN_IP,
	LIMIT_LOGIN_ADDRESS,
	LIMIT_ADMIN_FAIL,
	LIMIT_HASH_BUSY,
	LIMIT_COUNT,
};

struct metrics;

/* Route i is labelled method=route_methods[i], route=route_names[i]; both
 * arrays must outlive the metrics (static strings). */
struct metrics *metrics_new(
    const char *const *route_methods, const char *const *route_names, size_t n_routes);
void metrics_free(struct metrics **m);

void metrics_request(struct metrics *m, size_t route, unsigned status, double seconds);
void metrics_hash_time(struct metrics *m, double seconds);
void metrics_db_error(struct metrics *m);
/* A password job dropped because its client had left. */
void metrics_hash_dropped(struct metrics *m);
void metrics_limited(struct metrics *m, enum metrics_limit limit);
/* The limit's label value ("login_ip", ...), also used in log lines. */
const char *metrics_limit_name(enum metrics_limit limit);
void metrics_hash_in_flight(struct metrics *m, long delta);

/* The text exposition; a malloc'd string the caller frees, or NULL. */
char *metrics_render(struct metrics *m, size_t *len_r);

#endif
