/* libFuzzer harness: a request body as routes.c parses it (jansson with
 * JSON_REJECT_DUPLICATES), then what the register and login handlers do
 * with it before the database: the body checks, the username, domain,
 * address and password rules, the invite shape. Every string anywhere in
 * the document also goes through every validator. Broken invariants abort.
 * Built with -DFUZZ_REPLAY it has no libFuzzer dependency (see
 * tests/unit/test_fuzz_replay.c). */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "fuzz_check.h"
#include "http_request.h"
#include "token.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a deployment might configure. */
static const char extra_reserved[][LOCAL_MAX + 1] = {"info", "billing", "sales"};
static const char primary_domain[] = "example.org";

static int
is_lower_folded(const char *s)
{
	for (; *s != '\0'; s++)
		if (isupper((unsigned char)*s))
			return 0;
	return 1;
}

static void
check_username(const char *s)
{
	char folded[LOCAL_MAX + 1], again[LOCAL_MAX + 1];
	const char *error = NULL;

	if (validate_username(s, folded, extra_reserved, N_ELEMENTS(extra_reserved), &error) != 0) {
		CHECK(error != NULL);
		return;
	}
	CHECK(strlen(folded) >= 1 && strlen(folded) <= LOCAL_MAX);
	CHECK(strlen(folded) == strlen(s));
	CHECK(is_lower_folded(folded));
	CHECK(strspn(folded, "abcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(folded));
	CHECK(isalnum((unsigned char)folded[0]));
	CHECK(strstr(folded, "..") == NULL && folded[strlen(folded) - 1] != '.');
	/* Folding is idempotent, and the folded name is an address's local part. */
	CHECK(validate_username(
	          folded, again, extra_reserved, N_ELEMENTS(extra_reserved), &error) == 0);
	CHECK(strcmp(folded, again) == 0);
}

static void
check_domain(const char *s)
{
	char folded[DOMAIN_MAX + 1], again[DOMAIN_MAX + 1];
	const char *error = NULL;

	if (validate_domain(s, folded, &error) != 0) {
		CHECK(error != NULL);
		return;
	}
	CHECK(strlen(folded) == strlen(s) && strlen(folded) <= DOMAIN_MAX);
	CHECK(is_lower_folded(folded));
	CHECK(strchr(folded, '.') != NULL);
	CHECK(validate_domain(folded, again, &error) == 0 && strcmp(folded, again) == 0);
}

static void
check_address(const char *s)
{
	char email[EMAIL_MAX + 1], again[EMAIL_MAX + 1];
	const char *error = NULL;

	if (validate_address(s, email, &error) != 0) {
		CHECK(error != NULL);
		return;
	}
	CHECK(strlen(email) == strlen(s) && strlen(email) <= EMAIL_MAX);
	CHECK(is_lower_folded(email));
	CHECK(strchr(email, '@') == strrchr(email, '@'));
	for (const char *p = email; *p != '\0'; p++)
		CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f);
	CHECK(validate_address(email, again, &error) == 0 && strcmp(email, again) == 0);
}

static void
check_password(const char *s, size_t len, const char *username, const char *email)
{
	const char *error = NULL;
	long chars = utf8_length(s, len);

	CHECK(chars >= -1 && chars <= (long)len);
	if (validate_password(s, len, username, email, &error) != 0) {
		CHECK(error != NULL);
		return;
	}
	CHECK(chars >= PASSWORD_MIN_CHARS && chars <= PASSWORD_MAX_CHARS);
	for (size_t i = 0; i < len; i++)
		CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
	if (username != NULL)
		CHECK(strlen(username) != len || strncasecmp(username, s, len) != 0);
}

static void
check_invite(const char *s, size_t len)
{
	unsigned char hash[TOKEN_HASH_BYTES];

	if (token_hash(s, len, INVITE_TEXT_LEN, hash) == 0)
		CHECK(len == INVITE_TEXT_LEN);
	if (token_hash(s, len, TOKEN_TEXT_LEN, hash) == 0)
		CHECK(len == TOKEN_TEXT_LEN);
}

/* Every validator on one string, as if it were any field. */
static void
check_any_string(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	/* Without JSON_ALLOW_NUL jansson never hands out a NUL. */
	CHECK(strlen(s) == len);
	check_username(s);
	check_domain(s);
	check_address(s);
	check_password(s, len, NULL, NULL);
	check_password(s, len, "alice", "alice@example.org");
	check_invite(s, len);
}

static void
walk(const json_t *v)
{
	const char *key;
	const json_t *item;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)(uintptr_t)v, key, item)
		{
			CHECK(key != NULL);
			walk(item);
		}
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, item) walk(item);
		break;
	case JSON_STRING:
		check_any_string(v);
		break;
	case JSON_INTEGER:
	case JSON_REAL:
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
		break;
	}
}

