/* The sending rules, without I/O: which limits apply to an account (the
 * defaults, the stricter ones of a young account, the per-mailbox and
 * per-domain overrides stored by accountd) and whether one more message or
 * recipient would cross one of them. A limit of 0 means "no limit". */
#ifndef POLICYD_LIMITS_H
#define POLICYD_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* What one account may send. */
struct account_limits {
	unsigned messages_per_hour;
	unsigned messages_per_day;
	unsigned recipients_per_message;
	unsigned recipients_per_day;
};

/* What all the accounts of one domain may send together. */
struct domain_limits {
	unsigned messages_per_hour;
	unsigned messages_per_day;
	unsigned recipients_per_day;
};

struct limit_defaults {
	unsigned new_account_seconds; /* younger accounts get `young` */
	struct account_limits young;
	struct account_limits established;
	struct domain_limits domain;
	unsigned suspend_after; /* limit hits in one (UTC) day; 0 = never */
};

/* An override column read from the database: absent (NULL) or a value. */
struct limit_override {
	bool set;
	unsigned value;
};

/* The stored overrides of one mailbox and of its domain. */
struct limit_overrides {
	struct limit_override messages_per_hour;
	struct limit_override messages_per_day;
	struct limit_override recipients_per_message;
	struct limit_override recipients_per_day;
	struct limit_override domain_messages_per_hour;
	struct limit_override domain_messages_per_day;
	struct limit_override domain_recipients_per_day;
};

/* What has been counted so far in the current hour and day. */
struct usage {
	unsigned long long messages_hour;
	unsigned long long messages_day;
	unsigned long long recipients_day;
	unsigned long long domain_messages_hour;
	unsigned long long domain_messages_day;
	unsigned long long domain_recipients_day;
};

/* The limits of an account aged age_seconds, overrides applied. */
void limits_effective(const struct limit_defaults *defaults, unsigned long long age_seconds,
    const struct limit_overrides *overrides, struct account_limits *account_r,
    struct domain_limits *domain_r);

/* Would a message with message_recipients recipients (and new_messages more
 * messages: 1 when it is not counted in used yet, 0 once it is) cross a
 * limit? Returns NULL when not, else a human reason for the SMTP reply,
 * written into reason_buf ("4.7.1 ..." without the reply code). */
const char *limits_check(const struct account_limits *account, const struct domain_limits *domain,
    const struct usage *used, unsigned new_messages, unsigned message_recipients,
    unsigned new_recipients, char *reason_buf, size_t reason_size);

#endif
