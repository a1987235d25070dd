/* The connection pool and statement runner; see sqlpool.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sqlpool.h"

/* A failed connection attempt makes the pool fail at once for this long. */
#define CONNECT_RETRY_SECONDS 0.5
/* The number classify() logs for a statement that is not in the table. */
#define QUERY_NONE (-1)

struct sqlpool_conn {
	MYSQL *mysql;       /* NULL while disconnected */
	MYSQL_STMT **stmts; /* n_queries, NULL until prepared */
	bool in_transaction;
	bool busy;
	struct sqlpool *pool;
};

struct sqlpool {
	struct sqlpool_settings s;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct timespec last_connect_failure; /* tv_sec 0: none */
	struct sqlpool_conn *conns;           /* s.size */
	MYSQL_STMT **stmts;                   /* s.size * s.n_queries */
};

struct sqlpool *
sqlpool_new(const struct sqlpool_settings *settings)
{
	struct sqlpool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pool->s = *settings;
	pool->conns = calloc(settings->size, sizeof(*pool->conns));
	pool->stmts = calloc((size_t)settings->size * settings->n_queries, sizeof(*pool->stmts));
	if (pool->conns == NULL || pool->stmts == NULL) {
		free(pool->conns);
		free(pool->stmts);
		free(pool);
		return NULL;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->freed, NULL);
	for (unsigned i = 0; i < settings->size; i++) {
		pool->conns[i].pool = pool;
		pool->conns[i].stmts = &pool->stmts[(size_t)i * settings->n_queries];
	}
	return pool;
}

static void
conn_close(struct sqlpool_conn *c)
{
	sqlconn_close(&c->mysql, c->stmts, c->pool->s.n_queries);
	c->in_transaction = false;
}

void
sqlpool_free(struct sqlpool **poolp)
{
	struct sqlpool *pool = *poolp;

	if (pool == NULL)
		return;
	for (unsigned i = 0; i < pool->s.size; i++)
		conn_close(&pool->conns[i]);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->freed);
	free(pool->conns);
	free(pool->stmts);
	free(pool);
	*poolp = NULL;
	mysql_library_end();
}

struct sqlpool_conn *
sqlpool_acquire(struct sqlpool *pool)
{
	struct sqlpool_conn *c = NULL;
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += pool->s.acquire_timeout;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		/* Prefer a connection that is already open. */
		for (unsigned i = 0; i < pool->s.size && c == NULL; i++)
			if (!pool->conns[i].busy && pool->conns[i].mysql != NULL)
				c = &pool->conns[i];
		for (unsigned i = 0; i < pool->s.size && c == NULL; i++)
			if (!pool->conns[i].busy)
				c = &pool->conns[i];
		if (c != NULL)
			break;
		if (pool->s.acquire_timeout == 0)
			pthread_cond_wait(&pool->freed, &pool->lock);
		else if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (c != NULL)
		c->busy = true;
	pthread_mutex_unlock(&pool->lock);
	return c;
}

void
sqlpool_release(struct sqlpool_conn **cp)
{
	struct sqlpool_conn *c = *cp;
	struct sqlpool *pool;

	if (c == NULL)
		return;
	pool = c->pool;
	if (c->in_transaction) /* a caller forgot: never leak a transaction */
		sqlpool_rollback(c);
	pthread_mutex_lock(&pool->lock);
	c->busy = false;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
	*cp = NULL;
}

unsigned
sqlpool_conn_index(const struct sqlpool_conn *c)
{
	return (unsigned)(c - c->pool->conns);
}

bool
sqlpool_connected(const struct sqlpool_conn *c)
{
	return c->mysql != NULL;
}

static void
note_error(const struct sqlpool *pool)
{
	if (pool->s.on_error != NULL)
		pool->s.on_error(pool->s.on_error_ctx);
}

static double
seconds_since(const struct timespec *then)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - then->tv_sec) + (double)(now.tv_nsec - then->tv_nsec) / 1e9;
}

static enum sqlpool_status
conn_open(struct sqlpool_conn *c)
{
	struct sqlpool *pool = c->pool;
	bool recent_failure;

	if (c->mysql != NULL)
		return SQLPOOL_OK;
	/* While the server is down, fail fast instead of letting every caller
	 * pay for a connection attempt. */
	pthread_mutex_lock(&pool->lock);
	recent_failure = pool->last_connect_failure.tv_sec != 0 &&
	                 seconds_since(&pool->last_connect_failure) < CONNECT_RETRY_SECONDS;
	pthread_mutex_unlock(&pool->lock);
	if (recent_failure)
		return SQLPOOL_UNAVAILABLE;
	/* Not under the lock: connecting may take the whole timeout. */
	c->mysql = sqlconn_open(&pool->s.conn);
	pthread_mutex_lock(&pool->lock);
	if (c->mysql == NULL)
		clock_gettime(CLOCK_MONOTONIC, &pool->last_connect_failure);
	else
		pool->last_connect_failure.tv_sec = 0;
	pthread_mutex_unlock(&pool->lock);
	if (c->mysql == NULL) {
		note_error(pool);
		return SQLPOOL_UNAVAILABLE;
	}
	return SQLPOOL_OK;
}

