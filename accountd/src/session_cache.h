/* A small direct-mapped cache of live sessions, so that GET /api/v1/me and
 * other token-authenticated calls need not ask MariaDB every time.
 *
 * Entries live at most `ttl` seconds, and only while the revocation
 * generation (revocation.h) is the one they were stored under: a
 * revocation (logout, password change, deactivation, purge) empties the
 * whole cache at once, in every process sharing the generation's file.
 * ttl 0 disables the cache. */
#ifndef ACCOUNTD_SESSION_CACHE_H
#define ACCOUNTD_SESSION_CACHE_H

#include <stdbool.h>

#include "db.h"
#include "revocation.h"

struct session_cache;

/* revocation is borrowed: it must outlive the cache. */
struct session_cache *session_cache_new(
    unsigned slots, double ttl, const struct revocation *revocation);
void session_cache_free(struct session_cache **cache);

/* Copies the cached mailbox (without its password hash) into *row_r. */
bool session_cache_get(struct session_cache *cache, const unsigned char *token_hash, double now,
    struct db_mailbox *row_r);
/* Take the generation before reading the session from the database and
 * pass it to put: if a revocation happened in between, nothing is stored
 * (and what was would never match again). */
unsigned long long session_cache_generation(struct session_cache *cache);
void session_cache_put(struct session_cache *cache, const unsigned char *token_hash, double now,
    unsigned long long generation, const struct db_mailbox *row);

#endif
