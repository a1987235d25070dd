/* The revocation generation: a number that every change able to revoke a
 * session (logout, password change, deactivation, purge) increments, and
 * that the session cache compares its entries with (session_cache.h).
 *
 * With a file, the number is shared by every accountd process on the
 * machine and by the CLI (a small file all of them map): a revocation in one
 * process empties the caches of all of them before the call returns. Without
 * one it is this process's own. */
#ifndef ACCOUNTD_REVOCATION_H
#define ACCOUNTD_REVOCATION_H

#include <stdbool.h>

struct revocation;

/* path NULL or "": process-local. create: make the file (0600, owned by
 * this user) if absent, as the daemon does; the CLI only opens it, and
 * without it falls back to a number of its own (no daemon to tell).
 * NULL on error (logged). */
struct revocation *revocation_open(const char *path, bool create);
void revocation_close(struct revocation **rev);

/* Never 0 (the session cache's "empty"). */
unsigned long long revocation_current(const struct revocation *rev);
void revocation_bump(struct revocation *rev);

#endif
