/* Decisions; see policy.h. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "policy.h"

#define ACTION_DUNNO   "DUNNO"
#define ACTION_DB_DOWN "451 4.3.0 Sending limits cannot be checked right now; try again later"
#define ACTION_SUSPENDED                                                                           \
	"450 4.7.1 Sending is suspended for this account after repeated limit hits; "              \
	"contact the administrator"
#define ACTION_UNKNOWN "450 4.7.1 Sending account not found or not active"
/* Tries of the counting transaction (deadlocks and lock waits are retried). */
#define COUNT_ATTEMPTS 3

static void
answer(char *buf, size_t size, enum metric m, const char *text)
{
	metrics_add(m);
	snprintf(buf, size, "%s", text);
}

/* Count one limit hit for the message (once) and suspend the account when
 * it has hit its limits suspend_after times today. Failures are logged; the
 * refusal stands either way. */
static void
record_limit_hit(const struct config *cfg, struct db_conn *c, struct policy_session *session,
    const char *user, const struct usage *used, const char *reason)
{
	enum db_status st;
	bool suspended = false;

	log_info("event=limit_hit user=%s reason=\"%s\"", user, reason);
	if (session->limit_hit_counted)
		return;
	session->limit_hit_counted = true;
	if ((st = db_limit_hit_add(c, user)) != DB_OK) {
		log_warnx("limit_hit_not_recorded user=%s db=%s", user, db_status_name(st));
		return;
	}
	if (cfg->limits.suspend_after == 0 || used->limit_hits_day + 1 < cfg->limits.suspend_after)
		return;
	if ((st = db_account_suspend(c, user, &suspended)) != DB_OK) {
		log_warnx("suspend_failed user=%s db=%s", user, db_status_name(st));
		return;
	}
	if (suspended) {
		metrics_add(M_SUSPENSIONS);
		log_info("event=suspended user=%s limit_hits_today=%llu", user,
		    used->limit_hits_day + 1);
	}
}

static void
refuse_over_limit(const struct config *cfg, struct db_conn *c, struct policy_session *session,
    const char *user, const struct usage *used, const char *reason, char *buf, size_t size)
{
	record_limit_hit(cfg, c, session, user, used, reason);
	metrics_add(M_DEFERRED_LIMIT);
	snprintf(buf, size, "452 %s", reason);
}

static void
decide_rcpt(const struct config *cfg, struct db_conn *c, struct policy_session *session,
    const char *user, const struct db_account *account, char *buf, size_t size)
{
	struct account_limits limits;
	struct domain_limits domain;
	struct usage used;
	char reason[200];
	enum db_status st;

	limits_effective(&cfg->limits, account->age_seconds, &account->overrides, &limits, &domain);
	if ((st = db_usage_get(c, user, account->domain, &used)) != DB_OK) {
		log_warnx("decision user=%s state=RCPT db=%s", user, db_status_name(st));
		answer(buf, size, M_DEFERRED_DB, ACTION_DB_DOWN);
		return;
	}
	if (limits_check(&limits, &domain, &used, 1, session->recipients + 1,
	        session->recipients + 1, reason, sizeof(reason)) != NULL) {
		refuse_over_limit(cfg, c, session, user, &used, reason, buf, size);
		return;
	}
	session->recipients++;
	answer(buf, size, M_PERMITTED, ACTION_DUNNO);
}

/* Count the message and check the counters it produced, in one
 * transaction; roll back when they cross a limit. */
static enum db_status
count_message(struct db_conn *c, const char *user, const struct db_account *account,
    const struct account_limits *limits, const struct domain_limits *domain, unsigned recipients,
    struct usage *used_r, char *reason, size_t reason_size, bool *over_r)
{
	enum db_status st;

	*over_r = false;
	if ((st = db_begin(c)) != DB_OK)
		return st;
	if ((st = db_usage_add(c, user, account->domain, recipients)) != DB_OK ||
	    (st = db_usage_get(c, user, account->domain, used_r)) != DB_OK) {
		db_rollback(c);
		return st;
	}
	if (limits_check(limits, domain, used_r, 0, recipients, 0, reason, reason_size) != NULL) {
		*over_r = true;
		db_rollback(c);
		return DB_OK;
	}
	return db_commit(c);
}

