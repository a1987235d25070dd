/* Validation rules; see validate.h. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common_passwords.h"
#include "validate.h"

/* Addresses that must stay with the administrator (RFC 2142 and friends). */
static const char *const reserved_usernames[] = {
    "postmaster",
    "abuse",
    "root",
    "admin",
    "administrator",
    "hostmaster",
    "webmaster",
    "noreply",
    "no-reply",
    "mailer-daemon",
    "security",
    "support",
};

static bool
is_reserved(const char *name, const char (*extra)[LOCAL_MAX + 1], size_t n_extra)
{
	for (size_t i = 0; i < N_ELEMENTS(reserved_usernames); i++)
		if (strcmp(name, reserved_usernames[i]) == 0)
			return true;
	for (size_t i = 0; i < n_extra; i++)
		if (strcmp(name, extra[i]) == 0)
			return true;
	return false;
}

int
validate_username(const char *in, char *folded_r, const char (*extra_reserved)[LOCAL_MAX + 1],
    size_t n_extra, const char **error_r)
{
	if (validate_username_syntax(in, folded_r, error_r) != 0)
		return -1;
	if (is_reserved(folded_r, extra_reserved, n_extra)) {
		*error_r = "this username is reserved";
		return -1;
	}
	return 0;
}

int
validate_username_syntax(const char *in, char *folded_r, const char **error_r)
{
	size_t len = strlen(in);

	if (len == 0 || len > LOCAL_MAX) {
		*error_r = "username must be 1 to 64 characters";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		c = (unsigned char)tolower(c);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-')) {
			*error_r = "username may only contain a-z, 0-9, '.', '_' and '-'";
			return -1;
		}
		folded_r[i] = (char)c;
	}
	folded_r[len] = '\0';
	if (!isalnum((unsigned char)folded_r[0])) {
		*error_r = "username must start with a letter or a digit";
		return -1;
	}
	if (strstr(folded_r, "..") != NULL) {
		*error_r = "username must not contain '..'";
		return -1;
	}
	if (folded_r[len - 1] == '.') {
		*error_r = "username must not end with '.'";
		return -1;
	}
	return 0;
}

int
validate_domain(const char *in, char *folded_r, const char **error_r)
{
	size_t len = strlen(in), label = 0, labels = 1;

	if (len == 0 || len > DOMAIN_MAX) {
		*error_r = "domain must be 1 to 253 characters";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)in[i]);

		if (c == '.') {
			if (label == 0 || folded_r[i - 1] == '-') {
				*error_r = "domain has an empty label or a label ending in '-'";
				return -1;
			}
			label = 0;
			labels++;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if (label == 0 && c == '-') {
				*error_r = "domain label starts with '-'";
				return -1;
			}
			if (++label > 63) {
				*error_r = "domain label longer than 63 characters";
				return -1;
			}
		} else {
			*error_r = "domain may only contain letters, digits, '-' and '.'";
			return -1;
		}
		folded_r[i] = (char)c;
	}
	folded_r[len] = '\0';
	if (label == 0 || folded_r[len - 1] == '-' || labels < 2) {
		*error_r = "domain needs at least two labels and must not end in '.' or '-'";
		return -1;
	}
	if (strspn(folded_r + len - label, "0123456789") == label) {
		*error_r = "domain must not end in an all-numeric label (an IP address?)";
		return -1;
	}
	return 0;
}

const char *
split_mailbox_address(const char *in, char *local_r)
{
	const char *at = strrchr(in, '@');

	if (at == NULL || at == in || at[1] == '\0' || (size_t)(at - in) > LOCAL_MAX)
		return NULL;
	memcpy(local_r, in, (size_t)(at - in));
	local_r[at - in] = '\0';
	return at + 1;
}

int
validate_address(const char *in, char *email_r, const char **error_r)
{
	const char *at = strrchr(in, '@');
	size_t local_len;

	if (at == NULL || at == in) {
		*error_r = "address must be local@domain";
		return -1;
	}
	local_len = (size_t)(at - in);
	if (local_len > LOCAL_MAX) {
		*error_r = "local part longer than 64 characters";
		return -1;
	}
	/* Dot-atom only: no quoting, no comments, nothing a map lookup or a
	 * shell could misread. */
	for (size_t i = 0; i < local_len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (!(isalnum(c) || strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL) || c == '\0') {
			*error_r = "local part has a character that is not allowed";
			return -1;
		}
		email_r[i] = (char)tolower(c);
	}
	if (in[0] == '.' || in[local_len - 1] == '.' || memmem(in, local_len, "..", 2) != NULL) {
		*error_r = "local part has a misplaced '.'";
		return -1;
	}
	email_r[local_len] = '@';
	return validate_domain(at + 1, email_r + local_len + 1, error_r);
}

long
utf8_length(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	long count = 0;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		unsigned long cp;

		if (c < 0x80) {
			n = 1;
			cp = c;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4;
			cp = c & 0x07;
		} else {
			return -1;
		}
		if (i + n > len)
			return -1;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return -1;
		i += n;
		count++;
	}
	return count;
}

static bool
is_common_password(const char *password, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(common_passwords); i++)
		if (strlen(common_passwords[i]) == len &&
		    strncasecmp(common_passwords[i], password, len) == 0)
			return true;
	return false;
}

int
validate_password(
    const char *password, size_t len, const char *username, const char *email, const char **error_r)
{
	long chars = utf8_length(password, len);

	if (chars < 0) {
		*error_r = "password is not valid UTF-8";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)password[i];

		/* C0 controls, DEL, and C1 controls (U+0080-U+009F: 0xC2 0x80-0x9F). */
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && i + 1 < len && (unsigned char)password[i + 1] < 0xa0)) {
			*error_r = "password must not contain control characters";
			return -1;
		}
	}
	if (chars < PASSWORD_MIN_CHARS) {
		*error_r = "password must be at least 10 characters";
		return -1;
	}
	if (chars > PASSWORD_MAX_CHARS) {
		*error_r = "password must be at most 256 characters";
		return -1;
	}
	if ((username != NULL && strlen(username) == len &&
	        strncasecmp(username, password, len) == 0) ||
	    (email != NULL && strlen(email) == len && strncasecmp(email, password, len) == 0)) {
		*error_r = "password must not be your username or address";
		return -1;
	}
	if (is_common_password(password, len)) {
		*error_r = "password is too common";
		return -1;
	}
	return 0;
}
