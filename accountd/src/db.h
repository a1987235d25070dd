/* The only module that speaks SQL. Connections come from a fixed pool (one
 * per thread that may need one, so acquiring never waits in practice);
 * every query is a prepared statement cached per connection. A lost
 * connection is dropped and re-opened on the next use, so the service
 * recovers by itself when MariaDB comes back. */
#ifndef ACCOUNTD_DB_H
#define ACCOUNTD_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "config.h"
#include "metrics.h"
#include "password.h"

enum db_status {
	DB_OK,
	DB_NOT_FOUND,   /* no row, or no row changed */
	DB_DUPLICATE,   /* a unique key refused the write */
	DB_UNAVAILABLE, /* server down, lost, overloaded, deadlock: try later */
	DB_FAILED,      /* anything else: our bug or a broken schema */
};

#define DB_TIME_MAX 32 /* "2026-11-23T22:50:42.123Z" */

struct db_domain {
	unsigned id;
	char name[DOMAIN_MAX + 1];
	bool active;
	char created_at[DB_TIME_MAX];
};

struct db_mailbox {
	unsigned id;
	unsigned domain_id;
	char email[EMAIL_MAX + 1];
	bool active;        /* the mailbox itself */
	bool domain_active; /* and its domain */
	uint64_t quota_bytes;
	char created_at[DB_TIME_MAX];
	char password_hash[PASSWORD_HASH_MAX];
};

struct db_alias {
	char source[EMAIL_MAX + 1];
	char destination[EMAIL_MAX + 1];
};

struct db_invite {
	unsigned id;
	char note[256];
	char created_at[DB_TIME_MAX];
	char expires_at[DB_TIME_MAX]; /* "" when it never expires */
	char status[16];              /* unused, used, revoked, expired */
};

/* Sending limits, enforced by mailnest-policyd: per field a value, or unset
 * (NULL in the database: policyd's default applies). Mailboxes have four
 * fields (messages per hour, per day, recipients per message, per day);
 * domains three totals (messages per hour, per day, recipients per day). */
#define SEND_LIMIT_FIELDS 4

struct db_send_limits {
	unsigned owner_id; /* the mailbox's or the domain's id */
	bool set[SEND_LIMIT_FIELDS];
	unsigned long long value[SEND_LIMIT_FIELDS];
	char suspended_at[DB_TIME_MAX]; /* mailboxes: "" while it may send */
};

/* Called once per row; a non-zero return stops the walk (DB_FAILED). */
typedef int db_row_fn(void *ctx, const void *row);

struct db_pool;
struct db_conn;

struct db_pool *db_pool_new(const struct config *cfg, unsigned size, struct metrics *metrics);
void db_pool_free(struct db_pool **pool);
struct db_conn *db_acquire(struct db_pool *pool);
void db_release(struct db_pool *pool, struct db_conn **conn);

const char *db_status_name(enum db_status status);

MUST_CHECK enum db_status db_ping(struct db_conn *c);
MUST_CHECK enum db_status db_begin(struct db_conn *c);
MUST_CHECK enum db_status db_commit(struct db_conn *c);
void db_rollback(struct db_conn *c);

MUST_CHECK enum db_status db_setting_get(
    struct db_conn *c, const char *name, char *value_r, size_t size);
MUST_CHECK enum db_status db_setting_set(struct db_conn *c, const char *name, const char *value);

MUST_CHECK enum db_status db_domain_insert(struct db_conn *c, const char *name);

MUST_CHECK enum db_status db_send_limits_mailbox_get(
    struct db_conn *c, const char *email, struct db_send_limits *limits_r);
MUST_CHECK enum db_status db_send_limits_mailbox_set(
    struct db_conn *c, const struct db_send_limits *limits);
MUST_CHECK enum db_status db_send_limits_domain_get(
    struct db_conn *c, const char *name, struct db_send_limits *limits_r);
MUST_CHECK enum db_status db_send_limits_domain_set(
    struct db_conn *c, const struct db_send_limits *limits);
/* Let the mailbox send again and forget its limit hits of today. */
MUST_CHECK enum db_status db_send_suspension_lift(
    struct db_conn *c, unsigned mailbox_id, const char *email);
MUST_CHECK enum db_status db_domain_get(
    struct db_conn *c, const char *name, struct db_domain *row_r);
