/* The policy request parser: framing, attributes, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy_request.h"

static int
parse(const char *text, struct policy_request *req, const char **error_r)
{
	return policy_request_parse(text, strlen(text), req, error_r);
}

static void
test_rcpt_request(void **state)
{
	const char *text = "request=smtpd_access_policy\nprotocol_state=RCPT\n"
	                   "sasl_username=alice@example.org\nrecipient=bob@example.net\n"
	                   "recipient_count=0\ninstance=ab.cd.1\nclient_address=192.0.2.1\n"
	                   "new_attribute_of_a_later_postfix=whatever\n\n";
	struct policy_request req;
	const char *error = NULL;

	assert_int_equal(policy_request_length(text, strlen(text)), strlen(text));
	assert_int_equal(parse(text, &req, &error), 0);
	assert_true(req.is_access_policy);
	assert_int_equal(req.state, POLICY_STATE_RCPT);
	assert_string_equal(req.sasl_username, "alice@example.org");
	assert_string_equal(req.recipient, "bob@example.net");
	assert_string_equal(req.instance, "ab.cd.1");
	assert_string_equal(req.client_address, "192.0.2.1");
}

static void
test_end_of_message(void **state)
{
	struct policy_request req;
	const char *error = NULL;

	assert_int_equal(parse("request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n"
	                       "recipient_count=17\nsasl_username=\n\n",
	                     &req, &error),
	    0);
	assert_int_equal(req.state, POLICY_STATE_END_OF_MESSAGE);
	assert_int_equal(req.recipient_count, 17);
	assert_string_equal(req.sasl_username, "");
	assert_int_equal(
	    parse("request=smtpd_access_policy\nprotocol_state=DATA\n\n", &req, &error), 0);
	assert_int_equal(req.state, POLICY_STATE_OTHER);
}

static void
test_framing(void **state)
{
	const char *two = "request=smtpd_access_policy\n\nrequest=smtpd_access_policy\n\n";

	assert_int_equal(policy_request_length("request=smtpd_access_policy\n", 28), 0);
	assert_int_equal(policy_request_length("", 0), 0);
	assert_int_equal(policy_request_length("\n", 1), 1);
	assert_int_equal(policy_request_length(two, strlen(two)), 29);
}

static void
test_refusals(void **state)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
	    {"\n", "empty request"},
	    {"hello\n\n", "line is not name=value"},
	    {"=x\n\n", "line is not name=value"},
	    {"protocol_state=RCPT\n\n", "not request=smtpd_access_policy"},
	    {"request=smtpd_access_policy_x\n\n", "not request=smtpd_access_policy"},
	    {"request=smtpd_access_policy\nrecipient_count=1x\n\n",
	        "recipient_count is not a number"},
	    {"request=smtpd_access_policy\nrecipient_count=\n\n",
	        "recipient_count is not a number"},
	    {"request=smtpd_access_policy\nrecipient_count=9999999999\n\n",
	        "recipient_count is not a number"},
	};
	struct policy_request req;
	const char *error;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		error = NULL;
		assert_int_equal(parse(cases[i].text, &req, &error), -1);
		assert_string_equal(error, cases[i].error);
	}
}

static void
test_sizes(void **state)
{
	char buf[POLICY_REQUEST_MAX + 64];
	struct policy_request req;
	const char *error = NULL;
	int n;

	/* a username longer than any address */
	n = snprintf(buf, sizeof(buf), "request=smtpd_access_policy\nsasl_username=%0*d\n\n",
	    EMAIL_MAX + 1, 0);
	assert_int_equal(policy_request_parse(buf, (size_t)n, &req, &error), -1);
	assert_string_equal(error, "sasl_username too long");
	/* a line over POLICY_LINE_MAX in an unknown attribute */
	n = snprintf(
	    buf, sizeof(buf), "request=smtpd_access_policy\nccert=%0*d\n\n", POLICY_LINE_MAX, 0);
	assert_int_equal(policy_request_parse(buf, (size_t)n, &req, &error), -1);
	assert_string_equal(error, "line too long");
	/* too many attributes */
	n = snprintf(buf, sizeof(buf), "request=smtpd_access_policy\n");
	for (int i = 0; i < POLICY_ATTRS_MAX; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "a=b\n");
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\n");
	assert_int_equal(policy_request_parse(buf, (size_t)n, &req, &error), -1);
	assert_string_equal(error, "too many attributes");
	/* a NUL byte */
	assert_int_equal(
	    policy_request_parse("request=smtpd_access_policy\0\n\n", 30, &req, &error), -1);
	assert_string_equal(error, "NUL byte in request");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rcpt_request),
	    cmocka_unit_test(test_end_of_message),
	    cmocka_unit_test(test_framing),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
