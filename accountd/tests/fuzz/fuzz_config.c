/* libFuzzer harness for the configuration parsers. The first byte picks
 * what the rest of the input is:
 *   0 mod 3: a rate, for config_parse_rate();
 *   1 mod 3: the value of one setting (the second byte picks which) given
 *            to config_parse() through its lookup callback;
 *   2 mod 3: a whole ACCOUNTD_CONFIG_FILE, read by config_load().
 * *_FILE settings are left out: they name files to open, and a fuzzer that
 * names /dev/stdin would only hang. What a successful parse leaves in the
 * struct is checked; broken invariants abort.
 * Built with -DFUZZ_REPLAY it has no libFuzzer dependency. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "config.h"
#include "validate.h"

#define INPUT_MAX (70 * 1024) /* past the file limit of 64 KiB */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The settings of config.c, in its order. */
static const char *const keys[] = {
    "ACCOUNTD_LISTEN",
    "ACCOUNTD_DB_HOST",
    "ACCOUNTD_DB_PORT",
    "ACCOUNTD_DB_SOCKET",
    "ACCOUNTD_DB_NAME",
    "ACCOUNTD_DB_USER",
    "ACCOUNTD_DB_PASSWORD",
    "ACCOUNTD_DB_TIMEOUT",
    "ACCOUNTD_PRIMARY_DOMAIN",
    "ACCOUNTD_ADMIN_TOKEN",
    "ACCOUNTD_REGISTRATION_DEFAULT",
    "ACCOUNTD_RESERVED_USERNAMES",
    "ACCOUNTD_DEFAULT_QUOTA_BYTES",
    "ACCOUNTD_SESSION_TTL",
    "ACCOUNTD_ARGON2_MEMORY_KIB",
    "ACCOUNTD_ARGON2_TIME",
    "ACCOUNTD_ARGON2_PARALLELISM",
    "ACCOUNTD_HASH_WORKERS",
    "ACCOUNTD_HASH_QUEUE",
    "ACCOUNTD_HTTP_THREADS",
    "ACCOUNTD_MAX_CONNECTIONS",
    "ACCOUNTD_CONNECTION_TIMEOUT",
    "ACCOUNTD_TRUSTED_PROXIES",
    "ACCOUNTD_RATE_REQUESTS",
    "ACCOUNTD_RATE_REGISTER",
    "ACCOUNTD_RATE_LOGIN_IP",
    "ACCOUNTD_RATE_LOGIN_ADDRESS",
    "ACCOUNTD_RATE_ADMIN_FAIL",
    "ACCOUNTD_MIGRATIONS_DIR",
};

struct one_setting {
	const char *key;
	const char *value;
};

static const char *
lookup_one(void *ctx, const char *key)
{
	const struct one_setting *one = ctx;

	return strcmp(key, one->key) == 0 ? one->value : NULL;
}

static void
check_terminated(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL);
}

static void
check_rate(const struct rate *r)
{
	CHECK(r->count >= 1);
	CHECK(r->seconds >= 1 && r->seconds <= 7 * 86400);
}

