/* The account operations, shared by the HTTP API and the CLI so that both
 * apply the same rules. Each returns an svc_status; its code, HTTP status
 * and CLI exit status come from svc_error(). Operations that hash a
 * password are marked SLOW: the HTTP side runs them on the hash pool. */
#ifndef ACCOUNTD_SERVICE_H
#define ACCOUNTD_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common.h"
#include "config.h"
#include "db.h"
#include "metrics.h"
#include "password.h"
#include "revocation.h"
#include "session_cache.h"
#include "token.h"

enum svc_status {
	SVC_OK,
	SVC_INVALID_REQUEST,
	SVC_INVALID_USERNAME,
	SVC_WEAK_PASSWORD,
	SVC_UNKNOWN_DOMAIN,
	SVC_INVALID_DOMAIN,
	SVC_INVALID_ADDRESS,
	SVC_INVITE_REQUIRED,
	SVC_INVALID_INVITE,
	SVC_ALREADY_EXISTS,
	SVC_REGISTRATION_CLOSED,
	SVC_INVALID_CREDENTIALS,
	SVC_UNAUTHORIZED,
	SVC_NOT_FOUND,
	SVC_MAILBOX_ACTIVE,
	SVC_UNAVAILABLE,
	SVC_INTERNAL,
};

struct svc_error_info {
	const char *code; /* the API's "error" value */
	unsigned http_status;
	int exit_status; /* sysexits(3) */
	const char *message;
};

const struct svc_error_info *svc_error(enum svc_status status);

struct service {
	const struct config *cfg;
	struct metrics *metrics; /* may be NULL (CLI) */
	struct password_cost cost;
	/* Verified against when an address is unknown, so that an unknown
	 * address costs the same time as a wrong password. */
	char dummy_hash[PASSWORD_HASH_MAX];
	/* Owned; shared with the other processes through
	 * ACCOUNTD_REVOCATION_PATH. */
	struct revocation *revocation;
	/* NULL when disabled (and always in the CLI). */
	struct session_cache *sessions;
};

/* with_cache: keep a session cache per ACCOUNTD_SESSION_CACHE_TTL. */
MUST_CHECK int service_init(
    struct service *svc, const struct config *cfg, struct metrics *metrics, bool with_cache);
void service_deinit(struct service *svc);

/* Registration, in two steps: the checks (fast, DB reads) and the commit
 * (SLOW: hashes, then one transaction). An administrator (the CLI) is not
 * bound by the registration mode or invites, but by every other rule. */
struct register_plan {
	char local[LOCAL_MAX + 1];
	char domain[DOMAIN_MAX + 1];
	char email[EMAIL_MAX + 1];
	unsigned domain_id;
	bool use_invite;
	unsigned char invite_hash[TOKEN_HASH_BYTES];
	unsigned long long quota_bytes; /* ACCOUNTD_DEFAULT_QUOTA_BYTES unless changed */
	char created_at[DB_TIME_MAX];   /* set by svc_register_commit */
};

MUST_CHECK enum svc_status svc_register_check(struct service *svc, struct db_conn *c,
    const char *username, const char *domain, const char *password, size_t password_len,
    const char *invite, bool by_admin, struct register_plan *plan_r, const char **message_r);
MUST_CHECK enum svc_status svc_register_commit(struct service *svc, struct db_conn *c,
    struct register_plan *plan, const char *password, size_t password_len);

/* SLOW. On success token_r (TOKEN_TEXT_LEN + 1) and expires_r are set. */
MUST_CHECK enum svc_status svc_login(struct service *svc, struct db_conn *c, const char *email,
    const char *password, size_t password_len, char *token_r, char *expires_r);

/* The mailbox behind a bearer token, and the token's hash. */
MUST_CHECK enum svc_status svc_session(struct service *svc, struct db_conn *c, const char *token,
    size_t len, struct db_mailbox *mailbox_r, unsigned char *token_hash_r);
