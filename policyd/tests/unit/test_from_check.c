/* The From:/Sender: check: what forgers try on submission and on port 25.
 * The owner lookup is a table: carol@example.test owns her mailbox and the
 * alias info@example.test; example.test is our only domain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "from_check.h"

struct owners {
	bool fail;        /* answer FROM_OWNER_ERROR */
	unsigned lookups; /* how many questions were asked */
};

static enum from_owner
owns(void *ctx, const char *login, const char *address_or_domain)
{
	struct owners *o = ctx;

	o->lookups++;
	if (o->fail)
		return FROM_OWNER_ERROR;
	if (login == NULL)
		return strcmp(address_or_domain, "example.test") == 0 ? FROM_OWNER_YES
		                                                      : FROM_OWNER_NO;
	/* The check hands over lower-case addresses and login. */
	assert_string_equal(login, "carol@example.test");
	if (strcmp(address_or_domain, "carol@example.test") == 0 ||
	    strcmp(address_or_domain, "info@example.test") == 0)
		return FROM_OWNER_YES;
	return FROM_OWNER_NO;
}

static enum from_verdict
submit(const char *from, const char *sender, char *reason)
{
	struct owners o = {0};
	struct from_check_input in = {
	    .mode = FROM_CHECK_SUBMISSION,
	    .login = "Carol@Example.TEST",
	    .from_count = from != NULL,
	    .sender_count = sender != NULL,
	    .from = from,
	    .sender = sender,
	};

	return from_check(&in, owns, &o, reason, FROM_REASON_MAX);
}

static enum from_verdict
inbound(const char *from, char *reason)
{
	struct owners o = {0};
	struct from_check_input in = {
	    .mode = FROM_CHECK_INBOUND,
	    .from_count = from != NULL,
	    .from = from,
	};

	return from_check(&in, owns, &o, reason, FROM_REASON_MAX);
}

static void
assert_submit_ok(const char *from, const char *sender)
{
	char reason[FROM_REASON_MAX];

	assert_int_equal(submit(from, sender, reason), FROM_ACCEPT);
	assert_string_equal(reason, "");
}

