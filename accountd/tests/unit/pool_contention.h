/* The pool contention check shared by accountd's and policyd's unit tests
 * (both wrap libmailnest's sqlpool in a db.c of their own, with the same
 * db_acquire/db_release): the includer includes its db.h first and passes
 * run_pool_contention_test a maker of a pool of two connections.
 *
 * Many threads acquire and release at once, as the HTTP threads, hash
 * workers and policy connections do under load. No query is made, so no
 * server is needed (connections open at their first query). A release used
 * to clear its slot after handing the connection back, so a thread that had
 * just acquired the same connection could lose it; the pool then leaked
 * connections until every thread waited for ever. A watchdog turns such a
 * hang into a failure. */
#ifndef MAILNEST_TEST_POOL_CONTENTION_H
#define MAILNEST_TEST_POOL_CONTENTION_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#define CONTENTION_THREADS 16
#define CONTENTION_ROUNDS  1000000

static atomic_int contention_failures;

static void *
contention_thread(void *arg)
{
	struct db_pool *pool = arg;

	for (int i = 0; i < CONTENTION_ROUNDS; i++) {
		struct db_conn *c = db_acquire(pool);

		if (c == NULL) {
			atomic_fetch_add(&contention_failures, 1);
			continue;
		}
		db_release(pool, &c);
		if (c != NULL)
			atomic_fetch_add(&contention_failures, 1);
	}
	return NULL;
}

static void
contention_watchdog(int sig)
{
	static const char msg[] = "db pool: threads still waiting after 60 s: connections leaked\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

/* Hammer pool (two connections), then hold both at once. */
static void
check_pool_contention(struct db_pool *pool)
{
	pthread_t threads[CONTENTION_THREADS];
	struct db_conn *both[2];

	signal(SIGALRM, contention_watchdog);
	alarm(60);
	for (int i = 0; i < CONTENTION_THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, contention_thread, pool), 0);
	for (int i = 0; i < CONTENTION_THREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	both[0] = db_acquire(pool);
	both[1] = db_acquire(pool);
	alarm(0);
	assert_non_null(both[0]);
	assert_non_null(both[1]);
	assert_ptr_not_equal(both[0], both[1]);
	db_release(pool, &both[0]);
	db_release(pool, &both[1]);
	assert_int_equal(atomic_load(&contention_failures), 0);
}

static struct db_pool *(*contention_make_pool)(void);

static void
test_pool_survives_contention(void **state)
{
	struct db_pool *pool = contention_make_pool();

	(void)state;
	assert_non_null(pool);
	check_pool_contention(pool);
	db_pool_free(&pool);
}

/* main() of a test program: the check on a pool from make_pool. */
static int
run_pool_contention_test(struct db_pool *(*make_pool)(void))
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pool_survives_contention),
	};

	contention_make_pool = make_pool;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