/* What a server or client error means; a lost connection is closed. */
static enum sqlpool_status
classify(struct sqlpool_conn *c, unsigned err, const char *message, int query)
{
	enum sqlconn_error kind = sqlconn_error_kind(err);

	if (kind == SQLCONN_DUPLICATE)
		return SQLPOOL_DUPLICATE;
	note_error(c->pool);
	log_warnx("db_error query=%d errno=%u error=\"%s\"", query, err, message);
	switch (kind) {
	case SQLCONN_LOST:
		conn_close(c);
		return SQLPOOL_UNAVAILABLE;
	case SQLCONN_BUSY:
		return SQLPOOL_UNAVAILABLE;
	case SQLCONN_DUPLICATE:
	case SQLCONN_OTHER:
		return SQLPOOL_FAILED;
	}
	return SQLPOOL_FAILED;
}

/* The statement of number query on c, prepared on first use. */
static MYSQL_STMT *
prepared(struct sqlpool_conn *c, unsigned query, enum sqlpool_status *status_r)
{
	const char *sql = c->pool->s.queries[query];
	MYSQL_STMT *stmt = c->stmts[query];

	if (stmt != NULL)
		return stmt;
	if ((stmt = mysql_stmt_init(c->mysql)) == NULL) {
		*status_r = classify(c, mysql_errno(c->mysql), mysql_error(c->mysql), (int)query);
		return NULL;
	}
	if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0) {
		*status_r = classify(c, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), (int)query);
		mysql_stmt_close(stmt);
		return NULL;
	}
	c->stmts[query] = stmt;
	return stmt;
}

/* ISO 8601 from MariaDB's "YYYY-MM-DD HH:MM:SS[.fff]" (UTC session). */
static void
time_to_iso(char *text, unsigned long *len)
{
	if (*len < 19 || *len + 2 >= SQLPOOL_COL_SIZE)
		return;
	text[10] = 'T';
	text[(*len)++] = 'Z';
	text[*len] = '\0';
}

static enum sqlpool_status
fetch_rows(struct sqlpool_conn *c, MYSQL_STMT *stmt, MYSQL_RES *meta, unsigned query,
    sqlpool_row_handler *handler, void *ctx)
{
	MYSQL_BIND results[SQLPOOL_COLS_MAX];
	my_bool nulls[SQLPOOL_COLS_MAX];
	unsigned n = mysql_num_fields(meta);
	const MYSQL_FIELD *fields = mysql_fetch_fields(meta);
	enum sqlpool_status status = SQLPOOL_OK;
	struct sqlpool_row *row;
	int rc;

	if (n > SQLPOOL_COLS_MAX || (row = calloc(1, sizeof(*row))) == NULL)
		return SQLPOOL_FAILED;
	row->n = n;
	memset(results, 0, sizeof(results));
	for (unsigned i = 0; i < n; i++) {
		results[i].buffer_type = MYSQL_TYPE_STRING;
		results[i].buffer = row->cols[i];
		results[i].buffer_length = SQLPOOL_COL_SIZE - 3; /* room for ISO 'Z' + NUL */
		results[i].length = &row->lens[i];
		results[i].is_null = &nulls[i];
	}
	if (mysql_stmt_bind_result(stmt, results) != 0) {
		status = classify(c, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), (int)query);
		goto out;
	}
	while ((rc = mysql_stmt_fetch(stmt)) == 0) {
		for (unsigned i = 0; i < n; i++) {
			row->nulls[i] = nulls[i] != 0;
			if (row->nulls[i])
				row->lens[i] = 0;
			row->cols[i][row->lens[i]] = '\0';
			if (!row->nulls[i] && (fields[i].type == MYSQL_TYPE_DATETIME ||
			                          fields[i].type == MYSQL_TYPE_TIMESTAMP))
				time_to_iso(row->cols[i], &row->lens[i]);
		}
		if (handler != NULL && handler(ctx, row) != 0) {
			status = SQLPOOL_FAILED;
			break;
		}
	}
	if (rc == MYSQL_DATA_TRUNCATED) {
		log_warnx("db_error query=%d column truncated", (int)query);
		status = SQLPOOL_FAILED;
	} else if (rc != 0 && rc != MYSQL_NO_DATA && status == SQLPOOL_OK) {
		status = classify(c, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), (int)query);
	}
out:
	free(row);
	return status;
}