static void
assert_submit_refused(const char *from, const char *sender, const char *reason_part)
{
	char reason[FROM_REASON_MAX];

	assert_int_equal(submit(from, sender, reason), FROM_REJECT);
	assert_true(strncmp(reason, "5.7.1 ", 6) == 0);
	if (strstr(reason, reason_part) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", reason, reason_part);
}

static void
test_own_addresses(void **state)
{
	assert_submit_ok("carol@example.test", NULL);
	assert_submit_ok("Carol <carol@example.test>", NULL);
	assert_submit_ok("  \"Carol C.\"  <CAROL@Example.Test> ", NULL);
	assert_submit_ok("=?UTF-8?Q?Car=C3=B6l?= <carol@example.test>", NULL);
	assert_submit_ok("Info desk <info@example.test>", "carol@example.test");
	assert_submit_ok("carol@example.test, info@example.test", NULL);
	assert_submit_ok("\"carol@example.test\" <carol@example.test>", NULL);
	assert_submit_ok("carol@example.test (Carol at work)", NULL);
	assert_submit_ok("team: carol@example.test, info@example.test;", NULL);
	assert_submit_ok("Carol <carol@example.test>\r\n\t(folded)", NULL);
}

static void
test_foreign_address(void **state)
{
	assert_submit_refused("Bob <bob@example.test>", NULL,
	    "From: header address bob@example.test is not yours (logged in as carol@example.test)");
	assert_submit_refused("BOB@EXAMPLE.TEST", NULL, "bob@example.test is not yours");
	assert_submit_refused("someone@elsewhere.test", NULL, "someone@elsewhere.test");
	assert_submit_refused("carol@example.test.evil", NULL, "not yours");
}

static void
test_several_addresses(void **state)
{
	assert_submit_refused("carol@example.test, bob@example.test", NULL, "bob@example.test");
	assert_submit_refused("bob@example.test, carol@example.test", NULL, "bob@example.test");
}

static void
test_header_counts(void **state)
{
	char reason[FROM_REASON_MAX];
	struct owners o = {0};
	struct from_check_input in = {.mode = FROM_CHECK_SUBMISSION,
	    .login = "carol@example.test",
	    .from_count = 2,
	    .from = "carol@example.test"};

	assert_int_equal(from_check(&in, owns, &o, reason, sizeof(reason)), FROM_REJECT);
	assert_non_null(strstr(reason, "2 From: headers"));
	in.from_count = 0;
	in.from = NULL;
	assert_int_equal(from_check(&in, owns, &o, reason, sizeof(reason)), FROM_REJECT);
	assert_non_null(strstr(reason, "no From: header"));
	in.from_count = 1;
	in.from = "carol@example.test";
	in.sender_count = 2;
	in.sender = "carol@example.test";
	assert_int_equal(from_check(&in, owns, &o, reason, sizeof(reason)), FROM_REJECT);
	assert_non_null(strstr(reason, "2 Sender: headers"));
	/* Several From: headers are refused on port 25 too. */
	in.mode = FROM_CHECK_INBOUND;
	in.from_count = 2;
	in.sender_count = 0;
	assert_int_equal(from_check(&in, owns, &o, reason, sizeof(reason)), FROM_REJECT);
}

static void
test_no_address(void **state)
{
	assert_submit_refused("", NULL, "holds no address");
	assert_submit_refused("undisclosed-recipients:;", NULL, "holds no address");
	assert_submit_refused("alice", "alice", "alice has no domain");
	assert_submit_refused("Carol <>", NULL, "");
}

static void
test_sender(void **state)
{
	assert_submit_refused("carol@example.test", "Bob <bob@example.test>",
	    "Sender: header address bob@example.test is not yours");
	assert_submit_refused("carol@example.test", "", "Sender: header holds no address");
}

static void
test_group(void **state)
{
	assert_submit_refused(
	    "friends: carol@example.test, bob@example.test;", NULL, "bob@example.test");
	assert_submit_refused("friends: bob@example.test;", NULL, "bob@example.test");
}

static void
test_display_name_holding_an_address(void **state)
{
	assert_submit_refused(
	    "\"bob@example.test\" <carol@example.test>", NULL, "bob@example.test is not yours");
	assert_submit_refused("bob@example.test <carol@example.test>", NULL, "bob@example.test");
	assert_submit_refused(
	    "\"Bob (bob@example.test)\" <carol@example.test>", NULL, "bob@example.test");
	/* Encoded words are decoded first. */
	assert_submit_refused(
	    "=?UTF-8?Q?bob=40example=2Etest?= <carol@example.test>", NULL, "bob@example.test");
	assert_submit_refused(
	    "=?UTF-8?B?Ym9iQGV4YW1wbGUudGVzdA==?= <carol@example.test>", NULL, "bob@example.test");
	/* A comment is no hiding place either. */
	assert_submit_refused("carol@example.test (bob@example.test)", NULL, "bob@example.test");
	assert_submit_refused("\"bob\"@example.test", NULL, "bob@example.test");
}

static void
test_too_long(void **state)
{
	char from[FROM_HEADER_MAX + 64];
	char reason[FROM_REASON_MAX];

	memset(from, 'a', sizeof(from) - 1);
	from[sizeof(from) - 1] = '\0';
	memcpy(from + sizeof(from) - 1 - 19, "<carol@example.test>", 19);
	assert_int_equal(submit(from, NULL, reason), FROM_REJECT);
	assert_non_null(strstr(reason, "too long"));
	assert_int_equal(inbound(from, reason), FROM_REJECT);
}

static void
test_too_many_addresses(void **state)
{
	char from[FROM_HEADER_MAX];
	char reason[FROM_REASON_MAX];
	size_t n = 0;

	for (unsigned i = 0; i < FROM_ADDRESSES_MAX + 2; i++)
		n += (size_t)snprintf(
		    from + n, sizeof(from) - n, "%sa%u@elsewhere.test", i > 0 ? ", " : "", i);
	/* On submission the first foreign one is refused before the count
	 * matters; on port 25 none is ours, and there are too many. */
	assert_submit_refused(from, NULL, "a0@elsewhere.test");
	assert_int_equal(inbound(from, reason), FROM_REJECT);
	assert_non_null(strstr(reason, "too many addresses"));
}

static void
test_reason_is_safe(void **state)
{
	char reason[FROM_REASON_MAX];

	assert_int_equal(
	    submit("=?UTF-8?Q?x?= <b%ob\xc3\xa9@example.test>", NULL, reason), FROM_REJECT);
	for (const char *p = reason; *p != '\0'; p++) {
		assert_true(*p >= 0x20 && *p <= 0x7e);
		assert_true(*p != '%');
	}
}

static void
test_lookup_failure_defers(void **state)
{
	char reason[FROM_REASON_MAX];
	struct owners o = {.fail = true};
	struct from_check_input in = {.mode = FROM_CHECK_SUBMISSION,
	    .login = "carol@example.test",
	    .from_count = 1,
	    .from = "carol@example.test"};

	assert_int_equal(from_check(&in, owns, &o, reason, sizeof(reason)), FROM_TEMPFAIL);
	assert_true(strncmp(reason, "4.3.0 ", 6) == 0);
	in.mode = FROM_CHECK_INBOUND;
	assert_int_equal(from_check(&in, owns, &o, reason, sizeof(reason)), FROM_TEMPFAIL);
	/* No login on submission: never accepted. */
	in.mode = FROM_CHECK_SUBMISSION;
	in.login = "";
	o.fail = false;
	assert_int_equal(from_check(&in, owns, &o, reason, sizeof(reason)), FROM_TEMPFAIL);
}

static void
test_each_address_asked_once(void **state)
{
	char reason[FROM_REASON_MAX];
	struct owners o = {0};
	struct from_check_input in = {.mode = FROM_CHECK_SUBMISSION,
	    .login = "carol@example.test",
	    .from_count = 1,
	    .from = "\"carol@example.test\" <carol@example.test> (carol@example.test)"};

	assert_int_equal(from_check(&in, owns, &o, reason, sizeof(reason)), FROM_ACCEPT);
	assert_int_equal(o.lookups, 1);
}

static void
test_inbound(void **state)
{
	char reason[FROM_REASON_MAX];

	assert_int_equal(inbound("someone@elsewhere.test", reason), FROM_ACCEPT);
	assert_int_equal(inbound("Someone <someone@elsewhere.test>", reason), FROM_ACCEPT);
	/* A mailing list showing one of ours in the display name is fine. */
	assert_int_equal(
	    inbound("\"carol@example.test via List\" <list@elsewhere.test>", reason), FROM_ACCEPT);
	assert_int_equal(inbound(NULL, reason), FROM_ACCEPT);
	assert_int_equal(inbound("", reason), FROM_ACCEPT);
	assert_int_equal(inbound("Carol <carol@Example.TEST>", reason), FROM_REJECT);
	assert_non_null(strstr(reason, "mail from our own domain must be sent through submission"));
	assert_int_equal(inbound("x@elsewhere.test, nobody@example.test.", reason), FROM_REJECT);
	assert_int_equal(inbound("g: a@elsewhere.test, b@example.test;", reason), FROM_REJECT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_own_addresses),
	    cmocka_unit_test(test_foreign_address),
	    cmocka_unit_test(test_several_addresses),
	    cmocka_unit_test(test_header_counts),
	    cmocka_unit_test(test_no_address),
	    cmocka_unit_test(test_sender),
	    cmocka_unit_test(test_group),
	    cmocka_unit_test(test_display_name_holding_an_address),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_too_many_addresses),
	    cmocka_unit_test(test_reason_is_safe),
	    cmocka_unit_test(test_lookup_failure_defers),
	    cmocka_unit_test(test_each_address_asked_once),
	    cmocka_unit_test(test_inbound),
	};
	int failed;

	from_check_init();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	from_check_shutdown();
	return failed;
}
