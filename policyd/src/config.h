/* policyd's settings, read once at start-up from the environment and
 * optionally from a KEY=VALUE file named by POLICYD_CONFIG_FILE (blank lines
 * and # comments allowed; the environment wins; an unknown key in the file
 * is an error). The struct is immutable after config_load() returns. */
#ifndef POLICYD_CONFIG_H
#define POLICYD_CONFIG_H

#include "common.h"
#include "limits.h"

struct config {
	char socket_path[108];
	char metrics_socket_path[108]; /* "" = no metrics socket */
	char milter_socket_path[108];  /* `mailnest-policyd milter` listens here */

	char db_host[256];
	unsigned db_port;
	char db_socket[256];
	char db_name[65];
	char db_user[81];
	char db_password[256];
	unsigned db_timeout;     /* seconds: connect, read, write, lock waits */
	unsigned db_connections; /* pool size */

	unsigned max_connections; /* Postfix connections served at once */
	unsigned request_timeout; /* seconds for a whole request to arrive */
	unsigned idle_timeout;    /* seconds a connection may sit between requests */

	struct limit_defaults limits;
};

/* Fill cfg from defaults, the optional file and the environment. On failure
 * returns -1 with a message naming the setting in error_buf. */
MUST_CHECK int config_load(struct config *cfg, char *error_buf, size_t error_size);

/* Parse one file's text (KEY=VALUE lines) into cfg, skipping keys present
 * in the environment. Exposed for the unit tests. */
MUST_CHECK int config_parse_text(
    struct config *cfg, const char *text, size_t len, char *error_buf, size_t error_size);

void config_defaults(struct config *cfg);

/* Forget the secrets held in cfg. */
void config_wipe(struct config *cfg);

#endif
