/* The in-memory counters: loading, checking and counting as one step,
 * windows moving on, saving in batches (and taking a failed batch back),
 * waiters that give up, eviction, and many threads at one limit. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "usage_cache.h"

static const struct usage_counts zero = {0, 0, 0};
static const struct account_limits five_an_hour = {5, 0, 0, 0};
static const struct domain_limits no_domain_limit = {0, 0, 0};

static struct usage_cache *
cache_with(const char *account, const char *domain, const struct usage_period *period,
    const struct usage_counts *account_counts)
{
	struct usage_cache *cache = usage_cache_new(100, 64);

	assert_non_null(cache);
	assert_true(usage_cache_load(
	    cache, account, period, account_counts, usage_cache_generation(cache)));
	assert_true(usage_cache_load(cache, domain, period, &zero, usage_cache_generation(cache)));
	return cache;
}

/* What a writer does: take the queue and settle it as told. */
static size_t
settle_queue(struct usage_cache *cache, bool saved)
{
	struct usage_message batch[64];
	size_t n = usage_cache_take(cache, batch, 64, 0);

	if (n > 0)
		usage_cache_settle(cache, saved);
	return n;
}

static enum usage_result
reserve(struct usage_cache *cache, const struct usage_period *period, unsigned recipients,
    struct usage_waiter *waiter, struct usage *used)
{
	char reason[200];

	return usage_cache_reserve(cache, "a@x.test", "x.test", period, &five_an_hour,
	    &no_domain_limit, recipients, waiter, used, reason, sizeof(reason));
}

