/* argon2id through libsodium; see password.h. */
#include <string.h>

#include <sodium.h>

#include "password.h"

void
password_cost_init(struct password_cost *cost, unsigned memory_kib, unsigned time)
{
	cost->opslimit = time;
	cost->memlimit = (size_t)memory_kib * 1024;
}

int
password_hash(const char *password, size_t len, const struct password_cost *cost, char *hash_r)
{
	memcpy(hash_r, PASSWORD_SCHEME, PASSWORD_SCHEME_LEN);
	return crypto_pwhash_str_alg(hash_r + PASSWORD_SCHEME_LEN, password, len, cost->opslimit,
	    cost->memlimit, crypto_pwhash_ALG_ARGON2ID13);
}

static const char *
phc_part(const char *stored)
{
	if (strncmp(stored, PASSWORD_SCHEME, PASSWORD_SCHEME_LEN) != 0)
		return NULL;
	stored += PASSWORD_SCHEME_LEN;
	if (strncmp(stored, "$argon2id$", 10) != 0 ||
	    strnlen(stored, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
		return NULL;
	return stored;
}

enum password_check
password_verify(const char *stored, const char *password, size_t len)
{
	const char *phc = phc_part(stored);

	if (phc == NULL)
		return PASSWORD_BAD_HASH;
	return crypto_pwhash_str_verify(phc, password, len) == 0 ? PASSWORD_MATCH
	                                                         : PASSWORD_MISMATCH;
}

bool
password_needs_rehash(const char *stored, const struct password_cost *cost)
{
	const char *phc = phc_part(stored);

	return phc == NULL ||
	       crypto_pwhash_str_needs_rehash(phc, cost->opslimit, cost->memlimit) != 0;
}
