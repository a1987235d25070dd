/* Token buckets in sharded open-addressing tables; see ratelimit.h. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ratelimit.h"

#define SHARDS 16

struct bucket {
	unsigned char key[16]; /* all zero = free slot */
	double tokens;
	double updated;
};

struct shard {
	pthread_mutex_t lock;
	struct bucket *slots;
	size_t used;
};

struct ratelimit {
	double capacity;
	double per_second;
	size_t slots_per_shard;
	unsigned char digest_key[crypto_generichash_KEYBYTES];
	struct shard shards[SHARDS];
};

struct ratelimit *
ratelimit_new(struct rate rate, size_t max_keys)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return NULL;
	rl->capacity = rate.count;
	rl->per_second = (double)rate.count / rate.seconds;
	/* Twice the keys, so the table stays at most half full. */
	rl->slots_per_shard = (max_keys * 2 + SHARDS - 1) / SHARDS;
	if (rl->slots_per_shard < 16)
		rl->slots_per_shard = 16;
	randombytes_buf(rl->digest_key, sizeof(rl->digest_key));
	for (size_t i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&rl->shards[i].lock, NULL);
		/* calloc: untouched pages cost no resident memory. */
		rl->shards[i].slots = calloc(rl->slots_per_shard, sizeof(struct bucket));
		if (rl->shards[i].slots == NULL) {
			ratelimit_free(&rl);
			return NULL;
		}
	}
	return rl;
}

void
ratelimit_free(struct ratelimit **rlp)
{
	struct ratelimit *rl = *rlp;

	if (rl == NULL)
		return;
	for (size_t i = 0; i < SHARDS; i++) {
		free(rl->shards[i].slots);
		pthread_mutex_destroy(&rl->shards[i].lock);
	}
	free(rl);
	*rlp = NULL;
}

static bool
slot_free(const struct bucket *b)
{
	static const unsigned char zero[16];

	return memcmp(b->key, zero, sizeof(zero)) == 0;
}

static double
refill(const struct ratelimit *rl, const struct bucket *b, double now)
{
	double tokens = b->tokens + (now - b->updated) * rl->per_second;

	return tokens > rl->capacity ? rl->capacity : tokens;
}

/* A bucket that has refilled completely is the same as no bucket: drop
 * those and rebuild the shard. If that frees too little (a flood of
 * distinct keys), forget the whole shard: failing open for a moment beats
 * refusing every newcomer. */
static void
shard_compact(struct ratelimit *rl, struct shard *sh, double now)
{
	struct bucket *old = sh->slots;
	size_t n = rl->slots_per_shard;
	struct bucket *fresh = calloc(n, sizeof(struct bucket));

	if (fresh == NULL) {
		memset(old, 0, n * sizeof(*old));
		sh->used = 0;
		return;
	}
	sh->used = 0;
	for (size_t i = 0; i < n; i++) {
		if (slot_free(&old[i]) || refill(rl, &old[i], now) >= rl->capacity)
			continue;
		size_t j;
		/* The same probe start as ratelimit_apply(): digest bytes 8-15. */
		memcpy(&j, old[i].key + 8, sizeof(j));
		for (j %= n; !slot_free(&fresh[j]); j = (j + 1) % n)
			;
		fresh[j] = old[i];
		sh->used++;
	}
	free(old);
	sh->slots = fresh;
	if (sh->used * 4 > n * 3 / 2) { /* still over 3/8 full */
		memset(sh->slots, 0, n * sizeof(struct bucket));
		sh->used = 0;
	}
}

static unsigned
ratelimit_apply(struct ratelimit *rl, const char *key, double now, bool take)
{
	unsigned char digest[16];
	struct shard *sh;
	struct bucket *b;
	size_t n = rl->slots_per_shard, i;
	unsigned wait = 0;
	double tokens;

	crypto_generichash(digest, sizeof(digest), (const unsigned char *)key, strlen(key),
	    rl->digest_key, sizeof(rl->digest_key));
	digest[0] |= 1; /* never all zero: that marks a free slot */
	sh = &rl->shards[digest[1] % SHARDS];
	memcpy(&i, digest + 8, sizeof(i));

	pthread_mutex_lock(&sh->lock);
	for (i %= n; !slot_free(&sh->slots[i]); i = (i + 1) % n)
		if (memcmp(sh->slots[i].key, digest, sizeof(digest)) == 0)
			break;
	b = &sh->slots[i];
	tokens = slot_free(b) ? rl->capacity : refill(rl, b, now);
	if (tokens < 1.0) {
		wait = (unsigned)ceil((1.0 - tokens) / rl->per_second);
		if (wait == 0)
			wait = 1;
	} else if (take) {
		if (slot_free(b)) {
			if ((sh->used + 1) * 2 > n) {
				shard_compact(rl, sh, now);
				pthread_mutex_unlock(&sh->lock);
				return ratelimit_apply(rl, key, now, take);
			}
			memcpy(b->key, digest, sizeof(digest));
			sh->used++;
		}
		b->tokens = tokens - 1.0;
		b->updated = now;
	}
	pthread_mutex_unlock(&sh->lock);
	return wait;
}

unsigned
ratelimit_take(struct ratelimit *rl, const char *key, double now)
{
	return ratelimit_apply(rl, key, now, true);
}

unsigned
ratelimit_peek(struct ratelimit *rl, const char *key, double now)
{
	return ratelimit_apply(rl, key, now, false);
}
