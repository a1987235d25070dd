/* Flushing Dovecot's authentication cache through its auth-master socket,
 * so that a deactivated, purged or re-enabled mailbox (or a new one that
 * failed to log in before it existed) takes effect in IMAP/POP3/SMTP AUTH
 * at once instead of after auth_cache_ttl. */
#ifndef ACCOUNTD_DOVECOT_AUTH_H
#define ACCOUNTD_DOVECOT_AUTH_H

#include "common.h"

/* Flush user's entries (all entries when user is NULL). Waits at most
 * timeout_ms. Returns 0 when Dovecot answered OK, -1 otherwise (errno-style
 * reason in *error_r). */
MUST_CHECK int dovecot_auth_cache_flush(
    const char *socket_path, const char *user, unsigned timeout_ms, const char **error_r);

#endif
