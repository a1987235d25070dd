/* Token-bucket rate limits keyed by a string (client IP, address). Keys are
 * reduced to a keyed 16-byte BLAKE2b digest, so a stranger cannot aim hash
 * collisions at the table, and memory per key is fixed. Thread-safe, and
 * optionally shared by every accountd process (PM2 runs two): then the
 * table is a file they all map, so a client spreading its requests over
 * both processes still gets the configured rate, not twice it. */
#ifndef ACCOUNTD_RATELIMIT_H
#define ACCOUNTD_RATELIMIT_H

#include <stddef.h>

#include "common.h"
#include "config.h"

struct ratelimit;

/* max_keys bounds memory; under a flood of distinct keys idle ones are
 * dropped first. shared_path NULL or "": this process's own table; else the
 * table in that file (0600, made or replaced when absent, from an earlier
 * boot or of other settings). Returns NULL on failure (logged). */
struct ratelimit *ratelimit_new(struct rate rate, size_t max_keys, const char *shared_path);
void ratelimit_free(struct ratelimit **rl);

/* Take one token for key at time now (seconds, monotonic). Returns 0 when
 * allowed, else the whole seconds to wait before a token is back. */
unsigned ratelimit_take(struct ratelimit *rl, const char *key, double now);

/* Like ratelimit_take but takes nothing: would one token be there? */
unsigned ratelimit_peek(struct ratelimit *rl, const char *key, double now);

#endif
