/* Unit tests for password.c: the stored format Dovecot verifies as it is
 * ("{ARGON2ID}" + libsodium's PHC string), verification and rehashing.
 * Only the default-cost test pays for 19 MiB; the rest use 64 KiB, t=1. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "password.h"

static struct password_cost
small_cost(void)
{
	struct password_cost cost;

	password_cost_init(&cost, 64, 1);
	return cost;
}

static void
test_cost_init(void **state)
{
	struct password_cost cost;

	password_cost_init(&cost, 19456, 2);
	assert_int_equal(cost.opslimit, 2);
	assert_int_equal(cost.memlimit, 19456 * 1024);
}

static void
test_hash_format_default_cost(void **state)
{
	static const char prefix[] = "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$";
	char hash[PASSWORD_HASH_MAX];
	struct password_cost cost;

	password_cost_init(&cost, 19456, 2);
	assert_int_equal(password_hash("correct horse", 13, &cost, hash), 0);
	assert_true(strncmp(hash, prefix, sizeof(prefix) - 1) == 0);
	assert_true(strlen(hash) < PASSWORD_HASH_MAX);
	/* salt$hash: two base64 fields without padding. */
	const char *salt = hash + sizeof(prefix) - 1;
	const char *dollar = strchr(salt, '$');
	assert_non_null(dollar);
	assert_int_equal(dollar - salt, 22);      /* 16 bytes */
	assert_int_equal(strlen(dollar + 1), 43); /* 32 bytes */
	assert_null(strchr(salt, '='));
	assert_int_equal(password_verify(hash, "correct horse", 13), PASSWORD_MATCH);
	assert_false(password_needs_rehash(hash, &cost));
}

static void
test_hash_format_small_cost(void **state)
{
	static const char prefix[] = "{ARGON2ID}$argon2id$v=19$m=64,t=1,p=1$";
	struct password_cost cost = small_cost();
	char hash[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash("correct horse", 13, &cost, hash), 0);
	assert_true(strncmp(hash, prefix, sizeof(prefix) - 1) == 0);
}

static void
test_salted(void **state)
{
	struct password_cost cost = small_cost();
	char a[PASSWORD_HASH_MAX], b[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash("same password", 13, &cost, a), 0);
	assert_int_equal(password_hash("same password", 13, &cost, b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(password_verify(a, "same password", 13), PASSWORD_MATCH);
	assert_int_equal(password_verify(b, "same password", 13), PASSWORD_MATCH);
}

static void
test_verify_mismatch(void **state)
{
	struct password_cost cost = small_cost();
	char hash[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash("correct horse", 13, &cost, hash), 0);
	assert_int_equal(password_verify(hash, "correct horsf", 13), PASSWORD_MISMATCH);
	assert_int_equal(password_verify(hash, "Correct horse", 13), PASSWORD_MISMATCH);
	assert_int_equal(password_verify(hash, "correct hors", 12), PASSWORD_MISMATCH);
	assert_int_equal(password_verify(hash, "correct horse ", 14), PASSWORD_MISMATCH);
	assert_int_equal(password_verify(hash, "", 0), PASSWORD_MISMATCH);
}

static void
test_verify_uses_length(void **state)
{
	struct password_cost cost = small_cost();
	char hash[PASSWORD_HASH_MAX];

	/* The length, not a NUL, ends the password. */
	assert_int_equal(password_hash("abc\0defghij", 11, &cost, hash), 0);
	assert_int_equal(password_verify(hash, "abc\0defghij", 11), PASSWORD_MATCH);
	assert_int_equal(password_verify(hash, "abc", 3), PASSWORD_MISMATCH);
	assert_int_equal(password_verify(hash, "abc\0defghiX", 11), PASSWORD_MISMATCH);
}

static void
test_verify_utf8(void **state)
{
	struct password_cost cost = small_cost();
	char hash[PASSWORD_HASH_MAX];
	const char pw[] = "p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac";

	assert_int_equal(password_hash(pw, sizeof(pw) - 1, &cost, hash), 0);
	assert_int_equal(password_verify(hash, pw, sizeof(pw) - 1), PASSWORD_MATCH);
}

static void
test_verify_bad_hash(void **state)
{
	struct password_cost cost = small_cost();
	char hash[PASSWORD_HASH_MAX], long_hash[400];
	static const char *const bad[] = {
	    "",
	    "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
	    "{SHA512-CRYPT}$6$salt$hash",
	    "{ARGON2I}$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
	    "{ARGON2ID}",
	    "{ARGON2ID}$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
	    "{argon2id}$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
	    "!disabled",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		assert_int_equal(password_verify(bad[i], "correct horse", 13), PASSWORD_BAD_HASH);
		assert_true(password_needs_rehash(bad[i], &cost));
	}

	/* Ours in shape but damaged: never a match. */
	assert_int_equal(password_hash("correct horse", 13, &cost, hash), 0);
	hash[strlen(hash) - 3] = '\0';
	assert_int_not_equal(password_verify(hash, "correct horse", 13), PASSWORD_MATCH);
	assert_int_not_equal(
	    password_verify("{ARGON2ID}$argon2id$garbage", "correct horse", 13), PASSWORD_MATCH);
	assert_int_not_equal(
	    password_verify("{ARGON2ID}$argon2id$v=19$m=64,t=1,p=1$$", "correct horse", 13),
	    PASSWORD_MATCH);

	/* Too long to be a PHC string libsodium made. */
	memcpy(long_hash, "{ARGON2ID}$argon2id$", 20);
	memset(long_hash + 20, 'A', sizeof(long_hash) - 21);
	long_hash[sizeof(long_hash) - 1] = '\0';
	assert_int_equal(password_verify(long_hash, "correct horse", 13), PASSWORD_BAD_HASH);
}

static void
test_needs_rehash(void **state)
{
	struct password_cost cost = small_cost(), more_memory, more_time, same;
	char hash[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash("correct horse", 13, &cost, hash), 0);
	password_cost_init(&same, 64, 1);
	password_cost_init(&more_memory, 128, 1);
	password_cost_init(&more_time, 64, 2);
	assert_false(password_needs_rehash(hash, &same));
	assert_true(password_needs_rehash(hash, &more_memory));
	assert_true(password_needs_rehash(hash, &more_time));

	/* A rehash at the new cost no longer needs one. */
	assert_int_equal(password_hash("correct horse", 13, &more_time, hash), 0);
	assert_false(password_needs_rehash(hash, &more_time));
	assert_true(password_needs_rehash(hash, &same));
	assert_int_equal(password_verify(hash, "correct horse", 13), PASSWORD_MATCH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cost_init),
	    cmocka_unit_test(test_hash_format_default_cost),
	    cmocka_unit_test(test_hash_format_small_cost),
	    cmocka_unit_test(test_salted),
	    cmocka_unit_test(test_verify_mismatch),
	    cmocka_unit_test(test_verify_uses_length),
	    cmocka_unit_test(test_verify_utf8),
	    cmocka_unit_test(test_verify_bad_hash),
	    cmocka_unit_test(test_needs_rehash),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