/* What every successfully parsed configuration must look like. */
static void
check_config(const struct config *cfg)
{
	unsigned char addr[16];
	char folded[DOMAIN_MAX + 1];
	const char *error;

	if (cfg->listen_kind == LISTEN_TCP) {
		check_terminated(cfg->listen_host, sizeof(cfg->listen_host));
		CHECK(cfg->listen_port >= 1 && cfg->listen_port <= 65535);
		CHECK(inet_pton(AF_INET, cfg->listen_host, addr) == 1 ||
		      inet_pton(AF_INET6, cfg->listen_host, addr) == 1);
	} else {
		check_terminated(cfg->listen_path, sizeof(cfg->listen_path));
		CHECK(cfg->listen_path[0] == '/');
	}
	check_terminated(cfg->db_host, sizeof(cfg->db_host));
	check_terminated(cfg->db_socket, sizeof(cfg->db_socket));
	check_terminated(cfg->db_name, sizeof(cfg->db_name));
	check_terminated(cfg->db_user, sizeof(cfg->db_user));
	check_terminated(cfg->db_password, sizeof(cfg->db_password));
	check_terminated(cfg->primary_domain, sizeof(cfg->primary_domain));
	check_terminated(cfg->migrations_dir, sizeof(cfg->migrations_dir));
	CHECK(cfg->db_port >= 1 && cfg->db_port <= 65535);
	if (cfg->primary_domain[0] != '\0')
		CHECK(validate_domain(cfg->primary_domain, folded, &error) == 0 &&
		      strcmp(folded, cfg->primary_domain) == 0);
	CHECK(cfg->n_reserved_extra <= RESERVED_EXTRA_MAX);
	for (unsigned i = 0; i < cfg->n_reserved_extra; i++) {
		char name[LOCAL_MAX + 1];
		check_terminated(cfg->reserved_extra[i], sizeof(cfg->reserved_extra[i]));
		CHECK(validate_username_syntax(cfg->reserved_extra[i], name, &error) == 0);
	}
	CHECK(cfg->n_trusted_proxies <= TRUSTED_PROXIES_MAX);
	for (unsigned i = 0; i < cfg->n_trusted_proxies; i++) {
		const char *p = cfg->trusted_proxies[i];
		check_terminated(p, CLIENT_IP_MAX);
		CHECK(strcmp(p, "unix") == 0 || inet_pton(AF_INET, p, addr) == 1 ||
		      inet_pton(AF_INET6, p, addr) == 1);
	}
	CHECK(cfg->argon2_memory_kib >= 8 && cfg->argon2_time >= 1);
	CHECK(cfg->hash_workers >= 1 && cfg->http_threads >= 1 && cfg->max_connections >= 1);
	CHECK(cfg->session_ttl >= 60);
	check_rate(&cfg->rate_requests);
	check_rate(&cfg->rate_register);
	check_rate(&cfg->rate_login_ip);
	check_rate(&cfg->rate_login_address);
	check_rate(&cfg->rate_admin_fail);
}

static void
check_error(const char *error, const char *error_buf, size_t error_size)
{
	CHECK(error != NULL);
	if (error == error_buf)
		check_terminated(error_buf, error_size);
	CHECK(strlen(error) > 0);
}

static void
fuzz_rate(const char *text)
{
	struct rate r = {0, 0};

	if (config_parse_rate(text, &r) == 0)
		check_rate(&r);
	else
		CHECK(r.count == 0 && r.seconds == 0);
}

static void
fuzz_setting(const char *key, const char *value)
{
	static struct config cfg;
	struct one_setting one = {key, value};
	char error_buf[256];
	const char *error = NULL;

	if (config_parse(&cfg, lookup_one, &one, error_buf, sizeof(error_buf), &error) == 0) {
		check_config(&cfg);
	} else {
		check_error(error, error_buf, sizeof(error_buf));
		/* The error names the setting (or the primary domain rule). */
		CHECK(strncmp(error, key, strlen(key)) == 0);
	}
}

static char config_path[64];

static void
remove_config_file(void)
{
	if (config_path[0] != '\0')
		unlink(config_path);
}

static void
fuzz_file(const uint8_t *data, size_t size)
{
	static struct config cfg;
	char error_buf[512];
	const char *error = NULL;
	int fd;

	if (config_path[0] == '\0') {
		snprintf(config_path, sizeof(config_path), "/tmp/accountd-fuzz-config-XXXXXX");
		if ((fd = mkstemp(config_path)) < 0) {
			config_path[0] = '\0';
			return;
		}
		close(fd);
		atexit(remove_config_file);
		setenv("ACCOUNTD_CONFIG_FILE", config_path, 1);
	}
	if ((fd = open(config_path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0)
		return;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return;
	}
	close(fd);
	if (config_load(&cfg, error_buf, sizeof(error_buf), &error) == 0)
		check_config(&cfg);
	else
		check_error(error, error_buf, sizeof(error_buf));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 2 || size > INPUT_MAX)
		return 0;
	/* Secret files are opened by name: keep the fuzzer away from them. */
	if (memmem(data, size, "_FILE", 5) != NULL)
		return 0;
	if (data[0] % 3 == 2) {
		fuzz_file(data + 1, size - 1);
		return 0;
	}
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	if (data[0] % 3 == 0)
		fuzz_rate(text);
	else
		fuzz_setting(keys[data[1] % N_ELEMENTS(keys)], text);
	free(text);
	return 0;
}
