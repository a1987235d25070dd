/* The sending rules; see limits.h. */
#include <stdio.h>

#include "limits.h"

static unsigned
pick(const struct limit_override *o, unsigned fallback)
{
	return o->set ? o->value : fallback;
}

void
limits_effective(const struct limit_defaults *defaults, unsigned long long age_seconds,
    const struct limit_overrides *overrides, struct account_limits *account_r,
    struct domain_limits *domain_r)
{
	const struct account_limits *base =
	    age_seconds < defaults->new_account_seconds ? &defaults->young : &defaults->established;

	account_r->messages_per_hour = pick(&overrides->messages_per_hour, base->messages_per_hour);
	account_r->messages_per_day = pick(&overrides->messages_per_day, base->messages_per_day);
	account_r->recipients_per_message =
	    pick(&overrides->recipients_per_message, base->recipients_per_message);
	account_r->recipients_per_day =
	    pick(&overrides->recipients_per_day, base->recipients_per_day);
	domain_r->messages_per_hour =
	    pick(&overrides->domain_messages_per_hour, defaults->domain.messages_per_hour);
	domain_r->messages_per_day =
	    pick(&overrides->domain_messages_per_day, defaults->domain.messages_per_day);
	domain_r->recipients_per_day =
	    pick(&overrides->domain_recipients_per_day, defaults->domain.recipients_per_day);
}

/* used + more crosses limit (0 = no limit)? */
static bool
crosses(unsigned limit, unsigned long long used, unsigned more)
{
	return limit != 0 && used + more > limit;
}

const char *
limits_check(const struct account_limits *account, const struct domain_limits *domain,
    const struct usage *used, unsigned new_messages, unsigned message_recipients,
    unsigned new_recipients, char *reason_buf, size_t reason_size)
{
	const char *what;
	unsigned limit;

	if (crosses(account->recipients_per_message, 0, message_recipients)) {
		what = "recipients per message for this account";
		limit = account->recipients_per_message;
	} else if (crosses(account->messages_per_hour, used->messages_hour, new_messages)) {
		what = "messages per hour for this account";
		limit = account->messages_per_hour;
	} else if (crosses(account->messages_per_day, used->messages_day, new_messages)) {
		what = "messages per day for this account";
		limit = account->messages_per_day;
	} else if (crosses(account->recipients_per_day, used->recipients_day, new_recipients)) {
		what = "recipients per day for this account";
		limit = account->recipients_per_day;
	} else if (crosses(domain->messages_per_hour, used->domain_messages_hour, new_messages)) {
		what = "messages per hour for this domain";
		limit = domain->messages_per_hour;
	} else if (crosses(domain->messages_per_day, used->domain_messages_day, new_messages)) {
		what = "messages per day for this domain";
		limit = domain->messages_per_day;
	} else if (crosses(
	               domain->recipients_per_day, used->domain_recipients_day, new_recipients)) {
		what = "recipients per day for this domain";
		limit = domain->recipients_per_day;
	} else {
		return NULL;
	}
	snprintf(reason_buf, reason_size, "4.7.1 Sending limit reached: %u %s; try again later",
	    limit, what);
	return reason_buf;
}
