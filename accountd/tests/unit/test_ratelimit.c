/* Unit tests for ratelimit.c: token buckets driven by a fake clock (the
 * "now" argument), so no test sleeps; with private tables and with tables
 * shared through files, across a fork too. */
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "ratelimit.h"

#define T0 1000.0

/* Every test runs twice: with a private table, then with shared ones
 * (files in this directory, a new file per table). */
static char shared_dir[64];
static unsigned shared_files;

static struct ratelimit *
new_limit(unsigned count, unsigned seconds, size_t max_keys)
{
	struct rate rate = {count, seconds};
	char path[128] = "";
	struct ratelimit *rl;

	if (shared_dir[0] != '\0')
		snprintf(path, sizeof(path), "%s/t%u.table", shared_dir, shared_files++);
	rl = ratelimit_new(rate, max_keys, path);
	assert_non_null(rl);
	return rl;
}

static struct ratelimit *
shared_limit(unsigned count, unsigned seconds, const char *name)
{
	struct rate rate = {count, seconds};
	char path[128];
	struct ratelimit *rl;

	snprintf(path, sizeof(path), "%s/%s", shared_dir, name);
	rl = ratelimit_new(rate, 64, path);
	assert_non_null(rl);
	return rl;
}

static void
test_burst_then_refusal(void **state)
{
	struct ratelimit *rl = new_limit(5, 300, 1024);
	unsigned wait;

	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(rl, "198.51.100.7", T0), 0);
	wait = ratelimit_take(rl, "198.51.100.7", T0);
	/* One token comes back every 300/5 = 60 s. */
	assert_in_range(wait, 59, 61);
	/* Refusals take nothing and say the same. */
	assert_in_range(ratelimit_take(rl, "198.51.100.7", T0), 59, 61);
	assert_in_range(ratelimit_peek(rl, "198.51.100.7", T0), 59, 61);
	ratelimit_free(&rl);
	assert_null(rl);
}

static void
test_retry_after_counts_down(void **state)
{
	struct ratelimit *rl = new_limit(2, 100, 64);
	unsigned w0, w1, w2;

	assert_int_equal(ratelimit_take(rl, "k", T0), 0);
	assert_int_equal(ratelimit_take(rl, "k", T0), 0);
	w0 = ratelimit_take(rl, "k", T0);
	w1 = ratelimit_take(rl, "k", T0 + 10);
	w2 = ratelimit_take(rl, "k", T0 + 49.5);
	assert_in_range(w0, 49, 51);
	assert_in_range(w1, 39, 41);
	/* Never 0 while refusing: a client told "0" would retry at once. */
	assert_int_equal(w2, 1);
	ratelimit_free(&rl);
}

static void
test_refill_over_time(void **state)
{
	struct ratelimit *rl = new_limit(3, 60, 1024);

	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(rl, "a", T0), 0);
	assert_true(ratelimit_take(rl, "a", T0) > 0);
	/* 20 s bring one token back, and only one. */
	assert_true(ratelimit_take(rl, "a", T0 + 19) > 0);
	assert_int_equal(ratelimit_take(rl, "a", T0 + 20.01), 0);
	assert_true(ratelimit_take(rl, "a", T0 + 20.02) > 0);
	/* A long pause refills to the burst size, not beyond. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(rl, "a", T0 + 10000), 0);
	assert_true(ratelimit_take(rl, "a", T0 + 10000) > 0);
	ratelimit_free(&rl);
}

static void
test_peek_takes_nothing(void **state)
{
	struct ratelimit *rl = new_limit(2, 60, 64);

	for (int i = 0; i < 10; i++)
		assert_int_equal(ratelimit_peek(rl, "p", T0), 0);
	assert_int_equal(ratelimit_take(rl, "p", T0), 0);
	assert_int_equal(ratelimit_peek(rl, "p", T0), 0);
	assert_int_equal(ratelimit_take(rl, "p", T0), 0);
	assert_true(ratelimit_peek(rl, "p", T0) > 0);
	ratelimit_free(&rl);
}

static void
test_independent_keys(void **state)
{
	struct ratelimit *rl = new_limit(2, 60, 1024);

	assert_int_equal(ratelimit_take(rl, "alice@example.org", T0), 0);
	assert_int_equal(ratelimit_take(rl, "alice@example.org", T0), 0);
	assert_true(ratelimit_take(rl, "alice@example.org", T0) > 0);
	assert_int_equal(ratelimit_take(rl, "bob@example.org", T0), 0);
	assert_int_equal(ratelimit_take(rl, "Alice@example.org", T0), 0); /* keys are exact */
	assert_int_equal(ratelimit_take(rl, "", T0), 0);
	assert_true(ratelimit_take(rl, "alice@example.org", T0) > 0);
	ratelimit_free(&rl);
}

static void
test_one_per_long_period(void **state)
{
	struct ratelimit *rl = new_limit(1, 7 * 86400, 64);

	assert_int_equal(ratelimit_take(rl, "x", T0), 0);
	assert_in_range(ratelimit_take(rl, "x", T0), 7 * 86400 - 1, 7 * 86400 + 1);
	ratelimit_free(&rl);
}

