/* Settings: defaults, the file format, and refusals naming the setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static int
parse(struct config *cfg, const char *text, char *error, size_t size)
{
	return config_parse_text(cfg, text, strlen(text), error, size);
}

static void
test_defaults(void **state)
{
	struct config cfg;
	char error[256] = "";

	unsetenv("POLICYD_CONFIG_FILE");
	assert_int_equal(config_load(&cfg, error, sizeof(error)), 0);
	assert_string_equal(cfg.socket_path, "/var/spool/postfix/mailnest/policy");
	assert_int_equal(cfg.limits.new_account_seconds, 7 * 86400);
	assert_int_equal(cfg.limits.young.messages_per_hour, 10);
	assert_int_equal(cfg.limits.young.messages_per_day, 50);
	assert_int_equal(cfg.limits.young.recipients_per_message, 20);
	assert_int_equal(cfg.db_timeout, 2);
}

static void
test_file(void **state)
{
	struct config cfg;
	char error[256] = "";

	config_defaults(&cfg);
	assert_int_equal(parse(&cfg,
	                     "# comment\n\n  POLICYD_MESSAGES_PER_HOUR=7\r\n"
	                     "POLICYD_DB_USER=pd\nPOLICYD_SOCKET=/tmp/x.sock\n",
	                     error, sizeof(error)),
	    0);
	assert_int_equal(cfg.limits.established.messages_per_hour, 7);
	assert_string_equal(cfg.db_user, "pd");
	assert_string_equal(cfg.socket_path, "/tmp/x.sock");
}

static void
test_refusals(void **state)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
	    {"POLICYD_NOPE=1\n", "unknown setting POLICYD_NOPE"},
	    {"POLICYD_DB_TIMEOUT=0\n", "POLICYD_DB_TIMEOUT: expected a whole number from 1 to 60"},
	    {"POLICYD_DB_TIMEOUT=-1\n", "POLICYD_DB_TIMEOUT: expected a whole number from 1 to 60"},
	    {"POLICYD_DB_TIMEOUT=2s\n", "POLICYD_DB_TIMEOUT: expected a whole number from 1 to 60"},
	    {"POLICYD_MESSAGES_PER_HOUR=99999999999\n",
	        "POLICYD_MESSAGES_PER_HOUR: expected a whole number from 0 to 100000000"},
	    {"just words\n", "config file line 1: expected KEY=VALUE"},
	    {"POLICYD_DB_USER_FILE=/x\n", "unknown setting POLICYD_DB_USER_FILE"},
	    {"POLICYD_DB_PASSWORD_FILE=/nonexistent/pw\n",
	        "POLICYD_DB_PASSWORD_FILE: cannot read /nonexistent/pw"},
	};
	struct config cfg;
	char error[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_defaults(&cfg);
		error[0] = '\0';
		assert_int_equal(parse(&cfg, cases[i].text, error, sizeof(error)), -1);
		assert_string_equal(error, cases[i].error);
	}
}

static void
test_environment_wins(void **state)
{
	struct config cfg;
	char error[256] = "";
	char path[] = "/tmp/policyd-test-config.XXXXXX";
	int fd = mkstemp(path);
	FILE *fp;

	assert_true(fd >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs("POLICYD_NEW_MESSAGES_PER_HOUR=3\nPOLICYD_NEW_ACCOUNT_DAYS=2\n", fp);
	fclose(fp);
	setenv("POLICYD_CONFIG_FILE", path, 1);
	setenv("POLICYD_NEW_MESSAGES_PER_HOUR", "4", 1);
	assert_int_equal(config_load(&cfg, error, sizeof(error)), 0);
	assert_int_equal(cfg.limits.young.messages_per_hour, 4);
	assert_int_equal(cfg.limits.new_account_seconds, 2 * 86400);
	unsetenv("POLICYD_NEW_MESSAGES_PER_HOUR");
	unsetenv("POLICYD_CONFIG_FILE");
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_environment_wins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
