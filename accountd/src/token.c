/* Token generation and hashing; see token.h. */
#include <string.h>

#include <sodium.h>

#include "token.h"

void
token_new(size_t n, char *text_r, size_t text_size, unsigned char *hash_r)
{
	unsigned char raw[64];

	randombytes_buf(raw, n);
	sodium_bin2base64(text_r, text_size, raw, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(hash_r, (const unsigned char *)text_r, strlen(text_r));
	sodium_memzero(raw, sizeof(raw));
}

int
token_hash(const char *text, size_t len, size_t expected_len, unsigned char *hash_r)
{
	if (len != expected_len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '_'))
			return -1;
	}
	crypto_hash_sha256(hash_r, (const unsigned char *)text, len);
	return 0;
}

void
hex_encode(const unsigned char *bin, size_t len, char *hex_r)
{
	sodium_bin2hex(hex_r, len * 2 + 1, bin, len);
}
