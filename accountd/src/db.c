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

enum query {
	Q_PING,
	Q_SETTING_GET,
	Q_SETTING_SET,
	Q_DOMAIN_INSERT,
	Q_DOMAIN_GET,
	Q_DOMAIN_LIST,
	Q_DOMAIN_SET_ACTIVE,
	Q_ADDRESS_TAKEN,
	Q_MAILBOX_INSERT,
	Q_MAILBOX_GET,
	Q_MAILBOX_GET_BY_ID,
	Q_MAILBOX_SET_HASH,
	Q_MAILBOX_SET_ACTIVE,
	Q_MAILBOX_SET_QUOTA,
	Q_MAILBOX_LIST,
	Q_MAILBOX_DELETE,
	Q_PURGE_QUEUE_ADD,
	Q_SESSION_INSERT,
	Q_SESSION_LOOKUP,
	Q_SESSION_DELETE,
	Q_SESSION_DELETE_OTHERS,
	Q_SESSION_PURGE_EXPIRED,
	Q_ALIAS_INSERT,
	Q_ALIAS_LIST,
	Q_ALIAS_DELETE,
	Q_ALIAS_DELETE_DESTINATION,
	Q_INVITE_INSERT,
	Q_INVITE_CLAIM,
	Q_INVITE_MARK_USED,
	Q_INVITE_LIST,
	Q_INVITE_REVOKE,
	Q_SEND_LIMITS_MAILBOX_GET,
	Q_SEND_LIMITS_MAILBOX_SET,
	Q_SEND_LIMITS_DOMAIN_GET,
	Q_SEND_LIMITS_DOMAIN_SET,
	Q_SEND_SUSPENSION_LIFT,
	Q_SEND_LIMIT_HITS_RESET,
	Q_MIGRATION_LOCK,
	Q_MIGRATION_UNLOCK,
	Q_MIGRATION_GET,
	Q_MIGRATION_RECORD,
	Q_COUNT,
};

#define MAILBOX_COLUMNS                                                                            \
	"m.id, m.domain_id, m.email, m.active, d.active, m.quota_bytes, m.created_at, "            \
	"m.password_hash"

