/* Policy request parser; see policy_request.h. */
#include <string.h>

#include "policy_request.h"

size_t
policy_request_length(const char *buf, size_t len)
{
	const char *end;

	if (len > 0 && buf[0] == '\n')
		return 1; /* an empty request: parsed as malformed */
	end = memmem(buf, len, "\n\n", 2);
	return end == NULL ? 0 : (size_t)(end - buf) + 2;
}

static bool
name_is(const char *name, size_t len, const char *expected)
{
	return strlen(expected) == len && memcmp(name, expected, len) == 0;
}

/* Copy value into dst (size bytes with the NUL); -1 if it does not fit. */
static int
copy_value(char *dst, size_t size, const char *value, size_t len)
{
	if (len >= size)
		return -1;
	memcpy(dst, value, len);
	dst[len] = '\0';
	return 0;
}

static int
parse_count(const char *value, size_t len, unsigned *count_r)
{
	unsigned long n = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return -1;
		n = n * 10 + (unsigned long)(value[i] - '0');
	}
	*count_r = (unsigned)n;
	return 0;
}

static int
parse_attribute(struct policy_request *req, const char *name, size_t name_len, const char *value,
    size_t len, const char **error_r)
{
	if (name_is(name, name_len, "request")) {
		req->is_access_policy = len == 19 && memcmp(value, "smtpd_access_policy", 19) == 0;
	} else if (name_is(name, name_len, "protocol_state")) {
		if (len == 4 && memcmp(value, "RCPT", 4) == 0)
			req->state = POLICY_STATE_RCPT;
		else if (len == 14 && memcmp(value, "END-OF-MESSAGE", 14) == 0)
			req->state = POLICY_STATE_END_OF_MESSAGE;
		else
			req->state = POLICY_STATE_OTHER;
	} else if (name_is(name, name_len, "sasl_username")) {
		if (copy_value(req->sasl_username, sizeof(req->sasl_username), value, len) != 0) {
			*error_r = "sasl_username too long";
			return -1;
		}
	} else if (name_is(name, name_len, "recipient")) {
		if (copy_value(req->recipient, sizeof(req->recipient), value, len) != 0) {
			*error_r = "recipient too long";
			return -1;
		}
	} else if (name_is(name, name_len, "instance")) {
		if (copy_value(req->instance, sizeof(req->instance), value, len) != 0) {
			*error_r = "instance too long";
			return -1;
		}
	} else if (name_is(name, name_len, "client_address")) {
		if (copy_value(req->client_address, sizeof(req->client_address), value, len) != 0) {
			*error_r = "client_address too long";
			return -1;
		}
	} else if (name_is(name, name_len, "recipient_count")) {
		if (parse_count(value, len, &req->recipient_count) != 0) {
			*error_r = "recipient_count is not a number";
			return -1;
		}
	}
	return 0;
}

int
policy_request_parse(const char *buf, size_t len, struct policy_request *req, const char **error_r)
{
	size_t pos = 0;
	unsigned lines = 0;

	memset(req, 0, sizeof(*req));
	if (len > POLICY_REQUEST_MAX) {
		*error_r = "request too large";
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		*error_r = "NUL byte in request";
		return -1;
	}
	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos), *eq;
		size_t line_len = nl != NULL ? (size_t)(nl - line) : len - pos;

		pos += line_len + (nl != NULL);
		if (line_len > 0 && line[line_len - 1] == '\r')
			line_len--;
		if (line_len == 0)
			break; /* the empty line that ends the request */
		if (line_len > POLICY_LINE_MAX) {
			*error_r = "line too long";
			return -1;
		}
		if (++lines > POLICY_ATTRS_MAX) {
			*error_r = "too many attributes";
			return -1;
		}
		if ((eq = memchr(line, '=', line_len)) == NULL || eq == line) {
			*error_r = "line is not name=value";
			return -1;
		}
		if (parse_attribute(req, line, (size_t)(eq - line), eq + 1,
		        line_len - (size_t)(eq - line) - 1, error_r) != 0)
			return -1;
	}
	if (lines == 0) {
		*error_r = "empty request";
		return -1;
	}
	if (!req->is_access_policy) {
		*error_r = "not request=smtpd_access_policy";
		return -1;
	}
	return 0;
}
