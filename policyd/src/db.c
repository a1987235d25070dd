/* MariaDB access through Connector/C prepared statements; see db.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "db.h"
#include "log.h"
#include "sqlpool.h"

/* Counter rows written by one statement; a shorter chunk repeats its first
 * row with nothing to add, so one prepared statement serves every size. */
#define SAVE_ROWS  16
#define SAVE_COLS  5
#define PARAMS_MAX (SAVE_ROWS * SAVE_COLS)
_Static_assert(
    PARAMS_MAX <= SQLPOOL_PARAMS_MAX, "Q_USAGE_SAVE takes more parameters than sqlpool binds");
/* "YYYY-MM-DD HH:MM:SS" */
#define START_SIZE 20

#define SAVE_ROW   "(?, ?, ?, ?, ?)"
#define SAVE_ROWS4 SAVE_ROW ", " SAVE_ROW ", " SAVE_ROW ", " SAVE_ROW

enum query {
	Q_ACCOUNT_GET,
	Q_USAGE_GET,
	Q_USAGE_SAVE,
	Q_HIT_ADD,
	Q_HITS_GET,
	Q_SUSPEND,
	Q_PRUNE,
	Q_SENDER_OWNS,
	Q_DOMAIN_OURS,
	Q_COUNT,
};

static const char *const query_sql[Q_COUNT] = {
    [Q_ACCOUNT_GET] = "SELECT m.active, m.send_suspended_at IS NOT NULL, "
                      "GREATEST(TIMESTAMPDIFF(SECOND, m.created_at, UTC_TIMESTAMP(3)), 0), d.name, "
                      "ml.messages_per_hour, ml.messages_per_day, ml.recipients_per_message, "
                      "ml.recipients_per_day, dl.messages_per_hour, dl.messages_per_day, "
                      "dl.recipients_per_day "
                      "FROM mailboxes m JOIN domains d ON d.id = m.domain_id "
                      "LEFT JOIN send_limits_mailbox ml ON ml.mailbox_id = m.id "
                      "LEFT JOIN send_limits_domain dl ON dl.domain_id = m.domain_id "
                      "WHERE m.email = ?",
    /* The windows are given by policyd's clock (UTC hour and day), so a
     * message counted at 10:59:59.9 lands in the 10:00 row however late it
     * is saved. */
    [Q_USAGE_GET] = "SELECT subject = ?, period, messages, recipients "
                    "FROM send_usage WHERE subject IN (?, ?) AND "
                    "((period = 'h' AND period_start = ?) OR (period = 'd' AND period_start = ?))",
    [Q_USAGE_SAVE] = "INSERT INTO send_usage (subject, period, period_start, messages, recipients) "
                     "VALUES " SAVE_ROWS4 ", " SAVE_ROWS4 ", " SAVE_ROWS4 ", " SAVE_ROWS4 " "
                     "ON DUPLICATE KEY UPDATE messages = messages + VALUES(messages), "
                     "recipients = recipients + VALUES(recipients)",
    [Q_HIT_ADD] = "INSERT INTO send_usage (subject, period, period_start, limit_hits) "
                  "VALUES (?, 'd', ?, 1) "
                  "ON DUPLICATE KEY UPDATE limit_hits = limit_hits + 1",
    [Q_HITS_GET] = "SELECT limit_hits FROM send_usage "
                   "WHERE subject = ? AND period = 'd' AND period_start = ?",
    [Q_SUSPEND] = "UPDATE mailboxes SET send_suspended_at = UTC_TIMESTAMP(3) "
                  "WHERE email = ? AND send_suspended_at IS NULL",
    [Q_PRUNE] =
        "DELETE FROM send_usage WHERE period_start < UTC_DATE() - INTERVAL 2 DAY LIMIT 10000",
    /* The milter's From: check: exactly what Postfix's sender-login-maps.cf
     * grants for the envelope (the address is an active mailbox of an
     * active domain, or an active alias of an active domain delivered to
     * it), asked the other way round: does the address belong to login? */
    [Q_SENDER_OWNS] =
        "SELECT 1 FROM mailboxes m JOIN domains d ON d.id = m.domain_id "
        "WHERE m.email = ? AND m.email = ? AND m.active = 1 AND d.active = 1 "
        "UNION ALL SELECT 1 FROM aliases a JOIN mailboxes m ON m.email = a.destination "
        "JOIN domains d ON d.id = a.domain_id WHERE a.source = ? AND m.email = ? "
        "AND a.active = 1 AND m.active = 1 AND d.active = 1 LIMIT 1",
    [Q_DOMAIN_OURS] = "SELECT 1 FROM domains WHERE name = ? AND active = 1",
};