static void
decide_end_of_message(const struct config *cfg, struct db_conn *c, struct policy_session *session,
    const struct policy_request *req, const char *user, const struct db_account *account, char *buf,
    size_t size)
{
	struct account_limits limits;
	struct domain_limits domain;
	struct usage used;
	char reason[200];
	unsigned recipients =
	    req->recipient_count != 0 ? req->recipient_count : session->recipients;
	enum db_status st = DB_UNAVAILABLE;
	bool over = false;

	if (recipients == 0)
		recipients = 1;
	limits_effective(&cfg->limits, account->age_seconds, &account->overrides, &limits, &domain);
	/* Retry a deadlock or lock wait, never a lost server: the answer must
	 * come within a bound. */
	for (unsigned attempt = 0;
	     attempt < COUNT_ATTEMPTS && st == DB_UNAVAILABLE && (attempt == 0 || db_connected(c));
	     attempt++) {
		st = count_message(c, user, account, &limits, &domain, recipients, &used, reason,
		    sizeof(reason), &over);
	}
	if (st != DB_OK) {
		log_warnx("decision user=%s state=END-OF-MESSAGE db=%s", user, db_status_name(st));
		answer(buf, size, M_DEFERRED_DB, ACTION_DB_DOWN);
		return;
	}
	if (over) {
		refuse_over_limit(cfg, c, session, user, &used, reason, buf, size);
		return;
	}
	log_info("event=counted user=%s recipients=%u messages_hour=%llu messages_day=%llu", user,
	    recipients, used.messages_hour, used.messages_day);
	if (db_usage_prune(c) != DB_OK)
		log_warnx("prune_failed");
	answer(buf, size, M_PERMITTED, ACTION_DUNNO);
}

void
policy_decide(const struct config *cfg, struct db_pool *pool, struct policy_session *session,
    const struct policy_request *req, char *action_buf, size_t action_size)
{
	const char *user = req->sasl_username;
	struct db_account account;
	struct db_conn *c;
	enum db_status st;

	switch (req->state) {
	case POLICY_STATE_RCPT:
		metrics_add(M_REQUESTS_RCPT);
		break;
	case POLICY_STATE_END_OF_MESSAGE:
		metrics_add(M_REQUESTS_EOM);
		break;
	case POLICY_STATE_OTHER:
		metrics_add(M_REQUESTS_OTHER);
		answer(action_buf, action_size, M_PERMITTED, ACTION_DUNNO);
		return;
	}
	/* Limits are per login: mail without one is not submission's. */
	if (user[0] == '\0') {
		answer(action_buf, action_size, M_PERMITTED, ACTION_DUNNO);
		return;
	}
	if (strcmp(session->instance, req->instance) != 0) {
		memset(session, 0, sizeof(*session));
		snprintf(session->instance, sizeof(session->instance), "%s", req->instance);
	}
	if ((c = db_acquire(pool)) == NULL) {
		log_warnx("decision user=%s db=busy (no free connection)", user);
		answer(action_buf, action_size, M_DEFERRED_DB, ACTION_DB_DOWN);
		return;
	}
	st = db_account_get(c, user, &account);
	if (st == DB_NOT_FOUND || (st == DB_OK && !account.active)) {
		log_info("decision user=%s action=refused reason=unknown_or_inactive", user);
		answer(action_buf, action_size, M_DEFERRED_UNKNOWN, ACTION_UNKNOWN);
	} else if (st != DB_OK) {
		log_warnx("decision user=%s db=%s", user, db_status_name(st));
		answer(action_buf, action_size, M_DEFERRED_DB, ACTION_DB_DOWN);
	} else if (account.suspended) {
		log_info("decision user=%s action=refused reason=suspended", user);
		answer(action_buf, action_size, M_DEFERRED_SUSPENDED, ACTION_SUSPENDED);
	} else if (req->state == POLICY_STATE_RCPT) {
		decide_rcpt(cfg, c, session, user, &account, action_buf, action_size);
	} else {
		decide_end_of_message(
		    cfg, c, session, req, user, &account, action_buf, action_size);
	}
	db_release(pool, &c);
}
