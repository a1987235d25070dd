/* accountd's settings, read once at start-up from the environment (what a
 * PM2 ecosystem file passes) and optionally from a KEY=VALUE file named by
 * ACCOUNTD_CONFIG_FILE; the environment wins. The struct is immutable after
 * config_load() returns. */
#ifndef ACCOUNTD_CONFIG_H
#define ACCOUNTD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

enum registration_mode {
	REGISTRATION_OPEN,
	REGISTRATION_INVITE,
	REGISTRATION_CLOSED,
};

struct rate {
	unsigned count;
	unsigned seconds;
};

enum listen_kind {
	LISTEN_TCP,
	LISTEN_UNIX,
};

#define TRUSTED_PROXIES_MAX 16
#define RESERVED_EXTRA_MAX  64

struct config {
	enum listen_kind listen_kind;
	char listen_host[64]; /* numeric address, brackets stripped */
	unsigned listen_port;
	bool reuse_port;
	char listen_path[108];

	char db_host[256];
	unsigned db_port;
	char db_socket[256];
	char db_name[65];
	char db_user[81];
	char db_password[256];
	unsigned db_timeout;

	char primary_domain[DOMAIN_MAX + 1];
	bool admin_enabled;
	unsigned char admin_token_hash[32]; /* SHA-256 of the admin token */

	enum registration_mode registration_default;
	char reserved_extra[RESERVED_EXTRA_MAX][LOCAL_MAX + 1];
	unsigned n_reserved_extra;

	uint64_t default_quota_bytes;
	unsigned session_ttl;
	unsigned session_cache_ttl;

	unsigned argon2_memory_kib;
	unsigned argon2_time;

	unsigned hash_workers;
	unsigned hash_queue;
	unsigned http_threads;
	unsigned max_connections;
	unsigned connection_timeout;

	/* Normalised textual addresses, or "unix" for unix-socket peers. */
	char trusted_proxies[TRUSTED_PROXIES_MAX][CLIENT_IP_MAX];
	unsigned n_trusted_proxies;

	struct rate rate_requests;
	struct rate rate_register;
	struct rate rate_login_ip;
	struct rate rate_login_address;
	struct rate rate_admin_fail;
	char rate_limit_dir[256]; /* "" = each process keeps its own limits */

	char migrations_dir[512];
	char dovecot_auth_socket[108]; /* "" = do not flush Dovecot's cache */
	char revocation_file[256];     /* "" = revocations seen by this process's cache only */
};

/* Where a setting's raw text comes from: returns NULL when it is unset. */
typedef const char *config_lookup_fn(void *ctx, const char *key);

/* Fill *cfg from lookup. On failure *error_r names the setting and why
 * (static or in error_buf). */
MUST_CHECK int config_parse(struct config *cfg, config_lookup_fn *lookup, void *ctx,
    char *error_buf, size_t error_size, const char **error_r);

/* config_parse() over the environment and ACCOUNTD_CONFIG_FILE. */
MUST_CHECK int config_load(
    struct config *cfg, char *error_buf, size_t error_size, const char **error_r);

/* Parse "COUNT/SECONDS". */
MUST_CHECK int config_parse_rate(const char *text, struct rate *rate_r);

const char *registration_mode_name(enum registration_mode mode);
MUST_CHECK int registration_mode_parse(const char *text, enum registration_mode *mode_r);

#endif
