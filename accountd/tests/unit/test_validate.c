/* Unit tests for validate.c: the username, domain, address and password
 * rules shared by the HTTP API and the CLI. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

static const char (*const no_extra)[LOCAL_MAX + 1] = NULL;

/* Fill buf with n copies of c and a NUL. */
static char *
repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* n copies of the UTF-8 sequence seq. */
static size_t
repeat_seq(char *buf, const char *seq, size_t n)
{
	size_t len = strlen(seq), off = 0;

	for (size_t i = 0; i < n; i++, off += len)
		memcpy(buf + off, seq, len);
	buf[off] = '\0';
	return off;
}

static void
assert_username_ok(const char *in, const char *expected)
{
	char folded[LOCAL_MAX + 1];
	const char *error = NULL;

	if (validate_username(in, folded, no_extra, 0, &error) != 0)
		fail_msg("username '%s' refused: %s", in, error);
	assert_string_equal(folded, expected);
}

static void
assert_username_bad(const char *in, const char *why)
{
	char folded[LOCAL_MAX + 1];
	const char *error = NULL;

	if (validate_username(in, folded, no_extra, 0, &error) == 0)
		fail_msg("username '%s' accepted", in);
	assert_non_null(error);
	if (strstr(error, why) == NULL)
		fail_msg("username '%s': error '%s' lacks '%s'", in, error, why);
}

static void
test_username_valid(void **state)
{
	char in[LOCAL_MAX + 2];

	assert_username_ok("a", "a");
	assert_username_ok("7", "7");
	assert_username_ok("alice", "alice");
	assert_username_ok("a.b_c-d", "a.b_c-d");
	assert_username_ok("1st.place", "1st.place");
	assert_username_ok("a-", "a-");
	assert_username_ok("a_", "a_");
	assert_username_ok(repeat(in, 'x', 64), in);
}

static void
test_username_case_folding(void **state)
{
	assert_username_ok("Alice", "alice");
	assert_username_ok("ALICE.SMITH", "alice.smith");
	assert_username_ok("MiXeD_Case-99", "mixed_case-99");
}

static void
test_username_length(void **state)
{
	char in[LOCAL_MAX + 2];

	assert_username_bad("", "1 to 64");
	assert_username_bad(repeat(in, 'x', 65), "1 to 64");
}

static void
test_username_characters(void **state)
{
	assert_username_bad("alice+tag", "may only contain");
	assert_username_bad("al ice", "may only contain");
	assert_username_bad("alice@example.org", "may only contain");
	assert_username_bad("al'ice", "may only contain");
	assert_username_bad("al\tice", "may only contain");
	assert_username_bad("\xc3\xa5lice", "may only contain"); /* "ålice" */
	assert_username_bad("al\xff", "may only contain");
}

static void
test_username_dots_and_start(void **state)
{
	assert_username_bad(".alice", "start with");
	assert_username_bad("_alice", "start with");
	assert_username_bad("-alice", "start with");
	assert_username_bad(".", "start with");
	assert_username_bad("al..ice", "'..'");
	assert_username_bad("a...b", "'..'");
	assert_username_bad("alice.", "end with");
	assert_username_ok("a.l.i.c.e", "a.l.i.c.e");
}

static void
test_username_reserved(void **state)
{
	static const char *const reserved[] = {
	    "postmaster",
	    "abuse",
	    "root",
	    "admin",
	    "administrator",
	    "hostmaster",
	    "webmaster",
	    "noreply",
	    "no-reply",
	    "mailer-daemon",
	    "security",
	    "support",
	    "PostMaster",
	    "ROOT",
	    "Mailer-Daemon",
	};

	for (size_t i = 0; i < N_ELEMENTS(reserved); i++)
		assert_username_bad(reserved[i], "reserved");
	/* Only whole names are reserved. */
	assert_username_ok("admins", "admins");
	assert_username_ok("root2", "root2");
	assert_username_ok("no_reply", "no_reply");
}

static void
test_username_reserved_extra(void **state)
{
	static const char extra[][LOCAL_MAX + 1] = {"info", "billing"};
	char folded[LOCAL_MAX + 1];
	const char *error = NULL;

	assert_int_equal(validate_username("info", folded, extra, 2, &error), -1);
	assert_string_equal(error, "this username is reserved");
	assert_int_equal(validate_username("Billing", folded, extra, 2, &error), -1);
	assert_int_equal(validate_username("infos", folded, extra, 2, &error), 0);
	/* n_extra bounds the list. */
	assert_int_equal(validate_username("billing", folded, extra, 1, &error), 0);
	assert_int_equal(validate_username("admin", folded, extra, 2, &error), -1);
}

