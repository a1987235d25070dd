/* One MariaDB connection opened the mailnest way, shared by accountd's and
 * policyd's db.c: every wait bounded, UTC, strict SQL mode, no silent
 * reconnects; and what a server error means for the caller. Only the db.c
 * files include it. */
#ifndef MAILNEST_SQLCONN_H
#define MAILNEST_SQLCONN_H

#include <stddef.h>

#include <mysql.h>

struct sqlconn_settings {
	const char *host;
	unsigned port;
	const char *socket; /* "" = none */
	const char *name;
	const char *user;
	const char *password; /* "" = none */
	unsigned timeout;     /* seconds: connect, read, write, InnoDB lock waits */
};

/* A new connection, or NULL after logging why (db_connect_failed). */
MYSQL *sqlconn_open(const struct sqlconn_settings *s);

/* Close the n prepared statements in stmts (NULL entries skipped, all set
 * to NULL) and the connection; *mysql is NULL afterwards. */
void sqlconn_close(MYSQL **mysql, MYSQL_STMT **stmts, size_t n);

enum sqlconn_error {
	SQLCONN_LOST,      /* the connection is gone: close it */
	SQLCONN_BUSY,      /* lock wait, deadlock, too many connections: try later */
	SQLCONN_DUPLICATE, /* a unique key refused the write */
	SQLCONN_OTHER,     /* anything else */
};

enum sqlconn_error sqlconn_error_kind(unsigned err);

#endif
