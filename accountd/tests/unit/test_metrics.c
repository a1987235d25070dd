/* Unit tests for metrics.c: what metrics_render() prints is the Prometheus
 * text format, with the counters and histograms the issue asks for. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static const char *const methods[] = {"GET", "POST", "POST"};
static const char *const routes[] = {"/healthz", "/api/v1/accounts", "/api/v1/sessions"};

static char *
render(struct metrics *m)
{
	size_t len = 0;
	char *text = metrics_render(m, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The exact line must be in text. */
static void
assert_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p += n;
	}
	fail_msg("line not found: %s\n--- rendered:\n%s", line, text);
}

static void
assert_no_line_starting(const char *text, const char *start)
{
	const char *p = text;

	while ((p = strstr(p, start)) != NULL) {
		if (p == text || p[-1] == '\n')
			fail_msg("unexpected line starting with %s", start);
		p++;
	}
}

static int
is_name_char(char c, int first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	       (!first && isdigit((unsigned char)c));
}

/* Every line is a # HELP / # TYPE comment or `name{label="v",...} number`. */
static void
assert_exposition_format(const char *text)
{
	const char *line = text;

	assert_true(text[0] != '\0');
	assert_true(text[strlen(text) - 1] == '\n');
	while (*line != '\0') {
		const char *end = strchr(line, '\n'), *p = line;
		char *num_end;

		assert_non_null(end);
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
			line = end + 1;
			continue;
		}
		if (!is_name_char(*p, 1))
			fail_msg("bad metric line: %.*s", (int)(end - line), line);
		while (is_name_char(*p, 0))
			p++;
		if (*p == '{') {
			p++;
			while (*p != '}') {
				if (!is_name_char(*p, 1))
					fail_msg("bad label in: %.*s", (int)(end - line), line);
				while (is_name_char(*p, 0))
					p++;
				if (p[0] != '=' || p[1] != '"')
					fail_msg("bad label in: %.*s", (int)(end - line), line);
				p = strchr(p + 2, '"');
				assert_non_null(p);
				p++;
				if (*p == ',')
					p++;
			}
			p++;
		}
		if (*p != ' ')
			fail_msg("no value separator in: %.*s", (int)(end - line), line);
		p++;
		(void)strtod(p, &num_end);
		if (num_end == p || num_end != end)
			fail_msg("bad value in: %.*s", (int)(end - line), line);
		line = end + 1;
	}
}

static void
test_empty_render(void **state)
{
	struct metrics *m = metrics_new(methods, routes, N_ELEMENTS(routes));
	char *text;

	assert_non_null(m);
	text = render(m);
	assert_exposition_format(text);
	assert_line(text, "# TYPE accountd_http_requests_total counter");
	assert_line(text, "# TYPE accountd_http_request_duration_seconds histogram");
	assert_line(text, "# TYPE accountd_password_hash_duration_seconds histogram");
	assert_line(text, "# TYPE accountd_db_errors_total counter");
	assert_line(text, "# TYPE accountd_hash_jobs_in_flight gauge");
	assert_line(text, "accountd_db_errors_total 0");
	assert_line(text, "accountd_hash_jobs_in_flight 0");
	assert_line(text, "accountd_rate_limited_total{limit=\"login_ip\"} 0");
	/* Routes without requests print no series. */
	assert_no_line_starting(text, "accountd_http_requests_total{");
	free(text);
	metrics_free(&m);
	assert_null(m);
}

static void
test_request_counters(void **state)
{
	struct metrics *m = metrics_new(methods, routes, N_ELEMENTS(routes));
	char *text;

	metrics_request(m, 0, 200, 0.0003);
	metrics_request(m, 0, 200, 0.002);
	metrics_request(m, 1, 201, 0.2);
	metrics_request(m, 1, 422, 0.01);
	metrics_request(m, 2, 418, 0.001);              /* untracked status */
	metrics_request(m, N_ELEMENTS(routes), 404, 0); /* unmatched */
	metrics_request(m, 99, 404, 0);                 /* past the end: unmatched */
	text = render(m);
	assert_exposition_format(text);
	assert_line(text,
	    "accountd_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2");
	assert_line(text, "accountd_http_requests_total{method=\"POST\",route=\"/api/v1/"
	                  "accounts\",status=\"201\"} 1");
	assert_line(text, "accountd_http_requests_total{method=\"POST\",route=\"/api/v1/"
	                  "accounts\",status=\"422\"} 1");
	assert_line(text, "accountd_http_requests_total{method=\"POST\",route=\"/api/v1/"
	                  "sessions\",status=\"other\"} 1");
	assert_line(text,
	    "accountd_http_requests_total{method=\"any\",route=\"unmatched\",status=\"404\"} 2");
	free(text);
	metrics_free(&m);
}

