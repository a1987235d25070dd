/* mailnest-policyd: the Postfix policy service enforcing sending limits.
 *
 *   mailnest-policyd [serve]      serve (the default)
 *   mailnest-policyd milter       serve the From:/Sender: check to Postfix
 *                                 as a milter (milter.h: why apart)
 *   mailnest-policyd check-config validate the settings and exit
 *   mailnest-policyd version
 *
 * A bad setting stops start-up with a message naming it and exit status 78
 * (EX_CONFIG). It refuses to run as root: the service manager starts it as
 * its own unprivileged user. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "build_config.h"
#include "config.h"
#include "log.h"
#include "milter.h"
#include "server.h"

#define EXIT_CONFIG 78

int
main(int argc, char **argv)
{
	const char *command = argc > 1 ? argv[1] : "serve";
	struct config cfg;
	char error[256];
	int status;

	if (strcmp(command, "version") == 0) {
		printf("mailnest-policyd %s\n", POLICYD_VERSION);
		return 0;
	}
	if (strcmp(command, "serve") != 0 && strcmp(command, "milter") != 0 &&
	    strcmp(command, "check-config") != 0) {
		fprintf(stderr, "usage: mailnest-policyd [serve|milter|check-config|version]\n");
		return 64;
	}
	if (config_load(&cfg, error, sizeof(error)) != 0) {
		fprintf(stderr, "mailnest-policyd: configuration: %s\n", error);
		config_wipe(&cfg);
		return EXIT_CONFIG;
	}
	if (strcmp(command, "check-config") == 0) {
		printf("configuration ok\n");
		config_wipe(&cfg);
		return 0;
	}
	if (geteuid() == 0) {
		fprintf(stderr,
		    "mailnest-policyd: refusing to run as root; start it as its own user\n");
		config_wipe(&cfg);
		return EXIT_CONFIG;
	}
	/* Nothing it runs may gain privileges (it runs nothing, but say so). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		log_warn("prctl(PR_SET_NO_NEW_PRIVS)");
	if (strcmp(command, "milter") == 0)
		status = milter_run(&cfg);
	else
		status = server_run(&cfg);
	config_wipe(&cfg);
	return status;
}