/* body_string(): a string, absent (or null when optional), else 400. */
static int
field(const json_t *root, const char *key, int required, const char **value_r, size_t *len_r)
{
	const json_t *v = json_object_get(root, key);

	*value_r = NULL;
	*len_r = 0;
	if (v == NULL || (json_is_null(v) && !required))
		return required ? -1 : 0;
	if (!json_is_string(v))
		return -1;
	*value_r = json_string_value(v);
	*len_r = json_string_length(v);
	return 0;
}

/* body_only(): 400 unless every key is allowed; the message quotes the key. */
static int
only(const json_t *root, const char *const *keys)
{
	const char *key;
	json_t *value;
	char message[160];

	json_object_foreach((json_t *)(uintptr_t)root, key, value)
	{
		int known = 0;

		for (size_t i = 0; keys[i] != NULL && !known; i++)
			known = strcmp(keys[i], key) == 0;
		if (!known) {
			snprintf(message, sizeof(message), "unknown field '%.64s'", key);
			return -1;
		}
	}
	return 0;
}

/* h_register + svc_register_check up to the first database call. */
static void
mirror_register(const json_t *root)
{
	static const char *const keys[] = {"username", "password", "domain", "invite", NULL};
	const char *username, *password, *domain, *invite, *error = NULL;
	char local[LOCAL_MAX + 1], dom[DOMAIN_MAX + 1], email[EMAIL_MAX + 1];
	size_t username_len, password_len, domain_len, invite_len;
	unsigned char invite_hash[TOKEN_HASH_BYTES];

	if (only(root, keys) < 0 || field(root, "username", 1, &username, &username_len) < 0 ||
	    field(root, "password", 1, &password, &password_len) < 0 ||
	    field(root, "domain", 0, &domain, &domain_len) < 0 ||
	    field(root, "invite", 0, &invite, &invite_len) < 0)
		return;
	if (validate_username(
	        username, local, extra_reserved, N_ELEMENTS(extra_reserved), &error) != 0)
		return;
	if (domain == NULL || *domain == '\0')
		domain = primary_domain;
	if (validate_domain(domain, dom, &error) != 0)
		return;
	CHECK((size_t)snprintf(email, sizeof(email), "%s@%s", local, dom) < sizeof(email));
	if (validate_password(password, password_len, local, email, &error) != 0)
		return;
	/* What is stored must be an address the login path accepts. */
	char again[EMAIL_MAX + 1];
	CHECK(validate_address(email, again, &error) == 0);
	CHECK(strcmp(email, again) == 0);
	if (invite != NULL && token_hash(invite, strlen(invite), INVITE_TEXT_LEN, invite_hash) == 0)
		CHECK(strlen(invite) == INVITE_TEXT_LEN);
}

/* h_login + svc_login up to the first database call. */
static void
mirror_login(const json_t *root)
{
	static const char *const keys[] = {"email", "password", NULL};
	const char *email, *password, *error = NULL;
	char address_key[EMAIL_MAX + 1] = {0}, folded[EMAIL_MAX + 1];
	size_t email_len, password_len;

	if (only(root, keys) < 0 || field(root, "email", 1, &email, &email_len) < 0 ||
	    field(root, "password", 1, &password, &password_len) < 0)
		return;
	for (size_t i = 0; email[i] != '\0' && i < EMAIL_MAX; i++)
		address_key[i] = (char)tolower((unsigned char)email[i]);
	CHECK(strlen(address_key) <= EMAIL_MAX);
	if (validate_address(email, folded, &error) == 0)
		CHECK(strcmp(folded, address_key) == 0);
}

/* h_change_password: the new password against the account's own name. */
static void
mirror_change_password(const json_t *root)
{
	static const char *const keys[] = {"current_password", "new_password", NULL};
	const char *current, *new_password, *error = NULL;
	size_t current_len, new_len;

	if (only(root, keys) < 0 ||
	    field(root, "current_password", 1, &current, &current_len) < 0 ||
	    field(root, "new_password", 1, &new_password, &new_len) < 0)
		return;
	if (validate_password(new_password, new_len, "alice", "alice@example.org", &error) != 0)
		CHECK(error != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t error;
	json_t *root;
	char message[200];

	/* Larger bodies get 413 before they are parsed. */
	if (size == 0 || size > BODY_MAX)
		return 0;
	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &error);
	if (root == NULL) {
		/* parse_body()'s message is built from jansson's error. */
		snprintf(message, sizeof(message), "malformed JSON at position %d: %.120s",
		    error.position, error.text);
		CHECK(error.position >= 0);
		return 0;
	}
	walk(root);
	if (json_is_object(root)) {
		mirror_register(root);
		mirror_login(root);
		mirror_change_password(root);
	}
	json_decref(root);
	return 0;
}