static void
assert_domain_ok(const char *in, const char *expected)
{
	char folded[DOMAIN_MAX + 1];
	const char *error = NULL;

	if (validate_domain(in, folded, &error) != 0)
		fail_msg("domain '%s' refused: %s", in, error);
	assert_string_equal(folded, expected);
}

static void
assert_domain_bad(const char *in)
{
	char folded[DOMAIN_MAX + 1];
	const char *error = NULL;

	if (validate_domain(in, folded, &error) == 0)
		fail_msg("domain '%s' accepted", in);
	assert_non_null(error);
	assert_true(strncmp(error, "domain", 6) == 0);
}

static void
test_domain_rules(void **state)
{
	char label63[64], label64[65], in[DOMAIN_MAX + 3];

	assert_domain_ok("example.org", "example.org");
	assert_domain_ok("Example.ORG", "example.org");
	assert_domain_ok("mail.sub.example.co.uk", "mail.sub.example.co.uk");
	assert_domain_ok("a-b.example", "a-b.example");
	assert_domain_ok("xn--bcher-kva.example", "xn--bcher-kva.example");
	assert_domain_ok("1.example", "1.example");

	assert_domain_bad("");
	assert_domain_bad("localhost");
	assert_domain_bad("example.org.");
	assert_domain_bad(".example.org");
	assert_domain_bad("example..org");
	assert_domain_bad("-example.org");
	assert_domain_bad("example-.org");
	assert_domain_bad("example.org-");
	assert_domain_bad("exa_mple.org");
	assert_domain_bad("exa mple.org");
	assert_domain_bad("example.org/");
	assert_domain_bad("b\xc3\xbc"
	                  "cher.example");
	assert_domain_bad("example.org\n");

	repeat(label63, 'a', 63);
	repeat(label64, 'a', 64);
	snprintf(in, sizeof(in), "%s.example", label63);
	assert_domain_ok(in, in);
	snprintf(in, sizeof(in), "%s.example", label64);
	assert_domain_bad(in);
}

static void
test_domain_total_length(void **state)
{
	char in[DOMAIN_MAX + 3];

	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(in, 'a', sizeof(in));
	in[63] = in[127] = in[191] = '.';
	in[253] = '\0';
	assert_domain_ok(in, in);
	in[253] = 'a';
	in[254] = '\0';
	assert_domain_bad(in);
}

static void
assert_address_ok(const char *in, const char *expected)
{
	char email[EMAIL_MAX + 1];
	const char *error = NULL;

	if (validate_address(in, email, &error) != 0)
		fail_msg("address '%s' refused: %s", in, error);
	assert_string_equal(email, expected);
}

static void
assert_address_bad(const char *in)
{
	char email[EMAIL_MAX + 1];
	const char *error = NULL;

	if (validate_address(in, email, &error) == 0)
		fail_msg("address '%s' accepted", in);
	assert_non_null(error);
}

static void
test_address_rules(void **state)
{
	char in[EMAIL_MAX + 8], local[LOCAL_MAX + 2];

	assert_address_ok("alice@example.org", "alice@example.org");
	assert_address_ok("Alice.Smith@Example.ORG", "alice.smith@example.org");
	assert_address_ok("a+tag@example.org", "a+tag@example.org");
	assert_address_ok("o'brien@example.org", "o'brien@example.org");
	assert_address_ok("x!#$%&'*+/=?^_`{|}~-@example.org", "x!#$%&'*+/=?^_`{|}~-@example.org");

	assert_address_bad("");
	assert_address_bad("alice");
	assert_address_bad("@example.org");
	assert_address_bad("alice@");
	assert_address_bad("alice@localhost");
	assert_address_bad("alice@example..org");
	assert_address_bad(".alice@example.org");
	assert_address_bad("alice.@example.org");
	assert_address_bad("al..ice@example.org");
	assert_address_bad("al ice@example.org");
	assert_address_bad("\"alice\"@example.org");
	assert_address_bad("al(ice)@example.org");
	assert_address_bad("al,ice@example.org");
	assert_address_bad("al\\ice@example.org");
	assert_address_bad("a@b@example.org");
	assert_address_bad("al\xc3\xaf"
	                   "ce@example.org");
	assert_address_bad("alice@example.org\r\n");

	snprintf(in, sizeof(in), "%s@example.org", repeat(local, 'x', 64));
	assert_address_ok(in, in);
	snprintf(in, sizeof(in), "%s@example.org", repeat(local, 'x', 65));
	assert_address_bad(in);
}

