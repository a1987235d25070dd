/* Unit tests for config.c through config_parse() with a lookup over a small
 * table, so no test depends on the environment it runs in. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "build_config.h"
#include "config.h"
#include "validate.h"

#define TABLE_MAX 8

struct kv {
	const char *key;
	const char *value;
};

struct table {
	struct kv kv[TABLE_MAX];
};

static const char *
lookup_table(void *ctx, const char *key)
{
	const struct table *t = ctx;

	for (size_t i = 0; i < TABLE_MAX && t->kv[i].key != NULL; i++)
		if (strcmp(t->kv[i].key, key) == 0)
			return t->kv[i].value;
	return NULL;
}

static char error_buf[512];

/* Parse with one setting; returns config_parse's status. */
static int
parse_one(struct config *cfg, const char *key, const char *value, const char **error_r)
{
	struct table t = {{{key, value}}};

	*error_r = NULL;
	return config_parse(cfg, lookup_table, &t, error_buf, sizeof(error_buf), error_r);
}

static struct config *
new_config(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	assert_non_null(cfg);
	return cfg;
}

static int
setup_config(void **state)
{
	*state = new_config();
	return 0;
}

static int
teardown_config(void **state)
{
	free(*state);
	return 0;
}

static void
assert_parses(struct config *cfg, const char *key, const char *value)
{
	const char *error = NULL;

	if (parse_one(cfg, key, value, &error) != 0)
		fail_msg("%s=%s refused: %s", key, value, error);
}

/* The error must start with the name of the setting. */
static void
assert_refused(struct config *cfg, const char *key, const char *value, const char *named)
{
	const char *error = NULL;

	if (parse_one(cfg, key, value, &error) == 0)
		fail_msg("%s=%s accepted", key, value);
	assert_non_null(error);
	if (strncmp(error, named, strlen(named)) != 0 || error[strlen(named)] != ':')
		fail_msg("%s=%s: error '%s' does not name %s", key, value, error, named);
}

static void
test_defaults(void **state)
{
	struct config *cfg = *state;
	struct table t = {{{NULL, NULL}}};
	const char *error = NULL;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	assert_int_equal(
	    config_parse(cfg, lookup_table, &t, error_buf, sizeof(error_buf), &error), 0);
	assert_int_equal(cfg->listen_kind, LISTEN_TCP);
	assert_string_equal(cfg->listen_host, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 8080);
	assert_string_equal(cfg->db_host, "localhost");
	assert_int_equal(cfg->db_port, 3306);
	assert_string_equal(cfg->db_socket, "");
	assert_string_equal(cfg->db_name, "mailnest");
	assert_string_equal(cfg->db_user, "accountd");
	assert_string_equal(cfg->db_password, "");
	assert_int_equal(cfg->db_timeout, 3);
	assert_string_equal(cfg->primary_domain, "");
	assert_false(cfg->admin_enabled);
	assert_int_equal(cfg->registration_default, REGISTRATION_OPEN);
	assert_int_equal(cfg->n_reserved_extra, 0);
	assert_int_equal(cfg->default_quota_bytes, 1073741824ULL);
	assert_int_equal(cfg->session_ttl, 86400);
	assert_int_equal(cfg->argon2_memory_kib, 19456);
	assert_int_equal(cfg->argon2_time, 2);
	assert_int_equal(cfg->hash_workers, ncpu > 0 ? (unsigned)ncpu : 1);
	assert_int_equal(cfg->hash_queue, 2 * cfg->hash_workers);
	assert_int_equal(cfg->http_threads, 4);
	assert_int_equal(cfg->max_connections, 1024);
	assert_int_equal(cfg->connection_timeout, 10);
	assert_int_equal(cfg->n_trusted_proxies, 0);
	assert_int_equal(cfg->rate_requests.count, 100);
	assert_int_equal(cfg->rate_requests.seconds, 1);
	assert_int_equal(cfg->rate_register.count, 5);
	assert_int_equal(cfg->rate_register.seconds, 3600);
	assert_int_equal(cfg->rate_login_ip.count, 20);
	assert_int_equal(cfg->rate_login_ip.seconds, 600);
	assert_int_equal(cfg->rate_login_address.count, 5);
	assert_int_equal(cfg->rate_login_address.seconds, 300);
	assert_int_equal(cfg->rate_admin_fail.count, 5);
	assert_int_equal(cfg->rate_admin_fail.seconds, 300);
	assert_string_equal(cfg->migrations_dir, ACCOUNTD_MIGRATIONS_DIR);
}