static void
test_missing_until_loaded(void **state)
{
	struct usage_cache *cache = usage_cache_new(100, 64);
	struct usage_period period = {1000, 41};
	struct usage_counts from_db = {3, 7, 20};
	struct usage used;

	assert_non_null(cache);
	assert_int_equal(
	    usage_cache_get(cache, "a@x.test", "x.test", &period, &used), USAGE_MISSING);
	assert_true(usage_cache_load(cache, "a@x.test", &period, &from_db, 0));
	assert_int_equal(
	    usage_cache_get(cache, "a@x.test", "x.test", &period, &used), USAGE_MISSING);
	assert_true(usage_cache_load(cache, "x.test", &period, &zero, 0));
	/* Addresses compare without case, as in MariaDB. */
	assert_int_equal(usage_cache_get(cache, "A@X.test", "x.TEST", &period, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 3);
	assert_int_equal(used.messages_day, 7);
	assert_int_equal(used.recipients_day, 20);
	/* A second load keeps the counts held here: they are newer. */
	from_db.messages_hour = 0;
	assert_true(usage_cache_load(cache, "a@x.test", &period, &from_db, 0));
	assert_int_equal(usage_cache_get(cache, "a@x.test", "x.test", &period, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 3);
	usage_cache_free(&cache);
	assert_null(cache);
}

static void
test_reserve_counts_until_the_limit(void **state)
{
	struct usage_period period = {1000, 41};
	struct usage_counts from_db = {3, 3, 3};
	struct usage_cache *cache = cache_with("a@x.test", "x.test", &period, &from_db);
	struct usage_waiter w;
	struct usage used;
	char reason[200];

	assert_int_equal(reserve(cache, &period, 2, &w, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 4);
	assert_int_equal(used.recipients_day, 5);
	assert_int_equal(used.domain_messages_day, 1);
	assert_int_equal(settle_queue(cache, true), 1);
	assert_true(usage_cache_wait(cache, &w, 0));
	assert_int_equal(reserve(cache, &period, 1, &w, &used), USAGE_OK);
	assert_int_equal(settle_queue(cache, true), 1);
	/* the sixth message of the hour crosses 5 an hour, and is not counted */
	assert_int_equal(usage_cache_reserve(cache, "a@x.test", "x.test", &period, &five_an_hour,
	                     &no_domain_limit, 1, &w, &used, reason, sizeof(reason)),
	    USAGE_OVER);
	assert_non_null(strstr(reason, "5 messages per hour for this account"));
	assert_int_equal(usage_cache_get(cache, "a@x.test", "x.test", &period, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 5);
	assert_int_equal(settle_queue(cache, true), 0);
	usage_cache_free(&cache);
}

static void
test_failed_batch_is_taken_back(void **state)
{
	struct usage_period period = {1000, 41};
	struct usage_cache *cache = cache_with("a@x.test", "x.test", &period, &zero);
	struct usage_waiter w1, w2;
	struct usage used;

	assert_int_equal(reserve(cache, &period, 4, &w1, &used), USAGE_OK);
	assert_int_equal(reserve(cache, &period, 1, &w2, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 2);
	assert_int_equal(settle_queue(cache, false), 2);
	assert_false(usage_cache_wait(cache, &w1, 0));
	assert_false(usage_cache_wait(cache, &w2, 0));
	assert_int_equal(usage_cache_get(cache, "a@x.test", "x.test", &period, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 0);
	assert_int_equal(used.recipients_day, 0);
	assert_int_equal(used.domain_messages_hour, 0);
	usage_cache_free(&cache);
}

static void
test_windows_move_on(void **state)
{
	struct usage_period period = {1000, 41}, next_hour = {1001, 41}, next_day = {1024, 42};
	struct usage_counts from_db = {4, 9, 9};
	struct usage_cache *cache = cache_with("a@x.test", "x.test", &period, &from_db);
	struct usage_waiter w;
	struct usage used;

	assert_int_equal(reserve(cache, &period, 1, &w, &used), USAGE_OK);
	/* saved after the hour turned: the new hour does not lose it twice */
	assert_int_equal(usage_cache_get(cache, "a@x.test", "x.test", &next_hour, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 0);
	assert_int_equal(used.messages_day, 10);
	assert_int_equal(settle_queue(cache, false), 1);
	assert_int_equal(usage_cache_get(cache, "a@x.test", "x.test", &next_hour, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 0);
	assert_int_equal(used.messages_day, 9);
	assert_int_equal(usage_cache_get(cache, "a@x.test", "x.test", &next_day, &used), USAGE_OK);
	assert_int_equal(used.messages_day, 0);
	/* a clock that steps back keeps the newer window */
	assert_int_equal(usage_cache_get(cache, "a@x.test", "x.test", &period, &used), USAGE_OK);
	assert_int_equal(used.messages_day, 0);
	usage_cache_free(&cache);
}

static void
test_waiter_that_gives_up(void **state)
{
	struct usage_period period = {1000, 41};
	struct usage_cache *cache = cache_with("a@x.test", "x.test", &period, &zero);
	struct usage_message batch[4];
	struct usage_waiter w;
	struct usage used;

	assert_int_equal(reserve(cache, &period, 1, &w, &used), USAGE_OK);
	assert_false(usage_cache_wait(cache, &w, 20));
	/* The writer may still save it (and must not touch the waiter). */
	assert_int_equal(usage_cache_take(cache, batch, 4, 0), 1);
	assert_null(batch[0].waiter);
	assert_string_equal(batch[0].account, "a@x.test");
	usage_cache_settle(cache, true);
	assert_int_equal(usage_cache_get(cache, "a@x.test", "x.test", &period, &used), USAGE_OK);
	assert_int_equal(used.messages_hour, 1);
	usage_cache_free(&cache);
}

static void
test_queue_bound_and_stop(void **state)
{
	struct usage_period period = {1000, 41};
	struct usage_cache *cache = usage_cache_new(100, 2);
	struct usage_message batch[2];
	struct usage_waiter w[3];
	struct usage used;

	assert_non_null(cache);
	assert_true(usage_cache_load(cache, "a@x.test", &period, &zero, 0));
	assert_true(usage_cache_load(cache, "x.test", &period, &zero, 0));
	assert_int_equal(reserve(cache, &period, 1, &w[0], &used), USAGE_OK);
	assert_int_equal(reserve(cache, &period, 1, &w[1], &used), USAGE_OK);
	assert_int_equal(reserve(cache, &period, 1, &w[2], &used), USAGE_BUSY);
	usage_cache_stop(cache);
	assert_false(usage_cache_finished(cache));
	assert_int_equal(usage_cache_take(cache, batch, 2, 0), 2);
	assert_false(usage_cache_finished(cache));
	usage_cache_settle(cache, true);
	assert_true(usage_cache_finished(cache));
	assert_int_equal(usage_cache_take(cache, batch, 2, 1000), 0);
	usage_cache_free(&cache);
}

static void
test_sweep_and_generation(void **state)
{
	struct usage_period period = {1000, 41};
	struct usage_cache *cache = cache_with("a@x.test", "x.test", &period, &zero);
	unsigned long long before = usage_cache_generation(cache);
	struct usage_waiter w;
	struct usage used;

	assert_int_equal(reserve(cache, &period, 1, &w, &used), USAGE_OK);
	/* subjects with a message in flight stay */
	assert_int_equal(usage_cache_sweep(cache, INT64_MAX / 2, 0), 0);
	assert_int_equal(settle_queue(cache, true), 1);
	assert_int_equal(usage_cache_sweep(cache, INT64_MAX / 2, 600), 2);
	assert_int_equal(
	    usage_cache_get(cache, "a@x.test", "x.test", &period, &used), USAGE_MISSING);
	/* a read made before the eviction is refused; a fresh one adopted */
	assert_false(usage_cache_load(cache, "a@x.test", &period, &zero, before));
	assert_true(
	    usage_cache_load(cache, "a@x.test", &period, &zero, usage_cache_generation(cache)));
	usage_cache_free(&cache);
}

static void
test_full_cache_starts_again(void **state)
{
	struct usage_period period = {1000, 41};
	struct usage_cache *cache = usage_cache_new(3, 4);
	char name[32];
	struct usage used;

	assert_non_null(cache);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "u%d@x.test", i);
		assert_true(
		    usage_cache_load(cache, name, &period, &zero, usage_cache_generation(cache)));
	}
	/* the fourth empties the cache and must read again */
	assert_false(
	    usage_cache_load(cache, "u3@x.test", &period, &zero, usage_cache_generation(cache)));
	assert_true(
	    usage_cache_load(cache, "u3@x.test", &period, &zero, usage_cache_generation(cache)));
	assert_int_equal(
	    usage_cache_get(cache, "u0@x.test", "u3@x.test", &period, &used), USAGE_MISSING);
	usage_cache_free(&cache);
}

/* Many sessions of one user at once: exactly the limit gets through. */
enum { THREADS = 8, TRIES = 50 };

struct racer {
	struct usage_cache *cache;
	struct usage_period period;
	int permitted;
};

static void *
race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < TRIES; i++) {
		struct usage_waiter w;
		struct usage used;

		if (reserve(r->cache, &r->period, 1, &w, &used) == USAGE_OK &&
		    usage_cache_wait(r->cache, &w, 5000))
			r->permitted++;
	}
	return NULL;
}

static void *
writer(void *arg)
{
	struct usage_cache *cache = arg;
	struct usage_message batch[64];

	while (!usage_cache_finished(cache))
		if (usage_cache_take(cache, batch, 64, 10) > 0)
			usage_cache_settle(cache, true);
	return NULL;
}

static void
test_concurrent_sessions_hold_the_limit(void **state)
{
	struct usage_period period = {1000, 41};
	struct usage_cache *cache = cache_with("a@x.test", "x.test", &period, &zero);
	struct racer racers[THREADS];
	pthread_t threads[THREADS], writer_thread;
	int permitted = 0;

	assert_int_equal(pthread_create(&writer_thread, NULL, writer, cache), 0);
	for (int i = 0; i < THREADS; i++) {
		racers[i] = (struct racer){cache, period, 0};
		assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		permitted += racers[i].permitted;
	}
	usage_cache_stop(cache);
	pthread_join(writer_thread, NULL);
	assert_int_equal(permitted, 5);
	usage_cache_free(&cache);
}

static void
test_period_of_a_moment(void **state)
{
	struct usage_period p;

	usage_period_at(86400 * 3 + 3600 * 5 + 59, &p);
	assert_int_equal(p.day, 3);
	assert_int_equal(p.hour, 3 * 24 + 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_until_loaded),
	    cmocka_unit_test(test_reserve_counts_until_the_limit),
	    cmocka_unit_test(test_failed_batch_is_taken_back),
	    cmocka_unit_test(test_windows_move_on),
	    cmocka_unit_test(test_waiter_that_gives_up),
	    cmocka_unit_test(test_queue_bound_and_stop),
	    cmocka_unit_test(test_sweep_and_generation),
	    cmocka_unit_test(test_full_cache_starts_again),
	    cmocka_unit_test(test_concurrent_sessions_hold_the_limit),
	    cmocka_unit_test(test_period_of_a_moment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
