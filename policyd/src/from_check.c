/* The From:/Sender: check; see from_check.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <gmime/gmime.h>

#include "from_check.h"

/* Characters that end an address-like word of the header text. Quotes and
 * backslashes are not among them: they are dropped from a word instead, so
 * that "bob"@example.test and bob"@example.test both read as
 * bob@example.test. */
#define WORD_DELIMITERS " \t\r\n\v\f<>()[],;:"

struct judge {
	const struct from_check_input *in;
	from_owner_fn *owns;
	void *ctx;
	char login[EMAIL_MAX + 1];
	const char *header; /* "From" or "Sender" */
	/* Addresses already judged (and found fine), so that the same address
	 * seen by GMime and in the text is asked about once. */
	char *seen[FROM_ADDRESSES_MAX];
	unsigned n_seen;
	char *reason;
	size_t reason_size;
};

void
from_check_init(void)
{
	g_mime_init();
}

void
from_check_shutdown(void)
{
	g_mime_shutdown();
}

const char *
from_verdict_name(enum from_verdict verdict)
{
	switch (verdict) {
	case FROM_ACCEPT:
		return "accept";
	case FROM_REJECT:
		return "reject";
	case FROM_TEMPFAIL:
		return "tempfail";
	}
	return "tempfail";
}

/* Write the reason, then make it safe for an SMTP reply and a log line:
 * printable ASCII only, and no '%' (libmilter's reply text is a format). */
__attribute__((format(printf, 3, 4))) static enum from_verdict
verdict(struct judge *j, enum from_verdict v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->reason, j->reason_size, fmt, ap);
	va_end(ap);
	for (char *p = j->reason; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '%')
			*p = '?';
	return v;
}

/* Copy the len bytes of word to out (size FROM_HEADER_MAX + 1), in ASCII
 * lower case, without quotes and backslashes, and without the dots, quotes
 * and apostrophes that end a sentence or open a quotation around it. */
static void
normalize(const char *word, size_t len, char *out)
{
	size_t n = 0;

	while (len > 0 && (*word == '.' || *word == '\''))
		word++, len--;
	for (size_t i = 0; i < len && n < FROM_HEADER_MAX; i++) {
		char c = word[i];

		if (c == '"' || c == '\\')
			continue;
		out[n++] = (char)g_ascii_tolower(c);
	}
	while (n > 0 && (out[n - 1] == '.' || out[n - 1] == '\''))
		n--;
	out[n] = '\0';
}

/* The domain of a normalized address (after its last '@'), or NULL when
 * it has no '@' or nothing on one side of it. */
static const char *
domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	if (at == NULL || at == address || at[1] == '\0')
		return NULL;
	return at + 1;
}

static bool
already_judged(struct judge *j, const char *address)
{
	for (unsigned i = 0; i < j->n_seen; i++)
		if (strcmp(j->seen[i], address) == 0)
			return true;
	return false;
}

/* Judge one normalized address. parsed: GMime found it as an address (not
 * a word of the text). */
static enum from_verdict
judge_address(struct judge *j, const char *address, bool parsed)
{
	const char *domain = domain_of(address);
	enum from_owner owner = FROM_OWNER_ERROR;

	if (domain == NULL) {
		if (!parsed || j->in->mode == FROM_CHECK_INBOUND)
			return FROM_ACCEPT;
		return verdict(j, FROM_REJECT, "5.7.1 %s: header address %.100s has no domain",
		    j->header, address);
	}
	if (already_judged(j, address))
		return FROM_ACCEPT;
	if (j->n_seen == FROM_ADDRESSES_MAX)
		return verdict(j, FROM_REJECT,
		    "5.7.1 %s: header holds too many addresses (%d at most)", j->header,
		    FROM_ADDRESSES_MAX);
	switch (j->in->mode) {
	case FROM_CHECK_SUBMISSION:
		owner = j->owns(j->ctx, j->login, address);
		if (owner == FROM_OWNER_NO)
			return verdict(j, FROM_REJECT,
			    "5.7.1 %s: header address %.100s is not yours (logged in as %.100s)",
			    j->header, address, j->login);
		break;
	case FROM_CHECK_INBOUND:
		owner = j->owns(j->ctx, NULL, domain);
		if (owner == FROM_OWNER_YES)
			return verdict(j, FROM_REJECT,
			    "5.7.1 %s: header address %.100s: mail from our own domain must be "
			    "sent "
			    "through submission with a login",
			    j->header, address);
		break;
	}
	if (owner == FROM_OWNER_ERROR)
		return verdict(j, FROM_TEMPFAIL,
		    "4.3.0 the %s: header could not be checked now, try again later", j->header);
	if ((j->seen[j->n_seen] = g_strdup(address)) == NULL)
		return verdict(j, FROM_TEMPFAIL, "4.3.0 out of memory, try again later");
	j->n_seen++;
	return FROM_ACCEPT;
}

