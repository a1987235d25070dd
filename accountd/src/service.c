/* Account operations; see service.h. Every multi-statement change runs in
 * one transaction, so a crash or a DB error never leaves half an account. */
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <sodium.h>

#include "dovecot_auth.h"
#include "log.h"
#include "service.h"
#include "validate.h"

static const struct svc_error_info errors[] = {
    [SVC_OK] = {"ok", 200, EX_OK, "ok"},
    [SVC_INVALID_REQUEST] = {"invalid_request", 400, EX_DATAERR, "the request is malformed"},
    [SVC_INVALID_USERNAME] = {"invalid_username", 422, EX_DATAERR, "this username is not allowed"},
    [SVC_WEAK_PASSWORD] = {"weak_password", 422, EX_DATAERR, "this password is too weak"},
    [SVC_UNKNOWN_DOMAIN] = {"unknown_domain", 422, EX_DATAERR, "this domain is not served here"},
    [SVC_INVALID_DOMAIN] = {"invalid_domain", 422, EX_DATAERR, "this is not a domain name"},
    [SVC_INVALID_ADDRESS] = {"invalid_address", 422, EX_DATAERR, "this is not a valid address"},
    [SVC_INVITE_REQUIRED] = {"invite_required", 422, EX_DATAERR,
        "registration needs an invite code"},
    [SVC_INVALID_INVITE] = {"invalid_invite", 422, EX_DATAERR, "this invite code is not valid"},
    [SVC_ALREADY_EXISTS] = {"already_exists", 409, EX_DATAERR, "this already exists"},
    [SVC_REGISTRATION_CLOSED] = {"registration_closed", 403, EX_NOPERM, "registration is closed"},
    [SVC_INVALID_CREDENTIALS] = {"invalid_credentials", 401, EX_NOPERM,
        "the address or the password is wrong"},
    [SVC_UNAUTHORIZED] = {"unauthorized", 401, EX_NOPERM, "a valid token is required"},
    [SVC_NOT_FOUND] = {"not_found", 404, EX_DATAERR, "not found"},
    [SVC_MAILBOX_ACTIVE] = {"mailbox_active", 409, EX_DATAERR,
        "deactivate the mailbox before purging it"},
    [SVC_UNAVAILABLE] = {"unavailable", 503, EX_UNAVAILABLE,
        "the service is temporarily unavailable, try again"},
    [SVC_INTERNAL] = {"internal_error", 500, EX_SOFTWARE, "internal error"},
};

const struct svc_error_info *
svc_error(enum svc_status status)
{
	return &errors[status];
}

