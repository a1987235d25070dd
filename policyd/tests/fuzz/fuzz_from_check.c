/* libFuzzer harness of the From:/Sender: check (from_check.c). The input's
 * first byte chooses the mode and the header counts; the rest is the From:
 * value, then (after a NUL byte, when there is one) the Sender: value. The
 * owner lookup is a pure function of its argument: the login owns
 * carol@example.test, example.test is ours, and an address holding "fail"
 * makes the lookup fail. Checked: the reason matches the verdict and is
 * safe for an SMTP reply. Built with -DFUZZ_REPLAY it has no libFuzzer
 * dependency. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../accountd/tests/fuzz/fuzz_check.h"
#include "from_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum from_owner
owns(void *ctx, const char *login, const char *address_or_domain)
{
	(void)ctx;
	CHECK(address_or_domain != NULL && strchr(address_or_domain, '"') == NULL);
	if (strstr(address_or_domain, "fail") != NULL)
		return FROM_OWNER_ERROR;
	if (login == NULL) {
		CHECK(strchr(address_or_domain, '@') == NULL);
		return strcmp(address_or_domain, "example.test") == 0 ? FROM_OWNER_YES
		                                                      : FROM_OWNER_NO;
	}
	CHECK(strcmp(login, "carol@example.test") == 0);
	return strcmp(address_or_domain, "carol@example.test") == 0 ? FROM_OWNER_YES
	                                                            : FROM_OWNER_NO;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialized;
	char reason[FROM_REASON_MAX];
	struct from_check_input in = {0};
	enum from_verdict v;
	char *text, *sender;

	if (!initialized) {
		from_check_init();
		initialized = 1;
	}
	if (size < 1)
		return 0;
	in.mode = (data[0] & 1) != 0 ? FROM_CHECK_INBOUND : FROM_CHECK_SUBMISSION;
	in.login = "Carol@example.test";
	in.from_count = (data[0] >> 1) & 3;
	in.sender_count = (data[0] >> 3) & 3;
	/* Exactly the bytes given, NUL-terminated, so ASan sees any overread. */
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	sender = text + strlen(text);
	if (sender < text + size - 1)
		sender++;
	in.from = in.from_count > 0 ? text : NULL;
	in.sender = in.sender_count > 0 ? sender : NULL;

	v = from_check(&in, owns, NULL, reason, sizeof(reason));
	switch (v) {
	case FROM_ACCEPT:
		CHECK(reason[0] == '\0');
		CHECK(in.from_count <= 1);
		if (in.mode == FROM_CHECK_SUBMISSION) {
			CHECK(in.from_count == 1 && in.sender_count <= 1);
			CHECK(strlen(text) <= FROM_HEADER_MAX);
		}
		break;
	case FROM_REJECT:
		CHECK(strncmp(reason, "5.7.1 ", 6) == 0);
		break;
	case FROM_TEMPFAIL:
		CHECK(strncmp(reason, "4.3.0 ", 6) == 0);
		break;
	}
	for (const char *p = reason; *p != '\0'; p++)
		CHECK(*p >= 0x20 && *p <= 0x7e && *p != '%');
	CHECK(strlen(reason) < sizeof(reason));
	free(text);
	return 0;
}