static void
test_address_longest(void **state)
{
	char in[EMAIL_MAX + 8];
	char email[EMAIL_MAX + 1];
	const char *error = NULL;

	/* 64 local + '@' + 253 domain: the longest accepted address. */
	memset(in, 'a', sizeof(in));
	in[64] = '@';
	in[64 + 64] = in[64 + 128] = in[64 + 192] = '.';
	in[64 + 1 + 253] = '\0';
	assert_int_equal(validate_address(in, email, &error), 0);
	assert_int_equal(strlen(email), 64 + 1 + 253);
	in[64 + 1 + 253] = 'a';
	in[64 + 1 + 254] = '\0';
	assert_int_equal(validate_address(in, email, &error), -1);
}

static void
assert_password_ok(const char *pw, size_t len)
{
	const char *error = NULL;

	if (validate_password(pw, len, "alice", "alice@example.org", &error) != 0)
		fail_msg("password of %zu bytes refused: %s", len, error);
}

static void
assert_password_bad(const char *pw, size_t len, const char *why)
{
	const char *error = NULL;

	if (validate_password(pw, len, "alice", "alice@example.org", &error) == 0)
		fail_msg("password of %zu bytes accepted", len);
	assert_non_null(error);
	if (strstr(error, why) == NULL)
		fail_msg("error '%s' lacks '%s'", error, why);
}

static void
test_password_length_ascii(void **state)
{
	char pw[300];

	assert_password_bad(repeat(pw, 'k', 0), 0, "at least 10");
	assert_password_bad(repeat(pw, 'k', 9), 9, "at least 10");
	assert_password_ok(repeat(pw, 'k', 10), 10);
	assert_password_ok(repeat(pw, 'k', 256), 256);
	assert_password_bad(repeat(pw, 'k', 257), 257, "at most 256");
}

static void
test_password_length_code_points(void **state)
{
	char pw[257 * 4 + 1];
	size_t len;

	/* "é" is 2 bytes: 9 of them are 18 bytes but 9 characters. */
	len = repeat_seq(pw, "\xc3\xa9", 9);
	assert_password_bad(pw, len, "at least 10");
	len = repeat_seq(pw, "\xc3\xa9", 10);
	assert_password_ok(pw, len);
	/* "€" is 3 bytes: 256 of them are 768 bytes but 256 characters. */
	len = repeat_seq(pw, "\xe2\x82\xac", 256);
	assert_password_ok(pw, len);
	len = repeat_seq(pw, "\xe2\x82\xac", 257);
	assert_password_bad(pw, len, "at most 256");
	/* U+1F600 is 4 bytes. */
	len = repeat_seq(pw, "\xf0\x9f\x98\x80", 10);
	assert_password_ok(pw, len);
	len = repeat_seq(pw, "\xf0\x9f\x98\x80", 9);
	assert_password_bad(pw, len, "at least 10");
	len = repeat_seq(pw, "\xf0\x9f\x98\x80", 257);
	assert_password_bad(pw, len, "at most 256");
}