static const char *const query_sql[Q_COUNT] = {
    [Q_PING] = "SELECT 1",
    [Q_SETTING_GET] = "SELECT value FROM settings WHERE name = ?",
    [Q_SETTING_SET] = "INSERT INTO settings (name, value) VALUES (?, ?) "
                      "ON DUPLICATE KEY UPDATE value = VALUES(value)",
    [Q_DOMAIN_INSERT] = "INSERT INTO domains (name) VALUES (?)",
    [Q_DOMAIN_GET] = "SELECT id, name, active, created_at FROM domains WHERE name = ?",
    [Q_DOMAIN_LIST] = "SELECT id, name, active, created_at FROM domains ORDER BY name",
    [Q_DOMAIN_SET_ACTIVE] = "UPDATE domains SET active = ? WHERE name = ?",
    [Q_ADDRESS_TAKEN] = "SELECT 1 FROM mailboxes WHERE email = ? "
                        "UNION ALL SELECT 1 FROM aliases WHERE source = ? LIMIT 1",
    [Q_MAILBOX_INSERT] = "INSERT INTO mailboxes (domain_id, local_part, email, "
                         "password_hash, quota_bytes) VALUES (?, ?, ?, ?, ?)",
    [Q_MAILBOX_GET] = "SELECT " MAILBOX_COLUMNS " FROM mailboxes m "
                      "JOIN domains d ON d.id = m.domain_id WHERE m.email = ?",
    [Q_MAILBOX_GET_BY_ID] = "SELECT " MAILBOX_COLUMNS " FROM mailboxes m "
                            "JOIN domains d ON d.id = m.domain_id WHERE m.id = ?",
    [Q_MAILBOX_SET_HASH] = "UPDATE mailboxes SET password_hash = ? WHERE id = ?",
    [Q_MAILBOX_SET_ACTIVE] = "UPDATE mailboxes SET active = ?, deactivated_at = "
                             "IF(? = 1, NULL, CURRENT_TIMESTAMP(3)) WHERE id = ?",
    [Q_MAILBOX_SET_QUOTA] = "UPDATE mailboxes SET quota_bytes = ? WHERE id = ?",
    [Q_MAILBOX_LIST] = "SELECT " MAILBOX_COLUMNS " FROM mailboxes m "
                       "JOIN domains d ON d.id = m.domain_id "
                       "WHERE (? = '' OR d.name = ?) AND m.email > ? "
                       "ORDER BY m.email LIMIT ?",
    [Q_MAILBOX_DELETE] = "DELETE FROM mailboxes WHERE id = ?",
    [Q_PURGE_QUEUE_ADD] = "INSERT INTO maildir_purge_queue (email) VALUES (?)",
    [Q_SESSION_INSERT] = "INSERT INTO sessions (token_hash, mailbox_id, expires_at) "
                         "VALUES (?, ?, ?)",
    [Q_SESSION_LOOKUP] = "SELECT " MAILBOX_COLUMNS " FROM sessions s "
                         "JOIN mailboxes m ON m.id = s.mailbox_id "
                         "JOIN domains d ON d.id = m.domain_id "
                         "WHERE s.token_hash = ? AND s.expires_at > UTC_TIMESTAMP(3) "
                         "AND m.active = 1 AND d.active = 1",
    [Q_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?",
    [Q_SESSION_DELETE_OTHERS] = "DELETE FROM sessions WHERE mailbox_id = ? "
                                "AND token_hash <> ?",
    [Q_SESSION_PURGE_EXPIRED] = "DELETE FROM sessions WHERE expires_at < UTC_TIMESTAMP(3) "
                                "LIMIT 10000",
    [Q_ALIAS_INSERT] = "INSERT INTO aliases (domain_id, source, destination) "
                       "VALUES (?, ?, ?)",
    [Q_ALIAS_LIST] = "SELECT a.source, a.destination FROM aliases a "
                     "JOIN domains d ON d.id = a.domain_id WHERE (? = '' OR d.name = ?) "
                     "ORDER BY a.source, a.destination",
    [Q_ALIAS_DELETE] = "DELETE FROM aliases WHERE source = ?",
    [Q_ALIAS_DELETE_DESTINATION] = "DELETE FROM aliases WHERE destination = ?",
    [Q_INVITE_INSERT] = "INSERT INTO invites (code_hash, note, expires_at) VALUES (?, ?, ?)",
    [Q_INVITE_CLAIM] = "SELECT id FROM invites WHERE code_hash = ? AND used_at IS NULL "
                       "AND revoked_at IS NULL "
                       "AND (expires_at IS NULL OR expires_at > UTC_TIMESTAMP(3)) FOR UPDATE",
    [Q_INVITE_MARK_USED] = "UPDATE invites SET used_at = UTC_TIMESTAMP(3), used_by = ? "
                           "WHERE id = ?",
    [Q_INVITE_LIST] = "SELECT id, note, created_at, expires_at, CASE "
                      "WHEN revoked_at IS NOT NULL THEN 'revoked' "
                      "WHEN used_at IS NOT NULL THEN 'used' "
                      "WHEN expires_at IS NOT NULL AND expires_at <= UTC_TIMESTAMP(3) "
                      "THEN 'expired' ELSE 'unused' END FROM invites ORDER BY id",
    [Q_INVITE_REVOKE] = "UPDATE invites SET revoked_at = UTC_TIMESTAMP(3) WHERE id = ? "
                        "AND revoked_at IS NULL AND used_at IS NULL",
    [Q_SEND_LIMITS_MAILBOX_GET] =
        "SELECT m.id, l.messages_per_hour, l.messages_per_day, l.recipients_per_message, "
        "l.recipients_per_day, m.send_suspended_at FROM mailboxes m "
        "LEFT JOIN send_limits_mailbox l ON l.mailbox_id = m.id WHERE m.email = ?",
    [Q_SEND_LIMITS_MAILBOX_SET] =
        "INSERT INTO send_limits_mailbox (mailbox_id, messages_per_hour, messages_per_day, "
        "recipients_per_message, recipients_per_day) VALUES (?, ?, ?, ?, ?) "
        "ON DUPLICATE KEY UPDATE messages_per_hour = VALUES(messages_per_hour), "
        "messages_per_day = VALUES(messages_per_day), "
        "recipients_per_message = VALUES(recipients_per_message), "
        "recipients_per_day = VALUES(recipients_per_day)",
    [Q_SEND_LIMITS_DOMAIN_GET] =
        "SELECT d.id, l.messages_per_hour, l.messages_per_day, l.recipients_per_day, NULL "
        "FROM domains d LEFT JOIN send_limits_domain l ON l.domain_id = d.id WHERE d.name = ?",
    [Q_SEND_LIMITS_DOMAIN_SET] =
        "INSERT INTO send_limits_domain (domain_id, messages_per_hour, messages_per_day, "
        "recipients_per_day) VALUES (?, ?, ?, ?) "
        "ON DUPLICATE KEY UPDATE messages_per_hour = VALUES(messages_per_hour), "
        "messages_per_day = VALUES(messages_per_day), "
        "recipients_per_day = VALUES(recipients_per_day)",
    [Q_SEND_SUSPENSION_LIFT] = "UPDATE mailboxes SET send_suspended_at = NULL WHERE id = ?",
    /* policyd suspends after N limit hits in a day: start counting anew. */
    [Q_SEND_LIMIT_HITS_RESET] = "UPDATE send_usage SET limit_hits = 0 WHERE subject = ?",
    [Q_MIGRATION_LOCK] = "SELECT GET_LOCK('accountd.migrate', 60)",
    [Q_MIGRATION_UNLOCK] = "SELECT RELEASE_LOCK('accountd.migrate')",
    [Q_MIGRATION_GET] = "SELECT checksum FROM schema_migrations WHERE version = ?",
    [Q_MIGRATION_RECORD] = "INSERT INTO schema_migrations (version, name, checksum) "
                           "VALUES (?, ?, ?)",
};

struct db_conn {
	struct sqlpool_conn *sql; /* while acquired */
};

struct db_pool {
	struct sqlpool *sql;
	struct db_conn conns[];
};

/* Statement parameters (libmailnest's sqlpool), by their short names. */
#define P_STR(s)     SQLPOOL_STR(s)
#define P_BIN(b, n)  SQLPOOL_BIN(b, n)
#define P_INT(v)     SQLPOOL_INT(v)
#define P_NULL       SQLPOOL_NULL
#define P_OPT_STR(s) SQLPOOL_OPT_STR(s)

static void
count_db_error(void *metrics)
{
	metrics_db_error(metrics);
}

struct db_pool *
db_pool_new(const struct config *cfg, unsigned size, struct metrics *metrics)
{
	const struct sqlpool_settings settings = {
	    .conn = {cfg->db_host, cfg->db_port, cfg->db_socket, cfg->db_name, cfg->db_user,
	        cfg->db_password, cfg->db_timeout},
	    .size = size,
	    .acquire_timeout = 0, /* one connection per thread: never waits long */
	    .queries = query_sql,
	    .n_queries = Q_COUNT,
	    .on_error = metrics != NULL ? count_db_error : NULL,
	    .on_error_ctx = metrics,
	};
	struct db_pool *pool = calloc(1, sizeof(*pool) + size * sizeof(struct db_conn));

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
	case DB_DUPLICATE:
		return "duplicate";
	case DB_UNAVAILABLE:
		return "unavailable";
	case DB_FAILED:
		return "failed";
	}
	return "failed";
}

