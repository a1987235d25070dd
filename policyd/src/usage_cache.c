/* In-memory sending counters with group-committed saving; see
 * usage_cache.h. One mutex guards everything: every operation under it is a
 * few hash lookups and additions. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "usage_cache.h"

#define BUCKETS 16384 /* a power of two */

enum waiter_state {
	WAITER_QUEUED,
	WAITER_SAVED,
	WAITER_FAILED,
};

/* One address or domain and what it sent in its current hour and day. */
struct subject {
	struct subject *next; /* hash chain */
	struct usage_period period;
	struct usage_counts counts;
	unsigned in_flight; /* queued or unsaved messages: not evictable */
	long long last_used;
	char name[];
};

struct usage_cache {
	pthread_mutex_t lock;
	pthread_cond_t queued_cond;  /* the writer waits for work */
	pthread_cond_t settled_cond; /* the waiters wait for their batch */
	struct subject *buckets[BUCKETS];
	size_t subjects, max_subjects;
	unsigned long long generation;
	struct usage_message *queue; /* waiting for the writer */
	size_t queued;
	struct usage_message *flight; /* taken by the writer, not settled */
	size_t in_flight;
	size_t max_queued;
	bool stopping;
};

void
usage_period_at(long long unix_time, struct usage_period *period_r)
{
	period_r->hour = unix_time / 3600;
	period_r->day = unix_time / 86400;
}

long long
usage_cache_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec;
}

/* CLOCK_REALTIME timeout_ms from now, for pthread_cond_timedwait. */
static struct timespec
deadline_in(unsigned timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* FNV-1a over the lowercased name: addresses and domains compare without
 * case, as the ascii_general_ci column of send_usage does. */
static size_t
bucket_of(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		unsigned char ch = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;
		h = (h ^ ch) * 16777619u;
	}
	return h & (BUCKETS - 1);
}

static struct subject *
find(struct usage_cache *cache, const char *name)
{
	for (struct subject *s = cache->buckets[bucket_of(name)]; s != NULL; s = s->next)
		if (strcasecmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* Move s into period: a later hour or day starts from zero. A clock that
 * went back keeps the newer window rather than losing its counts. */
static void
roll(struct subject *s, const struct usage_period *period)
{
	if (period->day > s->period.day) {
		s->period.day = period->day;
		s->counts.messages_day = 0;
		s->counts.recipients_day = 0;
	}
	if (period->hour > s->period.hour) {
		s->period.hour = period->hour;
		s->counts.messages_hour = 0;
	}
}

struct usage_cache *
usage_cache_new(size_t max_subjects, size_t max_queued)
{
	struct usage_cache *cache = calloc(1, sizeof(*cache));

	if (cache == NULL)
		return NULL;
	cache->queue = calloc(max_queued, sizeof(*cache->queue));
	cache->flight = calloc(max_queued, sizeof(*cache->flight));
	if (cache->queue == NULL || cache->flight == NULL) {
		free(cache->queue);
		free(cache->flight);
		free(cache);
		return NULL;
	}
	cache->max_subjects = max_subjects;
	cache->max_queued = max_queued;
	pthread_mutex_init(&cache->lock, NULL);
	pthread_cond_init(&cache->queued_cond, NULL);
	pthread_cond_init(&cache->settled_cond, NULL);
	return cache;
}

void
usage_cache_free(struct usage_cache **cachep)
{
	struct usage_cache *cache = *cachep;

	if (cache == NULL)
		return;
	for (size_t b = 0; b < BUCKETS; b++) {
		struct subject *s = cache->buckets[b];
		while (s != NULL) {
			struct subject *next = s->next;
			free(s);
			s = next;
		}
	}
	pthread_mutex_destroy(&cache->lock);
	pthread_cond_destroy(&cache->queued_cond);
	pthread_cond_destroy(&cache->settled_cond);
	free(cache->queue);
	free(cache->flight);
	free(cache);
	*cachep = NULL;
}

unsigned long long
usage_cache_generation(struct usage_cache *cache)
{
	unsigned long long generation;

	pthread_mutex_lock(&cache->lock);
	generation = cache->generation;
	pthread_mutex_unlock(&cache->lock);
	return generation;
}

/* Under the lock: forget idle subjects; with idle_seconds < 0, every one
 * without a message in flight. */
static size_t
sweep_locked(struct usage_cache *cache, long long now_seconds, long long idle_seconds)
{
	size_t forgotten = 0;

	for (size_t b = 0; b < BUCKETS; b++) {
		struct subject **link = &cache->buckets[b];
		while (*link != NULL) {
			struct subject *s = *link;
			if (s->in_flight == 0 &&
			    (idle_seconds < 0 || now_seconds - s->last_used >= idle_seconds)) {
				*link = s->next;
				free(s);
				forgotten++;
			} else {
				link = &s->next;
			}
		}
	}
	if (forgotten > 0) {
		cache->subjects -= forgotten;
		cache->generation++;
	}
	return forgotten;
}

size_t
usage_cache_sweep(struct usage_cache *cache, long long now_seconds, long long idle_seconds)
{
	size_t forgotten;

	pthread_mutex_lock(&cache->lock);
	forgotten = sweep_locked(cache, now_seconds, idle_seconds);
	pthread_mutex_unlock(&cache->lock);
	return forgotten;
}

bool
usage_cache_load(struct usage_cache *cache, const char *subject, const struct usage_period *period,
    const struct usage_counts *counts, unsigned long long generation)
{
	size_t len = strlen(subject);
	struct subject *s;
	bool adopted = true;

	pthread_mutex_lock(&cache->lock);
	if (find(cache, subject) != NULL)
		goto out; /* another thread loaded it: its counts are as new */
	if (generation != cache->generation) {
		adopted = false;
		goto out;
	}
	/* Full: start again from MariaDB rather than grow without bound. The
	 * eviction may have made this very read stale: read again. */
	if (cache->subjects >= cache->max_subjects) {
		(void)sweep_locked(cache, 0, -1);
		adopted = false;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s) + len + 1)) == NULL) {
		adopted = false;
		goto out;
	}
	memcpy(s->name, subject, len + 1);
	s->period = *period;
	s->counts = *counts;
	s->last_used = usage_cache_clock();
	s->next = cache->buckets[bucket_of(subject)];
	cache->buckets[bucket_of(subject)] = s;
	cache->subjects++;