static enum svc_status
from_db(enum db_status status)
{
	switch (status) {
	case DB_OK:
		return SVC_OK;
	case DB_NOT_FOUND:
		return SVC_NOT_FOUND;
	case DB_DUPLICATE:
		return SVC_ALREADY_EXISTS;
	case DB_UNAVAILABLE:
		return SVC_UNAVAILABLE;
	case DB_FAILED:
		return SVC_INTERNAL;
	}
	return SVC_INTERNAL;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Hash or verify, timed for the metrics. */
static int
timed_hash(struct service *svc, const char *password, size_t len, char *hash_r)
{
	double start = now_seconds();
	int ret = password_hash(password, len, &svc->cost, hash_r);

	if (svc->metrics != NULL)
		metrics_hash_time(svc->metrics, now_seconds() - start);
	return ret;
}

static enum password_check
timed_verify(struct service *svc, const char *stored, const char *password, size_t len)
{
	double start = now_seconds();
	enum password_check ret = password_verify(stored, password, len);

	if (svc->metrics != NULL)
		metrics_hash_time(svc->metrics, now_seconds() - start);
	return ret;
}

void
service_deinit(struct service *svc)
{
	session_cache_free(&svc->sessions);
	revocation_close(&svc->revocation);
}

int
service_init(
    struct service *svc, const struct config *cfg, struct metrics *metrics, bool with_cache)
{
	unsigned char random_password[24];

	memset(svc, 0, sizeof(*svc));
	svc->cfg = cfg;
	svc->metrics = metrics;
	/* The daemon makes the shared file; the CLI (no cache) only tells the
	 * daemons' caches through it. */
	if ((svc->revocation = revocation_open(cfg->revocation_file, with_cache)) == NULL)
		return -1;
	if (with_cache && cfg->session_cache_ttl > 0 &&
	    (svc->sessions = session_cache_new(8192, cfg->session_cache_ttl, svc->revocation)) ==
	        NULL) {
		service_deinit(svc);
		return -1;
	}
	password_cost_init(&svc->cost, cfg->argon2_memory_kib, cfg->argon2_time);
	randombytes_buf(random_password, sizeof(random_password));
	if (password_hash((const char *)random_password, sizeof(random_password), &svc->cost,
	        svc->dummy_hash) != 0) {
		service_deinit(svc);
		return -1;
	}
	return 0;
}

/* Commit, or roll back and report why. */
static enum svc_status
finish(struct db_conn *c, enum db_status status)
{
	if (status == DB_OK)
		status = db_commit(c);
	else
		db_rollback(c);
	return from_db(status);
}

/* Tell Dovecot to forget what it cached about user (everyone when NULL):
 * whether a login may succeed has just changed. A failure is logged, not
 * fatal: Dovecot's own cache TTL still bounds the staleness. */
static void
forget_in_dovecot(struct service *svc, const char *user)
{
	const char *error;

	if (svc->cfg->dovecot_auth_socket[0] == '\0')
		return;
	if (dovecot_auth_cache_flush(svc->cfg->dovecot_auth_socket, user, 1000, &error) < 0)
		log_warnx("dovecot_cache_flush_failed user=%s error=\"%s\"",
		    user != NULL ? user : "*", error);
}

/* finish() for changes that may revoke sessions or logins: the caches are
 * emptied after the commit, so no reader can cache the row as it was
 * before. */
static enum svc_status
finish_and_forget(struct service *svc, struct db_conn *c, enum db_status status, const char *email)
{
	enum svc_status st = finish(c, status);

	revocation_bump(svc->revocation);
	if (st == SVC_OK)
		forget_in_dovecot(svc, email);
	return st;
}

enum svc_status
svc_registration_get(struct service *svc, struct db_conn *c, enum registration_mode *mode_r)
{
	char value[32];
	enum db_status status = db_setting_get(c, "registration_mode", value, sizeof(value));

	if (status == DB_NOT_FOUND) {
		*mode_r = svc->cfg->registration_default;
		return SVC_OK;
	}
	if (status != DB_OK)
		return from_db(status);
	if (registration_mode_parse(value, mode_r) < 0)
		*mode_r = REGISTRATION_CLOSED; /* unreadable setting: fail closed */
	return SVC_OK;
}

enum svc_status
svc_registration_set(struct db_conn *c, enum registration_mode mode)
{
	return from_db(db_setting_set(c, "registration_mode", registration_mode_name(mode)));
}

enum svc_status
svc_register_check(struct service *svc, struct db_conn *c, const char *username, const char *domain,
    const char *password, size_t password_len, const char *invite, bool by_admin,
    struct register_plan *plan_r, const char **message_r)
{
	const struct config *cfg = svc->cfg;
	enum registration_mode mode;
	struct db_domain d;
	enum svc_status st;
	enum db_status status;
	bool taken;
	unsigned invite_id;

	memset(plan_r, 0, sizeof(*plan_r));
	plan_r->quota_bytes = cfg->default_quota_bytes;
	if ((st = svc_registration_get(svc, c, &mode)) != SVC_OK)
		return st;
	if (by_admin)
		mode = REGISTRATION_OPEN;
	if (mode == REGISTRATION_CLOSED)
		return SVC_REGISTRATION_CLOSED;
	if (mode == REGISTRATION_INVITE && (invite == NULL || *invite == '\0'))
		return SVC_INVITE_REQUIRED;

	if (validate_username(username, plan_r->local, cfg->reserved_extra, cfg->n_reserved_extra,
	        message_r) != 0)
		return SVC_INVALID_USERNAME;
	if (domain == NULL || *domain == '\0')
		domain = cfg->primary_domain;
	if (validate_domain(domain, plan_r->domain, message_r) != 0)
		return SVC_UNKNOWN_DOMAIN;
	snprintf(plan_r->email, sizeof(plan_r->email), "%s@%s", plan_r->local, plan_r->domain);
	if (validate_password(password, password_len, plan_r->local, plan_r->email, message_r) != 0)
		return SVC_WEAK_PASSWORD;

	status = db_domain_get(c, plan_r->domain, &d);
	if (status == DB_NOT_FOUND || (status == DB_OK && !d.active)) {
		*message_r = "this domain is not served here";
		return SVC_UNKNOWN_DOMAIN;
	}
	if (status != DB_OK)
		return from_db(status);
	plan_r->domain_id = d.id;
	if ((status = db_address_taken(c, plan_r->email, &taken)) != DB_OK)
		return from_db(status);
	if (taken) {
		*message_r = "this address is already taken";
		return SVC_ALREADY_EXISTS;
	}
	if (mode == REGISTRATION_INVITE) {
		if (token_hash(invite, strlen(invite), INVITE_TEXT_LEN, plan_r->invite_hash) < 0)
			return SVC_INVALID_INVITE;
		status = db_invite_claim(c, plan_r->invite_hash, &invite_id);
		if (status == DB_NOT_FOUND)
			return SVC_INVALID_INVITE;
		if (status != DB_OK)
			return from_db(status);
		plan_r->use_invite = true;
	}
	return SVC_OK;
}

enum svc_status
svc_register_commit(struct service *svc, struct db_conn *c, struct register_plan *plan,
    const char *password, size_t password_len)
{
	char hash[PASSWORD_HASH_MAX];
	struct db_mailbox m;
	enum db_status status;
	unsigned mailbox_id = 0, invite_id = 0;

	if (timed_hash(svc, password, password_len, hash) != 0)
		return SVC_INTERNAL;
	if ((status = db_begin(c)) != DB_OK) {
		sodium_memzero(hash, sizeof(hash));
		return from_db(status);
	}
	if (plan->use_invite) {
		/* Locked until commit: two sign-ups cannot share one code. */
		status = db_invite_claim(c, plan->invite_hash, &invite_id);
		if (status == DB_NOT_FOUND) {
			db_rollback(c);
			sodium_memzero(hash, sizeof(hash));
			return SVC_INVALID_INVITE;
		}
	}
	if (status == DB_OK)
		status = db_mailbox_insert(c, plan->domain_id, plan->local, plan->email, hash,
		    plan->quota_bytes, &mailbox_id);
	if (status == DB_OK && plan->use_invite)
		status = db_invite_mark_used(c, invite_id, mailbox_id);
	if (status == DB_OK)
		status = db_mailbox_get_by_id(c, mailbox_id, &m);
	enum svc_status st = finish(c, status);
	if (st == SVC_OK) {
		memcpy(plan->created_at, m.created_at, sizeof(plan->created_at));
		/* A login tried before the account existed may be cached as a
		 * failure. */
		forget_in_dovecot(svc, plan->email);
	}
	sodium_memzero(hash, sizeof(hash));
	return st;
}

enum svc_status
svc_login(struct service *svc, struct db_conn *c, const char *email, const char *password,
    size_t password_len, char *token_r, char *expires_r)
{
	char folded[EMAIL_MAX + 1], new_hash[PASSWORD_HASH_MAX], expires[DB_TIME_MAX];
	unsigned char token_hash_bin[TOKEN_HASH_BYTES];
	const char *why, *stored = svc->dummy_hash;
	struct db_mailbox m;
	enum db_status status = DB_NOT_FOUND;
	bool match;

	memset(&m, 0, sizeof(m));
	if (validate_address(email, folded, &why) == 0) {
		status = db_mailbox_get(c, folded, &m);
		if (status == DB_UNAVAILABLE || status == DB_FAILED)
			return from_db(status);
		if (status == DB_OK)
			stored = m.password_hash;
	}
	/* Always one verification, whatever is wrong, so that the answer
	 * and its timing say nothing about which part was wrong. */
	match = timed_verify(svc, stored, password, password_len) == PASSWORD_MATCH;
	if (status != DB_OK || !match || !m.active || !m.domain_active)
		return SVC_INVALID_CREDENTIALS;

	if (password_needs_rehash(m.password_hash, &svc->cost) &&
	    timed_hash(svc, password, password_len, new_hash) == 0) {
		if (db_mailbox_set_hash(c, m.id, new_hash) != DB_OK)
			log_warnx("hash_upgrade_failed mailbox=%u", m.id);
		sodium_memzero(new_hash, sizeof(new_hash));
	}
	token_new(TOKEN_BYTES, token_r, TOKEN_TEXT_LEN + 1, token_hash_bin);
	db_time_from_now(svc->cfg->session_ttl, expires);
	if ((status = db_session_insert(c, token_hash_bin, m.id, expires)) != DB_OK) {
		sodium_memzero(token_r, TOKEN_TEXT_LEN + 1);
		return from_db(status);
	}
	db_time_iso(expires, expires_r);
	return SVC_OK;
}

enum svc_status
svc_session(struct service *svc, struct db_conn *c, const char *token, size_t len,
    struct db_mailbox *mailbox_r, unsigned char *token_hash_r)
{
	enum db_status status;

	unsigned long long generation;
	double now = now_seconds();

	if (token == NULL || token_hash(token, len, TOKEN_TEXT_LEN, token_hash_r) < 0)
		return SVC_UNAUTHORIZED;
	if (session_cache_get(svc->sessions, token_hash_r, now, mailbox_r))
		return SVC_OK;
	generation = session_cache_generation(svc->sessions);
	status = db_session_lookup(c, token_hash_r, mailbox_r);
	if (status == DB_NOT_FOUND)
		return SVC_UNAUTHORIZED;
	if (status == DB_OK)
		session_cache_put(svc->sessions, token_hash_r, now, generation, mailbox_r);
	return from_db(status);
}

enum svc_status
svc_logout(struct service *svc, struct db_conn *c, const unsigned char *token_hash)
{
	enum db_status status = db_session_delete(c, token_hash);

	revocation_bump(svc->revocation);
	return from_db(status);
}

/* Verify the password of mailbox id; SVC_INVALID_CREDENTIALS if wrong. */
static enum svc_status
verify_mailbox_password(struct service *svc, struct db_conn *c, unsigned id, const char *password,
    size_t len, struct db_mailbox *m)
{
	enum db_status status = db_mailbox_get_by_id(c, id, m);

	if (status == DB_NOT_FOUND)
		return SVC_UNAUTHORIZED;
	if (status != DB_OK)
		return from_db(status);
	if (timed_verify(svc, m->password_hash, password, len) != PASSWORD_MATCH)
		return SVC_INVALID_CREDENTIALS;
	return SVC_OK;
}

/* New hash + revoke other sessions, in one transaction. */
static enum svc_status
replace_password(struct service *svc, struct db_conn *c, const struct db_mailbox *m,
    const unsigned char *keep, const char *password, size_t len, const char **message_r)
{
	char hash[PASSWORD_HASH_MAX];
	const char *local_end = strchr(m->email, '@');
	char local[LOCAL_MAX + 1];
	enum db_status status;

	snprintf(local, sizeof(local), "%.*s", (int)(local_end - m->email), m->email);
	if (validate_password(password, len, local, m->email, message_r) != 0)
		return SVC_WEAK_PASSWORD;
	if (timed_hash(svc, password, len, hash) != 0)
		return SVC_INTERNAL;
	if ((status = db_begin(c)) == DB_OK) {
		status = db_mailbox_set_hash(c, m->id, hash);
		if (status == DB_OK)
			status = db_session_delete_others(c, m->id, keep);
		sodium_memzero(hash, sizeof(hash));
		return finish_and_forget(svc, c, status, m->email);
	}
	sodium_memzero(hash, sizeof(hash));
	return from_db(status);
}

enum svc_status
svc_change_password(struct service *svc, struct db_conn *c, unsigned mailbox_id,
    const unsigned char *keep_session, const char *current, size_t current_len,
    const char *new_password, size_t new_len, const char **message_r)
{
	struct db_mailbox m;
	enum svc_status st;

	if ((st = verify_mailbox_password(svc, c, mailbox_id, current, current_len, &m)) != SVC_OK)
		return st;
	return replace_password(svc, c, &m, keep_session, new_password, new_len, message_r);
}

enum svc_status
svc_delete_account(
    struct service *svc, struct db_conn *c, unsigned mailbox_id, const char *password, size_t len)
{
	struct db_mailbox m;
	enum svc_status st;
	enum db_status status;

	if ((st = verify_mailbox_password(svc, c, mailbox_id, password, len, &m)) != SVC_OK)
		return st;
	if ((status = db_begin(c)) != DB_OK)
		return from_db(status);
	status = db_mailbox_set_active(c, m.id, false);
	if (status == DB_OK)
		status = db_session_delete_others(c, m.id, NULL);
	return finish_and_forget(svc, c, status, m.email);
}

static json_t *
domain_json(const struct db_domain *d)
{
	return json_pack(
	    "{s:s, s:b, s:s}", "name", d->name, "active", d->active, "created_at", d->created_at);
}

json_t *
svc_mailbox_json(const struct db_mailbox *m)
{
	return json_pack("{s:s, s:b, s:I, s:s}", "email", m->email, "active",
	    m->active && m->domain_active, "quota_bytes", (json_int_t)m->quota_bytes, "created_at",
	    m->created_at);
}

enum svc_status
svc_domain_add(struct db_conn *c, const char *name, json_t **out_r, const char **message_r)
{
	char folded[DOMAIN_MAX + 1];
	struct db_domain d;
	enum db_status status;

	if (validate_domain(name, folded, message_r) != 0)
		return SVC_INVALID_DOMAIN;
	status = db_domain_insert(c, folded);
	if (status == DB_OK)
		status = db_domain_get(c, folded, &d);
	if (status != DB_OK)
		return from_db(status);
	*out_r = domain_json(&d);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

static int
append_domain(void *ctx, const void *row)
{
	return json_array_append_new(ctx, domain_json(row));
}

enum svc_status
svc_domain_list(struct db_conn *c, json_t **out_r)
{
	json_t *arr = json_array();
	enum db_status status;

	if (arr == NULL)
		return SVC_INTERNAL;
	if ((status = db_domain_list(c, append_domain, arr)) != DB_OK) {
		json_decref(arr);
		return from_db(status);
	}
	*out_r = json_pack("{s:o}", "domains", arr);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

enum svc_status
svc_domain_set_active(
    struct service *svc, struct db_conn *c, const char *name, bool active, json_t **out_r)
{
	char folded[DOMAIN_MAX + 1];
	const char *why;
	struct db_domain d;
	enum db_status status;

	if (validate_domain(name, folded, &why) != 0)
		return SVC_NOT_FOUND;
	status = db_domain_set_active(c, folded, active);
	revocation_bump(svc->revocation);
	if (status == DB_OK)
		forget_in_dovecot(svc, NULL); /* every user of the domain */
	if (status == DB_OK)
		status = db_domain_get(c, folded, &d);
	if (status != DB_OK)
		return from_db(status);
	*out_r = domain_json(&d);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

struct mailbox_page {
	json_t *items;
	char last[EMAIL_MAX + 1];
	unsigned count;
};

static int
append_mailbox(void *ctx, const void *row)
{
	struct mailbox_page *page = ctx;
	const struct db_mailbox *m = row;

	snprintf(page->last, sizeof(page->last), "%s", m->email);
	page->count++;
	return json_array_append_new(page->items, svc_mailbox_json(m));
}

enum svc_status
svc_mailbox_list(
    struct db_conn *c, const char *domain, const char *after, unsigned limit, json_t **out_r)
{
	struct mailbox_page page = {.items = json_array()};
	enum db_status status;

	if (page.items == NULL)
		return SVC_INTERNAL;
	status = db_mailbox_list(c, domain != NULL ? domain : "", after != NULL ? after : "", limit,
	    append_mailbox, &page);
	if (status != DB_OK) {
		json_decref(page.items);
		return from_db(status);
	}
	/* A full page may have a next one; its cursor is the last address. */
	*out_r = json_pack("{s:o, s:o}", "mailboxes", page.items, "next",
	    page.count == limit && limit > 0 ? json_string(page.last) : json_null());
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

static enum svc_status
find_mailbox(struct db_conn *c, const char *email, struct db_mailbox *m)
{
	char folded[EMAIL_MAX + 1];
	const char *why;

	if (validate_address(email, folded, &why) != 0)
		return SVC_NOT_FOUND;
	return from_db(db_mailbox_get(c, folded, m));
}

enum svc_status
svc_mailbox_update(struct service *svc, struct db_conn *c, const char *email, const bool *active,
    const uint64_t *quota, json_t **out_r)
{
	struct db_mailbox m;
	enum svc_status st;
	enum db_status status;

	if ((st = find_mailbox(c, email, &m)) != SVC_OK)
		return st;
	if ((status = db_begin(c)) != DB_OK)
		return from_db(status);
	if (active != NULL) {
		status = db_mailbox_set_active(c, m.id, *active);
		if (status == DB_OK && !*active)
			status = db_session_delete_others(c, m.id, NULL);
	}
	if (status == DB_OK && quota != NULL)
		status = db_mailbox_set_quota(c, m.id, *quota);
	if (status == DB_OK)
		status = db_mailbox_get_by_id(c, m.id, &m);
	/* quota and state are cached too */
	if ((st = finish_and_forget(svc, c, status, m.email)) != SVC_OK)
		return st;
	*out_r = svc_mailbox_json(&m);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

enum svc_status
svc_mailbox_set_password(struct service *svc, struct db_conn *c, const char *email,
    const char *password, size_t len, const char **message_r)
{
	struct db_mailbox m;
	enum svc_status st;

	if ((st = find_mailbox(c, email, &m)) != SVC_OK)
		return st;
	return replace_password(svc, c, &m, NULL, password, len, message_r);
}

enum svc_status
svc_mailbox_purge(struct service *svc, struct db_conn *c, const char *email)
{
	struct db_mailbox m;
	enum svc_status st;
	enum db_status status;

	if ((st = find_mailbox(c, email, &m)) != SVC_OK)
		return st;
	if (m.active)
		return SVC_MAILBOX_ACTIVE;
	if ((status = db_begin(c)) != DB_OK)
		return from_db(status);
	status = db_alias_delete_destination(c, m.email);
	if (status == DB_OK)
		status = db_mailbox_delete(c, m.id); /* sessions go with it */
	if (status == DB_OK)
		status = db_purge_queue_add(c, m.email);
	return finish_and_forget(svc, c, status, m.email);
}

enum svc_status
svc_alias_add(struct db_conn *c, const char *source, const char *const *destinations, size_t n,
    json_t **out_r, const char **message_r)
{
	char src[EMAIL_MAX + 1], dst[EMAIL_MAX + 1];
	struct db_domain d;
	json_t *list;
	enum db_status status;
	bool taken;

	if (n == 0 || n > 100) {
		*message_r = "an alias needs 1 to 100 destinations";
		return SVC_INVALID_REQUEST;
	}
	if (validate_address(source, src, message_r) != 0)
		return SVC_INVALID_ADDRESS;
	status = db_domain_get(c, strchr(src, '@') + 1, &d);
	if (status == DB_NOT_FOUND || (status == DB_OK && !d.active)) {
		*message_r = "the alias's domain is not served here";
		return SVC_UNKNOWN_DOMAIN;
	}
	if (status != DB_OK)
		return from_db(status);
	if ((status = db_address_taken(c, src, &taken)) != DB_OK)
		return from_db(status);
	if (taken) {
		*message_r = "this address is already a mailbox or an alias";
		return SVC_ALREADY_EXISTS;
	}
	if ((list = json_array()) == NULL)
		return SVC_INTERNAL;
	if ((status = db_begin(c)) != DB_OK) {
		json_decref(list);
		return from_db(status);
	}
	for (size_t i = 0; i < n && status == DB_OK; i++) {
		if (validate_address(destinations[i], dst, message_r) != 0) {
			db_rollback(c);
			json_decref(list);
			return SVC_INVALID_ADDRESS;
		}
		status = db_alias_insert(c, d.id, src, dst);
		if (status == DB_DUPLICATE) /* the same destination twice */
			status = DB_OK;
		else if (status == DB_OK && json_array_append_new(list, json_string(dst)) != 0)
			status = DB_FAILED;
	}
	enum svc_status st = finish(c, status);
	if (st != SVC_OK) {
		json_decref(list);
		return st;
	}
	*out_r = json_pack("{s:s, s:o}", "source", src, "destinations", list);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

static int
append_alias(void *ctx, const void *row)
{
	json_t *arr = ctx;
	const struct db_alias *a = row;
	size_t n = json_array_size(arr);
	json_t *last = n > 0 ? json_array_get(arr, n - 1) : NULL;

	/* Rows come ordered by source: group consecutive ones. */
	if (last == NULL ||
	    strcmp(json_string_value(json_object_get(last, "source")), a->source) != 0) {
		last = json_pack("{s:s, s:[]}", "source", a->source, "destinations");
		if (last == NULL || json_array_append_new(arr, last) != 0)
			return -1;
	}
	return json_array_append_new(
	    json_object_get(last, "destinations"), json_string(a->destination));
}

enum svc_status
svc_alias_list(struct db_conn *c, const char *domain, json_t **out_r)
{
	json_t *arr = json_array();
	enum db_status status;

	if (arr == NULL)
		return SVC_INTERNAL;
	if ((status = db_alias_list(c, domain != NULL ? domain : "", append_alias, arr)) != DB_OK) {
		json_decref(arr);
		return from_db(status);
	}
	*out_r = json_pack("{s:o}", "aliases", arr);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

enum svc_status
svc_alias_delete(struct db_conn *c, const char *source)
{
	char src[EMAIL_MAX + 1];
	const char *why;

	if (validate_address(source, src, &why) != 0)
		return SVC_NOT_FOUND;
	return from_db(db_alias_delete(c, src));
}

enum svc_status
svc_invite_create(
    struct db_conn *c, unsigned count, unsigned long expires_in, const char *note, json_t **out_r)
{
	char code[INVITE_TEXT_LEN + 8], expires[DB_TIME_MAX] = "", iso[DB_TIME_MAX] = "";
	unsigned char hash[TOKEN_HASH_BYTES];
	json_t *arr = json_array();
	enum db_status status;
	unsigned id;

	if (arr == NULL)
		return SVC_INTERNAL;
	if (expires_in > 0) {
		db_time_from_now(expires_in, expires);
		db_time_iso(expires, iso);
	}
	if ((status = db_begin(c)) != DB_OK) {
		json_decref(arr);
		return from_db(status);
	}
	for (unsigned i = 0; i < count && status == DB_OK; i++) {
		token_new(INVITE_BYTES, code, sizeof(code), hash);
		status = db_invite_insert(c, hash, note != NULL ? note : "", expires, &id);
		if (status == DB_OK &&
		    json_array_append_new(arr,
		        json_pack("{s:I, s:s, s:o}", "id", (json_int_t)id, "code", code,
		            "expires_at", expires_in > 0 ? json_string(iso) : json_null())) != 0)
			status = DB_FAILED;
	}
	enum svc_status st = finish(c, status);
	if (st != SVC_OK) {
		json_decref(arr);
		return st;
	}
	*out_r = json_pack("{s:o}", "invites", arr);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

static int
append_invite(void *ctx, const void *row)
{
	const struct db_invite *inv = row;

	return json_array_append_new(
	    ctx, json_pack("{s:I, s:s, s:s, s:o, s:s}", "id", (json_int_t)inv->id, "note",
	             inv->note, "created_at", inv->created_at, "expires_at",
	             inv->expires_at[0] != '\0' ? json_string(inv->expires_at) : json_null(),
	             "status", inv->status));
}

enum svc_status
svc_invite_list(struct db_conn *c, json_t **out_r)
{
	json_t *arr = json_array();
	enum db_status status;

	if (arr == NULL)
		return SVC_INTERNAL;
	if ((status = db_invite_list(c, append_invite, arr)) != DB_OK) {
		json_decref(arr);
		return from_db(status);
	}
	*out_r = json_pack("{s:o}", "invites", arr);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

enum svc_status
svc_invite_revoke(struct db_conn *c, unsigned id)
{
	return from_db(db_invite_revoke(c, id));
}

/* ---- sending limits (enforced by mailnest-policyd) ---------------------- */

static const char *const mailbox_limit_fields[] = {
    "messages_per_hour", "messages_per_day", "recipients_per_message", "recipients_per_day", NULL};
static const char *const domain_limit_fields[] = {
    "messages_per_hour", "messages_per_day", "recipients_per_day", NULL};

const char *const *
svc_send_limit_fields(enum send_limits_scope scope)
{
	switch (scope) {
	case SEND_LIMITS_MAILBOX:
		return mailbox_limit_fields;
	case SEND_LIMITS_DOMAIN:
		return domain_limit_fields;
	}
	return mailbox_limit_fields;
}

static json_t *
send_limits_json(enum send_limits_scope scope, const char *name, const struct db_send_limits *l)
{
	const char *const *fields = svc_send_limit_fields(scope);
	json_t *out = json_object();

	if (out == NULL ||
	    json_object_set_new(
	        out, scope == SEND_LIMITS_MAILBOX ? "email" : "domain", json_string(name)) != 0)
		goto fail;
	for (size_t i = 0; fields[i] != NULL; i++)
		if (json_object_set_new(out, fields[i],
		        l->set[i] ? json_integer((json_int_t)l->value[i]) : json_null()) != 0)
			goto fail;
	if (scope == SEND_LIMITS_MAILBOX &&
	    (json_object_set_new(out, "send_suspended", json_boolean(l->suspended_at[0] != '\0')) !=
	            0 ||
	        json_object_set_new(out, "send_suspended_at",
	            l->suspended_at[0] != '\0' ? json_string(l->suspended_at) : json_null()) != 0))
		goto fail;
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* The stored address or domain name for what the caller typed. */
static enum svc_status
fold_name(enum send_limits_scope scope, const char *name, char *folded_r)
{
	const char *why;

	switch (scope) {
	case SEND_LIMITS_MAILBOX:
		return validate_address(name, folded_r, &why) == 0 ? SVC_OK : SVC_NOT_FOUND;
	case SEND_LIMITS_DOMAIN:
		return validate_domain(name, folded_r, &why) == 0 ? SVC_OK : SVC_NOT_FOUND;
	}
	return SVC_NOT_FOUND;
}

static enum db_status
send_limits_get(
    struct db_conn *c, enum send_limits_scope scope, const char *name, struct db_send_limits *l)
{
	return scope == SEND_LIMITS_MAILBOX ? db_send_limits_mailbox_get(c, name, l)
	                                    : db_send_limits_domain_get(c, name, l);
}

enum svc_status
svc_send_limits_get(
    struct db_conn *c, enum send_limits_scope scope, const char *name, json_t **out_r)
{
	char folded[EMAIL_MAX + 1];
	struct db_send_limits l;
	enum svc_status st;

	if ((st = fold_name(scope, name, folded)) != SVC_OK)
		return st;
	if ((st = from_db(send_limits_get(c, scope, folded, &l))) != SVC_OK)
		return st;
	*out_r = send_limits_json(scope, folded, &l);
	return *out_r != NULL ? SVC_OK : SVC_INTERNAL;
}

enum svc_status
svc_send_limits_set(struct db_conn *c, enum send_limits_scope scope, const char *name,
    const bool *set, const unsigned long long *value, json_t **out_r)
{
	char folded[EMAIL_MAX + 1];
	struct db_send_limits l;
	enum db_status status;
	enum svc_status st;

	if ((st = fold_name(scope, name, folded)) != SVC_OK)
		return st;
	if ((st = from_db(send_limits_get(c, scope, folded, &l))) != SVC_OK)
		return st;
	for (size_t i = 0; svc_send_limit_fields(scope)[i] != NULL; i++) {
		l.set[i] = set[i];
		l.value[i] = set[i] ? value[i] : 0;
	}
	status = scope == SEND_LIMITS_MAILBOX ? db_send_limits_mailbox_set(c, &l)
	                                      : db_send_limits_domain_set(c, &l);
	if ((st = from_db(status)) != SVC_OK)
		return st;
	log_info(
	    "send_limits_set %s=%s", scope == SEND_LIMITS_MAILBOX ? "email" : "domain", folded);
	return svc_send_limits_get(c, scope, folded, out_r);
}

enum svc_status
svc_send_suspension_lift(struct db_conn *c, const char *email, json_t **out_r)
{
	char folded[EMAIL_MAX + 1];
	struct db_send_limits l;
	enum svc_status st;

	if ((st = fold_name(SEND_LIMITS_MAILBOX, email, folded)) != SVC_OK)
		return st;
	if ((st = from_db(db_send_limits_mailbox_get(c, folded, &l))) != SVC_OK)
		return st;
	if ((st = from_db(db_send_suspension_lift(c, l.owner_id, folded))) != SVC_OK)
		return st;
	log_info("send_suspension_lifted email=%s", folded);
	return svc_send_limits_get(c, SEND_LIMITS_MAILBOX, folded, out_r);
}
