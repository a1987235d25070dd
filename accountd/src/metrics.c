/* Metrics storage and rendering; see metrics.h. Counters are relaxed
 * atomics: a scrape may see a request counted before its latency. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const unsigned tracked_status[] = {
    200,
    201,
    204,
    400,
    401,
    403,
    404,
    405,
    409,
    413,
    415,
    422,
    429,
    431,
    500,
    503,
};
#define N_STATUS (N_ELEMENTS(tracked_status) + 1) /* + "other" */

static const double latency_bounds[] = {
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
};
#define N_LATENCY (N_ELEMENTS(latency_bounds) + 1)

static const double hash_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define N_HASH (N_ELEMENTS(hash_bounds) + 1)

static const char *const limit_names[LIMIT_COUNT] = {
    "requests",
    "register",
    "login_ip",
    "login_address",
    "admin_fail",
    "hash_busy",
};

struct histogram_row {
	atomic_ullong buckets[N_LATENCY];
	atomic_ullong count;
	atomic_ullong sum_us;
};

struct metrics {
	const char *const *route_methods;
	const char *const *route_names;
	size_t n_routes;               /* + 1 for unmatched requests */
	atomic_ullong *requests;       /* [route][status] */
	struct histogram_row *latency; /* [route] */
	atomic_ullong hash_buckets[N_HASH];
	atomic_ullong hash_count;
	atomic_ullong hash_sum_us;
	atomic_ullong db_errors;
	atomic_ullong hash_dropped;
	atomic_ullong limited[LIMIT_COUNT];
	atomic_long hash_in_flight;
};

struct metrics *
metrics_new(const char *const *route_methods, const char *const *route_names, size_t n_routes)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->route_methods = route_methods;
	m->route_names = route_names;
	m->n_routes = n_routes;
	m->requests = calloc((n_routes + 1) * N_STATUS, sizeof(*m->requests));
	m->latency = calloc(n_routes + 1, sizeof(*m->latency));
	if (m->requests == NULL || m->latency == NULL)
		metrics_free(&m);
	return m;
}

void
metrics_free(struct metrics **mp)
{
	if (*mp == NULL)
		return;
	free((*mp)->requests);
	free((*mp)->latency);
	free(*mp);
	*mp = NULL;
}

static size_t
status_index(unsigned status)
{
	for (size_t i = 0; i < N_ELEMENTS(tracked_status); i++)
		if (tracked_status[i] == status)
			return i;
	return N_ELEMENTS(tracked_status);
}

static void
observe(atomic_ullong *buckets, const double *bounds, size_t n_bounds, atomic_ullong *count,
    atomic_ullong *sum_us, double seconds)
{
	size_t i = 0;

	while (i < n_bounds && seconds > bounds[i])
		i++;
	atomic_fetch_add_explicit(&buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    sum_us, (unsigned long long)(seconds * 1e6), memory_order_relaxed);
}

void
metrics_request(struct metrics *m, size_t route, unsigned status, double seconds)
{
	struct histogram_row *row;

	if (route > m->n_routes)
		route = m->n_routes;
	atomic_fetch_add_explicit(
	    &m->requests[route * N_STATUS + status_index(status)], 1, memory_order_relaxed);
	row = &m->latency[route];
	observe(row->buckets, latency_bounds, N_ELEMENTS(latency_bounds), &row->count, &row->sum_us,
	    seconds);
}

void
metrics_hash_time(struct metrics *m, double seconds)
{
	observe(m->hash_buckets, hash_bounds, N_ELEMENTS(hash_bounds), &m->hash_count,
	    &m->hash_sum_us, seconds);
}

void
metrics_db_error(struct metrics *m)
{
	atomic_fetch_add_explicit(&m->db_errors, 1, memory_order_relaxed);
}

void
metrics_hash_dropped(struct metrics *m)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->hash_dropped, 1, memory_order_relaxed);
}

const char *
metrics_limit_name(enum metrics_limit limit)
{
	return limit < LIMIT_COUNT ? limit_names[limit] : "unknown";
}

void
metrics_limited(struct metrics *m, enum metrics_limit limit)
{
	atomic_fetch_add_explicit(&m->limited[limit], 1, memory_order_relaxed);
}

void
metrics_hash_in_flight(struct metrics *m, long delta)
{
	atomic_fetch_add_explicit(&m->hash_in_flight, delta, memory_order_relaxed);
}

