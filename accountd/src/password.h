/* argon2id password hashes in the form Dovecot verifies as they are:
 * "{ARGON2ID}" followed by libsodium's PHC string. */
#ifndef ACCOUNTD_PASSWORD_H
#define ACCOUNTD_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define PASSWORD_SCHEME     "{ARGON2ID}"
#define PASSWORD_SCHEME_LEN (sizeof(PASSWORD_SCHEME) - 1)
#define PASSWORD_HASH_MAX   (PASSWORD_SCHEME_LEN + 128)

struct password_cost {
	unsigned long long opslimit; /* argon2 t */
	size_t memlimit;             /* bytes */
};

enum password_check {
	PASSWORD_MATCH,
	PASSWORD_MISMATCH,
	PASSWORD_BAD_HASH, /* stored value is not one of our hashes */
};

void password_cost_init(struct password_cost *cost, unsigned memory_kib, unsigned time);

/* Hash into hash_r (PASSWORD_HASH_MAX bytes). Fails only on out of memory. */
MUST_CHECK int password_hash(
    const char *password, size_t len, const struct password_cost *cost, char *hash_r);

MUST_CHECK enum password_check password_verify(
    const char *stored, const char *password, size_t len);

/* True when stored was made with other parameters than cost. */
bool password_needs_rehash(const char *stored, const struct password_cost *cost);

#endif