/* Judge every address-like word (holding an '@') of text. */
static enum from_verdict
judge_words(struct judge *j, const char *text)
{
	char word[FROM_HEADER_MAX + 1];
	enum from_verdict v;
	size_t len;

	for (const char *p = text; *p != '\0'; p += len) {
		p += strspn(p, WORD_DELIMITERS);
		len = strcspn(p, WORD_DELIMITERS);
		if (len == 0 || memchr(p, '@', len) == NULL)
			continue;
		normalize(p, len, word);
		if ((v = judge_address(j, word, false)) != FROM_ACCEPT)
			return v;
	}
	return FROM_ACCEPT;
}

/* Judge the mailboxes of list (and of its groups); *mailboxes_r counts
 * them. Groups do not nest in RFC 5322; depth bounds what GMime allows. */
static enum from_verdict
judge_list(struct judge *j, InternetAddressList *list, unsigned depth, unsigned *mailboxes_r)
{
	char address[FROM_HEADER_MAX + 1];
	int n = internet_address_list_length(list);
	enum from_verdict v;

	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		const char *addr, *name;

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			if (depth >= 2)
				return verdict(
				    j, FROM_REJECT, "5.7.1 %s: header nests groups", j->header);
			v = judge_list(j,
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
			    depth + 1, mailboxes_r);
		} else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			(*mailboxes_r)++;
			addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
			normalize(
			    addr != NULL ? addr : "", addr != NULL ? strlen(addr) : 0, address);
			v = judge_address(j, address, true);
			/* The display name (decoded by GMime) must not show
			 * someone else's address either. */
			name = internet_address_get_name(ia);
			if (v == FROM_ACCEPT && j->in->mode == FROM_CHECK_SUBMISSION &&
			    name != NULL)
				v = judge_words(j, name);
		} else {
			v = verdict(
			    j, FROM_TEMPFAIL, "4.3.0 unexpected address in %s: header", j->header);
		}
		if (v != FROM_ACCEPT)
			return v;
	}
	return FROM_ACCEPT;
}

static enum from_verdict
judge_header(struct judge *j, const char *header, const char *value)
{
	InternetAddressList *list;
	enum from_verdict v;
	unsigned mailboxes = 0;
	char *decoded;

	j->header = header;
	if (strlen(value) > FROM_HEADER_MAX)
		return verdict(j, FROM_REJECT, "5.7.1 %s: header is too long (%d bytes at most)",
		    header, FROM_HEADER_MAX);
	list = internet_address_list_parse(NULL, value);
	if (list != NULL) {
		v = judge_list(j, list, 0, &mailboxes);
		g_object_unref(list);
		if (v != FROM_ACCEPT)
			return v;
	}
	if (j->in->mode == FROM_CHECK_INBOUND)
		return FROM_ACCEPT;
	if (mailboxes == 0)
		return verdict(j, FROM_REJECT, "5.7.1 %s: header holds no address", header);
	/* Every word of the text, raw and with its encoded words decoded. */
	if ((v = judge_words(j, value)) != FROM_ACCEPT)
		return v;
	decoded = g_mime_utils_header_decode_text(NULL, value);
	if (decoded == NULL)
		return verdict(j, FROM_TEMPFAIL, "4.3.0 out of memory, try again later");
	v = judge_words(j, decoded);
	g_free(decoded);
	return v;
}

static enum from_verdict
check(struct judge *j)
{
	const struct from_check_input *in = j->in;
	enum from_verdict v;

	if (in->from_count > 1)
		return verdict(j, FROM_REJECT,
		    "5.7.1 the message has %u From: headers; exactly one is allowed",
		    in->from_count);
	switch (in->mode) {
	case FROM_CHECK_SUBMISSION:
		if (in->login == NULL || in->login[0] == '\0' || strlen(in->login) > EMAIL_MAX)
			return verdict(j, FROM_TEMPFAIL, "4.3.0 no usable login, try again later");
		normalize(in->login, strlen(in->login), j->login);
		if (in->from_count == 0 || in->from == NULL)
			return verdict(j, FROM_REJECT, "5.7.1 the message has no From: header");
		if (in->sender_count > 1)
			return verdict(j, FROM_REJECT,
			    "5.7.1 the message has %u Sender: headers; one at most is allowed",
			    in->sender_count);
		break;
	case FROM_CHECK_INBOUND:
		break;
	}
	if (in->from != NULL && (v = judge_header(j, "From", in->from)) != FROM_ACCEPT)
		return v;
	if (in->sender_count > 0 && in->sender != NULL)
		return judge_header(j, "Sender", in->sender);
	return FROM_ACCEPT;
}

enum from_verdict
from_check(const struct from_check_input *in, from_owner_fn *owns, void *ctx, char *reason_buf,
    size_t reason_size)
{
	struct judge j = {
	    .in = in, .owns = owns, .ctx = ctx, .reason = reason_buf, .reason_size = reason_size};
	enum from_verdict v;

	reason_buf[0] = '\0';
	v = check(&j);
	for (unsigned i = 0; i < j.n_seen; i++)
		g_free(j.seen[i]);
	if (v == FROM_ACCEPT)
		reason_buf[0] = '\0';
	return v;
}