MUST_CHECK enum db_status db_domain_list(struct db_conn *c, db_row_fn *fn, void *ctx);
MUST_CHECK enum db_status db_domain_set_active(struct db_conn *c, const char *name, bool active);

/* Is email a mailbox or the source of an alias? */
MUST_CHECK enum db_status db_address_taken(struct db_conn *c, const char *email, bool *taken_r);
MUST_CHECK enum db_status db_mailbox_insert(struct db_conn *c, unsigned domain_id,
    const char *local_part, const char *email, const char *hash, uint64_t quota, unsigned *id_r);
MUST_CHECK enum db_status db_mailbox_get(
    struct db_conn *c, const char *email, struct db_mailbox *row_r);
MUST_CHECK enum db_status db_mailbox_get_by_id(
    struct db_conn *c, unsigned id, struct db_mailbox *row_r);
MUST_CHECK enum db_status db_mailbox_set_hash(struct db_conn *c, unsigned id, const char *hash);
MUST_CHECK enum db_status db_mailbox_set_active(struct db_conn *c, unsigned id, bool active);
MUST_CHECK enum db_status db_mailbox_set_quota(struct db_conn *c, unsigned id, uint64_t quota);
/* Keyset paging: rows with email > after, ordered by email. */
MUST_CHECK enum db_status db_mailbox_list(struct db_conn *c, const char *domain, const char *after,
    unsigned limit, db_row_fn *fn, void *ctx);
MUST_CHECK enum db_status db_mailbox_delete(struct db_conn *c, unsigned id);
MUST_CHECK enum db_status db_purge_queue_add(struct db_conn *c, const char *email);

MUST_CHECK enum db_status db_session_insert(struct db_conn *c, const unsigned char *token_hash,
    unsigned mailbox_id, const char *expires_at);
/* The live session's mailbox (active, in an active domain, not expired). */
MUST_CHECK enum db_status db_session_lookup(
    struct db_conn *c, const unsigned char *token_hash, struct db_mailbox *row_r);
MUST_CHECK enum db_status db_session_delete(struct db_conn *c, const unsigned char *token_hash);
/* All sessions of the mailbox but keep (which may be NULL). */
MUST_CHECK enum db_status db_session_delete_others(
    struct db_conn *c, unsigned mailbox_id, const unsigned char *keep);
MUST_CHECK enum db_status db_session_purge_expired(struct db_conn *c);

MUST_CHECK enum db_status db_alias_insert(
    struct db_conn *c, unsigned domain_id, const char *source, const char *destination);
MUST_CHECK enum db_status db_alias_list(
    struct db_conn *c, const char *domain, db_row_fn *fn, void *ctx);
MUST_CHECK enum db_status db_alias_delete(struct db_conn *c, const char *source);
MUST_CHECK enum db_status db_alias_delete_destination(struct db_conn *c, const char *dest);

MUST_CHECK enum db_status db_invite_insert(struct db_conn *c, const unsigned char *code_hash,
    const char *note, const char *expires_at, unsigned *id_r);
/* Lock a usable invite for the current transaction. */
MUST_CHECK enum db_status db_invite_claim(
    struct db_conn *c, const unsigned char *code_hash, unsigned *id_r);
MUST_CHECK enum db_status db_invite_mark_used(struct db_conn *c, unsigned id, unsigned mailbox_id);
MUST_CHECK enum db_status db_invite_list(struct db_conn *c, db_row_fn *fn, void *ctx);
MUST_CHECK enum db_status db_invite_revoke(struct db_conn *c, unsigned id);

/* Migrations: serialised by a named server lock. */
MUST_CHECK enum db_status db_migration_lock(struct db_conn *c);
void db_migration_unlock(struct db_conn *c);
MUST_CHECK enum db_status db_migration_get(struct db_conn *c, unsigned version, char *checksum_r);
MUST_CHECK enum db_status db_migration_record(
    struct db_conn *c, unsigned version, const char *name, const char *checksum);
/* One trusted DDL statement from a migration file (no parameters). */
MUST_CHECK enum db_status db_exec_script_statement(struct db_conn *c, const char *sql, size_t len);

/* A UTC time `seconds` from now in the database's DATETIME text form. */
void db_time_from_now(unsigned long seconds, char *out_r);
/* "YYYY-MM-DD HH:MM:SS.mmm" -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (DB_TIME_MAX). */
void db_time_iso(const char *db_time, char *iso_r);

#endif