out:
	pthread_mutex_unlock(&cache->lock);
	return adopted;
}

/* Under the lock: the two subjects of a decision, moved into period, or
 * false when one is not loaded. */
static bool
pair(struct usage_cache *cache, const char *account, const char *domain,
    const struct usage_period *period, struct subject **account_r, struct subject **domain_r)
{
	long long now = usage_cache_clock();

	if ((*account_r = find(cache, account)) == NULL ||
	    (*domain_r = find(cache, domain)) == NULL)
		return false;
	roll(*account_r, period);
	roll(*domain_r, period);
	(*account_r)->last_used = now;
	(*domain_r)->last_used = now;
	return true;
}

static void
usage_of(const struct subject *account, const struct subject *domain, struct usage *used_r)
{
	memset(used_r, 0, sizeof(*used_r));
	used_r->messages_hour = account->counts.messages_hour;
	used_r->messages_day = account->counts.messages_day;
	used_r->recipients_day = account->counts.recipients_day;
	used_r->domain_messages_hour = domain->counts.messages_hour;
	used_r->domain_messages_day = domain->counts.messages_day;
	used_r->domain_recipients_day = domain->counts.recipients_day;
}

enum usage_result
usage_cache_get(struct usage_cache *cache, const char *account, const char *domain,
    const struct usage_period *period, struct usage *used_r)
{
	struct subject *a, *d;
	enum usage_result result = USAGE_MISSING;

	pthread_mutex_lock(&cache->lock);
	if (pair(cache, account, domain, period, &a, &d)) {
		usage_of(a, d, used_r);
		result = USAGE_OK;
	}
	pthread_mutex_unlock(&cache->lock);
	return result;
}

/* Add (or, with sign -1, take back) one message in the windows it was
 * counted in; a window that has moved on since no longer holds it. */
static void
count(struct subject *s, const struct usage_period *period, unsigned recipients, int sign)
{
	if (sign > 0) {
		s->counts.messages_hour += s->period.hour == period->hour ? 1 : 0;
		if (s->period.day == period->day) {
			s->counts.messages_day++;
			s->counts.recipients_day += recipients;
		}
		return;
	}
	if (s->period.hour == period->hour && s->counts.messages_hour > 0)
		s->counts.messages_hour--;
	if (s->period.day == period->day) {
		if (s->counts.messages_day > 0)
			s->counts.messages_day--;
		s->counts.recipients_day -=
		    s->counts.recipients_day >= recipients ? recipients : s->counts.recipients_day;
	}
}

enum usage_result
usage_cache_reserve(struct usage_cache *cache, const char *account, const char *domain,
    const struct usage_period *period, const struct account_limits *limits,
    const struct domain_limits *domain_limits, unsigned recipients, struct usage_waiter *waiter,
    struct usage *used_r, char *reason_buf, size_t reason_size)
{
	struct subject *a, *d;
	struct usage_message *m;
	enum usage_result result;