MUST_CHECK enum svc_status svc_logout(
    struct service *svc, struct db_conn *c, const unsigned char *token_hash);

/* SLOW. Revokes every other session of the mailbox. */
MUST_CHECK enum svc_status svc_change_password(struct service *svc, struct db_conn *c,
    unsigned mailbox_id, const unsigned char *keep_session, const char *current, size_t current_len,
    const char *new_password, size_t new_len, const char **message_r);
/* SLOW. Deactivates at once (no login, no delivery); mail is kept. */
MUST_CHECK enum svc_status svc_delete_account(
    struct service *svc, struct db_conn *c, unsigned mailbox_id, const char *password, size_t len);

/* Administration. Lists are returned as JSON the caller owns. */
MUST_CHECK enum svc_status svc_domain_add(
    struct db_conn *c, const char *name, json_t **out_r, const char **message_r);
MUST_CHECK enum svc_status svc_domain_list(struct db_conn *c, json_t **out_r);
MUST_CHECK enum svc_status svc_domain_set_active(
    struct service *svc, struct db_conn *c, const char *name, bool active, json_t **out_r);

MUST_CHECK enum svc_status svc_mailbox_list(
    struct db_conn *c, const char *domain, const char *after, unsigned limit, json_t **out_r);
MUST_CHECK enum svc_status svc_mailbox_update(struct service *svc, struct db_conn *c,
    const char *email, const bool *active, const uint64_t *quota, json_t **out_r);
/* SLOW. */
MUST_CHECK enum svc_status svc_mailbox_set_password(struct service *svc, struct db_conn *c,
    const char *email, const char *password, size_t len, const char **message_r);
MUST_CHECK enum svc_status svc_mailbox_purge(
    struct service *svc, struct db_conn *c, const char *email);

MUST_CHECK enum svc_status svc_alias_add(struct db_conn *c, const char *source,
    const char *const *destinations, size_t n, json_t **out_r, const char **message_r);
MUST_CHECK enum svc_status svc_alias_list(struct db_conn *c, const char *domain, json_t **out_r);
MUST_CHECK enum svc_status svc_alias_delete(struct db_conn *c, const char *source);

MUST_CHECK enum svc_status svc_invite_create(
    struct db_conn *c, unsigned count, unsigned long expires_in, const char *note, json_t **out_r);
MUST_CHECK enum svc_status svc_invite_list(struct db_conn *c, json_t **out_r);
MUST_CHECK enum svc_status svc_invite_revoke(struct db_conn *c, unsigned id);

MUST_CHECK enum svc_status svc_registration_get(
    struct service *svc, struct db_conn *c, enum registration_mode *mode_r);
MUST_CHECK enum svc_status svc_registration_set(struct db_conn *c, enum registration_mode mode);

/* Sending limits of a mailbox or a domain (see db_send_limits), as JSON:
 * {"email"|"domain", one key per field (null = policyd's default), and for
 * mailboxes "send_suspended", "send_suspended_at"}. */
enum send_limits_scope {
	SEND_LIMITS_MAILBOX,
	SEND_LIMITS_DOMAIN,
};
/* The field names of scope, NULL-terminated, in db_send_limits order. */
const char *const *svc_send_limit_fields(enum send_limits_scope scope);
MUST_CHECK enum svc_status svc_send_limits_get(
    struct db_conn *c, enum send_limits_scope scope, const char *name, json_t **out_r);
/* Replace every field: set[i] false stores NULL (the default). */
MUST_CHECK enum svc_status svc_send_limits_set(struct db_conn *c, enum send_limits_scope scope,
    const char *name, const bool *set, const unsigned long long *value, json_t **out_r);
/* Let a suspended mailbox send again. */
MUST_CHECK enum svc_status svc_send_suspension_lift(
    struct db_conn *c, const char *email, json_t **out_r);

json_t *svc_mailbox_json(const struct db_mailbox *m);

#endif