static void
test_many_distinct_keys(void **state)
{
	struct ratelimit *rl = new_limit(5, 60, 1000);
	char key[32];

	/* A flood of distinct keys far beyond max_keys, all at one moment so
	 * that no bucket has refilled: memory stays bounded (the table is
	 * fixed) and the limiter keeps answering. */
	for (unsigned i = 0; i < 200000; i++) {
		snprintf(key, sizeof(key), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		assert_int_equal(ratelimit_take(rl, key, T0), 0);
	}
	/* Still limits a key that keeps asking. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(rl, "after-the-flood", T0 + 1), 0);
	assert_true(ratelimit_take(rl, "after-the-flood", T0 + 1) > 0);
	ratelimit_free(&rl);
}

/* Regression (fixed). shard_compact() used to
 * re-inserts the surviving buckets at digest bytes 0-7 modulo the shard
 * size, but ratelimit_apply() probes from digest bytes 8-15: after a
 * compaction the buckets it kept are mostly unreachable, so a limited key
 * starts over with a full bucket. Here 1500 idle keys fill the table, then
 * 200 keys are exhausted; inserting them compacts every shard (the idle
 * keys have refilled and are dropped, the exhausted ones are kept), and
 * every one of the 200 must still be refused. */
static void
test_limited_keys_survive_compaction(void **state)
{
	struct ratelimit *rl;
	char key[32];
	unsigned still_limited = 0;

	rl = new_limit(2, 100, 1600); /* 200 slots per shard */
	for (unsigned i = 0; i < 1500; i++) {
		snprintf(key, sizeof(key), "idle-%u", i);
		assert_int_equal(ratelimit_take(rl, key, T0), 0);
	}
	for (unsigned i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "busy-%u", i);
		assert_int_equal(ratelimit_take(rl, key, T0 + 500), 0);
		assert_int_equal(ratelimit_take(rl, key, T0 + 500), 0);
	}
	for (unsigned i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "busy-%u", i);
		if (ratelimit_peek(rl, key, T0 + 501) > 0)
			still_limited++;
	}
	ratelimit_free(&rl);
	assert_int_equal(still_limited, 200);
}

/* Two processes' tables on one file share the budget. */
static void
test_shared_between_processes(void **state)
{
	struct ratelimit *a = shared_limit(3, 60, "share.table");
	struct ratelimit *b = shared_limit(3, 60, "share.table");
	char path[128];
	struct stat st;
	pid_t child;
	int status;

	assert_int_equal(ratelimit_take(a, "198.51.100.7", T0), 0);
	assert_int_equal(ratelimit_take(b, "198.51.100.7", T0), 0);
	/* another process takes the third token */
	if ((child = fork()) == 0) {
		struct ratelimit *c = shared_limit(3, 60, "share.table");
		_exit(ratelimit_take(c, "198.51.100.7", T0) == 0 ? 0 : 1);
	}
	assert_true(child > 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(ratelimit_take(a, "198.51.100.7", T0) > 0);
	assert_true(ratelimit_peek(b, "198.51.100.7", T0) > 0);
	/* owner only */
	snprintf(path, sizeof(path), "%s/share.table", shared_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	ratelimit_free(&a);
	ratelimit_free(&b);
}

/* A file of other settings or of garbage is replaced, not trusted. */
static void
test_shared_file_replaced(void **state)
{
	struct ratelimit *three = shared_limit(3, 60, "other.table");
	struct ratelimit *five, *five_again;
	char path[128];
	FILE *f;

	five = shared_limit(5, 60, "other.table");
	five_again = shared_limit(5, 60, "other.table");
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(three, "k", T0), 0);
	assert_true(ratelimit_take(three, "k", T0) > 0);
	/* five and five_again share a table of their own */
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(i % 2 ? five : five_again, "k", T0), 0);
	assert_true(ratelimit_take(five, "k", T0) > 0);
	snprintf(path, sizeof(path), "%s/garbage.table", shared_dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("not a table", f);
	fclose(f);
	ratelimit_free(&three);
	three = shared_limit(3, 60, "garbage.table");
	assert_int_equal(ratelimit_take(three, "k", T0), 0);
	ratelimit_free(&three);
	ratelimit_free(&five);
	ratelimit_free(&five_again);
}

static void
test_shared_directory_missing(void **state)
{
	struct rate rate = {3, 60};

	assert_null(ratelimit_new(rate, 64, "/nonexistent/mailnest/requests.table"));
}

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_refusal),
	    cmocka_unit_test(test_retry_after_counts_down),
	    cmocka_unit_test(test_refill_over_time),
	    cmocka_unit_test(test_peek_takes_nothing),
	    cmocka_unit_test(test_independent_keys),
	    cmocka_unit_test(test_one_per_long_period),
	    cmocka_unit_test(test_many_distinct_keys),
	    cmocka_unit_test(test_limited_keys_survive_compaction),
	};

	const struct CMUnitTest shared_tests[] = {
	    cmocka_unit_test(test_shared_between_processes),
	    cmocka_unit_test(test_shared_file_replaced),
	    cmocka_unit_test(test_shared_directory_missing),
	};
	int failed;

	if (sodium_init() < 0)
		return 1;
	failed = cmocka_run_group_tests_name("private tables", tests, NULL, NULL);
	snprintf(shared_dir, sizeof(shared_dir), "/tmp/test_ratelimit.XXXXXX");
	if (mkdtemp(shared_dir) == NULL)
		return 1;
	failed += cmocka_run_group_tests_name("shared tables", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("shared files", shared_tests, NULL, NULL);
	if (nftw(shared_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		failed++;
	return failed;
}