static void
test_values_applied(void **state)
{
	struct config *cfg = *state;
	struct table t = {{
	    {"ACCOUNTD_DB_HOST", "db.internal"},
	    {"ACCOUNTD_DB_PORT", "3307"},
	    {"ACCOUNTD_PRIMARY_DOMAIN", "Mail.Example.ORG"},
	    {"ACCOUNTD_REGISTRATION_DEFAULT", "invite"},
	    {"ACCOUNTD_DEFAULT_QUOTA_BYTES", "0"},
	    {"ACCOUNTD_HASH_WORKERS", "3"},
	    {"ACCOUNTD_HASH_QUEUE", "0"},
	    {"ACCOUNTD_ARGON2_MEMORY_KIB", "8"},
	}};
	const char *error = NULL;

	assert_int_equal(
	    config_parse(cfg, lookup_table, &t, error_buf, sizeof(error_buf), &error), 0);
	assert_string_equal(cfg->db_host, "db.internal");
	assert_int_equal(cfg->db_port, 3307);
	assert_string_equal(cfg->primary_domain, "mail.example.org"); /* folded */
	assert_int_equal(cfg->registration_default, REGISTRATION_INVITE);
	assert_int_equal(cfg->default_quota_bytes, 0);
	assert_int_equal(cfg->hash_workers, 3);
	assert_int_equal(cfg->hash_queue, 0); /* explicit 0 is kept */
	assert_int_equal(cfg->argon2_memory_kib, 8);
}

static void
test_hash_queue_follows_workers(void **state)
{
	struct config *cfg = *state;

	assert_parses(cfg, "ACCOUNTD_HASH_WORKERS", "5");
	assert_int_equal(cfg->hash_queue, 10);
}

