/* Opening and judging MariaDB connections; see sqlconn.h. */
#include <stdio.h>

#include <errmsg.h>
#include <mysqld_error.h>

#include "log.h"
#include "sqlconn.h"

MYSQL *
sqlconn_open(const struct sqlconn_settings *s)
{
	unsigned timeout = s->timeout;
	my_bool off = 0;
	char init[160];
	MYSQL *mysql;

	if ((mysql = mysql_init(NULL)) == NULL)
		return NULL;
	snprintf(init, sizeof(init),
	    "SET time_zone = '+00:00', innodb_lock_wait_timeout = %u, "
	    "sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
	    timeout);
	mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	mysql_options(mysql, MYSQL_OPT_RECONNECT, &off);
	mysql_options(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(mysql, MYSQL_INIT_COMMAND, init);
	if (mysql_real_connect(mysql, s->host, s->user, s->password[0] != '\0' ? s->password : NULL,
	        s->name, s->port, s->socket[0] != '\0' ? s->socket : NULL,
	        CLIENT_FOUND_ROWS) == NULL) {
		log_warnx("db_connect_failed errno=%u error=\"%s\"", mysql_errno(mysql),
		    mysql_error(mysql));
		mysql_close(mysql);
		return NULL;
	}
	return mysql;
}

void
sqlconn_close(MYSQL **mysql, MYSQL_STMT **stmts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (stmts[i] != NULL)
			mysql_stmt_close(stmts[i]);
		stmts[i] = NULL;
	}
	if (*mysql != NULL)
		mysql_close(*mysql);
	*mysql = NULL;
}

enum sqlconn_error
sqlconn_error_kind(unsigned err)
{
	switch (err) {
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_LOST_EXTENDED:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	case CR_COMMANDS_OUT_OF_SYNC:
		return SQLCONN_LOST;
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_QUERY_INTERRUPTED:
		return SQLCONN_BUSY;
	case ER_DUP_ENTRY:
		return SQLCONN_DUPLICATE;
	default:
		return SQLCONN_OTHER;
	}
}
