/* A fixed pool of MariaDB connections shared by a daemon's threads, and the
 * one way both daemons run a statement on them.
 *
 * Each connection prepares the statements of one table of SQL texts (the
 * caller's query numbers index it) on first use and keeps them. A statement
 * takes typed parameters and hands each result row to a callback as
 * NUL-terminated text (DATETIME and TIMESTAMP columns in ISO 8601 UTC, "Z"
 * appended). A connection found dead outside a transaction (the server was
 * restarted while it sat idle) is opened again and the statement tried once
 * more. While the server is down the whole pool makes one connection attempt
 * per half second, and every other caller fails at once instead of waiting
 * for its own. Every wait is bounded by the connection settings' timeout. */
#ifndef MAILNEST_SQLPOOL_H
#define MAILNEST_SQLPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <mysql.h>

#include "sqlconn.h"

#define SQLPOOL_MUST_CHECK __attribute__((warn_unused_result))

/* Bounds of one statement: result columns, each column's text (the longest
 * the daemons read is an address, 320), parameters. */
#define SQLPOOL_COLS_MAX   12
#define SQLPOOL_COL_SIZE   512
#define SQLPOOL_PARAMS_MAX 80

enum sqlpool_status {
	SQLPOOL_OK,
	SQLPOOL_DUPLICATE,   /* a unique key refused the write (not logged) */
	SQLPOOL_UNAVAILABLE, /* down, lost, timed out, lock wait, deadlock */
	SQLPOOL_FAILED,      /* anything else: our bug or a broken schema */
};

struct sqlpool_settings {
	struct sqlconn_settings conn; /* its strings must outlive the pool */
	unsigned size;                /* connections */
	/* Seconds sqlpool_acquire waits for a free connection; 0: until one
	 * is free (a pool as large as its threads never waits). */
	unsigned acquire_timeout;
	const char *const *queries; /* SQL texts, borrowed */
	unsigned n_queries;
	/* Called on every connection failure and server error but a duplicate
	 * key (a metric), from any thread; may be NULL. */
	void (*on_error)(void *ctx);
	void *on_error_ctx;
};

/* One statement parameter; made with the SQLPOOL_* helpers below. */
struct sqlpool_param {
	enum enum_field_types type;
	const void *buf;
	unsigned long len;
	bool is_null;
	long long int_value;
};

#define SQLPOOL_STR(s)                                                                             \
	{                                                                                          \
		MYSQL_TYPE_STRING, (s), (unsigned long)strlen(s), false, 0                         \
	}
#define SQLPOOL_BIN(b, n)                                                                          \
	{                                                                                          \
		MYSQL_TYPE_BLOB, (b), (n), false, 0                                                \
	}
#define SQLPOOL_INT(v)                                                                             \
	{                                                                                          \
		MYSQL_TYPE_LONGLONG, NULL, 0, false, (long long)(v)                                \
	}
#define SQLPOOL_NULL                                                                               \
	{                                                                                          \
		MYSQL_TYPE_NULL, NULL, 0, true, 0                                                  \
	}
/* A string, NULL in SQL when empty. */
#define SQLPOOL_OPT_STR(s)                                                                         \
	{                                                                                          \
		MYSQL_TYPE_STRING, (s), (unsigned long)strlen(s), (s)[0] == '\0', 0                \
	}

/* One fetched row: n columns, each NUL-terminated ("" and nulls[i] for
 * NULL), lens[i] its length. */
struct sqlpool_row {
	char cols[SQLPOOL_COLS_MAX][SQLPOOL_COL_SIZE];
	unsigned long lens[SQLPOOL_COLS_MAX];
	bool nulls[SQLPOOL_COLS_MAX];
	unsigned n;
};

/* Called for each row; a non-zero return stops the fetch and fails the
 * statement (SQLPOOL_FAILED). */
typedef int sqlpool_row_handler(void *ctx, const struct sqlpool_row *row);

/* What a statement changed. */
struct sqlpool_result {
	unsigned long long affected;
	unsigned long long insert_id;
};

struct sqlpool;
struct sqlpool_conn;

/* A pool (no connection is opened yet), or NULL when out of memory. */
struct sqlpool *sqlpool_new(const struct sqlpool_settings *settings);
/* Close every connection; *pool is NULL afterwards. No connection may be
 * acquired. */
void sqlpool_free(struct sqlpool **pool);

/* A connection for the caller alone (an open one preferred), or NULL when
 * none became free within acquire_timeout. */
struct sqlpool_conn *sqlpool_acquire(struct sqlpool *pool);
/* Give it back (a transaction left open is rolled back); *conn is NULL
 * afterwards. */
void sqlpool_release(struct sqlpool_conn **conn);
/* Its place in the pool, 0 ... size - 1. */
unsigned sqlpool_conn_index(const struct sqlpool_conn *conn);
/* Still connected after a failure? (A lock wait or deadlock keeps the
 * connection and is worth retrying; a lost server is not.) */
bool sqlpool_connected(const struct sqlpool_conn *conn);

/* Run the statement of number query with n_params parameters; handler
 * (may be NULL) sees each result row; result_r (may be NULL) gets what it
 * changed. */
SQLPOOL_MUST_CHECK enum sqlpool_status sqlpool_run(struct sqlpool_conn *conn, unsigned query,
    const struct sqlpool_param *params, size_t n_params, sqlpool_row_handler *handler, void *ctx,
    struct sqlpool_result *result_r);

/* A transaction: begin opens the connection first (or again), so a stale
 * one costs no failure. A failed commit rolls back. */
SQLPOOL_MUST_CHECK enum sqlpool_status sqlpool_begin(struct sqlpool_conn *conn);
SQLPOOL_MUST_CHECK enum sqlpool_status sqlpool_commit(struct sqlpool_conn *conn);
void sqlpool_rollback(struct sqlpool_conn *conn);

/* Run sql as it is, without parameters, draining any result: for the
 * schema migrations shipped with a daemon only, never for input. */
SQLPOOL_MUST_CHECK enum sqlpool_status sqlpool_exec_trusted(
    struct sqlpool_conn *conn, const char *sql, size_t len);

#endif