struct db_conn {
	struct sqlpool_conn *sql; /* while acquired */
};

struct db_pool {
	struct sqlpool *sql;
	struct db_conn conns[];
};

/* Statement parameters (libmailnest's sqlpool), by their short names. */
#define P_STR(s) SQLPOOL_STR(s)
#define P_INT(v) SQLPOOL_INT(v)

struct db_pool *
db_pool_new(const struct config *cfg)
{
	const struct sqlpool_settings settings = {
	    .conn = {cfg->db_host, cfg->db_port, cfg->db_socket, cfg->db_name, cfg->db_user,
	        cfg->db_password, cfg->db_timeout},
	    .size = cfg->db_connections,
	    .acquire_timeout = cfg->db_timeout,
	    .queries = query_sql,
	    .n_queries = Q_COUNT,
	};
	struct db_pool *pool =
	    calloc(1, sizeof(*pool) + cfg->db_connections * sizeof(struct db_conn));

	if (pool == NULL)
		return NULL;
	if ((pool->sql = sqlpool_new(&settings)) == NULL) {
		free(pool);
		return NULL;
	}
	return pool;
}

void
db_pool_free(struct db_pool **poolp)
{
	struct db_pool *pool = *poolp;

	if (pool == NULL)
		return;
	sqlpool_free(&pool->sql);
	free(pool);
	*poolp = NULL;
}

struct db_conn *
db_acquire(struct db_pool *pool)
{
	struct sqlpool_conn *sql = sqlpool_acquire(pool->sql);
	struct db_conn *c;

	if (sql == NULL)
		return NULL;
	c = &pool->conns[sqlpool_conn_index(sql)];
	c->sql = sql;
	return c;
}

void
db_release(struct db_pool *pool, struct db_conn **cp)
{
	struct sqlpool_conn *sql;

	(void)pool;
	if (*cp == NULL)
		return;
	/* Empty the slot while it is still ours: once released, the same
	 * connection (and so the same slot) may be acquired by another thread
	 * at once, and a late write here would make it lose its connection
	 * (the pool then leaks it, and every thread ends up waiting). */
	sql = (*cp)->sql;
	(*cp)->sql = NULL;
	*cp = NULL;
	sqlpool_release(&sql);
}

const char *
db_status_name(enum db_status status)
{
	switch (status) {
	case DB_OK:
		return "ok";
	case DB_NOT_FOUND:
		return "not found";
	case DB_UNAVAILABLE:
		return "unavailable";
	case DB_FAILED:
		return "failed";
	}
	return "failed";
}

bool
db_connected(const struct db_conn *c)
{
	return sqlpool_connected(c->sql);
}

static enum db_status
from_sqlpool(enum sqlpool_status status)
{
	switch (status) {
	case SQLPOOL_OK:
		return DB_OK;
	case SQLPOOL_UNAVAILABLE:
		return DB_UNAVAILABLE;
	case SQLPOOL_DUPLICATE: /* our writes add to rows: never expected */
	case SQLPOOL_FAILED:
		return DB_FAILED;
	}
	return DB_FAILED;
}

/* Run q (sqlpool_run: a stale connection is opened again and q tried once
 * more); affected_r may be NULL. */
