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
#include "usage_cache.h"

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
/* The counters of the account and of its domain in period (0 where no row). */
MUST_CHECK enum db_status db_usage_get(struct db_conn *c, const char *email, const char *domain,
    const struct usage_period *period, struct usage_counts *account_r,
    struct usage_counts *domain_r);

/* What to add to one counter row. */
struct usage_row {
	const char *subject;
	bool is_hour;           /* else the day row */
	long long period_start; /* unix time */
	unsigned long long messages;
	unsigned long long recipients;
};

/* Add rows to the counters; call inside a transaction so that a batch is
 * saved whole or not at all. */
MUST_CHECK enum db_status db_usage_save(struct db_conn *c, const struct usage_row *rows, size_t n);
/* Count one limit hit of the account on period's day; *hits_today_r: the
 * day's hits with it. */
MUST_CHECK enum db_status db_limit_hit_add(struct db_conn *c, const char *email,
    const struct usage_period *period, unsigned long long *hits_today_r);
/* Suspend the account from sending; *changed_r tells whether it was not
 * suspended before. */
MUST_CHECK enum db_status db_account_suspend(struct db_conn *c, const char *email, bool *changed_r);
/* The milter's questions (milter.c): may login (a mailbox address) use
 * address in From:/Sender: (the same rule as the envelope's
 * sender-login-maps.cf)? Is domain one of our active domains? */
MUST_CHECK enum db_status db_sender_owns(
    struct db_conn *c, const char *login, const char *address, bool *owns_r);
MUST_CHECK enum db_status db_domain_is_ours(struct db_conn *c, const char *domain, bool *ours_r);
/* Remove counters older than two days (10,000 rows at most a call). */
MUST_CHECK enum db_status db_usage_prune(struct db_conn *c);

#endif
