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
#include "sqlconn.h"

#define COLS_MAX 12
#define COL_SIZE (DOMAIN_MAX + 3)
/* Counter rows written by one statement; a shorter chunk repeats its first
 * row with nothing to add, so one prepared statement serves every size. */
#define SAVE_ROWS  16
#define SAVE_COLS  5
#define PARAMS_MAX (SAVE_ROWS * SAVE_COLS)
/* "YYYY-MM-DD HH:MM:SS" */
#define START_SIZE 20

#define SAVE_ROW   "(?, ?, ?, ?, ?)"
#define SAVE_ROWS4 SAVE_ROW ", " SAVE_ROW ", " SAVE_ROW ", " SAVE_ROW

enum query {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
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
    [Q_BEGIN] = "START TRANSACTION",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
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
	MYSQL *mysql; /* NULL while disconnected */
	MYSQL_STMT *stmts[Q_COUNT];
	bool in_transaction;
	bool busy;
	struct db_pool *pool;
};

struct db_pool {
	const struct config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct timespec last_connect_failure;
	unsigned size;
	struct db_conn conns[];
};

struct param {
	enum enum_field_types type;
	const char *buf;
	unsigned long len;
	long long int_value;
};

#define P_STR(s)                                                                                   \
	{                                                                                          \
		MYSQL_TYPE_STRING, (s), (unsigned long)strlen(s), 0                                \
	}
#define P_INT(v)                                                                                   \
	{                                                                                          \
		MYSQL_TYPE_LONGLONG, NULL, 0, (long long)(v)                                       \
	}

/* One fetched row, every column as NUL-terminated text. */
struct row {
	char cols[COLS_MAX][COL_SIZE];
	unsigned long lens[COLS_MAX];
	my_bool nulls[COLS_MAX];
	unsigned n;
};

typedef void row_handler(void *ctx, const struct row *row);

struct db_pool *
db_pool_new(const struct config *cfg)
{
	struct db_pool *pool =
	    calloc(1, sizeof(*pool) + cfg->db_connections * sizeof(struct db_conn));

	if (pool == NULL)
		return NULL;
	pool->cfg = cfg;
	pool->size = cfg->db_connections;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->freed, NULL);
	for (unsigned i = 0; i < pool->size; i++)
		pool->conns[i].pool = pool;
	return pool;
}

static void
conn_close(struct db_conn *c)
{
	sqlconn_close(&c->mysql, c->stmts, Q_COUNT);
	c->in_transaction = false;
}

void
db_pool_free(struct db_pool **poolp)
{
	struct db_pool *pool = *poolp;

	if (pool == NULL)
		return;
	for (unsigned i = 0; i < pool->size; i++)
		conn_close(&pool->conns[i]);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->freed);
	free(pool);
	*poolp = NULL;
	mysql_library_end();
}

struct db_conn *
db_acquire(struct db_pool *pool)
{
	struct db_conn *c = NULL;
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += pool->cfg->db_timeout;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		/* Prefer a connection that is already open. */
		for (unsigned i = 0; i < pool->size && c == NULL; i++)
			if (!pool->conns[i].busy && pool->conns[i].mysql != NULL)
				c = &pool->conns[i];
		for (unsigned i = 0; i < pool->size && c == NULL; i++)
			if (!pool->conns[i].busy)
				c = &pool->conns[i];
		if (c != NULL)
			break;
		if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (c != NULL)
		c->busy = true;
	pthread_mutex_unlock(&pool->lock);
	return c;
}

void
db_release(struct db_pool *pool, struct db_conn **cp)
{
	struct db_conn *c = *cp;

	if (c == NULL)
		return;
	if (c->in_transaction) /* a caller forgot: never leak a transaction */
		db_rollback(c);
	pthread_mutex_lock(&pool->lock);
	c->busy = false;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
	*cp = NULL;
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
	return c->mysql != NULL;
}

static double
seconds_since(const struct timespec *then)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - then->tv_sec) + (double)(now.tv_nsec - then->tv_nsec) / 1e9;
}

static enum db_status
conn_open(struct db_conn *c)
{
	const struct config *cfg = c->pool->cfg;
	const struct sqlconn_settings settings = {cfg->db_host, cfg->db_port, cfg->db_socket,
	    cfg->db_name, cfg->db_user, cfg->db_password, cfg->db_timeout};
	struct db_pool *pool = c->pool;
	bool recent_failure;

	if (c->mysql != NULL)
		return DB_OK;
	/* While the server is down, answer at once instead of letting every
	 * request wait for its own connection attempt. */
	pthread_mutex_lock(&pool->lock);
	recent_failure = pool->last_connect_failure.tv_sec != 0 &&
	                 seconds_since(&pool->last_connect_failure) < 0.5;
	pthread_mutex_unlock(&pool->lock);
	if (recent_failure)
		return DB_UNAVAILABLE;
	/* Not under the lock: connecting may take the whole timeout. */
	c->mysql = sqlconn_open(&settings);
	pthread_mutex_lock(&pool->lock);
	if (c->mysql == NULL)
		clock_gettime(CLOCK_MONOTONIC, &pool->last_connect_failure);
	else
		pool->last_connect_failure.tv_sec = 0;
	pthread_mutex_unlock(&pool->lock);
	return c->mysql != NULL ? DB_OK : DB_UNAVAILABLE;
}

