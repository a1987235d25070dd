/* The only module that speaks SQL (MariaDB Connector/C, prepared statements
 * only). A fixed pool of connections is shared by the connection threads;
 * acquiring one waits at most a bound. Every network operation is bounded
 * by POLICYD_DB_TIMEOUT (connect, read, write, InnoDB lock waits), so a down
 * or frozen MariaDB makes a call fail within a few seconds, never hang. A
 * lost connection is dropped and opened again on the next use. */
#ifndef POLICYD_DB_H
#define POLICYD_DB_H

#include <stdbool.h>

#include "common.h"
#include "config.h"
#include "limits.h"

enum db_status {
	DB_OK,
	DB_NOT_FOUND,
	DB_UNAVAILABLE, /* down, lost, timed out, deadlock, pool exhausted */
	DB_FAILED,      /* anything else: our bug or a broken schema */
};

/* The sending account, as policyd sees it. */
struct db_account {
	bool active;
	bool suspended;
	unsigned long long age_seconds;
	char domain[DOMAIN_MAX + 1];
	struct limit_overrides overrides;
};

struct db_pool;
struct db_conn;

struct db_pool *db_pool_new(const struct config *cfg);
void db_pool_free(struct db_pool **pool);
/* A connection, or NULL when none became free within the DB timeout. */
struct db_conn *db_acquire(struct db_pool *pool);
void db_release(struct db_pool *pool, struct db_conn **conn);

const char *db_status_name(enum db_status status);
/* Still connected after a failure? (A lock timeout or deadlock keeps the
 * connection and is worth retrying; a lost server is not.) */
bool db_connected(const struct db_conn *c);

MUST_CHECK enum db_status db_begin(struct db_conn *c);
MUST_CHECK enum db_status db_commit(struct db_conn *c);
void db_rollback(struct db_conn *c);

MUST_CHECK enum db_status db_account_get(
    struct db_conn *c, const char *email, struct db_account *account_r);
/* Counters of this hour and day for the account and its domain. */
MUST_CHECK enum db_status db_usage_get(
    struct db_conn *c, const char *email, const char *domain, struct usage *usage_r);
/* Count one message with recipients recipients for the account and its
 * domain (this hour and today); call inside a transaction to check the
 * result before committing. */
MUST_CHECK enum db_status db_usage_add(
    struct db_conn *c, const char *email, const char *domain, unsigned recipients);
/* Count one limit hit of the account today. */
MUST_CHECK enum db_status db_limit_hit_add(struct db_conn *c, const char *email);
/* Suspend the account from sending; *changed_r tells whether it was not
 * suspended before. */
MUST_CHECK enum db_status db_account_suspend(struct db_conn *c, const char *email, bool *changed_r);
/* Remove counters older than two days, at most once an hour per process. */
MUST_CHECK enum db_status db_usage_prune(struct db_conn *c);

#endif
