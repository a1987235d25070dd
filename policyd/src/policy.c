/* Decisions; see policy.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "policy.h"

#define ACTION_DUNNO   "DUNNO"
#define ACTION_DB_DOWN "451 4.3.0 Sending limits cannot be checked right now; try again later"
#define ACTION_SUSPENDED                                                                           \
	"450 4.7.1 Sending is suspended for this account after repeated limit hits; "              \
	"contact the administrator"
#define ACTION_UNKNOWN "450 4.7.1 Sending account not found or not active"
/* Tries to read a subject's counters that an eviction made stale at once. */
#define LOAD_ATTEMPTS 3

static void
answer(char *buf, size_t size, enum metric m, const char *text)
{
	metrics_add(m);
	snprintf(buf, size, "%s", text);
}

/* Run one database step on a pooled connection. */
#define WITH_CONNECTION(ctx, status, call)                                                         \
	do {                                                                                       \
		struct db_conn *c_ = db_acquire((ctx)->pool);                                      \
		if (c_ == NULL) {                                                                  \
			(status) = DB_UNAVAILABLE;                                                 \
			break;                                                                     \
		}                                                                                  \
		(status) = call;                                                                   \
		db_release((ctx)->pool, &c_);                                                      \
	} while (0)

/* Count one limit hit for the message (once) and suspend the account when
 * it has hit its limits suspend_after times today. Failures are logged; the
 * refusal stands either way. */
static void
record_limit_hit(const struct policy_context *ctx, struct policy_session *session, const char *user,
    const struct usage_period *period, const char *reason)
{
	unsigned suspend_after = ctx->cfg->limits.suspend_after;
	unsigned long long hits = 0;
	enum db_status st;
	bool suspended = false;

	log_info("event=limit_hit user=%s reason=\"%s\"", user, reason);
	if (session->limit_hit_counted)
		return;
	session->limit_hit_counted = true;
	WITH_CONNECTION(ctx, st, db_limit_hit_add(c_, user, period, &hits));
	if (st != DB_OK) {
		log_warnx("limit_hit_not_recorded user=%s db=%s", user, db_status_name(st));
		return;
	}
	if (suspend_after == 0 || hits < suspend_after)
		return;
	WITH_CONNECTION(ctx, st, db_account_suspend(c_, user, &suspended));
	if (st != DB_OK) {
		log_warnx("suspend_failed user=%s db=%s", user, db_status_name(st));
		return;
	}
	session->account.suspended = true;
	if (suspended) {
		metrics_add(M_SUSPENSIONS);
		log_info("event=suspended user=%s limit_hits_today=%llu", user, hits);
	}
}

static void
refuse_over_limit(const struct policy_context *ctx, struct policy_session *session,
    const char *user, const struct usage_period *period, const char *reason, char *buf, size_t size)
{
	record_limit_hit(ctx, session, user, period, reason);
	metrics_add(M_DEFERRED_LIMIT);
	snprintf(buf, size, "452 %s", reason);
}

/* Read the counters of user and domain from MariaDB into the cache. */
static enum db_status
load_usage(const struct policy_context *ctx, const char *user, const char *domain,
    const struct usage_period *period)
{
	struct usage_counts account_counts, domain_counts;
	enum db_status st = DB_OK;

	for (unsigned attempt = 0; attempt < LOAD_ATTEMPTS; attempt++) {
		unsigned long long generation = usage_cache_generation(ctx->cache);
		bool account_loaded, domain_loaded;

		WITH_CONNECTION(ctx, st,
		    db_usage_get(c_, user, domain, period, &account_counts, &domain_counts));
		if (st != DB_OK)
			return st;
		account_loaded =
		    usage_cache_load(ctx->cache, user, period, &account_counts, generation);
		domain_loaded =
		    usage_cache_load(ctx->cache, domain, period, &domain_counts, generation);
		if (account_loaded && domain_loaded)
			return DB_OK;
	}
	return DB_UNAVAILABLE;
}

static void
decide_rcpt(const struct policy_context *ctx, struct policy_session *session, const char *user,
    const struct usage_period *period, char *buf, size_t size)
{
	const struct db_account *account = &session->account;
	struct account_limits limits;
	struct domain_limits domain;
	struct usage used;
	char reason[200];
	enum db_status st = DB_OK;

	limits_effective(
	    &ctx->cfg->limits, account->age_seconds, &account->overrides, &limits, &domain);
	if (usage_cache_get(ctx->cache, user, account->domain, period, &used) == USAGE_MISSING &&
	    ((st = load_usage(ctx, user, account->domain, period)) != DB_OK ||
	        usage_cache_get(ctx->cache, user, account->domain, period, &used) != USAGE_OK)) {
		log_warnx("decision user=%s state=RCPT db=%s", user,
		    db_status_name(st != DB_OK ? st : DB_UNAVAILABLE));
		answer(buf, size, M_DEFERRED_DB, ACTION_DB_DOWN);
		return;
	}
	if (limits_check(&limits, &domain, &used, 1, session->recipients + 1,
	        session->recipients + 1, reason, sizeof(reason)) != NULL) {
		refuse_over_limit(ctx, session, user, period, reason, buf, size);
		return;
	}
	session->recipients++;
	answer(buf, size, M_PERMITTED, ACTION_DUNNO);
}

