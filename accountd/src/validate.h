/* Input rules shared by the HTTP API and the CLI, so both refuse the same
 * things with the same words. All functions are pure (no I/O). */
#ifndef ACCOUNTD_VALIDATE_H
#define ACCOUNTD_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define PASSWORD_MIN_CHARS 10
#define PASSWORD_MAX_CHARS 256

/* 1-64 chars of [a-z0-9._-], starting with a letter or digit, no "..", not
 * ending in '.', not reserved. Input is case-folded into folded_r (65
 * bytes). Returns 0, or -1 with *error_r a human reason. */
MUST_CHECK int validate_username(const char *in, char *folded_r,
    const char (*extra_reserved)[LOCAL_MAX + 1], size_t n_extra, const char **error_r);

/* The syntax rules of validate_username() without the reserved list. */
MUST_CHECK int validate_username_syntax(const char *in, char *folded_r, const char **error_r);

/* A DNS name of letters, digits and hyphens, at least two labels, the last
 * not all digits (so not an IPv4 address), folded to lower case into
 * folded_r (254 bytes). */
MUST_CHECK int validate_domain(const char *in, char *folded_r, const char **error_r);

/* local@domain with the syntax above for the domain and a permissive but
 * safe local part (what aliases may point to). Folded into email_r
 * (EMAIL_MAX + 1 bytes). */
MUST_CHECK int validate_address(const char *in, char *email_r, const char **error_r);

/* A mailbox address given whole (admin API, CLI): its local part, at most
 * LOCAL_MAX characters, copied into local_r (LOCAL_MAX + 1 bytes) and its
 * domain returned (a pointer into in); NULL when in is not "x@y". The parts
 * are not checked here: validate_username and validate_domain do that. */
const char *split_mailbox_address(const char *in, char *local_r);

/* 10-256 characters (UTF-8 code points) of valid UTF-8 without control
 * characters (C0, DEL or C1), not the username or the address, not a common password. */
MUST_CHECK int validate_password(const char *password, size_t len, const char *username,
    const char *email, const char **error_r);

/* Number of code points, or -1 if s is not valid UTF-8. */
long utf8_length(const char *s, size_t len);

#endif
