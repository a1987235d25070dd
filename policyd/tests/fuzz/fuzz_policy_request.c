/* libFuzzer harness of the policy request parser: raw bytes are framed as
 * the server frames them (policy_request_length, repeatedly, as one stream
 * of many requests) and each request parsed; the properties of what is
 * accepted are checked. Broken invariants abort. Built with -DFUZZ_REPLAY
 * it has no libFuzzer dependency. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../accountd/tests/fuzz/fuzz_check.h"
#include "policy_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t pos = 0, n;

	/* One request in a buffer of exactly its size, so ASan sees any read
	 * past the end. */
	while ((n = policy_request_length(buf + pos, size - pos)) > 0) {
		struct policy_request req;
		const char *error = NULL;
		char *copy;

		CHECK(n <= size - pos);
		CHECK(buf[pos + n - 1] == '\n');
		if ((copy = malloc(n)) == NULL)
			return 0;
		memcpy(copy, buf + pos, n);
		if (policy_request_parse(copy, n, &req, &error) == 0) {
			CHECK(req.is_access_policy);
			CHECK(strlen(req.sasl_username) < sizeof(req.sasl_username));
			CHECK(strlen(req.instance) < sizeof(req.instance));
			CHECK(memchr(req.sasl_username, '\n', strlen(req.sasl_username)) == NULL);
			CHECK(n <= POLICY_REQUEST_MAX);
		} else {
			CHECK(error != NULL && error[0] != '\0');
		}
		free(copy);
		pos += n;
	}
	return 0;
}