static enum db_status
classify(struct db_conn *c, unsigned err, const char *message, enum query q)
{
	log_warnx("db_error query=%d errno=%u error=\"%s\"", (int)q, err, message);
	switch (sqlconn_error_kind(err)) {
	case SQLCONN_LOST:
		conn_close(c);
		return DB_UNAVAILABLE;
	case SQLCONN_BUSY:
		return DB_UNAVAILABLE;
	case SQLCONN_DUPLICATE:
	case SQLCONN_OTHER:
		return DB_FAILED;
	}
	return DB_FAILED;
}

static MYSQL_STMT *
prepared(struct db_conn *c, enum query q, enum db_status *status_r)
{
	MYSQL_STMT *stmt = c->stmts[q];

	if (stmt != NULL)
		return stmt;
	if ((stmt = mysql_stmt_init(c->mysql)) == NULL) {
		*status_r = classify(c, mysql_errno(c->mysql), mysql_error(c->mysql), q);
		return NULL;
	}
	if (mysql_stmt_prepare(stmt, query_sql[q], strlen(query_sql[q])) != 0) {
		*status_r = classify(c, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), q);
		mysql_stmt_close(stmt);
		return NULL;
	}
	c->stmts[q] = stmt;
	return stmt;
}

static enum db_status
fetch_rows(struct db_conn *c, MYSQL_STMT *stmt, MYSQL_RES *meta, enum query q, row_handler *handler,
    void *ctx)
{
	MYSQL_BIND results[COLS_MAX];
	struct row *row;
	unsigned n = mysql_num_fields(meta);
	enum db_status status = DB_OK;
	int rc;

	if (n > COLS_MAX || (row = calloc(1, sizeof(*row))) == NULL)
		return DB_FAILED;
	row->n = n;
	memset(results, 0, sizeof(results));
	for (unsigned i = 0; i < n; i++) {
		results[i].buffer_type = MYSQL_TYPE_STRING;
		results[i].buffer = row->cols[i];
		results[i].buffer_length = COL_SIZE - 1;
		results[i].length = &row->lens[i];
		results[i].is_null = &row->nulls[i];
	}
	if (mysql_stmt_bind_result(stmt, results) != 0) {
		status = classify(c, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), q);
		goto out;
	}
	while ((rc = mysql_stmt_fetch(stmt)) == 0) {
		for (unsigned i = 0; i < n; i++)
			row->cols[i][row->nulls[i] ? 0 : row->lens[i]] = '\0';
		if (handler != NULL)
			handler(ctx, row);
	}
	if (rc == MYSQL_DATA_TRUNCATED) {
		log_warnx("db_error query=%d column truncated", (int)q);
		status = DB_FAILED;
	} else if (rc != MYSQL_NO_DATA) {
		status = classify(c, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), q);
	}
out:
	free(row);
	return status;
}

static enum db_status
run_once(struct db_conn *c, enum query q, const struct param *params, size_t n_params,
    row_handler *handler, void *ctx, unsigned long long *affected_r)
{
	MYSQL_BIND binds[PARAMS_MAX];
	MYSQL_STMT *stmt;
	MYSQL_RES *meta;
	enum db_status status = DB_OK;

	if ((status = conn_open(c)) != DB_OK)
		return status;
	if ((stmt = prepared(c, q, &status)) == NULL)
		return status;
	memset(binds, 0, sizeof(binds));
	for (size_t i = 0; i < n_params && i < PARAMS_MAX; i++) {
		binds[i].buffer_type = params[i].type;
		if (params[i].type == MYSQL_TYPE_LONGLONG) {
			binds[i].buffer = (void *)&params[i].int_value;
		} else {
			binds[i].buffer = (void *)params[i].buf;
			binds[i].buffer_length = params[i].len;
			binds[i].length = (unsigned long *)&params[i].len;
		}
	}
	if (mysql_stmt_bind_param(stmt, binds) != 0 || mysql_stmt_execute(stmt) != 0)
		return classify(c, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), q);
	if ((meta = mysql_stmt_result_metadata(stmt)) != NULL) {
		status = fetch_rows(c, stmt, meta, q, handler, ctx);
		mysql_free_result(meta);
	}
	if (affected_r != NULL)
		*affected_r = mysql_stmt_affected_rows(stmt);
	if (c->mysql != NULL && c->stmts[q] != NULL)
		mysql_stmt_free_result(stmt);
	return status;
}

/* Run q; a connection found dead outside a transaction (MariaDB restarted
 * while it sat idle) is opened again and the statement tried once more. */