static enum sqlpool_status
run_once(struct sqlpool_conn *c, unsigned query, const struct sqlpool_param *params,
    size_t n_params, sqlpool_row_handler *handler, void *ctx, struct sqlpool_result *result_r)
{
	static const my_bool is_null_true = 1;
	MYSQL_BIND binds[SQLPOOL_PARAMS_MAX];
	MYSQL_STMT *stmt;
	MYSQL_RES *meta;
	enum sqlpool_status status = SQLPOOL_OK;

	if (query >= c->pool->s.n_queries || n_params > SQLPOOL_PARAMS_MAX) {
		log_warnx(
		    "db_error query=%d: no such statement or too many parameters", (int)query);
		return SQLPOOL_FAILED;
	}
	if ((status = conn_open(c)) != SQLPOOL_OK)
		return status;
	if ((stmt = prepared(c, query, &status)) == NULL)
		return status;
	memset(binds, 0, sizeof(binds));
	for (size_t i = 0; i < n_params; i++) {
		binds[i].buffer_type = params[i].type;
		binds[i].is_null = params[i].is_null ? (my_bool *)&is_null_true : NULL;
		if (params[i].type == MYSQL_TYPE_LONGLONG) {
			binds[i].buffer = (void *)&params[i].int_value;
		} else if (!params[i].is_null) {
			binds[i].buffer = (void *)params[i].buf;
			binds[i].buffer_length = params[i].len;
			binds[i].length = (unsigned long *)&params[i].len;
		}
	}
	if (mysql_stmt_bind_param(stmt, binds) != 0 || mysql_stmt_execute(stmt) != 0)
		return classify(c, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), (int)query);
	if ((meta = mysql_stmt_result_metadata(stmt)) != NULL) {
		status = fetch_rows(c, stmt, meta, query, handler, ctx);
		mysql_free_result(meta);
	}
	if (result_r != NULL && c->mysql != NULL) {
		result_r->affected = mysql_stmt_affected_rows(stmt);
		result_r->insert_id = mysql_stmt_insert_id(stmt);
	}
	/* (A connection lost while fetching closed the statement already.) */
	if (c->mysql != NULL && c->stmts[query] != NULL)
		mysql_stmt_free_result(stmt);
	return status;
}

enum sqlpool_status
sqlpool_run(struct sqlpool_conn *c, unsigned query, const struct sqlpool_param *params,
    size_t n_params, sqlpool_row_handler *handler, void *ctx, struct sqlpool_result *result_r)
{
	bool had_connection = c->mysql != NULL, in_tx = c->in_transaction;
	enum sqlpool_status status;

	if (result_r != NULL)
		memset(result_r, 0, sizeof(*result_r));
	status = run_once(c, query, params, n_params, handler, ctx, result_r);
	if (status == SQLPOOL_UNAVAILABLE && had_connection && !in_tx && c->mysql == NULL)
		status = run_once(c, query, params, n_params, handler, ctx, result_r);
	return status;
}

enum sqlpool_status
sqlpool_begin(struct sqlpool_conn *c)
{
	bool had_connection = c->mysql != NULL;
	enum sqlpool_status status;

	for (int attempt = 0; attempt < 2; attempt++) {
		if ((status = conn_open(c)) != SQLPOOL_OK)
			return status;
		if (mysql_autocommit(c->mysql, 0) == 0) {
			c->in_transaction = true;
			return SQLPOOL_OK;
		}
		status = classify(c, mysql_errno(c->mysql), mysql_error(c->mysql), QUERY_NONE);
		/* Only a connection that went stale while idle is worth a second
		 * try; one just opened failing says the server is in trouble. */
		if (status != SQLPOOL_UNAVAILABLE || !had_connection || c->mysql != NULL)
			return status;
		had_connection = false;
	}
	return status;
}

enum sqlpool_status
sqlpool_commit(struct sqlpool_conn *c)
{
	enum sqlpool_status status;

	if (c->mysql == NULL) {
		c->in_transaction = false;
		return SQLPOOL_UNAVAILABLE;
	}
	if (mysql_commit(c->mysql) != 0) {
		status = classify(c, mysql_errno(c->mysql), mysql_error(c->mysql), QUERY_NONE);
		sqlpool_rollback(c);
		return status;
	}
	c->in_transaction = false;
	if (mysql_autocommit(c->mysql, 1) != 0)
		conn_close(c); /* committed; start clean next time */
	return SQLPOOL_OK;
}

void
sqlpool_rollback(struct sqlpool_conn *c)
{
	c->in_transaction = false;
	if (c->mysql == NULL)
		return;
	/* A failed rollback drops the connection, which rolls back as well. */
	if (mysql_rollback(c->mysql) != 0 || mysql_autocommit(c->mysql, 1) != 0)
		conn_close(c);
}

enum sqlpool_status
sqlpool_exec_trusted(struct sqlpool_conn *c, const char *sql, size_t len)
{
	enum sqlpool_status status;
	MYSQL_RES *res;

	if ((status = conn_open(c)) != SQLPOOL_OK)
		return status;
	if (mysql_real_query(c->mysql, sql, len) != 0)
		return classify(c, mysql_errno(c->mysql), mysql_error(c->mysql), QUERY_NONE);
	/* DDL returns no rows; drain anything a statement did return. */
	if ((res = mysql_store_result(c->mysql)) != NULL)
		mysql_free_result(res);
	return SQLPOOL_OK;
}