static void
test_password_invalid_utf8(void **state)
{
	static const char *const bad[] = {
	    "\xffgoodpassword1",            /* never valid */
	    "goodpassword1\xc3",            /* truncated 2-byte */
	    "goodpassword1\xe2\x82",        /* truncated 3-byte */
	    "goodpass\xc0\xafword1",        /* overlong '/' */
	    "goodpass\xe0\x80\xafword1",    /* overlong, 3 bytes */
	    "goodpass\xed\xa0\x80word1",    /* surrogate U+D800 */
	    "goodpass\xf4\x90\x80\x80rd",   /* U+110000 */
	    "goodpass\xf8\x88\x80\x80\x80", /* 5-byte form */
	    "goodpass\x80word1",            /* lone continuation */
	    "goodpass\xc3\x28word1",        /* bad continuation */
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		assert_password_bad(bad[i], strlen(bad[i]), "UTF-8");
}

static void
test_password_control_characters(void **state)
{
	static const char *const bad[] = {
	    "goodpass\tword1",
	    "goodpass\nword1",
	    "goodpass\rword1",
	    "goodpass\x01word1",
	    "goodpass\x1bword1",
	    "goodpass\x7fword1",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		assert_password_bad(bad[i], strlen(bad[i]), "control");
	/* An embedded NUL counts by length and is a control character. */
	assert_password_bad("goodpass\0word1", 14, "control");
	/* Spaces and punctuation are fine. */
	assert_password_ok("correct horse battery", 21);
}

static void
test_password_equals_identity(void **state)
{
	const char *error = NULL;

	assert_int_equal(
	    validate_password("alicealice", 10, "alicealice", "alicealice@example.org", &error),
	    -1);
	assert_string_equal(error, "password must not be your username or address");
	assert_int_equal(
	    validate_password("AliceAlice", 10, "alicealice", "alicealice@example.org", &error),
	    -1);
	assert_int_equal(
	    validate_password("Bob@Example.ORG", 15, "bob", "bob@example.org", &error), -1);
	assert_string_equal(error, "password must not be your username or address");
	/* Containing the name is allowed; only equality is refused. */
	assert_int_equal(
	    validate_password("alicealice!", 11, "alicealice", "alicealice@example.org", &error),
	    0);
	/* Either may be absent. */
	assert_int_equal(validate_password("alicealice", 10, NULL, NULL, &error), 0);
}

static void
test_password_common(void **state)
{
	static const char *const common[] = {
	    "1234567890",
	    "qwertyuiop",
	    "QwertyUIOP",
	    "1111111111",
	    "0987654321",
	    "Qwerty12345",
	};

	for (size_t i = 0; i < N_ELEMENTS(common); i++)
		assert_password_bad(common[i], strlen(common[i]), "too common");
	assert_password_ok("12345678901234", 14);
	assert_password_ok("qwertyuiop!", 11);
}

static void
test_utf8_length(void **state)
{
	assert_int_equal(utf8_length("", 0), 0);
	assert_int_equal(utf8_length("abc", 3), 3);
	assert_int_equal(utf8_length("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10), 4);
	assert_int_equal(utf8_length("\x7f", 1), 1);
	assert_int_equal(utf8_length("\xc2\x80", 2), 1);         /* U+0080 */
	assert_int_equal(utf8_length("\xef\xbf\xbf", 3), 1);     /* U+FFFF */
	assert_int_equal(utf8_length("\xf4\x8f\xbf\xbf", 4), 1); /* U+10FFFF */
	assert_int_equal(utf8_length("\xee\x80\x80", 3), 1);     /* U+E000 */
	assert_int_equal(utf8_length("a\0b", 3), 3);
	assert_int_equal(utf8_length("\xc1\xbf", 2), -1);         /* overlong */
	assert_int_equal(utf8_length("\xf0\x8f\xbf\xbf", 4), -1); /* overlong */
	assert_int_equal(utf8_length("\xed\xbf\xbf", 3), -1);     /* surrogate */
	assert_int_equal(utf8_length("\xf5\x80\x80\x80", 4), -1);
	assert_int_equal(utf8_length("\xfe", 1), -1);
	/* The length bounds the read: a lead byte at the end is truncated. */
	assert_int_equal(utf8_length("ab\xc3\xa9", 3), -1);
}

static void
test_split_mailbox_address(void **state)
{
	char local[LOCAL_MAX + 1], long_local[LOCAL_MAX + 20];
	const char *domain;

	(void)state;
	domain = split_mailbox_address("Ann@Example.org", local);
	assert_non_null(domain);
	assert_string_equal(local, "Ann");
	assert_string_equal(domain, "Example.org");
	/* the last '@' splits (the parts are validated afterwards) */
	domain = split_mailbox_address("a@b@c.example", local);
	assert_string_equal(local, "a@b");
	assert_string_equal(domain, "c.example");
	assert_null(split_mailbox_address("nodomain", local));
	assert_null(split_mailbox_address("@example.org", local));
	assert_null(split_mailbox_address("trailing@", local));
	memset(long_local, 'a', LOCAL_MAX + 1);
	strcpy(long_local + LOCAL_MAX + 1, "@x.example");
	assert_null(split_mailbox_address(long_local, local));
	long_local[LOCAL_MAX] = '@';
	long_local[LOCAL_MAX + 1] = 'x';
	domain = split_mailbox_address(long_local, local);
	assert_non_null(domain);
	assert_int_equal(strlen(local), LOCAL_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_username_valid),
	    cmocka_unit_test(test_username_case_folding),
	    cmocka_unit_test(test_username_length),
	    cmocka_unit_test(test_username_characters),
	    cmocka_unit_test(test_username_dots_and_start),
	    cmocka_unit_test(test_username_reserved),
	    cmocka_unit_test(test_username_reserved_extra),
	    cmocka_unit_test(test_domain_rules),
	    cmocka_unit_test(test_domain_total_length),
	    cmocka_unit_test(test_address_rules),
	    cmocka_unit_test(test_address_longest),
	    cmocka_unit_test(test_password_length_ascii),
	    cmocka_unit_test(test_password_length_code_points),
	    cmocka_unit_test(test_password_invalid_utf8),
	    cmocka_unit_test(test_password_control_characters),
	    cmocka_unit_test(test_password_equals_identity),
	    cmocka_unit_test(test_password_common),
	    cmocka_unit_test(test_utf8_length),
	    cmocka_unit_test(test_split_mailbox_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
