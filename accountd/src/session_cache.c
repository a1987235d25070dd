/* Direct-mapped session cache, emptied by the revocation generation; see
 * session_cache.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "revocation.h"
#include "session_cache.h"

#define LOCKS 64

struct entry {
	unsigned char token_hash[32];
	unsigned long long generation; /* 0 = empty */
	double stored;
	unsigned id;
	unsigned domain_id;
	unsigned long long quota_bytes;
	char email[EMAIL_MAX + 1];
	char created_at[DB_TIME_MAX];
};

struct session_cache {
	double ttl;
	unsigned slots;
	const struct revocation *revocation; /* borrowed: the generation */
	pthread_mutex_t locks[LOCKS];
	struct entry *entries;
};

struct session_cache *
session_cache_new(unsigned slots, double ttl, const struct revocation *revocation)
{
	struct session_cache *cache;

	if (ttl <= 0 || slots == 0 || revocation == NULL)
		return NULL;
	if ((cache = calloc(1, sizeof(*cache))) == NULL)
		return NULL;
	if ((cache->entries = calloc(slots, sizeof(struct entry))) == NULL) {
		free(cache);
		return NULL;
	}
	cache->ttl = ttl;
	cache->slots = slots;
	cache->revocation = revocation;
	for (size_t i = 0; i < LOCKS; i++)
		pthread_mutex_init(&cache->locks[i], NULL);
	return cache;
}

void
session_cache_free(struct session_cache **cachep)
{
	struct session_cache *cache = *cachep;

	if (cache == NULL)
		return;
	for (size_t i = 0; i < LOCKS; i++)
		pthread_mutex_destroy(&cache->locks[i]);
	free(cache->entries);
	free(cache);
	*cachep = NULL;
}

/* The token hash is uniformly random: its first bytes pick the slot. */
static size_t
slot_of(const struct session_cache *cache, const unsigned char *token_hash)
{
	unsigned long long v;

	memcpy(&v, token_hash, sizeof(v));
	return (size_t)(v % cache->slots);
}

bool
session_cache_get(struct session_cache *cache, const unsigned char *token_hash, double now,
    struct db_mailbox *row_r)
{
	size_t slot;
	struct entry *e;
	bool hit = false;

	if (cache == NULL)
		return false;
	slot = slot_of(cache, token_hash);
	e = &cache->entries[slot];
	pthread_mutex_lock(&cache->locks[slot % LOCKS]);
	if (e->generation == revocation_current(cache->revocation) &&
	    now - e->stored < cache->ttl && memcmp(e->token_hash, token_hash, 32) == 0) {
		memset(row_r, 0, sizeof(*row_r));
		row_r->id = e->id;
		row_r->domain_id = e->domain_id;
		row_r->active = true;
		row_r->domain_active = true;
		row_r->quota_bytes = e->quota_bytes;
		memcpy(row_r->email, e->email, sizeof(e->email));
		memcpy(row_r->created_at, e->created_at, sizeof(e->created_at));
		hit = true;
	}
	pthread_mutex_unlock(&cache->locks[slot % LOCKS]);
	return hit;
}

unsigned long long
session_cache_generation(struct session_cache *cache)
{
	return cache != NULL ? revocation_current(cache->revocation) : 0;
}

void
session_cache_put(struct session_cache *cache, const unsigned char *token_hash, double now,
    unsigned long long generation, const struct db_mailbox *row)
{
	size_t slot;
	struct entry *e;

	if (cache == NULL)
		return;
	slot = slot_of(cache, token_hash);
	e = &cache->entries[slot];
	pthread_mutex_lock(&cache->locks[slot % LOCKS]);
	if (generation != revocation_current(cache->revocation)) {
		pthread_mutex_unlock(&cache->locks[slot % LOCKS]);
		return;
	}
	memcpy(e->token_hash, token_hash, 32);
	e->generation = generation;
	e->stored = now;
	e->id = row->id;
	e->domain_id = row->domain_id;
	e->quota_bytes = row->quota_bytes;
	memcpy(e->email, row->email, sizeof(e->email));
	memcpy(e->created_at, row->created_at, sizeof(e->created_at));
	pthread_mutex_unlock(&cache->locks[slot % LOCKS]);
}
