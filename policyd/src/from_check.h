/* Whose From: is it? The decision of the milter (milter.c), apart from
 * libmilter and MariaDB so that it can be unit-tested and fuzzed: given the
 * message's From: and Sender: header values and a way to ask who owns an
 * address, it answers accept, reject (5.7.1) or tempfail (4.3.0), with a
 * reason a person can read.
 *
 * Addresses are parsed by GMime (internet_address_list_parse), never by
 * hand; call from_check_init() once before serving. On top of what GMime
 * finds, the submission check also looks at every address-like word in the
 * decoded header text (display names, comments, whatever GMime skipped), so
 * a display name showing someone else's address, or a parser that reads the
 * header differently from GMime, cannot pass off a foreign address. */
#ifndef POLICYD_FROM_CHECK_H
#define POLICYD_FROM_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* Longest From:/Sender: value judged; a longer one is refused. */
#define FROM_HEADER_MAX 4096
/* Most addresses (parsed ones and words of the text) judged in one header. */
#define FROM_ADDRESSES_MAX 32
#define FROM_REASON_MAX    512

enum from_check_mode {
	/* 587/465, the client logged in: every address must be the login's. */
	FROM_CHECK_SUBMISSION,
	/* Port 25, nobody logged in: no address may be in one of our domains. */
	FROM_CHECK_INBOUND,
};

enum from_owner {
	FROM_OWNER_YES,
	FROM_OWNER_NO,
	FROM_OWNER_ERROR, /* could not tell (database down): tempfail */
};

/* Submission: is address (lower case) one the login may send as?
 * Inbound: is domain (lower case) one of our active domains? */
typedef enum from_owner from_owner_fn(void *ctx, const char *login, const char *address_or_domain);

enum from_verdict {
	FROM_ACCEPT,
	FROM_REJECT,   /* 550 5.7.1 */
	FROM_TEMPFAIL, /* 451 4.3.0 */
};

struct from_check_input {
	enum from_check_mode mode;
	const char *login; /* submission: the authenticated login (any case) */
	unsigned from_count;
	unsigned sender_count;
	const char *from;   /* value of the first From:, NULL when none */
	const char *sender; /* value of the first Sender:, NULL when none */
};

/* Set up GMime; once, before any from_check(). */
void from_check_init(void);
void from_check_shutdown(void);

/* Decide about one message. reason_buf receives "5.7.1 ..." or "4.3.0 ..."
 * (printable ASCII, no '%') unless the verdict is FROM_ACCEPT, when it is
 * "". The header values may hold anything; they are only read. */
enum from_verdict from_check(const struct from_check_input *in, from_owner_fn *owns, void *ctx,
    char *reason_buf, size_t reason_size);

const char *from_verdict_name(enum from_verdict verdict);

#endif
