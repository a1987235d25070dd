/* The decisions: what policyd answers to one parsed request, given the
 * account (read from MariaDB once per message) and its counters (held in
 * memory, usage_cache.h).
 *
 * RCPT: refuse (452) the recipient that would cross a limit, counting the
 * recipients of the message so far; the message is not counted yet.
 * END-OF-MESSAGE: count the message (recipient_count) for the account and
 * its domain, or refuse it (452) instead if that would cross a limit: check
 * and count are one step under the cache's lock, so two sessions sending at
 * once cannot both slip under it. The answer waits until the count is saved
 * in MariaDB (group commit), so a permitted message is always counted, and
 * a message refused anywhere never is. Every refusal is temporary; an
 * account that keeps hitting its limits is suspended from sending. MariaDB
 * unreachable: a temporary failure (451), never a permit. */
#ifndef POLICYD_POLICY_H
#define POLICYD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "db.h"
#include "policy_request.h"
#include "usage_cache.h"

/* What every decision uses; shared by the connection threads. */
struct policy_context {
	const struct config *cfg;
	struct db_pool *pool;
	struct usage_cache *cache;
};

/* What one Postfix connection remembers about the message in progress
 * (requests of one message share the `instance` attribute). */
struct policy_session {
	char instance[64];
	unsigned recipients;    /* accepted by policyd so far */
	bool limit_hit_counted; /* one hit per message at most */
	bool account_known;     /* account holds this message's sender */
	struct db_account account;
};

#define POLICY_ACTION_MAX 256

/* Decide about req and write the action (the text after "action=") into
 * action_buf. Never fails: trouble is a temporary refusal. */
void policy_decide(const struct policy_context *ctx, struct policy_session *session,
    const struct policy_request *req, char *action_buf, size_t action_size);

#endif
