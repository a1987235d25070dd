/* libFuzzer harness: utf8_length() against an independent decoder built
 * from the table of well-formed sequences in RFC 3629, and
 * validate_address() / validate_password() on raw bytes, with the
 * properties an accepted value must have. Broken invariants abort.
 * Built with -DFUZZ_REPLAY it has no libFuzzer dependency. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "validate.h"

#define INPUT_MAX 17000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
in(uint8_t c, uint8_t lo, uint8_t hi)
{
	return c >= lo && c <= hi;
}

/* RFC 3629, section 4: code points, or -1 if p is not well-formed. */
static long
reference_utf8_length(const uint8_t *p, size_t len)
{
	long count = 0;
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t left = len - i;

		if (c <= 0x7f) {
			i += 1;
		} else if (in(c, 0xc2, 0xdf) && left >= 2 && in(p[i + 1], 0x80, 0xbf)) {
			i += 2;
		} else if (left >= 3 && in(p[i + 2], 0x80, 0xbf) &&
		           ((c == 0xe0 && in(p[i + 1], 0xa0, 0xbf)) ||
		               (in(c, 0xe1, 0xec) && in(p[i + 1], 0x80, 0xbf)) ||
		               (c == 0xed && in(p[i + 1], 0x80, 0x9f)) ||
		               (in(c, 0xee, 0xef) && in(p[i + 1], 0x80, 0xbf)))) {
			i += 3;
		} else if (left >= 4 && in(p[i + 2], 0x80, 0xbf) && in(p[i + 3], 0x80, 0xbf) &&
		           ((c == 0xf0 && in(p[i + 1], 0x90, 0xbf)) ||
		               (in(c, 0xf1, 0xf3) && in(p[i + 1], 0x80, 0xbf)) ||
		               (c == 0xf4 && in(p[i + 1], 0x80, 0x8f)))) {
			i += 4;
		} else {
			return -1;
		}
		count++;
	}
	return count;
}

static int
has_control(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 1;
	return 0;
}

static void
check_address(const char *s)
{
	char email[EMAIL_MAX + 1], again[EMAIL_MAX + 1];
	const char *error = NULL, *at;

	if (validate_address(s, email, &error) != 0) {
		CHECK(error != NULL);
		return;
	}
	CHECK(strlen(email) == strlen(s));
	CHECK(strlen(email) <= LOCAL_MAX + 1 + DOMAIN_MAX);
	at = strchr(email, '@');
	CHECK(at != NULL && at == strrchr(email, '@'));
	CHECK(at > email && (size_t)(at - email) <= LOCAL_MAX);
	CHECK(email[0] != '.' && at[-1] != '.');
	CHECK(strstr(email, "..") == NULL);
	for (const char *p = email; *p != '\0'; p++)
		CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
		      !(*p >= 'A' && *p <= 'Z'));
	/* No character a map lookup, SQL LIKE or a shell could misread. */
	CHECK(strpbrk(email, " \"\\,;:<>()[]") == NULL);
	CHECK(validate_address(email, again, &error) == 0 && strcmp(email, again) == 0);
}

static void
check_password(const uint8_t *data, size_t size, const char *name)
{
	const char *error = NULL;
	long chars = reference_utf8_length(data, size);
	int ok = validate_password((const char *)data, size, name, name, &error) == 0;

	if (chars < 0 || has_control(data, size) || chars < PASSWORD_MIN_CHARS ||
	    chars > PASSWORD_MAX_CHARS)
		CHECK(!ok);
	if (!ok)
		CHECK(error != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	long got, want;

	if (size > INPUT_MAX)
		return 0;
	got = utf8_length((const char *)data, size);
	want = reference_utf8_length(data, size);
	if (got != want) {
		fprintf(stderr, "utf8_length: %ld, RFC 3629: %ld\n", got, want);
		abort();
	}
	/* Every prefix too: lengths that cut a sequence must be caught. */
	for (size_t cut = size > 8 ? size - 8 : 0; cut < size; cut++)
		CHECK(utf8_length((const char *)data, cut) == reference_utf8_length(data, cut));

	/* C strings end at the first NUL, as they do in the service. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_address(text);
	check_password(data, size, NULL);
	check_password(data, size, text);
	/* The same bytes as a password must match themselves as the name. */
	if (memchr(data, '\0', size) == NULL && size > 0) {
		const char *error = NULL;
		CHECK(validate_password(text, size, text, NULL, &error) != 0);
	}
	free(text);
	return 0;
}