static enum db_status
run(struct db_conn *c, enum query q, const struct param *params, size_t n_params,
    row_handler *handler, void *ctx, unsigned long long *affected_r)
{
	bool had_connection = c->mysql != NULL, in_tx = c->in_transaction;
	enum db_status status;

	status = run_once(c, q, params, n_params, handler, ctx, affected_r);
	if (status == DB_UNAVAILABLE && had_connection && !in_tx && c->mysql == NULL)
		status = run_once(c, q, params, n_params, handler, ctx, affected_r);
	return status;
}

enum db_status
db_begin(struct db_conn *c)
{
	enum db_status status = run(c, Q_BEGIN, NULL, 0, NULL, NULL, NULL);

	if (status == DB_OK)
		c->in_transaction = true;
	return status;
}

enum db_status
db_commit(struct db_conn *c)
{
	enum db_status status = run(c, Q_COMMIT, NULL, 0, NULL, NULL, NULL);

	if (status != DB_OK)
		db_rollback(c);
	c->in_transaction = false;
	return status;
}

void
db_rollback(struct db_conn *c)
{
	/* A failed rollback drops the connection, which rolls back as well. */
	if (c->mysql != NULL && run_once(c, Q_ROLLBACK, NULL, 0, NULL, NULL, NULL) != DB_OK)
		conn_close(c);
	c->in_transaction = false;
}

static void
parse_override(const struct row *row, unsigned col, struct limit_override *o)
{
	o->set = !row->nulls[col];
	o->value = o->set ? (unsigned)strtoul(row->cols[col], NULL, 10) : 0;
}

struct account_ctx {
	struct db_account *account;
	bool found;
};

static void
store_account(void *ctx, const struct row *row)
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
}

enum db_status
db_account_get(struct db_conn *c, const char *email, struct db_account *account_r)
{
	struct param p[] = {P_STR(email)};
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

static void
store_usage(void *ctx, const struct row *row)
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
	struct param p[] = {P_STR(email), P_STR(email), P_STR(domain), P_STR(hour), P_STR(day)};

	memset(account_r, 0, sizeof(*account_r));
	memset(domain_r, 0, sizeof(*domain_r));
	return run(c, Q_USAGE_GET, p, N_ELEMENTS(p), store_usage, &ctx, NULL);
}

enum db_status
db_usage_save(struct db_conn *c, const struct usage_row *rows, size_t n)
{
	static const char hour_period[] = "h", day_period[] = "d";
	struct param p[PARAMS_MAX];
	char starts[SAVE_ROWS][START_SIZE];
	enum db_status status = DB_OK;

	for (size_t first = 0; first < n && status == DB_OK; first += SAVE_ROWS) {
		for (size_t i = 0; i < SAVE_ROWS; i++) {
			/* Past the end: the chunk's first row again, adding 0. */
			const struct usage_row *r = &rows[first + i < n ? first + i : first];
			bool padding = first + i >= n;
			struct param *q = &p[i * SAVE_COLS];

			format_start(r->period_start, starts[i]);
			q[0] = (struct param)P_STR(r->subject);
			q[1] = (struct param)P_STR(r->is_hour ? hour_period : day_period);
			q[2] = (struct param)P_STR(starts[i]);
			q[3] = (struct param)P_INT(padding ? 0 : r->messages);
			q[4] = (struct param)P_INT(padding ? 0 : r->recipients);
		}
		status = run(c, Q_USAGE_SAVE, p, PARAMS_MAX, NULL, NULL, NULL);
	}
	return status;
}

static void
store_hits(void *ctx, const struct row *row)
{
	*(unsigned long long *)ctx = strtoull(row->cols[0], NULL, 10);
}

enum db_status
db_limit_hit_add(struct db_conn *c, const char *email, const struct usage_period *period,
    unsigned long long *hits_today_r)
{
	char day[START_SIZE];
	enum db_status status;

	format_start(period->day * 86400, day);
	struct param p[] = {P_STR(email), P_STR(day)};

	*hits_today_r = 0;
	if ((status = run(c, Q_HIT_ADD, p, N_ELEMENTS(p), NULL, NULL, NULL)) != DB_OK)
		return status;
	return run(c, Q_HITS_GET, p, N_ELEMENTS(p), store_hits, hits_today_r, NULL);
}

enum db_status
db_account_suspend(struct db_conn *c, const char *email, bool *changed_r)
{
	struct param p[] = {P_STR(email)};
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

static void
note_found(void *ctx, const struct row *row)
{
	bool *found = ctx;

	(void)row;
	*found = true;
}

enum db_status
db_sender_owns(struct db_conn *c, const char *login, const char *address, bool *owns_r)
{
	struct param p[] = {P_STR(address), P_STR(login), P_STR(address), P_STR(login)};

	*owns_r = false;
	return run(c, Q_SENDER_OWNS, p, N_ELEMENTS(p), note_found, owns_r, NULL);
}

enum db_status
db_domain_is_ours(struct db_conn *c, const char *domain, bool *ours_r)
{
	struct param p[] = {P_STR(domain)};

	*ours_r = false;
	return run(c, Q_DOMAIN_OURS, p, N_ELEMENTS(p), note_found, ours_r, NULL);
}