static void
decide_end_of_message(const struct policy_context *ctx, struct policy_session *session,
    const struct policy_request *req, const char *user, const struct usage_period *period,
    char *buf, size_t size)
{
	const struct db_account *account = &session->account;
	struct account_limits limits;
	struct domain_limits domain;
	struct usage_waiter waiter;
	struct usage used;
	char reason[200];
	unsigned recipients =
	    req->recipient_count != 0 ? req->recipient_count : session->recipients;
	enum usage_result result = USAGE_MISSING;
	enum db_status st = DB_OK;

	if (recipients == 0)
		recipients = 1;
	limits_effective(
	    &ctx->cfg->limits, account->age_seconds, &account->overrides, &limits, &domain);
	for (unsigned attempt = 0; attempt < LOAD_ATTEMPTS && result == USAGE_MISSING; attempt++) {
		result = usage_cache_reserve(ctx->cache, user, account->domain, period, &limits,
		    &domain, recipients, &waiter, &used, reason, sizeof(reason));
		if (result == USAGE_MISSING &&
		    (st = load_usage(ctx, user, account->domain, period)) != DB_OK)
			break;
	}
	switch (result) {
	case USAGE_OK:
		/* Answer only once the count is in MariaDB. The writer's own
		 * steps are bounded by POLICYD_DB_TIMEOUT (three tries). */
		if (usage_cache_wait(ctx->cache, &waiter, 4 * ctx->cfg->db_timeout * 1000)) {
			log_info("event=counted user=%s recipients=%u messages_hour=%llu "
			         "messages_day=%llu",
			    user, recipients, used.messages_hour, used.messages_day);
			answer(buf, size, M_PERMITTED, ACTION_DUNNO);
			return;
		}
		log_warnx("decision user=%s state=END-OF-MESSAGE db=not saved", user);
		break;
	case USAGE_OVER:
		refuse_over_limit(ctx, session, user, period, reason, buf, size);
		return;
	case USAGE_BUSY:
		log_warnx("decision user=%s state=END-OF-MESSAGE db=busy (queue full)", user);
		break;
	case USAGE_MISSING:
		log_warnx("decision user=%s state=END-OF-MESSAGE db=%s", user,
		    db_status_name(st != DB_OK ? st : DB_UNAVAILABLE));
		break;
	}
	answer(buf, size, M_DEFERRED_DB, ACTION_DB_DOWN);
}

void
policy_decide(const struct policy_context *ctx, struct policy_session *session,
    const struct policy_request *req, char *action_buf, size_t action_size)
{
	const char *user = req->sasl_username;
	struct usage_period period;
	enum db_status st = DB_OK;

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
	/* A request without an instance (Postfix always sends one) is a
	 * message of its own: nothing is carried over to it. */
	if (req->instance[0] == '\0' || strcmp(session->instance, req->instance) != 0) {
		memset(session, 0, sizeof(*session));
		snprintf(session->instance, sizeof(session->instance), "%s", req->instance);
	}
	/* The account, its limits and suspension are read once per message:
	 * a change made through accountd applies from the next message. */
	if (!session->account_known) {
		WITH_CONNECTION(ctx, st, db_account_get(c_, user, &session->account));
		session->account_known = st == DB_OK;
	}
	usage_period_at((long long)time(NULL), &period);
	if (st == DB_NOT_FOUND || (st == DB_OK && !session->account.active)) {
		log_info("decision user=%s action=refused reason=unknown_or_inactive", user);
		answer(action_buf, action_size, M_DEFERRED_UNKNOWN, ACTION_UNKNOWN);
	} else if (st != DB_OK) {
		log_warnx("decision user=%s db=%s", user, db_status_name(st));
		answer(action_buf, action_size, M_DEFERRED_DB, ACTION_DB_DOWN);
	} else if (session->account.suspended) {
		log_info("decision user=%s action=refused reason=suspended", user);
		answer(action_buf, action_size, M_DEFERRED_SUSPENDED, ACTION_SUSPENDED);
	} else if (req->state == POLICY_STATE_RCPT) {
		decide_rcpt(ctx, session, user, &period, action_buf, action_size);
	} else {
		decide_end_of_message(ctx, session, req, user, &period, action_buf, action_size);
	}
}
