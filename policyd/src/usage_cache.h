/* The sending counters of this hour and day, held in memory so that a
 * decision needs no query and a message's count no transaction of its own.
 *
 * policyd is the only process that counts messages (one process; PM2 fork
 * mode), so what MariaDB holds plus what this cache has counted since is
 * the truth: a subject (an address, or a domain for its totals) is read
 * from MariaDB once, when first seen, and from then on counted here.
 *
 * Counting is write-behind with group commit: usage_cache_reserve() checks
 * the limits and adds the message under one lock (two sessions cannot both
 * slip under a limit), and queues it; the writer thread (usage_writer.c)
 * saves everything queued in one transaction and settles it; the caller
 * waits for that (usage_cache_wait) before it answers. So a message is
 * permitted only once its count is in MariaDB, yet a busy server pays one
 * commit for many messages. A batch that cannot be saved is taken back out
 * of the counts and its messages get a temporary failure.
 *
 * No I/O here: the unit tests drive it directly. All functions are
 * thread-safe. */
#ifndef POLICYD_USAGE_CACHE_H
#define POLICYD_USAGE_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "limits.h"

/* The counting windows a moment falls into: clock hour and day, UTC, as
 * numbers since the epoch (unix time / 3600 and / 86400). */
struct usage_period {
	long long hour;
	long long day;
};

void usage_period_at(long long unix_time, struct usage_period *period_r);

/* What MariaDB holds for one subject in one period's hour and day. */
struct usage_counts {
	unsigned long long messages_hour;
	unsigned long long messages_day;
	unsigned long long recipients_day;
};

/* A message waiting to be saved; lives on the stack of the thread that
 * waits for it. */
struct usage_waiter {
	int state; /* private to usage_cache.c */
};

/* One message of a batch handed to the writer. */
struct usage_message {
	char account[EMAIL_MAX + 1];
	char domain[DOMAIN_MAX + 1];
	struct usage_period period;
	unsigned recipients;
	struct usage_waiter *waiter; /* NULL once its waiter gave up */
};

enum usage_result {
	USAGE_OK,      /* within the limits (and, for reserve, queued) */
	USAGE_OVER,    /* a limit would be crossed: the reason is written */
	USAGE_MISSING, /* a subject is not loaded: load it, then ask again */
	USAGE_BUSY,    /* the queue is full: answer a temporary failure */
};

struct usage_cache;

/* max_subjects bounds the memory; max_queued the messages waiting to be
 * saved (each connection has at most one waiting, so a few times the
 * connection limit). NULL when out of memory. */
struct usage_cache *usage_cache_new(size_t max_subjects, size_t max_queued);
void usage_cache_free(struct usage_cache **cache);

/* A number that changes whenever subjects are evicted: read it before
 * reading a subject's counts from MariaDB and give it to usage_cache_load,
 * which then refuses counts that an eviction may have made stale. */
unsigned long long usage_cache_generation(struct usage_cache *cache);

/* Adopt the counts read from MariaDB for subject in period, unless the
 * subject is known already (its counts here are newer) or generation is
 * old (returns false: read again). */
MUST_CHECK bool usage_cache_load(struct usage_cache *cache, const char *subject,
    const struct usage_period *period, const struct usage_counts *counts,
    unsigned long long generation);

/* The counts of account and its domain (usage) in period. */
MUST_CHECK enum usage_result usage_cache_get(struct usage_cache *cache, const char *account,
    const char *domain, const struct usage_period *period, struct usage *used_r);

/* Count one message of recipients recipients if that crosses no limit
 * (limits_check with the message counted), queue it for saving with
 * waiter, and return USAGE_OK; else USAGE_OVER with the reason, or
 * USAGE_MISSING / USAGE_BUSY. used_r: the counts including the message. */
MUST_CHECK enum usage_result usage_cache_reserve(struct usage_cache *cache, const char *account,
    const char *domain, const struct usage_period *period, const struct account_limits *limits,
    const struct domain_limits *domain_limits, unsigned recipients, struct usage_waiter *waiter,
    struct usage *used_r, char *reason_buf, size_t reason_size);

/* Wait until the message of waiter is saved (true) or failed (false), at
 * most timeout_ms; a timeout is a failure, and the writer will no longer
 * touch waiter. */
MUST_CHECK bool usage_cache_wait(
    struct usage_cache *cache, struct usage_waiter *waiter, unsigned timeout_ms);

/* Writer side. Wait up to timeout_ms for queued messages, then move up to
 * max of them into out (the batch in flight) and return how many. 0 when
 * none came or when stopping and nothing is left. */
size_t usage_cache_take(
    struct usage_cache *cache, struct usage_message *out, size_t max, unsigned timeout_ms);
/* The batch taken last was saved (or not: its counts are taken back).
 * Wakes its waiters. */
void usage_cache_settle(struct usage_cache *cache, bool saved);
/* Stopping, and nothing left to save: the writer may end. */
bool usage_cache_finished(struct usage_cache *cache);

/* The clock of the cache's idle times: monotonic seconds. */
long long usage_cache_clock(void);

/* Forget subjects unused for idle_seconds (not those with a message in
 * flight). now_seconds is usage_cache_clock()'s. Returns how many were
 * forgotten. */
size_t usage_cache_sweep(struct usage_cache *cache, long long now_seconds, long long idle_seconds);

/* Wake the writer: it empties the queue and then usage_cache_take returns
 * 0 for good. */
void usage_cache_stop(struct usage_cache *cache);

#endif