static void
test_latency_histogram(void **state)
{
	struct metrics *m = metrics_new(methods, routes, N_ELEMENTS(routes));
	char *text;

	metrics_request(m, 0, 200, 0.0003); /* le 0.0005 */
	metrics_request(m, 0, 200, 0.002);  /* le 0.0025 */
	metrics_request(m, 0, 200, 7.0);    /* only +Inf */
	text = render(m);
	assert_exposition_format(text);
	assert_line(text, "accountd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/"
	                  "healthz\",le=\"0.0005\"} 1");
	assert_line(text, "accountd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/"
	                  "healthz\",le=\"0.001\"} 1");
	assert_line(text, "accountd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/"
	                  "healthz\",le=\"0.0025\"} 2");
	assert_line(text, "accountd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/"
	                  "healthz\",le=\"5\"} 2");
	assert_line(text, "accountd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/"
	                  "healthz\",le=\"+Inf\"} 3");
	assert_line(text,
	    "accountd_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 3");
	/* The sum is kept in whole microseconds. */
	const char *sum = strstr(
	    text, "accountd_http_request_duration_seconds_sum{method=\"GET\",route=\"/healthz\"} ");
	assert_non_null(sum);
	double seconds = strtod(strchr(sum, ' ') + 1, NULL);
	assert_true(seconds > 7.0023 - 1e-5 && seconds < 7.0023 + 1e-5);
	/* No histogram for routes never hit. */
	assert_no_line_starting(text, "accountd_http_request_duration_seconds_count{method="
	                              "\"POST\",route=\"/api/v1/sessions\"}");
	free(text);
	metrics_free(&m);
}

static void
test_hash_db_limits_gauge(void **state)
{
	struct metrics *m = metrics_new(methods, routes, N_ELEMENTS(routes));
	char *text;

	metrics_hash_time(m, 0.04);
	metrics_hash_time(m, 0.3);
	metrics_db_error(m);
	metrics_db_error(m);
	metrics_limited(m, LIMIT_REGISTER);
	metrics_limited(m, LIMIT_HASH_BUSY);
	metrics_limited(m, LIMIT_HASH_BUSY);
	metrics_hash_in_flight(m, 3);
	metrics_hash_in_flight(m, -1);
	text = render(m);
	assert_exposition_format(text);
	assert_line(text, "accountd_password_hash_duration_seconds_bucket{le=\"0.025\"} 0");
	assert_line(text, "accountd_password_hash_duration_seconds_bucket{le=\"0.05\"} 1");
	assert_line(text, "accountd_password_hash_duration_seconds_bucket{le=\"0.5\"} 2");
	assert_line(text, "accountd_password_hash_duration_seconds_bucket{le=\"+Inf\"} 2");
	assert_line(text, "accountd_db_errors_total 2");
	assert_line(text, "accountd_rate_limited_total{limit=\"register\"} 1");
	assert_line(text, "accountd_rate_limited_total{limit=\"hash_busy\"} 2");
	assert_line(text, "accountd_rate_limited_total{limit=\"requests\"} 0");
	assert_line(text, "accountd_hash_jobs_in_flight 2");
	free(text);
	metrics_free(&m);
}

static void
test_buckets_cumulative(void **state)
{
	struct metrics *m = metrics_new(methods, routes, N_ELEMENTS(routes));
	unsigned long long last = 0, value;
	const char *p;
	char *text;
	int buckets = 0;

	for (int i = 0; i < 1000; i++)
		metrics_request(m, 1, 201, (double)i / 200.0);
	text = render(m);
	p = text;
	while ((p = strstr(p, "accountd_http_request_duration_seconds_bucket{method=\"POST\","
	                      "route=\"/api/v1/accounts\"")) != NULL) {
		p = strchr(p, '}');
		assert_non_null(p);
		value = strtoull(p + 2, NULL, 10);
		assert_true(value >= last);
		last = value;
		buckets++;
	}
	assert_int_equal(buckets, 14); /* 13 bounds + Inf */
	assert_int_equal(last, 1000);
	free(text);
	metrics_free(&m);
}

static void
test_large_render(void **state)
{
	/* Many routes make the text outgrow the first buffer. */
	static const char *many[200], *many_methods[200];
	char names[200][24];
	struct metrics *m;
	char *text;

	for (size_t i = 0; i < N_ELEMENTS(many); i++) {
		snprintf(names[i], sizeof(names[i]), "/route/%zu", i);
		many[i] = names[i];
		many_methods[i] = "GET";
	}
	m = metrics_new(many_methods, many, N_ELEMENTS(many));
	assert_non_null(m);
	for (size_t i = 0; i < N_ELEMENTS(many); i++)
		metrics_request(m, i, 200, 0.001);
	text = render(m);
	assert_true(strlen(text) > 16384);
	assert_exposition_format(text);
	assert_line(text,
	    "accountd_http_requests_total{method=\"GET\",route=\"/route/199\",status=\"200\"} 1");
	free(text);
	metrics_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_render),
	    cmocka_unit_test(test_request_counters),
	    cmocka_unit_test(test_latency_histogram),
	    cmocka_unit_test(test_hash_db_limits_gauge),
	    cmocka_unit_test(test_buckets_cumulative),
	    cmocka_unit_test(test_large_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