	pthread_mutex_lock(&cache->lock);
	if (!pair(cache, account, domain, period, &a, &d)) {
		result = USAGE_MISSING;
	} else if (cache->queued >= cache->max_queued || cache->stopping) {
		result = USAGE_BUSY;
	} else {
		usage_of(a, d, used_r);
		if (limits_check(limits, domain_limits, used_r, 1, recipients, recipients,
		        reason_buf, reason_size) != NULL) {
			result = USAGE_OVER;
		} else {
			count(a, period, recipients, 1);
			count(d, period, recipients, 1);
			a->in_flight++;
			d->in_flight++;
			usage_of(a, d, used_r);
			m = &cache->queue[cache->queued++];
			snprintf(m->account, sizeof(m->account), "%s", account);
			snprintf(m->domain, sizeof(m->domain), "%s", domain);
			m->period = *period;
			m->recipients = recipients;
			m->waiter = waiter;
			waiter->state = WAITER_QUEUED;
			pthread_cond_signal(&cache->queued_cond);
			result = USAGE_OK;
		}
	}
	pthread_mutex_unlock(&cache->lock);
	return result;
}

static void
forget_waiter(struct usage_message *messages, size_t n, const struct usage_waiter *waiter)
{
	for (size_t i = 0; i < n; i++)
		if (messages[i].waiter == waiter)
			messages[i].waiter = NULL;
}

bool
usage_cache_wait(struct usage_cache *cache, struct usage_waiter *waiter, unsigned timeout_ms)
{
	struct timespec deadline = deadline_in(timeout_ms);
	bool saved;

	pthread_mutex_lock(&cache->lock);
	while (waiter->state == WAITER_QUEUED) {
		if (pthread_cond_timedwait(&cache->settled_cond, &cache->lock, &deadline) ==
		    ETIMEDOUT) {
			if (waiter->state != WAITER_QUEUED)
				break;
			/* The message may still be saved: counting a message
			 * that is then refused errs on the safe side. */
			forget_waiter(cache->queue, cache->queued, waiter);
			forget_waiter(cache->flight, cache->in_flight, waiter);
			waiter->state = WAITER_FAILED;
			break;
		}
	}
	saved = waiter->state == WAITER_SAVED;
	pthread_mutex_unlock(&cache->lock);
	return saved;
}

size_t
usage_cache_take(
    struct usage_cache *cache, struct usage_message *out, size_t max, unsigned timeout_ms)
{
	struct timespec deadline = deadline_in(timeout_ms);
	size_t n;

	pthread_mutex_lock(&cache->lock);
	while (cache->queued == 0 && !cache->stopping)
		if (pthread_cond_timedwait(&cache->queued_cond, &cache->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	/* The previous batch must be settled first: one batch in flight. */
	n = cache->in_flight == 0 ? (cache->queued < max ? cache->queued : max) : 0;
	if (n > 0) {
		memcpy(cache->flight, cache->queue, n * sizeof(*cache->queue));
		memmove(
		    cache->queue, cache->queue + n, (cache->queued - n) * sizeof(*cache->queue));
		cache->queued -= n;
		cache->in_flight = n;
		memcpy(out, cache->flight, n * sizeof(*out));
	}
	pthread_mutex_unlock(&cache->lock);
	return n;
}

void
usage_cache_settle(struct usage_cache *cache, bool saved)
{
	pthread_mutex_lock(&cache->lock);
	for (size_t i = 0; i < cache->in_flight; i++) {
		struct usage_message *m = &cache->flight[i];
		struct subject *a = find(cache, m->account), *d = find(cache, m->domain);

		/* In flight, so never evicted: both are there. */
		if (a != NULL) {
			a->in_flight--;
			if (!saved)
				count(a, &m->period, m->recipients, -1);
		}
		if (d != NULL) {
			d->in_flight--;
			if (!saved)
				count(d, &m->period, m->recipients, -1);
		}
		if (m->waiter != NULL)
			m->waiter->state = saved ? WAITER_SAVED : WAITER_FAILED;
	}
	cache->in_flight = 0;
	pthread_cond_broadcast(&cache->settled_cond);
	pthread_mutex_unlock(&cache->lock);
}

bool
usage_cache_finished(struct usage_cache *cache)
{
	bool finished;

	pthread_mutex_lock(&cache->lock);
	finished = cache->stopping && cache->queued == 0 && cache->in_flight == 0;
	pthread_mutex_unlock(&cache->lock);
	return finished;
}

void
usage_cache_stop(struct usage_cache *cache)
{
	pthread_mutex_lock(&cache->lock);
	cache->stopping = true;
	pthread_cond_broadcast(&cache->queued_cond);
	pthread_mutex_unlock(&cache->lock);
}