static void
test_every_error_names_the_setting(void **state)
{
	struct config *cfg = *state;
	char long_value[700];
	static const struct kv bad[] = {
	    {"ACCOUNTD_LISTEN", "nowhere"},
	    {"ACCOUNTD_DB_PORT", "0"},
	    {"ACCOUNTD_DB_PORT", "65536"},
	    {"ACCOUNTD_DB_PORT", "3306x"},
	    {"ACCOUNTD_DB_PORT", ""},
	    {"ACCOUNTD_DB_TIMEOUT", "0"},
	    {"ACCOUNTD_DB_TIMEOUT", "61"},
	    {"ACCOUNTD_PRIMARY_DOMAIN", "not a domain"},
	    {"ACCOUNTD_PRIMARY_DOMAIN", "localhost"},
	    {"ACCOUNTD_ADMIN_TOKEN", "short"},
	    {"ACCOUNTD_REGISTRATION_DEFAULT", "maybe"},
	    {"ACCOUNTD_REGISTRATION_DEFAULT", "Open"},
	    {"ACCOUNTD_RESERVED_USERNAMES", "info,bad name!"},
	    {"ACCOUNTD_RESERVED_USERNAMES", ".dot"},
	    {"ACCOUNTD_DEFAULT_QUOTA_BYTES", "-1"},
	    {"ACCOUNTD_DEFAULT_QUOTA_BYTES", "1G"},
	    {"ACCOUNTD_DEFAULT_QUOTA_BYTES", "18446744073709551615"},
	    {"ACCOUNTD_SESSION_TTL", "59"},
	    {"ACCOUNTD_SESSION_TTL", "7776001"},
	    {"ACCOUNTD_ARGON2_MEMORY_KIB", "7"},
	    {"ACCOUNTD_ARGON2_MEMORY_KIB", "4194305"},
	    {"ACCOUNTD_ARGON2_TIME", "0"},
	    {"ACCOUNTD_ARGON2_TIME", "101"},
	    {"ACCOUNTD_ARGON2_PARALLELISM", "2"},
	    {"ACCOUNTD_ARGON2_PARALLELISM", "0"},
	    {"ACCOUNTD_HASH_WORKERS", "0"},
	    {"ACCOUNTD_HASH_WORKERS", "257"},
	    {"ACCOUNTD_HASH_QUEUE", "65537"},
	    {"ACCOUNTD_HTTP_THREADS", "0"},
	    {"ACCOUNTD_MAX_CONNECTIONS", "0"},
	    {"ACCOUNTD_MAX_CONNECTIONS", "65537"},
	    {"ACCOUNTD_CONNECTION_TIMEOUT", "0"},
	    {"ACCOUNTD_CONNECTION_TIMEOUT", "3601"},
	    {"ACCOUNTD_TRUSTED_PROXIES", "not-an-ip"},
	    {"ACCOUNTD_RATE_REQUESTS", "100"},
	    {"ACCOUNTD_RATE_REGISTER", "0/3600"},
	    {"ACCOUNTD_RATE_LOGIN_IP", "20/0"},
	    {"ACCOUNTD_RATE_LOGIN_ADDRESS", "five/300"},
	    {"ACCOUNTD_RATE_ADMIN_FAIL", "5/300s"},
	};
	/* Strings longer than their buffer. */
	static const char *const too_long[] = {
	    "ACCOUNTD_DB_HOST",
	    "ACCOUNTD_DB_SOCKET",
	    "ACCOUNTD_DB_NAME",
	    "ACCOUNTD_DB_USER",
	    "ACCOUNTD_DB_PASSWORD",
	    "ACCOUNTD_PRIMARY_DOMAIN",
	    "ACCOUNTD_ADMIN_TOKEN",
	    "ACCOUNTD_MIGRATIONS_DIR",
	    "ACCOUNTD_LISTEN",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		assert_refused(cfg, bad[i].key, bad[i].value, bad[i].key);
	memset(long_value, 'a', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	for (size_t i = 0; i < N_ELEMENTS(too_long); i++)
		assert_refused(cfg, too_long[i], long_value, too_long[i]);
}

static void
test_error_does_not_echo_secrets(void **state)
{
	struct config *cfg = *state;
	const char *error = NULL;
	char long_secret[300];

	assert_int_equal(parse_one(cfg, "ACCOUNTD_ADMIN_TOKEN", "hunter2-secret", &error), -1);
	assert_null(strstr(error, "hunter2"));
	memset(long_secret, 'Q', sizeof(long_secret) - 1);
	long_secret[sizeof(long_secret) - 1] = '\0';
	assert_int_equal(parse_one(cfg, "ACCOUNTD_DB_PASSWORD", long_secret, &error), -1);
	assert_null(strstr(error, "QQQQ"));
}

static void
test_listen_forms(void **state)
{
	struct config *cfg = *state;

	assert_parses(cfg, "ACCOUNTD_LISTEN", "127.0.0.1:8080");
	assert_int_equal(cfg->listen_kind, LISTEN_TCP);
	assert_string_equal(cfg->listen_host, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 8080);

	assert_parses(cfg, "ACCOUNTD_LISTEN", "[::1]:8080");
	assert_int_equal(cfg->listen_kind, LISTEN_TCP);
	assert_string_equal(cfg->listen_host, "::1");
	assert_int_equal(cfg->listen_port, 8080);

	assert_parses(cfg, "ACCOUNTD_LISTEN", "0.0.0.0:1");
	assert_int_equal(cfg->listen_port, 1);
	assert_parses(cfg, "ACCOUNTD_LISTEN", "[2001:db8::42]:65535");
	assert_string_equal(cfg->listen_host, "2001:db8::42");
	assert_int_equal(cfg->listen_port, 65535);

	assert_parses(cfg, "ACCOUNTD_LISTEN", "unix:/run/accountd/accountd.sock");
	assert_int_equal(cfg->listen_kind, LISTEN_UNIX);
	assert_string_equal(cfg->listen_path, "/run/accountd/accountd.sock");
}

static void
test_listen_bad(void **state)
{
	struct config *cfg = *state;
	char path[200];
	static const char *const bad[] = {
	    "",
	    "8080",
	    ":8080",
	    "127.0.0.1",
	    "127.0.0.1:",
	    "127.0.0.1:0",
	    "127.0.0.1:65536",
	    "127.0.0.1:80x",
	    "127.0.0.1:-1",
	    "127.0.0.1: 80",
	    "localhost:8080",
	    "256.0.0.1:8080",
	    "[::1]",
	    "[::1:8080",
	    "[]:8080",
	    "::g:8080",
	    "unix:",
	    "unix:relative.sock",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		assert_refused(cfg, "ACCOUNTD_LISTEN", bad[i], "ACCOUNTD_LISTEN");
	/* sun_path holds 108 bytes. */
	memset(path, 'p', sizeof(path) - 1);
	memcpy(path, "unix:/", 6);
	path[sizeof(path) - 1] = '\0';
	assert_refused(cfg, "ACCOUNTD_LISTEN", path, "ACCOUNTD_LISTEN");
}

static void
test_rate_parse(void **state)
{
	struct rate r;

	assert_int_equal(config_parse_rate("5/300", &r), 0);
	assert_int_equal(r.count, 5);
	assert_int_equal(r.seconds, 300);
	assert_int_equal(config_parse_rate("1/1", &r), 0);
	assert_int_equal(config_parse_rate("4294967295/604800", &r), 0);
	assert_int_equal(r.count, 4294967295U);
	assert_int_equal(r.seconds, 604800);
	assert_int_equal(config_parse_rate("007/010", &r), 0);
	assert_int_equal(r.count, 7);
	assert_int_equal(r.seconds, 10);
}

static void
test_rate_parse_bad(void **state)
{
	char long_rate[80];
	struct rate r = {42, 43};
	static const char *const bad[] = {
	    "",
	    "5",
	    "/",
	    "/5",
	    "5/",
	    "0/5",
	    "5/0",
	    "-1/5",
	    "5/-1",
	    "+5/5",
	    " 5/5",
	    "5/5 ",
	    "5 /5",
	    "5/ 5",
	    "5/604801",
	    "4294967296/1",
	    "99999999999999999999/1",
	    "5/5/5",
	    "a/b",
	    "5.5/1",
	    "5/1.5",
	    "0x10/1",
	    "5\n/1",
	    "5/1\n",
	    "1e3/1",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		if (config_parse_rate(bad[i], &r) == 0)
			fail_msg("rate '%s' accepted", bad[i]);
	/* A failed parse leaves the output alone. */
	assert_int_equal(r.count, 42);
	assert_int_equal(r.seconds, 43);
	memset(long_rate, '0', sizeof(long_rate) - 1);
	long_rate[sizeof(long_rate) - 3] = '/';
	long_rate[sizeof(long_rate) - 2] = '1';
	long_rate[sizeof(long_rate) - 1] = '\0';
	assert_int_equal(config_parse_rate(long_rate, &r), -1);
}

static void
test_rate_settings(void **state)
{
	struct config *cfg = *state;
	struct table t = {{
	    {"ACCOUNTD_RATE_REQUESTS", "1000000/1"},
	    {"ACCOUNTD_RATE_REGISTER", "1/86400"},
	    {"ACCOUNTD_RATE_LOGIN_IP", "3/60"},
	    {"ACCOUNTD_RATE_LOGIN_ADDRESS", "4/120"},
	    {"ACCOUNTD_RATE_ADMIN_FAIL", "2/30"},
	}};
	const char *error = NULL;

	assert_int_equal(
	    config_parse(cfg, lookup_table, &t, error_buf, sizeof(error_buf), &error), 0);
	assert_int_equal(cfg->rate_requests.count, 1000000);
	assert_int_equal(cfg->rate_requests.seconds, 1);
	assert_int_equal(cfg->rate_register.count, 1);
	assert_int_equal(cfg->rate_register.seconds, 86400);
	assert_int_equal(cfg->rate_login_ip.count, 3);
	assert_int_equal(cfg->rate_login_address.seconds, 120);
	assert_int_equal(cfg->rate_admin_fail.count, 2);
}

static void
test_trusted_proxies(void **state)
{
	struct config *cfg = *state;
	char many[TRUSTED_PROXIES_MAX * 16 + 32];
	size_t off = 0;

	assert_parses(cfg, "ACCOUNTD_TRUSTED_PROXIES", " 127.0.0.1, ::1 ,unix,,2001:DB8:0::1 ");
	assert_int_equal(cfg->n_trusted_proxies, 4);
	assert_string_equal(cfg->trusted_proxies[0], "127.0.0.1");
	assert_string_equal(cfg->trusted_proxies[1], "::1");
	assert_string_equal(cfg->trusted_proxies[2], "unix");
	assert_string_equal(cfg->trusted_proxies[3], "2001:db8::1"); /* normalised */

	assert_parses(cfg, "ACCOUNTD_TRUSTED_PROXIES", "");
	assert_int_equal(cfg->n_trusted_proxies, 0);

	assert_refused(cfg, "ACCOUNTD_TRUSTED_PROXIES", "1.2.3", "ACCOUNTD_TRUSTED_PROXIES");
	assert_refused(cfg, "ACCOUNTD_TRUSTED_PROXIES", "localhost", "ACCOUNTD_TRUSTED_PROXIES");
	assert_refused(cfg, "ACCOUNTD_TRUSTED_PROXIES", "10.0.0.0/8", "ACCOUNTD_TRUSTED_PROXIES");
	assert_refused(cfg, "ACCOUNTD_TRUSTED_PROXIES", "::g", "ACCOUNTD_TRUSTED_PROXIES");
	assert_refused(
	    cfg, "ACCOUNTD_TRUSTED_PROXIES", "1.2.3.4 5.6.7.8", "ACCOUNTD_TRUSTED_PROXIES");

	/* At most TRUSTED_PROXIES_MAX. */
	for (unsigned i = 0; i < TRUSTED_PROXIES_MAX; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off, "10.0.0.%u,", i + 1);
	assert_parses(cfg, "ACCOUNTD_TRUSTED_PROXIES", many);
	assert_int_equal(cfg->n_trusted_proxies, TRUSTED_PROXIES_MAX);
	snprintf(many + off, sizeof(many) - off, "10.0.1.1");
	assert_refused(cfg, "ACCOUNTD_TRUSTED_PROXIES", many, "ACCOUNTD_TRUSTED_PROXIES");
}

static void
test_reserved_names(void **state)
{
	struct config *cfg = *state;
	char folded[LOCAL_MAX + 1];
	const char *error = NULL;
	char many[RESERVED_EXTRA_MAX * 8 + 16];
	size_t off = 0;

	assert_parses(cfg, "ACCOUNTD_RESERVED_USERNAMES", " Info , billing,,sales.team ");
	assert_int_equal(cfg->n_reserved_extra, 3);
	assert_string_equal(cfg->reserved_extra[0], "info"); /* folded */
	assert_string_equal(cfg->reserved_extra[1], "billing");
	assert_string_equal(cfg->reserved_extra[2], "sales.team");
	/* And validation honours them. */
	const struct config *ro = cfg;
	assert_int_equal(
	    validate_username("INFO", folded, ro->reserved_extra, ro->n_reserved_extra, &error),
	    -1);
	assert_string_equal(error, "this username is reserved");

	for (unsigned i = 0; i < RESERVED_EXTRA_MAX; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off, "r%u,", i);
	assert_parses(cfg, "ACCOUNTD_RESERVED_USERNAMES", many);
	assert_int_equal(cfg->n_reserved_extra, RESERVED_EXTRA_MAX);
	snprintf(many + off, sizeof(many) - off, "one-too-many");
	assert_refused(cfg, "ACCOUNTD_RESERVED_USERNAMES", many, "ACCOUNTD_RESERVED_USERNAMES");
}

/* Regression (fixed): an extra
 * reserved name that is also built in (ACCOUNTD_RESERVED_USERNAMES=admin,info)
 * is refused as "invalid value", because add_reserved() runs the full
 * validate_username(), reserved check included. */
static void
test_reserved_names_overlapping_builtin(void **state)
{
	struct config *cfg = *state;

	assert_parses(cfg, "ACCOUNTD_RESERVED_USERNAMES", "admin,info");
}

static void
test_parallelism_must_be_one(void **state)
{
	struct config *cfg = *state;

	assert_parses(cfg, "ACCOUNTD_ARGON2_PARALLELISM", "1");
	assert_refused(cfg, "ACCOUNTD_ARGON2_PARALLELISM", "2", "ACCOUNTD_ARGON2_PARALLELISM");
	assert_refused(cfg, "ACCOUNTD_ARGON2_PARALLELISM", "0", "ACCOUNTD_ARGON2_PARALLELISM");
	assert_refused(cfg, "ACCOUNTD_ARGON2_PARALLELISM", "one", "ACCOUNTD_ARGON2_PARALLELISM");
}

static void
test_uint_strict(void **state)
{
	struct config *cfg = *state;
	static const char *const bad[] = {
	    "+8",
	    " 8",
	    "8 ",
	    "0x10",
	    "8.0",
	    "-0",
	    "99999999999999999999",
	    "1e2",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		assert_refused(cfg, "ACCOUNTD_HTTP_THREADS", bad[i], "ACCOUNTD_HTTP_THREADS");
	assert_parses(cfg, "ACCOUNTD_HTTP_THREADS", "016");
	assert_int_equal(cfg->http_threads, 16);
}

static void
test_registration_mode_names(void **state)
{
	enum registration_mode mode;

	assert_int_equal(registration_mode_parse("open", &mode), 0);
	assert_int_equal(mode, REGISTRATION_OPEN);
	assert_int_equal(registration_mode_parse("invite", &mode), 0);
	assert_int_equal(mode, REGISTRATION_INVITE);
	assert_int_equal(registration_mode_parse("closed", &mode), 0);
	assert_int_equal(mode, REGISTRATION_CLOSED);
	assert_int_equal(registration_mode_parse("", &mode), -1);
	assert_int_equal(registration_mode_parse("CLOSED", &mode), -1);
	assert_string_equal(registration_mode_name(REGISTRATION_OPEN), "open");
	assert_string_equal(registration_mode_name(REGISTRATION_INVITE), "invite");
	assert_string_equal(registration_mode_name(REGISTRATION_CLOSED), "closed");
}

/* A temporary file with the given content; the path is written to path. */
static void
write_temp(char *path, size_t size, const char *content)
{
	int fd;

	snprintf(path, size, "/tmp/accountd-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void
test_secret_files(void **state)
{
	struct config *cfg = *state;
	static const char token[] = "0123456789abcdef0123456789abcdef-admin";
	unsigned char expected[crypto_hash_sha256_BYTES];
	char pw_path[64], token_path[64], content[128];
	const char *error = NULL;

	write_temp(pw_path, sizeof(pw_path), "s3cret pass word\r\nsecond line\n");
	snprintf(content, sizeof(content), "%s\n", token);
	write_temp(token_path, sizeof(token_path), content);
	struct table t = {{
	    {"ACCOUNTD_DB_PASSWORD_FILE", pw_path},
	    {"ACCOUNTD_ADMIN_TOKEN_FILE", token_path},
	}};
	int ret = config_parse(cfg, lookup_table, &t, error_buf, sizeof(error_buf), &error);
	unlink(pw_path);
	unlink(token_path);
	assert_int_equal(ret, 0);
	assert_string_equal(cfg->db_password, "s3cret pass word"); /* first line, no CR */
	assert_true(cfg->admin_enabled);
	crypto_hash_sha256(expected, (const unsigned char *)token, strlen(token));
	assert_memory_equal(cfg->admin_token_hash, expected, sizeof(expected));
}

static void
test_secret_value_wins_over_file(void **state)
{
	struct config *cfg = *state;
	char path[64];
	const char *error = NULL;

	write_temp(path, sizeof(path), "from-file\n");
	struct table t = {{
	    {"ACCOUNTD_DB_PASSWORD", "from-value"},
	    {"ACCOUNTD_DB_PASSWORD_FILE", path},
	}};
	int ret = config_parse(cfg, lookup_table, &t, error_buf, sizeof(error_buf), &error);
	unlink(path);
	assert_int_equal(ret, 0);
	assert_string_equal(cfg->db_password, "from-value");
}

static void
test_secret_file_errors(void **state)
{
	struct config *cfg = *state;
	char path[64];
	const char *error = NULL;
	int ret;

	assert_refused(cfg, "ACCOUNTD_DB_PASSWORD_FILE", "/nonexistent/accountd/secret",
	    "ACCOUNTD_DB_PASSWORD_FILE");
	write_temp(path, sizeof(path), "\nthe secret is on line two\n");
	ret = parse_one(cfg, "ACCOUNTD_DB_PASSWORD_FILE", path, &error);
	assert_int_equal(ret, -1);
	assert_true(strncmp(error, "ACCOUNTD_DB_PASSWORD_FILE:", 26) == 0);
	unlink(path);
	write_temp(path, sizeof(path), "");
	assert_refused(cfg, "ACCOUNTD_ADMIN_TOKEN_FILE", path, "ACCOUNTD_ADMIN_TOKEN_FILE");
	unlink(path);
	/* The file's content goes through the same checks as a value. */
	write_temp(path, sizeof(path), "too-short\n");
	assert_refused(cfg, "ACCOUNTD_ADMIN_TOKEN_FILE", path, "ACCOUNTD_ADMIN_TOKEN");
	unlink(path);
}

extern char **environ;

/* config_load() reads the environment: start each of its tests without
 * any ACCOUNTD_ variable, whatever the caller's environment holds. */
static void
clear_accountd_environment(void)
{
	char name[128];

	for (size_t i = 0; environ[i] != NULL;) {
		size_t len = strcspn(environ[i], "=");

		if (strncmp(environ[i], "ACCOUNTD_", 9) == 0 && len < sizeof(name)) {
			memcpy(name, environ[i], len);
			name[len] = '\0';
			unsetenv(name);
			i = 0; /* environ changed under us */
		} else {
			i++;
		}
	}
}

/* config_load() over a file with the given content. */
static int
load_file(struct config *cfg, const char *content, const char **error_r)
{
	char path[64];
	int ret;

	write_temp(path, sizeof(path), content);
	setenv("ACCOUNTD_CONFIG_FILE", path, 1);
	*error_r = NULL;
	ret = config_load(cfg, error_buf, sizeof(error_buf), error_r);
	unsetenv("ACCOUNTD_CONFIG_FILE");
	unlink(path);
	return ret;
}

static void
test_load_file(void **state)
{
	struct config *cfg = *state;
	const char *error;

	clear_accountd_environment();
	assert_int_equal(load_file(cfg,
	                     "# accountd settings\n"
	                     "\n"
	                     "ACCOUNTD_LISTEN=unix:/run/accountd.sock\n"
	                     "  export ACCOUNTD_DB_HOST=\"db.internal\"  \n"
	                     "ACCOUNTD_DB_NAME='mail'\n"
	                     "ACCOUNTD_PRIMARY_DOMAIN=Example.ORG\r\n"
	                     "ACCOUNTD_RATE_LOGIN_IP=3/60",
	                     &error),
	    0);
	assert_int_equal(cfg->listen_kind, LISTEN_UNIX);
	assert_string_equal(cfg->listen_path, "/run/accountd.sock");
	assert_string_equal(cfg->db_host, "db.internal");
	assert_string_equal(cfg->db_name, "mail");
	assert_string_equal(cfg->primary_domain, "example.org");
	assert_int_equal(cfg->rate_login_ip.count, 3);
	assert_int_equal(cfg->rate_login_ip.seconds, 60);

	/* Exactly 64 KiB is still read. */
	char *limit = malloc(64 * 1024 + 1);
	assert_non_null(limit);
	memset(limit, '#', 64 * 1024);
	limit[64 * 1024] = '\0';
	int ret = load_file(cfg, limit, &error);
	free(limit);
	assert_int_equal(ret, 0);
}

static void
test_load_environment_wins(void **state)
{
	struct config *cfg = *state;
	const char *error;

	clear_accountd_environment();
	setenv("ACCOUNTD_DB_PORT", "3308", 1);
	assert_int_equal(
	    load_file(cfg, "ACCOUNTD_DB_PORT=3307\nACCOUNTD_DB_USER=mail\n", &error), 0);
	unsetenv("ACCOUNTD_DB_PORT");
	assert_int_equal(cfg->db_port, 3308);
	assert_string_equal(cfg->db_user, "mail");
}

static void
test_load_file_errors(void **state)
{
	struct config *cfg = *state;
	const char *error;

	clear_accountd_environment();
	assert_int_equal(load_file(cfg, "ACCOUNTD_DB_PORT=3306\nACCOUNTD_NO_SUCH=1\n", &error), -1);
	assert_non_null(strstr(error, ":2: unknown setting ACCOUNTD_NO_SUCH"));
	assert_int_equal(load_file(cfg, "\n\njust words\n", &error), -1);
	assert_non_null(strstr(error, ":3: expected KEY=VALUE"));
	assert_int_equal(load_file(cfg, "=value\n", &error), -1);
	assert_non_null(strstr(error, ":1: expected KEY=VALUE"));
	/* A bad value in the file is named like one from the environment. */
	assert_int_equal(load_file(cfg, "ACCOUNTD_DB_PORT=none\n", &error), -1);
	assert_true(strncmp(error, "ACCOUNTD_DB_PORT:", 17) == 0);

	setenv("ACCOUNTD_CONFIG_FILE", "/nonexistent/accountd.env", 1);
	assert_int_equal(config_load(cfg, error_buf, sizeof(error_buf), &error), -1);
	unsetenv("ACCOUNTD_CONFIG_FILE");
	assert_true(strncmp(error, "ACCOUNTD_CONFIG_FILE:", 21) == 0);
}

/* Regression (fixed; ASan reported it, without ASan it corrupted the heap):
 * for a file over 64 KiB,
 * file_settings_read() returns before NUL-terminating fs->text (it holds
 * CONFIG_FILE_MAX + 1 bytes read), and file_settings_free() then runs
 * strlen() past the end of the buffer and sodium_memzero()s that many
 * bytes. */
static void
test_load_file_too_large(void **state)
{
	struct config *cfg = *state;
	const char *error;
	char *big;

	clear_accountd_environment();
	big = malloc(70 * 1024);
	assert_non_null(big);
	memset(big, '#', 70 * 1024 - 1);
	big[70 * 1024 - 1] = '\0';
	assert_int_equal(load_file(cfg, big, &error), -1);
	free(big);
	assert_non_null(strstr(error, "over 64 KiB"));
}

/* Regression (fixed): a setting
 * given twice in the file silently takes its first value
 * (lookup_env_then_file() returns the first match), where a shell or
 * systemd's EnvironmentFile would take the last. Refusing the duplicate
 * would do as well. */
static void
test_load_duplicate_key(void **state)
{
	struct config *cfg = *state;
	const char *error;
	int ret;

	clear_accountd_environment();
	ret = load_file(cfg, "ACCOUNTD_DB_PORT=1111\nACCOUNTD_DB_PORT=2222\n", &error);
	assert_true(ret == -1 || cfg->db_port == 2222);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_config, teardown_config)
	const struct CMUnitTest tests[] = {
	    T(test_defaults),
	    T(test_values_applied),
	    T(test_hash_queue_follows_workers),
	    T(test_every_error_names_the_setting),
	    T(test_error_does_not_echo_secrets),
	    T(test_listen_forms),
	    T(test_listen_bad),
	    cmocka_unit_test(test_rate_parse),
	    cmocka_unit_test(test_rate_parse_bad),
	    T(test_rate_settings),
	    T(test_trusted_proxies),
	    T(test_reserved_names),
	    T(test_reserved_names_overlapping_builtin),
	    T(test_parallelism_must_be_one),
	    T(test_uint_strict),
	    cmocka_unit_test(test_registration_mode_names),
	    T(test_secret_files),
	    T(test_secret_value_wins_over_file),
	    T(test_secret_file_errors),
	    T(test_load_file),
	    T(test_load_environment_wins),
	    T(test_load_file_errors),
	    T(test_load_file_too_large),
	    T(test_load_duplicate_key),
	};
#undef T

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
