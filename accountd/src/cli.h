/* The command line: the same operations as the API, on the same service
 * code, for administrators and the installer. */
#ifndef ACCOUNTD_CLI_H
#define ACCOUNTD_CLI_H

/* Runs argv (argv[0] is the program); returns the exit status. */
int cli_main(int argc, char **argv);

#endif