/* A growing output buffer; on allocation failure it stays failed. */
struct out {
	char *buf;
	size_t len, size;
	int failed;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->size - o->len) {
			o->len += (size_t)n;
			return;
		}
		char *bigger = realloc(o->buf, o->size * 2 + (size_t)n);
		if (bigger == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = bigger;
		o->size = o->size * 2 + (size_t)n;
	}
}

static unsigned long long
load(atomic_ullong *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void
render_histogram(struct out *o, const char *name, const char *labels, const double *bounds,
    size_t n_bounds, atomic_ullong *buckets, atomic_ullong *count, atomic_ullong *sum_us)
{
	unsigned long long cumulative = 0;
	const char *sep = labels[0] != '\0' ? "," : "";

	for (size_t i = 0; i < n_bounds; i++) {
		cumulative += load(&buckets[i]);
		out_printf(
		    o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i], cumulative);
	}
	cumulative += load(&buckets[n_bounds]);
	out_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, cumulative);
	out_printf(o, "%s_sum{%s} %.6f\n", name, labels, (double)load(sum_us) / 1e6);
	out_printf(o, "%s_count{%s} %llu\n", name, labels, load(count));
}

static void
route_labels(const struct metrics *m, size_t r, char *buf, size_t size)
{
	if (r < m->n_routes)
		snprintf(buf, size, "method=\"%s\",route=\"%s\"", m->route_methods[r],
		    m->route_names[r]);
	else
		snprintf(buf, size, "method=\"any\",route=\"unmatched\"");
}

char *
metrics_render(struct metrics *m, size_t *len_r)
{
	struct out o = {.size = 16384};
	char labels[192];

	if ((o.buf = malloc(o.size)) == NULL)
		return NULL;
	out_printf(&o, "# HELP accountd_http_requests_total HTTP requests by route and status.\n"
	               "# TYPE accountd_http_requests_total counter\n");
	for (size_t r = 0; r <= m->n_routes; r++) {
		route_labels(m, r, labels, sizeof(labels));
		for (size_t s = 0; s < N_STATUS; s++) {
			unsigned long long v = load(&m->requests[r * N_STATUS + s]);
			char status[8];

			if (v == 0)
				continue;
			if (s < N_ELEMENTS(tracked_status))
				snprintf(status, sizeof(status), "%u", tracked_status[s]);
			else
				strcpy(status, "other");
			out_printf(&o, "accountd_http_requests_total{%s,status=\"%s\"} %llu\n",
			    labels, status, v);
		}
	}
	out_printf(&o, "# HELP accountd_http_request_duration_seconds Request latency.\n"
	               "# TYPE accountd_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r <= m->n_routes; r++) {
		struct histogram_row *row = &m->latency[r];

		if (load(&row->count) == 0)
			continue;
		route_labels(m, r, labels, sizeof(labels));
		render_histogram(&o, "accountd_http_request_duration_seconds", labels,
		    latency_bounds, N_ELEMENTS(latency_bounds), row->buckets, &row->count,
		    &row->sum_us);
	}
	out_printf(&o, "# HELP accountd_password_hash_duration_seconds Time of one argon2id "
	               "hash or verification.\n"
	               "# TYPE accountd_password_hash_duration_seconds histogram\n");
	render_histogram(&o, "accountd_password_hash_duration_seconds", "", hash_bounds,
	    N_ELEMENTS(hash_bounds), m->hash_buckets, &m->hash_count, &m->hash_sum_us);
	out_printf(&o,
	    "# HELP accountd_db_errors_total Database errors (including unavailability).\n"
	    "# TYPE accountd_db_errors_total counter\n"
	    "accountd_db_errors_total %llu\n",
	    load(&m->db_errors));
	out_printf(&o, "# HELP accountd_rate_limited_total Requests refused by a limit.\n"
	               "# TYPE accountd_rate_limited_total counter\n");
	for (size_t i = 0; i < LIMIT_COUNT; i++)
		out_printf(&o, "accountd_rate_limited_total{limit=\"%s\"} %llu\n", limit_names[i],
		    load(&m->limited[i]));
	out_printf(&o,
	    "# HELP accountd_hash_jobs_in_flight Password jobs queued or running.\n"
	    "# TYPE accountd_hash_jobs_in_flight gauge\n"
	    "accountd_hash_jobs_in_flight %ld\n"
	    "# HELP accountd_hash_jobs_dropped_total Password jobs dropped unrun: the client had "
	    "left.\n"
	    "# TYPE accountd_hash_jobs_dropped_total counter\n"
	    "accountd_hash_jobs_dropped_total %llu\n",
	    atomic_load_explicit(&m->hash_in_flight, memory_order_relaxed), load(&m->hash_dropped));
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len_r = o.len;
	return o.buf;
}
