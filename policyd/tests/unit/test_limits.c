/* The sending rules: which limits apply, and when one is crossed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "limits.h"

static const struct limit_defaults defaults = {
    .new_account_seconds = 7 * 86400,
    .young = {10, 50, 20, 200},
    .established = {100, 500, 100, 1000},
    .domain = {1000, 10000, 20000},
    .suspend_after = 20,
};

static void
test_young_and_established(void **state)
{
	struct limit_overrides none = {0};
	struct account_limits a;
	struct domain_limits d;

	limits_effective(&defaults, 3600, &none, &a, &d);
	assert_int_equal(a.messages_per_hour, 10);
	assert_int_equal(a.recipients_per_message, 20);
	limits_effective(&defaults, 7 * 86400, &none, &a, &d);
	assert_int_equal(a.messages_per_hour, 100);
	assert_int_equal(a.messages_per_day, 500);
	assert_int_equal(d.messages_per_day, 10000);
}

static void
test_overrides(void **state)
{
	struct limit_overrides o = {0};
	struct account_limits a;
	struct domain_limits d;

	o.messages_per_hour = (struct limit_override){true, 40};
	o.recipients_per_day = (struct limit_override){true, 0};
	o.domain_messages_per_hour = (struct limit_override){true, 7};
	limits_effective(&defaults, 0, &o, &a, &d);
	assert_int_equal(a.messages_per_hour, 40);
	assert_int_equal(a.messages_per_day, 50); /* young default kept */
	assert_int_equal(a.recipients_per_day, 0);
	assert_int_equal(d.messages_per_hour, 7);
	assert_int_equal(d.recipients_per_day, 20000);
}

static void
test_check(void **state)
{
	struct account_limits a = {10, 50, 20, 200};
	struct domain_limits d = {1000, 10000, 20000};
	struct usage u = {0};
	char reason[200];
	const char *r;

	assert_null(limits_check(&a, &d, &u, 1, 20, 20, reason, sizeof(reason)));
	r = limits_check(&a, &d, &u, 1, 21, 21, reason, sizeof(reason));
	assert_non_null(r);
	assert_string_equal(r, "4.7.1 Sending limit reached: 20 recipients per message for this "
	                       "account; try again later");
	u.messages_hour = 9;
	assert_null(limits_check(&a, &d, &u, 1, 1, 1, reason, sizeof(reason)));
	u.messages_hour = 10;
	assert_non_null(strstr(limits_check(&a, &d, &u, 1, 1, 1, reason, sizeof(reason)),
	    "10 messages per hour for this account"));
	/* already counted (END-OF-MESSAGE): 10 of 10 is within the limit */
	assert_null(limits_check(&a, &d, &u, 0, 1, 0, reason, sizeof(reason)));
	u.messages_hour = 0;
	u.recipients_day = 200;
	assert_non_null(strstr(limits_check(&a, &d, &u, 1, 1, 1, reason, sizeof(reason)),
	    "recipients per day for this account"));
	u.recipients_day = 0;
	u.domain_messages_hour = 1000;
	assert_non_null(strstr(limits_check(&a, &d, &u, 1, 1, 1, reason, sizeof(reason)),
	    "messages per hour for this domain"));
	/* 0 is no limit */
	a = (struct account_limits){0, 0, 0, 0};
	d = (struct domain_limits){0, 0, 0};
	u = (struct usage){1000000, 1000000, 1000000, 1000000, 1000000, 1000000};
	assert_null(limits_check(&a, &d, &u, 1, 5000, 5000, reason, sizeof(reason)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_young_and_established),
	    cmocka_unit_test(test_overrides),
	    cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
