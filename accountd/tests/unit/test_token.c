/* Unit tests for token.c: bearer tokens and invite codes are base64url text
 * of fresh random bytes; only the SHA-256 of that text is kept. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "token.h"

static int
is_base64url(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static void
test_token_new_shape(void **state)
{
	char text[TOKEN_TEXT_LEN + 1];
	unsigned char hash[TOKEN_HASH_BYTES], expected[crypto_hash_sha256_BYTES];

	for (int i = 0; i < 64; i++) {
		token_new(TOKEN_BYTES, text, sizeof(text), hash);
		assert_int_equal(strlen(text), 43);
		assert_true(is_base64url(text, strlen(text)));
		crypto_hash_sha256(expected, (const unsigned char *)text, strlen(text));
		assert_memory_equal(hash, expected, sizeof(expected));
	}
}

static void
test_token_new_decodes_to_32_bytes(void **state)
{
	char text[TOKEN_TEXT_LEN + 1];
	unsigned char hash[TOKEN_HASH_BYTES], raw[64];
	size_t raw_len = 0;

	token_new(TOKEN_BYTES, text, sizeof(text), hash);
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), text, strlen(text), NULL, &raw_len,
	                     NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	    0);
	assert_int_equal(raw_len, TOKEN_BYTES);
}

static void
test_token_new_unique(void **state)
{
	char a[TOKEN_TEXT_LEN + 1], b[TOKEN_TEXT_LEN + 1];
	unsigned char ha[TOKEN_HASH_BYTES], hb[TOKEN_HASH_BYTES];

	token_new(TOKEN_BYTES, a, sizeof(a), ha);
	token_new(TOKEN_BYTES, b, sizeof(b), hb);
	assert_string_not_equal(a, b);
	assert_true(memcmp(ha, hb, sizeof(ha)) != 0);
}

static void
test_invite_shape(void **state)
{
	char text[INVITE_TEXT_LEN + 1];
	unsigned char hash[TOKEN_HASH_BYTES], again[TOKEN_HASH_BYTES];

	token_new(INVITE_BYTES, text, sizeof(text), hash);
	assert_int_equal(strlen(text), INVITE_TEXT_LEN);
	assert_true(is_base64url(text, strlen(text)));
	assert_int_equal(token_hash(text, strlen(text), INVITE_TEXT_LEN, again), 0);
	assert_memory_equal(hash, again, sizeof(hash));
}

static void
test_token_hash_roundtrip(void **state)
{
	char text[TOKEN_TEXT_LEN + 1];
	unsigned char hash[TOKEN_HASH_BYTES], again[TOKEN_HASH_BYTES];

	token_new(TOKEN_BYTES, text, sizeof(text), hash);
	assert_int_equal(token_hash(text, TOKEN_TEXT_LEN, TOKEN_TEXT_LEN, again), 0);
	assert_memory_equal(hash, again, sizeof(hash));
}

static void
test_token_hash_is_sha256_of_text(void **state)
{
	/* 43 characters using every kind the alphabet allows. */
	static const char text[] = "AZaz09-_AZaz09-_AZaz09-_AZaz09-_AZaz09-_AZa";
	unsigned char hash[TOKEN_HASH_BYTES], expected[crypto_hash_sha256_BYTES];

	assert_int_equal(sizeof(text) - 1, TOKEN_TEXT_LEN);
	assert_int_equal(token_hash(text, TOKEN_TEXT_LEN, TOKEN_TEXT_LEN, hash), 0);
	crypto_hash_sha256(expected, (const unsigned char *)text, TOKEN_TEXT_LEN);
	assert_memory_equal(hash, expected, sizeof(expected));
}

static void
test_token_hash_wrong_length(void **state)
{
	char text[TOKEN_TEXT_LEN + 2];
	unsigned char hash[TOKEN_HASH_BYTES];

	memset(text, 'A', sizeof(text));
	assert_int_equal(token_hash(text, 0, TOKEN_TEXT_LEN, hash), -1);
	assert_int_equal(token_hash(text, TOKEN_TEXT_LEN - 1, TOKEN_TEXT_LEN, hash), -1);
	assert_int_equal(token_hash(text, TOKEN_TEXT_LEN + 1, TOKEN_TEXT_LEN, hash), -1);
	assert_int_equal(token_hash(text, TOKEN_TEXT_LEN, INVITE_TEXT_LEN, hash), -1);
	assert_int_equal(token_hash(text, TOKEN_TEXT_LEN, TOKEN_TEXT_LEN, hash), 0);
}

static void
test_token_hash_wrong_characters(void **state)
{
	static const char bad[] = {
	    '+', '/', '=', ' ', '.', '\0', '\n', '%', '"', (char)0x80, (char)0xc3, (char)0xff};
	char text[TOKEN_TEXT_LEN + 1];
	unsigned char hash[TOKEN_HASH_BYTES];

	for (size_t i = 0; i < sizeof(bad); i++) {
		for (size_t pos = 0; pos < TOKEN_TEXT_LEN; pos += 21) {
			memset(text, 'A', TOKEN_TEXT_LEN);
			text[TOKEN_TEXT_LEN] = '\0';
			text[pos] = bad[i];
			assert_int_equal(
			    token_hash(text, TOKEN_TEXT_LEN, TOKEN_TEXT_LEN, hash), -1);
		}
	}
}

static void
test_hex_encode(void **state)
{
	static const unsigned char bin[] = {0x00, 0x01, 0xab, 0xff};
	char hex[sizeof(bin) * 2 + 1];

	hex_encode(bin, sizeof(bin), hex);
	assert_string_equal(hex, "0001abff");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_new_shape),
	    cmocka_unit_test(test_token_new_decodes_to_32_bytes),
	    cmocka_unit_test(test_token_new_unique),
	    cmocka_unit_test(test_invite_shape),
	    cmocka_unit_test(test_token_hash_roundtrip),
	    cmocka_unit_test(test_token_hash_is_sha256_of_text),
	    cmocka_unit_test(test_token_hash_wrong_length),
	    cmocka_unit_test(test_token_hash_wrong_characters),
	    cmocka_unit_test(test_hex_encode),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