static enum db_status
from_sqlpool(enum sqlpool_status status)
{
	switch (status) {
	case SQLPOOL_OK:
		return DB_OK;
	case SQLPOOL_DUPLICATE:
		return DB_DUPLICATE;
	case SQLPOOL_UNAVAILABLE:
		return DB_UNAVAILABLE;
	case SQLPOOL_FAILED:
		return DB_FAILED;
	}
	return DB_FAILED;
}

/* Run q (sqlpool_run: a stale connection is opened again and q tried once
 * more); affected_r and insert_id_r may be NULL. */
static enum db_status
run(struct db_conn *c, enum query q, const struct sqlpool_param *params, size_t n_params,
    sqlpool_row_handler *handler, void *ctx, unsigned long long *affected_r,
    unsigned long long *insert_id_r)
{
	struct sqlpool_result result;
	enum db_status status =
	    from_sqlpool(sqlpool_run(c->sql, q, params, n_params, handler, ctx, &result));

	if (affected_r != NULL)
		*affected_r = result.affected;
	if (insert_id_r != NULL)
		*insert_id_r = result.insert_id;
	return status;
}

enum db_status
db_ping(struct db_conn *c)
{
	return run(c, Q_PING, NULL, 0, NULL, NULL, NULL, NULL);
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

/* Row handlers copying into the typed structs. */

static int
copy_text(char *dst, size_t size, const struct sqlpool_row *row, unsigned col)
{
	if (row->lens[col] >= size)
		return -1;
	memcpy(dst, row->cols[col], row->lens[col] + 1);
	return 0;
}

struct text_out {
	char *buf;
	size_t size;
	bool found;
};

static int
store_first_text(void *ctx, const struct sqlpool_row *row)
{
	struct text_out *out = ctx;

	out->found = true;
	return copy_text(out->buf, out->size, row, 0);
}

static int
store_mailbox(void *ctx, const struct sqlpool_row *row)
{
	struct db_mailbox *m = ctx;

	m->id = (unsigned)strtoul(row->cols[0], NULL, 10);
	m->domain_id = (unsigned)strtoul(row->cols[1], NULL, 10);
	m->active = row->cols[3][0] == '1';
	m->domain_active = row->cols[4][0] == '1';
	m->quota_bytes = strtoull(row->cols[5], NULL, 10);
	if (copy_text(m->email, sizeof(m->email), row, 2) < 0 ||
	    copy_text(m->created_at, sizeof(m->created_at), row, 6) < 0 ||
	    copy_text(m->password_hash, sizeof(m->password_hash), row, 7) < 0)
		return -1;
	return 0;
}

static int
store_domain(void *ctx, const struct sqlpool_row *row)
{
	struct db_domain *d = ctx;

	d->id = (unsigned)strtoul(row->cols[0], NULL, 10);
	d->active = row->cols[2][0] == '1';
	if (copy_text(d->name, sizeof(d->name), row, 1) < 0 ||
	    copy_text(d->created_at, sizeof(d->created_at), row, 3) < 0)
		return -1;
	return 0;
}

struct each {
	db_row_fn *fn;
	void *ctx;
	int (*convert)(void *dst, const struct sqlpool_row *row);
	size_t size;
};

static int
each_row(void *ctx, const struct sqlpool_row *row)
{
	struct each *e = ctx;
	union {
		struct db_domain d;
		struct db_mailbox m;
		struct db_alias a;
		struct db_invite i;
	} item;

	memset(&item, 0, sizeof(item));
	if (e->convert(&item, row) != 0)
		return -1;
	return e->fn(e->ctx, &item);
}

static int
convert_domain(void *dst, const struct sqlpool_row *row)
{
	return store_domain(dst, row);
}

static int
convert_mailbox(void *dst, const struct sqlpool_row *row)
{
	return store_mailbox(dst, row);
}

static int
convert_alias(void *dst, const struct sqlpool_row *row)
{
	struct db_alias *a = dst;

	return copy_text(a->source, sizeof(a->source), row, 0) < 0 ||
	               copy_text(a->destination, sizeof(a->destination), row, 1) < 0
	           ? -1
	           : 0;
}

static int
convert_invite(void *dst, const struct sqlpool_row *row)
{
	struct db_invite *inv = dst;

	inv->id = (unsigned)strtoul(row->cols[0], NULL, 10);
	return copy_text(inv->note, sizeof(inv->note), row, 1) < 0 ||
	               copy_text(inv->created_at, sizeof(inv->created_at), row, 2) < 0 ||
	               copy_text(inv->expires_at, sizeof(inv->expires_at), row, 3) < 0 ||
	               copy_text(inv->status, sizeof(inv->status), row, 4) < 0
	           ? -1
	           : 0;
}

struct found {
	void *dst;
	int (*convert)(void *dst, const struct sqlpool_row *row);
	bool found;
};

static int
found_row(void *ctx, const struct sqlpool_row *row)
{
	struct found *f = ctx;

	f->found = true;
	return f->convert(f->dst, row);
}

static enum db_status
get_one(struct db_conn *c, enum query q, const struct sqlpool_param *params, size_t n,
    int (*convert)(void *, const struct sqlpool_row *), void *dst)
{
	struct found f = {dst, convert, false};
	enum db_status status = run(c, q, params, n, found_row, &f, NULL, NULL);

	if (status == DB_OK && !f.found)
		return DB_NOT_FOUND;
	return status;
}

static enum db_status
list(struct db_conn *c, enum query q, const struct sqlpool_param *params, size_t n,
    int (*convert)(void *, const struct sqlpool_row *), db_row_fn *fn, void *ctx)
{
	struct each e = {fn, ctx, convert, 0};

	return run(c, q, params, n, each_row, &e, NULL, NULL);
}

/* A write that must change a row: none changed means not found. */
static enum db_status
change(struct db_conn *c, enum query q, const struct sqlpool_param *params, size_t n)
{
	unsigned long long affected = 0;
	enum db_status status = run(c, q, params, n, NULL, NULL, &affected, NULL);

	if (status == DB_OK && affected == 0)
		return DB_NOT_FOUND;
	return status;
}

static enum db_status
write_only(struct db_conn *c, enum query q, const struct sqlpool_param *params, size_t n)
{
	return run(c, q, params, n, NULL, NULL, NULL, NULL);
}

static enum db_status
insert(
    struct db_conn *c, enum query q, const struct sqlpool_param *params, size_t n, unsigned *id_r)
{
	unsigned long long id = 0;
	enum db_status status = run(c, q, params, n, NULL, NULL, NULL, &id);

	if (id_r != NULL)
		*id_r = (unsigned)id;
	return status;
}

enum db_status
db_setting_get(struct db_conn *c, const char *name, char *value_r, size_t size)
{
	struct sqlpool_param p[] = {P_STR(name)};
	struct text_out out = {value_r, size, false};
	enum db_status status = run(c, Q_SETTING_GET, p, 1, store_first_text, &out, NULL, NULL);

	return status == DB_OK && !out.found ? DB_NOT_FOUND : status;
}

enum db_status
db_setting_set(struct db_conn *c, const char *name, const char *value)
{
	struct sqlpool_param p[] = {P_STR(name), P_STR(value)};

	return write_only(c, Q_SETTING_SET, p, 2);
}

enum db_status
db_domain_insert(struct db_conn *c, const char *name)
{
	struct sqlpool_param p[] = {P_STR(name)};

	return insert(c, Q_DOMAIN_INSERT, p, 1, NULL);
}

enum db_status
db_domain_get(struct db_conn *c, const char *name, struct db_domain *row_r)
{
	struct sqlpool_param p[] = {P_STR(name)};

	return get_one(c, Q_DOMAIN_GET, p, 1, convert_domain, row_r);
}

enum db_status
db_domain_list(struct db_conn *c, db_row_fn *fn, void *ctx)
{
	return list(c, Q_DOMAIN_LIST, NULL, 0, convert_domain, fn, ctx);
}

enum db_status
db_domain_set_active(struct db_conn *c, const char *name, bool active)
{
	struct sqlpool_param p[] = {P_INT(active), P_STR(name)};

	return change(c, Q_DOMAIN_SET_ACTIVE, p, 2);
}

static int
mark_found(void *ctx, const struct sqlpool_row *row)
{
	*(bool *)ctx = true;
	return 0;
}

enum db_status
db_address_taken(struct db_conn *c, const char *email, bool *taken_r)
{
	struct sqlpool_param p[] = {P_STR(email), P_STR(email)};

	*taken_r = false;
	return run(c, Q_ADDRESS_TAKEN, p, 2, mark_found, taken_r, NULL, NULL);
}

enum db_status
db_mailbox_insert(struct db_conn *c, unsigned domain_id, const char *local_part, const char *email,
    const char *hash, uint64_t quota, unsigned *id_r)
{
	struct sqlpool_param p[] = {
	    P_INT(domain_id), P_STR(local_part), P_STR(email), P_STR(hash), P_INT(quota)};

	return insert(c, Q_MAILBOX_INSERT, p, 5, id_r);
}

enum db_status
db_mailbox_get(struct db_conn *c, const char *email, struct db_mailbox *row_r)
{
	struct sqlpool_param p[] = {P_STR(email)};

	return get_one(c, Q_MAILBOX_GET, p, 1, convert_mailbox, row_r);
}

enum db_status
db_mailbox_get_by_id(struct db_conn *c, unsigned id, struct db_mailbox *row_r)
{
	struct sqlpool_param p[] = {P_INT(id)};

	return get_one(c, Q_MAILBOX_GET_BY_ID, p, 1, convert_mailbox, row_r);
}

enum db_status
db_mailbox_set_hash(struct db_conn *c, unsigned id, const char *hash)
{
	struct sqlpool_param p[] = {P_STR(hash), P_INT(id)};

	return change(c, Q_MAILBOX_SET_HASH, p, 2);
}

enum db_status
db_mailbox_set_active(struct db_conn *c, unsigned id, bool active)
{
	struct sqlpool_param p[] = {P_INT(active), P_INT(active), P_INT(id)};

	return change(c, Q_MAILBOX_SET_ACTIVE, p, 3);
}

enum db_status
db_mailbox_set_quota(struct db_conn *c, unsigned id, uint64_t quota)
{
	struct sqlpool_param p[] = {P_INT(quota), P_INT(id)};

	return change(c, Q_MAILBOX_SET_QUOTA, p, 2);
}

enum db_status
db_mailbox_list(struct db_conn *c, const char *domain, const char *after, unsigned limit,
    db_row_fn *fn, void *ctx)
{
	struct sqlpool_param p[] = {P_STR(domain), P_STR(domain), P_STR(after), P_INT(limit)};

	return list(c, Q_MAILBOX_LIST, p, 4, convert_mailbox, fn, ctx);
}

enum db_status
db_mailbox_delete(struct db_conn *c, unsigned id)
{
	struct sqlpool_param p[] = {P_INT(id)};

	return change(c, Q_MAILBOX_DELETE, p, 1);
}

enum db_status
db_purge_queue_add(struct db_conn *c, const char *email)
{
	struct sqlpool_param p[] = {P_STR(email)};

	return write_only(c, Q_PURGE_QUEUE_ADD, p, 1);
}

enum db_status
db_session_insert(
    struct db_conn *c, const unsigned char *token_hash, unsigned mailbox_id, const char *expires_at)
{
	struct sqlpool_param p[] = {P_BIN(token_hash, 32), P_INT(mailbox_id), P_STR(expires_at)};

	return write_only(c, Q_SESSION_INSERT, p, 3);
}

enum db_status
db_session_lookup(struct db_conn *c, const unsigned char *token_hash, struct db_mailbox *row_r)
{
	struct sqlpool_param p[] = {P_BIN(token_hash, 32)};

	return get_one(c, Q_SESSION_LOOKUP, p, 1, convert_mailbox, row_r);
}

enum db_status
db_session_delete(struct db_conn *c, const unsigned char *token_hash)
{
	struct sqlpool_param p[] = {P_BIN(token_hash, 32)};

	return write_only(c, Q_SESSION_DELETE, p, 1);
}

enum db_status
db_session_delete_others(struct db_conn *c, unsigned mailbox_id, const unsigned char *keep)
{
	static const unsigned char none[32];
	struct sqlpool_param p[] = {P_INT(mailbox_id), P_BIN(keep != NULL ? keep : none, 32)};

	return write_only(c, Q_SESSION_DELETE_OTHERS, p, 2);
}

enum db_status
db_session_purge_expired(struct db_conn *c)
{
	return write_only(c, Q_SESSION_PURGE_EXPIRED, NULL, 0);
}

enum db_status
db_alias_insert(struct db_conn *c, unsigned domain_id, const char *source, const char *destination)
{
	struct sqlpool_param p[] = {P_INT(domain_id), P_STR(source), P_STR(destination)};

	return insert(c, Q_ALIAS_INSERT, p, 3, NULL);
}

enum db_status
db_alias_list(struct db_conn *c, const char *domain, db_row_fn *fn, void *ctx)
{
	struct sqlpool_param p[] = {P_STR(domain), P_STR(domain)};

	return list(c, Q_ALIAS_LIST, p, 2, convert_alias, fn, ctx);
}

enum db_status
db_alias_delete(struct db_conn *c, const char *source)
{
	struct sqlpool_param p[] = {P_STR(source)};

	return change(c, Q_ALIAS_DELETE, p, 1);
}

enum db_status
db_alias_delete_destination(struct db_conn *c, const char *dest)
{
	struct sqlpool_param p[] = {P_STR(dest)};

	return write_only(c, Q_ALIAS_DELETE_DESTINATION, p, 1);
}

enum db_status
db_invite_insert(struct db_conn *c, const unsigned char *code_hash, const char *note,
    const char *expires_at, unsigned *id_r)
{
	struct sqlpool_param p[] = {P_BIN(code_hash, 32), P_STR(note), P_OPT_STR(expires_at)};

	return insert(c, Q_INVITE_INSERT, p, 3, id_r);
}

static int
store_id(void *dst, const struct sqlpool_row *row)
{
	*(unsigned *)dst = (unsigned)strtoul(row->cols[0], NULL, 10);
	return 0;
}

enum db_status
db_invite_claim(struct db_conn *c, const unsigned char *code_hash, unsigned *id_r)
{
	struct sqlpool_param p[] = {P_BIN(code_hash, 32)};

	return get_one(c, Q_INVITE_CLAIM, p, 1, store_id, id_r);
}

enum db_status
db_invite_mark_used(struct db_conn *c, unsigned id, unsigned mailbox_id)
{
	struct sqlpool_param p[] = {P_INT(mailbox_id), P_INT(id)};

	return change(c, Q_INVITE_MARK_USED, p, 2);
}

enum db_status
db_invite_list(struct db_conn *c, db_row_fn *fn, void *ctx)
{
	return list(c, Q_INVITE_LIST, NULL, 0, convert_invite, fn, ctx);
}

enum db_status
db_invite_revoke(struct db_conn *c, unsigned id)
{
	struct sqlpool_param p[] = {P_INT(id)};

	return change(c, Q_INVITE_REVOKE, p, 1);
}

static int
store_lock_result(void *ctx, const struct sqlpool_row *row)
{
	*(bool *)ctx = row->cols[0][0] == '1';
	return 0;
}

/* Row: owner id, one column per limit field (NULL = unset), and for
 * mailboxes the suspension time. */
static int
store_send_limits(void *ctx, const struct sqlpool_row *row)
{
	struct db_send_limits *l = ctx;
	unsigned n = row->n - 2;

	l->owner_id = (unsigned)strtoul(row->cols[0], NULL, 10);
	for (unsigned i = 0; i < n && i < SEND_LIMIT_FIELDS; i++) {
		l->set[i] = !row->nulls[i + 1];
		l->value[i] = l->set[i] ? strtoull(row->cols[i + 1], NULL, 10) : 0;
	}
	return copy_text(l->suspended_at, sizeof(l->suspended_at), row, row->n - 1);
}

static struct sqlpool_param
param_limit(const struct db_send_limits *l, unsigned i)
{
	struct sqlpool_param p = P_INT(l->value[i]);

	if (!l->set[i]) {
		p.type = MYSQL_TYPE_NULL;
		p.is_null = true;
	}
	return p;
}

enum db_status
db_send_limits_mailbox_get(struct db_conn *c, const char *email, struct db_send_limits *limits_r)
{
	struct sqlpool_param p[] = {P_STR(email)};

	memset(limits_r, 0, sizeof(*limits_r));
	return get_one(c, Q_SEND_LIMITS_MAILBOX_GET, p, 1, store_send_limits, limits_r);
}

enum db_status
db_send_limits_mailbox_set(struct db_conn *c, const struct db_send_limits *limits)
{
	struct sqlpool_param p[] = {P_INT(limits->owner_id), param_limit(limits, 0),
	    param_limit(limits, 1), param_limit(limits, 2), param_limit(limits, 3)};

	return write_only(c, Q_SEND_LIMITS_MAILBOX_SET, p, N_ELEMENTS(p));
}

enum db_status
db_send_limits_domain_get(struct db_conn *c, const char *name, struct db_send_limits *limits_r)
{
	struct sqlpool_param p[] = {P_STR(name)};

	memset(limits_r, 0, sizeof(*limits_r));
	return get_one(c, Q_SEND_LIMITS_DOMAIN_GET, p, 1, store_send_limits, limits_r);
}

enum db_status
db_send_limits_domain_set(struct db_conn *c, const struct db_send_limits *limits)
{
	struct sqlpool_param p[] = {P_INT(limits->owner_id), param_limit(limits, 0),
	    param_limit(limits, 1), param_limit(limits, 2)};

	return write_only(c, Q_SEND_LIMITS_DOMAIN_SET, p, N_ELEMENTS(p));
}

enum db_status
db_send_suspension_lift(struct db_conn *c, unsigned mailbox_id, const char *email)
{
	struct sqlpool_param id[] = {P_INT(mailbox_id)};
	struct sqlpool_param subject[] = {P_STR(email)};
	enum db_status status = write_only(c, Q_SEND_SUSPENSION_LIFT, id, 1);

	return status == DB_OK ? write_only(c, Q_SEND_LIMIT_HITS_RESET, subject, 1) : status;
}

enum db_status
db_migration_lock(struct db_conn *c)
{
	static const char create[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                             "version INT UNSIGNED NOT NULL PRIMARY KEY, "
	                             "name VARCHAR(255) NOT NULL, checksum CHAR(64) NOT NULL, "
	                             "applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
	                             ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
	bool locked = false;
	enum db_status status =
	    run(c, Q_MIGRATION_LOCK, NULL, 0, store_lock_result, &locked, NULL, NULL);

	if (status != DB_OK)
		return status;
	if (!locked)
		return DB_UNAVAILABLE;
	return db_exec_script_statement(c, create, sizeof(create) - 1);
}

void
db_migration_unlock(struct db_conn *c)
{
	/* The lock also ends with the connection; a failure here is harmless. */
	if (run(c, Q_MIGRATION_UNLOCK, NULL, 0, NULL, NULL, NULL, NULL) != DB_OK)
		log_warnx("db_migration_unlock failed");
}

enum db_status
db_migration_get(struct db_conn *c, unsigned version, char *checksum_r)
{
	struct sqlpool_param p[] = {P_INT(version)};
	struct text_out out = {checksum_r, 65, false};
	enum db_status status = run(c, Q_MIGRATION_GET, p, 1, store_first_text, &out, NULL, NULL);

	return status == DB_OK && !out.found ? DB_NOT_FOUND : status;
}

enum db_status
db_migration_record(struct db_conn *c, unsigned version, const char *name, const char *checksum)
{
	struct sqlpool_param p[] = {P_INT(version), P_STR(name), P_STR(checksum)};

	return write_only(c, Q_MIGRATION_RECORD, p, 3);
}

enum db_status
db_exec_script_statement(struct db_conn *c, const char *sql, size_t len)
{
	return from_sqlpool(sqlpool_exec_trusted(c->sql, sql, len));
}

void
db_time_from_now(unsigned long seconds, char *out_r)
{
	struct timespec ts;
	struct tm tm;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec + (time_t)seconds;
	gmtime_r(&t, &tm);
	strftime(out_r, DB_TIME_MAX, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out_r + 19, DB_TIME_MAX - 19, ".%03d", (int)(ts.tv_nsec / 1000000) % 1000);
}

void
db_time_iso(const char *db_time, char *iso_r)
{
	size_t len = strnlen(db_time, DB_TIME_MAX - 2);

	memcpy(iso_r, db_time, len);
	if (len > 10)
		iso_r[10] = 'T';
	iso_r[len] = 'Z';
	iso_r[len + 1] = '\0';
}
