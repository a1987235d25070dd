/* Token-bucket rate limits keyed by a string (client IP, address). Keys are
 * reduced to a keyed 16-byte BLAKE2b digest, so a stranger cannot aim hash
 * collisions at the table, and memory per key is fixed. Thread-safe. */
#ifndef ACCOUNTD_RATELIMIT_H
#define ACCOUNTD_RATELIMIT_H

#include <stddef.h>

#include "common.h"
#include "config.h"

struct ratelimit;

/* max_keys bounds memory; under a flood of distinct keys idle ones are
 * dropped first. Returns NULL on out of memory. */
struct ratelimit *ratelimit_new(struct rate rate, size_t max_keys);
void ratelimit_free(struct ratelimit **rl);

/* Take one token for key at time now (seconds, monotonic). Returns 0 when
 * allowed, else the whole seconds to wait before a token is back. */
unsigned ratelimit_take(struct ratelimit *rl, const char *key, double now);

/* Like ratelimit_take but takes nothing: would one token be there? */
unsigned ratelimit_peek(struct ratelimit *rl, const char *key, double now);

#endif
