/* Bearer tokens and invite codes: random bytes shown once in base64url;
 * only their SHA-256 is ever stored or compared. */
#ifndef ACCOUNTD_TOKEN_H
#define ACCOUNTD_TOKEN_H

#include <stddef.h>

#include "common.h"

#define TOKEN_BYTES      32
#define TOKEN_TEXT_LEN   43 /* base64url of 32 bytes, no padding */
#define INVITE_BYTES     15
#define INVITE_TEXT_LEN  20
#define TOKEN_HASH_BYTES 32

/* Fresh random secret of n bytes as text (n*4/3 rounded up + NUL) and its
 * hash. */
void token_new(size_t n, char *text_r, size_t text_size, unsigned char *hash_r);

/* Hash a presented token after checking its shape (expected_len base64url
 * characters); -1 means it cannot be one of ours. */
MUST_CHECK int token_hash(const char *text, size_t len, size_t expected_len, unsigned char *hash_r);

/* Hex of a hash, for request ids and logs of non-secret values. */
void hex_encode(const unsigned char *bin, size_t len, char *hex_r);

#endif