static enum db_status
run(struct db_conn *c, enum query q, const struct sqlpool_param *params, size_t n_params,
    sqlpool_row_handler *handler, void *ctx, unsigned long long *affected_r)
{
	struct sqlpool_result result;
	enum db_status status =
	    from_sqlpool(sqlpool_run(c->sql, q, params, n_params, handler, ctx, &result));

	if (affected_r != NULL)
		*affected_r = result.affected;
	return status;
}

enum db_status
db_begin(struct db_conn *c)
{
	return from_sqlpool(sqlpool_begin(c->sql));
}

enum db_status
db_commit(struct db_conn *c)
{
	return from_sqlpool(sqlpool_commit(c->sql));
}

void
db_rollback(struct db_conn *c)
{
	sqlpool_rollback(c->sql);
}

static void
parse_override(const struct sqlpool_row *row, unsigned col, struct limit_override *o)
{
	o->set = !row->nulls[col];
	o->value = o->set ? (unsigned)strtoul(row->cols[col], NULL, 10) : 0;
}

struct account_ctx {
	struct db_account *account;
	bool found;
};

static int
store_account(void *ctx, const struct sqlpool_row *row)
{
	struct account_ctx *a = ctx;
	struct db_account *r = a->account;

	a->found = true;
	r->active = strcmp(row->cols[0], "1") == 0;
	r->suspended = strcmp(row->cols[1], "1") == 0;
	r->age_seconds = strtoull(row->cols[2], NULL, 10);
	snprintf(r->domain, sizeof(r->domain), "%.*s", DOMAIN_MAX, row->cols[3]);
	parse_override(row, 4, &r->overrides.messages_per_hour);
	parse_override(row, 5, &r->overrides.messages_per_day);
	parse_override(row, 6, &r->overrides.recipients_per_message);
	parse_override(row, 7, &r->overrides.recipients_per_day);
	parse_override(row, 8, &r->overrides.domain_messages_per_hour);
	parse_override(row, 9, &r->overrides.domain_messages_per_day);
	parse_override(row, 10, &r->overrides.domain_recipients_per_day);
	return 0;
}

enum db_status
db_account_get(struct db_conn *c, const char *email, struct db_account *account_r)
{
	struct sqlpool_param p[] = {P_STR(email)};
	struct account_ctx ctx = {account_r, false};
	enum db_status status;

	memset(account_r, 0, sizeof(*account_r));
	status = run(c, Q_ACCOUNT_GET, p, N_ELEMENTS(p), store_account, &ctx, NULL);
	if (status == DB_OK && !ctx.found)
		return DB_NOT_FOUND;
	return status;
}

/* The start of a window as MariaDB's DATETIME text. */
static void
format_start(long long unix_time, char buf[START_SIZE])
{
	time_t t = (time_t)unix_time;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, START_SIZE, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, START_SIZE, "1970-01-01 00:00:00");
}

struct usage_ctx {
	struct usage_counts *account, *domain;
};

static int
store_usage(void *ctx, const struct sqlpool_row *row)
{
	struct usage_ctx *u = ctx;
	struct usage_counts *counts = strcmp(row->cols[0], "1") == 0 ? u->account : u->domain;
	unsigned long long messages = strtoull(row->cols[2], NULL, 10);

	if (row->cols[1][0] == 'h') {
		counts->messages_hour = messages;
	} else {
		counts->messages_day = messages;
		counts->recipients_day = strtoull(row->cols[3], NULL, 10);
	}
	return 0;
}

enum db_status
db_usage_get(struct db_conn *c, const char *email, const char *domain,
    const struct usage_period *period, struct usage_counts *account_r,
    struct usage_counts *domain_r)
{
	char hour[START_SIZE], day[START_SIZE];
	struct usage_ctx ctx = {account_r, domain_r};

