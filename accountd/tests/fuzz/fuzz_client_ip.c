/* libFuzzer harness for the client address of a request: the peer's
 * address, and X-Forwarded-For only behind a trusted proxy. That logic is
 * the static resolve_client_ip() in http_request.c, reached through
 * request_new(); this file includes http_request.c with the two
 * libmicrohttpd calls it makes renamed to fakes that return the peer and
 * the header the fuzzer chose. No daemon, no socket.
 *
 * Input: byte 0 picks the peer (and whether the header is present); the
 * rest, up to a NUL, is the X-Forwarded-For value. The address chosen is
 * compared with an independent implementation of the documented rule: the
 * right-most entry that is not a trusted proxy; the peer itself if the
 * header is absent, the peer is not trusted, an entry is not an address,
 * or every entry is trusted.
 * Built with -DFUZZ_REPLAY it has no libFuzzer dependency. */

#define MHD_get_connection_info     fuzz_mhd_get_connection_info
#define MHD_lookup_connection_value fuzz_mhd_lookup_connection_value
#include "fuzz_check.h"
#include "http_request.c"

#include <stdlib.h>
#include <strings.h>
#include <sys/un.h>

#define INPUT_MAX 17000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char trusted_list[] = "127.0.0.1, ::1, 10.0.0.1, unix, 2001:db8::1";

struct peer {
	int family; /* 0: no address information at all */
	const char *text;
	const char *expected; /* how the request names it */
};

static const struct peer peers[] = {
    {AF_INET, "127.0.0.1", "127.0.0.1"},           /* trusted */
    {AF_INET6, "::1", "::1"},                      /* trusted */
    {AF_INET6, "::ffff:10.0.0.1", "10.0.0.1"},     /* trusted, v4-mapped */
    {AF_UNIX, "/run/accountd.sock", "unix"},       /* trusted */
    {AF_INET, "203.0.113.9", "203.0.113.9"},       /* not trusted */
    {0, "", "unix"},                               /* trusted */
    {AF_INET6, "2001:0db8:0:0::1", "2001:db8::1"}, /* trusted */
    {AF_INET6, "2001:db8::2", "2001:db8::2"},      /* not trusted */
};

static struct sockaddr_storage fake_peer;
static int fake_peer_absent;
static const char *fake_xff;

const union MHD_ConnectionInfo *
fuzz_mhd_get_connection_info(
    struct MHD_Connection *connection, enum MHD_ConnectionInfoType info_type, ...)
{
	static union MHD_ConnectionInfo info;

	if (info_type != MHD_CONNECTION_INFO_CLIENT_ADDRESS || fake_peer_absent)
		return NULL;
	info.client_addr = (struct sockaddr *)&fake_peer;
	return &info;
}

const char *
fuzz_mhd_lookup_connection_value(
    struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key)
{
	if (kind == MHD_HEADER_KIND && strcasecmp(key, "X-Forwarded-For") == 0)
		return fake_xff;
	return NULL;
}

static void
set_peer(const struct peer *p)
{
	memset(&fake_peer, 0, sizeof(fake_peer));
	fake_peer_absent = p->family == 0;
	if (p->family == AF_INET) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)&fake_peer;
		in4->sin_family = AF_INET;
		CHECK(inet_pton(AF_INET, p->text, &in4->sin_addr) == 1);
	} else if (p->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&fake_peer;
		in6->sin6_family = AF_INET6;
		CHECK(inet_pton(AF_INET6, p->text, &in6->sin6_addr) == 1);
	} else if (p->family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)(void *)&fake_peer;
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", p->text);
	}
}

static int
reference_trusted(const struct config *cfg, const char *ip)
{
	for (unsigned i = 0; i < cfg->n_trusted_proxies; i++)
		if (strcmp(cfg->trusted_proxies[i], ip) == 0)
			return 1;
	return 0;
}

/* Canonical text of one header entry, or 0 if it is not an address. */
static int
reference_entry(const char *start, const char *end, char *out)
{
	unsigned char addr[16];
	char buf[128];

	while (start < end && isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (end == start || (size_t)(end - start) >= sizeof(buf))
		return 0;
	memcpy(buf, start, (size_t)(end - start));
	buf[end - start] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		return inet_ntop(AF_INET, addr, out, CLIENT_IP_MAX) != NULL;
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		/* An IPv4-mapped address is the IPv4 client. */
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)(void *)addr))
			return inet_ntop(AF_INET, addr + 12, out, CLIENT_IP_MAX) != NULL;
		return inet_ntop(AF_INET6, addr, out, CLIENT_IP_MAX) != NULL;
	}
	return 0;
}

static void
reference_client_ip(const struct config *cfg, const char *peer, const char *xff, char *out)
{
	const char *end;

	strcpy(out, peer);
	if (!reference_trusted(cfg, peer) || xff == NULL || *xff == '\0')
		return;
	/* Entries from the right: the last one was added by our proxy. */
	end = xff + strlen(xff);
	for (;;) {
		const char *comma = end;
		char entry[CLIENT_IP_MAX];

		while (comma > xff && comma[-1] != ',')
			comma--;
		if (!reference_entry(comma, end, entry))
			return;
		if (!reference_trusted(cfg, entry)) {
			strcpy(out, entry);
			return;
		}
		if (comma == xff)
			return;
		end = comma - 1;
	}
}

static const char *
lookup_proxies(void *ctx, const char *key)
{
	return strcmp(key, "ACCOUNTD_TRUSTED_PROXIES") == 0 ? trusted_list : NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static struct server srv;
	static int ready;
	const struct peer *peer;
	struct request *req;
	char *header, expected[CLIENT_IP_MAX];
	const char *error;
	char error_buf[128];

	if (size < 1 || size > INPUT_MAX)
		return 0;
	if (!ready) {
		CHECK(config_parse(
		          &cfg, lookup_proxies, NULL, error_buf, sizeof(error_buf), &error) == 0);
		srv.cfg = &cfg;
		ready = 1;
	}
	peer = &peers[data[0] % N_ELEMENTS(peers)];
	set_peer(peer);
	if ((header = malloc(size)) == NULL)
		return 0;
	memcpy(header, data + 1, size - 1);
	header[size - 1] = '\0';
	/* Bit 7: no header at all. */
	fake_xff = (data[0] & 0x80) != 0 ? NULL : header;

	/* The method is the header too, when bit 6 is set: only plain
	 * upper-case tokens reach the logs. */
	req = request_new(&srv, NULL, (data[0] & 0x40) != 0 ? header : "POST");
	CHECK(req != NULL);
	reference_client_ip(&cfg, peer->expected, fake_xff, expected);
	if (strcmp(req->ip, expected) != 0) {
		fprintf(stderr, "peer %s, X-Forwarded-For \"%s\": got %s, expected %s\n",
		    peer->expected, fake_xff != NULL ? fake_xff : "(absent)", req->ip, expected);
		abort();
	}
	CHECK(strcmp(req->method, "OTHER") == 0 ||
	      strspn(req->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(req->method));
	CHECK(strlen(req->id) == 16);
	request_free(&req);
	CHECK(req == NULL);
	free(header);
	return 0;
}
