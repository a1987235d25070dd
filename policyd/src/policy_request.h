/* The Postfix policy delegation protocol, request side: name=value lines
 * ending with an empty line. This module only parses; it never allocates.
 * Unknown attributes are skipped (Postfix adds new ones over time); the
 * ones policyd uses are copied into fixed buffers. */
#ifndef POLICYD_POLICY_REQUEST_H
#define POLICYD_POLICY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* A request larger than this, or a line longer than POLICY_LINE_MAX, is
 * refused and the connection closed (it cannot be resynchronised). Postfix's
 * own requests are a few hundred bytes. */
#define POLICY_REQUEST_MAX 16384
#define POLICY_LINE_MAX    4096
#define POLICY_ATTRS_MAX   128

enum policy_state {
	POLICY_STATE_OTHER,
	POLICY_STATE_RCPT,
	POLICY_STATE_END_OF_MESSAGE,
};

struct policy_request {
	bool is_access_policy; /* request=smtpd_access_policy */
	enum policy_state state;
	char sasl_username[EMAIL_MAX + 1];
	char recipient[EMAIL_MAX + 1];
	char instance[64];
	char client_address[64];
	unsigned recipient_count;
};

/* Length of the first whole request in buf (its lines and the empty line
 * that ends it), or 0 when buf holds no complete request yet. */
size_t policy_request_length(const char *buf, size_t len);

/* Parse one whole request (as delimited by policy_request_length). Returns 0,
 * or -1 with a short reason in *error_r when the request is malformed. */
MUST_CHECK int policy_request_parse(
    const char *buf, size_t len, struct policy_request *req, const char **error_r);

#endif