	format_start(period->hour * 3600, hour);
	format_start(period->day * 86400, day);
	struct sqlpool_param p[] = {
	    P_STR(email), P_STR(email), P_STR(domain), P_STR(hour), P_STR(day)};

	memset(account_r, 0, sizeof(*account_r));
	memset(domain_r, 0, sizeof(*domain_r));
	return run(c, Q_USAGE_GET, p, N_ELEMENTS(p), store_usage, &ctx, NULL);
}

enum db_status
db_usage_save(struct db_conn *c, const struct usage_row *rows, size_t n)
{
	static const char hour_period[] = "h", day_period[] = "d";
	struct sqlpool_param p[PARAMS_MAX];
	char starts[SAVE_ROWS][START_SIZE];
	enum db_status status = DB_OK;

	for (size_t first = 0; first < n && status == DB_OK; first += SAVE_ROWS) {
		for (size_t i = 0; i < SAVE_ROWS; i++) {
			/* Past the end: the chunk's first row again, adding 0. */
			const struct usage_row *r = &rows[first + i < n ? first + i : first];
			bool padding = first + i >= n;
			struct sqlpool_param *q = &p[i * SAVE_COLS];

			format_start(r->period_start, starts[i]);
			q[0] = (struct sqlpool_param)P_STR(r->subject);
			q[1] = (struct sqlpool_param)P_STR(r->is_hour ? hour_period : day_period);
			q[2] = (struct sqlpool_param)P_STR(starts[i]);
			q[3] = (struct sqlpool_param)P_INT(padding ? 0 : r->messages);
			q[4] = (struct sqlpool_param)P_INT(padding ? 0 : r->recipients);
		}
		status = run(c, Q_USAGE_SAVE, p, PARAMS_MAX, NULL, NULL, NULL);
	}
	return status;
}

static int
store_hits(void *ctx, const struct sqlpool_row *row)
{
	*(unsigned long long *)ctx = strtoull(row->cols[0], NULL, 10);
	return 0;
}

enum db_status
db_limit_hit_add(struct db_conn *c, const char *email, const struct usage_period *period,
    unsigned long long *hits_today_r)
{
	char day[START_SIZE];
	enum db_status status;

	format_start(period->day * 86400, day);
	struct sqlpool_param p[] = {P_STR(email), P_STR(day)};

	*hits_today_r = 0;
	if ((status = run(c, Q_HIT_ADD, p, N_ELEMENTS(p), NULL, NULL, NULL)) != DB_OK)
		return status;
	return run(c, Q_HITS_GET, p, N_ELEMENTS(p), store_hits, hits_today_r, NULL);
}

enum db_status
db_account_suspend(struct db_conn *c, const char *email, bool *changed_r)
{
	struct sqlpool_param p[] = {P_STR(email)};
	unsigned long long affected = 0;
	enum db_status status = run(c, Q_SUSPEND, p, N_ELEMENTS(p), NULL, NULL, &affected);

	*changed_r = status == DB_OK && affected > 0;
	return status;
}

enum db_status
db_usage_prune(struct db_conn *c)
{
	return run(c, Q_PRUNE, NULL, 0, NULL, NULL, NULL);
}

static int
note_found(void *ctx, const struct sqlpool_row *row)
{
	bool *found = ctx;

	(void)row;
	*found = true;
	return 0;
}

enum db_status
db_sender_owns(struct db_conn *c, const char *login, const char *address, bool *owns_r)
{
	struct sqlpool_param p[] = {P_STR(address), P_STR(login), P_STR(address), P_STR(login)};

	*owns_r = false;
	return run(c, Q_SENDER_OWNS, p, N_ELEMENTS(p), note_found, owns_r, NULL);
}

enum db_status
db_domain_is_ours(struct db_conn *c, const char *domain, bool *ours_r)
{
	struct sqlpool_param p[] = {P_STR(domain)};

	*ours_r = false;
	return run(c, Q_DOMAIN_OURS, p, N_ELEMENTS(p), note_found, ours_r, NULL);
}
