/* Command-line front end; see cli.h. Errors are printed as
 * "accountd: <code>: <message>" with sysexits(3) statuses. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "build_config.h"
#include "cli.h"
#include "config.h"
#include "db.h"
#include "http_server.h"
#include "migrate.h"
#include "routes.h"
#include "service.h"
#include "validate.h"

#define PASSWORD_INPUT_MAX 1100 /* 256 characters of up to 4 bytes */

struct cli {
	struct config cfg;
	struct service svc;
	struct db_pool *pool;
	struct db_conn *c;
};

static void
usage(void)
{
	fputs("usage: accountd COMMAND [ARGS]\n"
	      "  serve                          run the HTTP service\n"
	      "  migrate                        apply database migrations\n"
	      "  check-config                   validate the configuration and exit\n"
	      "  routes | version\n"
	      "  domain add|disable|enable NAME | domain list\n"
	      "  user add EMAIL [--quota BYTES]  (password: first line of stdin)\n"
	      "  user passwd EMAIL               (password: first line of stdin)\n"
	      "  user disable|enable|purge EMAIL | user quota EMAIL BYTES | user list [DOMAIN]\n"
	      "  alias add SOURCE DEST[,DEST...] | alias list [DOMAIN] | alias del SOURCE\n"
	      "  invite create [--count N] [--expires SECONDS] [--note TEXT]\n"
	      "  invite list | invite revoke ID\n"
	      "  registration [open|invite|closed]\n"
	      "  limits show EMAIL|DOMAIN | limits unsuspend EMAIL\n"
	      "  limits set EMAIL|DOMAIN FIELD=N|default...  (sending limits, see policyd)\n",
	    stderr);
}

static int
fail(enum svc_status st, const char *message)
{
	const struct svc_error_info *e = svc_error(st);

	fprintf(stderr, "accountd: %s: %s\n", e->code, message != NULL ? message : e->message);
	return e->exit_status;
}

static int
usage_error(const char *message)
{
	fprintf(stderr, "accountd: usage: %s\n", message);
	usage();
	return EX_USAGE;
}

/* First line of stdin, without echo on a terminal. */
static int
read_password(char *buf, size_t size, size_t *len_r)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) != 0;
	char *ok;

	if (tty) {
		fputs("Password: ", stderr);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	ok = fgets(buf, (int)size, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputs("\n", stderr);
	}
	if (ok == NULL)
		return -1;
	*len_r = strcspn(buf, "\r\n");
	if (buf[*len_r] == '\0' && *len_r == size - 1)
		return -1; /* longer than any allowed password */
	buf[*len_r] = '\0';
	return 0;
}

static int
print_json(json_t *out, const char *list_key, const char *const *fields)
{
	json_t *item;
	size_t i;

	json_array_foreach(json_object_get(out, list_key), i, item)
	{
		for (size_t f = 0; fields[f] != NULL; f++) {
			json_t *v = json_object_get(item, fields[f]);
			char *text = NULL;

			if (json_is_string(v))
				printf("%s", json_string_value(v));
			else if (v != NULL &&
			         (text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)))
				printf("%s", text);
			free(text);
			putchar(fields[f + 1] != NULL ? '\t' : '\n');
		}
	}
	json_decref(out);
	return EX_OK;
}

static int
parse_u64(const char *text, unsigned long long max, unsigned long long *value_r)
{
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	*value_r = strtoull(text, &end, 10);
	return *end == '\0' && *value_r <= max ? 0 : -1;
}

static int
cmd_migrate(struct cli *cli)
{
	char error_buf[512];
	const char *error = "unknown error";
	unsigned applied;
	enum db_status status = migrate_run(
	    cli->c, cli->cfg.migrations_dir, &applied, error_buf, sizeof(error_buf), &error);

	if (status != DB_OK)
		return fail(status == DB_UNAVAILABLE ? SVC_UNAVAILABLE : SVC_INTERNAL, error);
	printf("migrations: %u applied, schema up to date\n", applied);
	return EX_OK;
}

static int
cmd_domain(struct cli *cli, int argc, char **argv)
{
	static const char *const fields[] = {"name", "active", "created_at", NULL};
	const char *message = NULL;
	json_t *out = NULL;
	enum svc_status st;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if ((st = svc_domain_list(cli->c, &out)) != SVC_OK)
			return fail(st, NULL);
		return print_json(out, "domains", fields);
	}
	if (argc != 2)
		return usage_error("domain add|disable|enable NAME, or domain list");
	if (strcmp(argv[0], "add") == 0)
		st = svc_domain_add(cli->c, argv[1], &out, &message);
	else if (strcmp(argv[0], "disable") == 0 || strcmp(argv[0], "enable") == 0)
		st = svc_domain_set_active(&cli->svc, cli->c, argv[1], argv[0][0] == 'e', &out);
	else
		return usage_error("unknown domain command");
	if (st != SVC_OK)
		return fail(st, message);
	json_decref(out);
	printf("domain %s: ok\n", argv[1]);
	return EX_OK;
}

static int
cmd_user_add(struct cli *cli, const char *email, int argc, char **argv)
{
	char password[PASSWORD_INPUT_MAX], local[LOCAL_MAX + 1];
	const char *domain, *message = NULL;
	struct register_plan plan;
	unsigned long long quota = 0;
	bool has_quota = false;
	size_t len;
	enum svc_status st;

	if (argc == 2 && strcmp(argv[0], "--quota") == 0) {
		if (parse_u64(argv[1], (unsigned long long)INT64_MAX, &quota) < 0)
			return usage_error("--quota takes a byte count");
		has_quota = true;
	} else if (argc != 0) {
		return usage_error("user add EMAIL [--quota BYTES]");
	}
	if ((domain = split_mailbox_address(email, local)) == NULL)
		return fail(SVC_INVALID_USERNAME, "give the full address: user@domain");
	if (read_password(password, sizeof(password), &len) < 0)
		return fail(
		    SVC_WEAK_PASSWORD, "no password on standard input (or over 256 characters)");
	st = svc_register_check(
	    &cli->svc, cli->c, local, domain, password, len, NULL, true, &plan, &message);
	if (st == SVC_OK && has_quota)
		plan.quota_bytes = quota;
	if (st == SVC_OK)
		st = svc_register_commit(&cli->svc, cli->c, &plan, password, len);
	sodium_memzero(password, sizeof(password));
	if (st != SVC_OK)
		return fail(st, message);
	printf("%s\n", plan.email);
	return EX_OK;
}

static int
cmd_user(struct cli *cli, int argc, char **argv)
{
	static const char *const fields[] = {"email", "active", "quota_bytes", "created_at", NULL};
	char password[PASSWORD_INPUT_MAX];
	const char *message = NULL;
	json_t *out = NULL;
	enum svc_status st;
	size_t len;

	if (argc >= 1 && strcmp(argv[0], "list") == 0 && argc <= 2) {
		const char *domain = argc == 2 ? argv[1] : "";
		char after[EMAIL_MAX + 1] = "";
		/* Page through everything, 1000 at a time. */
		for (;;) {
			json_t *next;
			if ((st = svc_mailbox_list(cli->c, domain, after, 1000, &out)) != SVC_OK)
				return fail(st, NULL);
			next = json_object_get(out, "next");
			if (json_is_string(next))
				snprintf(after, sizeof(after), "%s", json_string_value(next));
			bool more = json_is_string(next);
			print_json(out, "mailboxes", fields);
			if (!more)
				return EX_OK;
		}
	}
	if (argc < 2)
		return usage_error(
		    "user add|passwd|disable|enable|purge|quota EMAIL, or user list");
	if (strcmp(argv[0], "add") == 0)
		return cmd_user_add(cli, argv[1], argc - 2, argv + 2);
	if (strcmp(argv[0], "quota") == 0 && argc == 3) {
		unsigned long long quota;
		uint64_t q;
		if (parse_u64(argv[2], (unsigned long long)INT64_MAX, &quota) < 0)
			return usage_error("user quota EMAIL BYTES");
		q = quota;
		st = svc_mailbox_update(&cli->svc, cli->c, argv[1], NULL, &q, &out);
	} else if (argc != 2) {
		return usage_error("too many arguments");
	} else if (strcmp(argv[0], "passwd") == 0) {
		if (read_password(password, sizeof(password), &len) < 0)
			return fail(SVC_WEAK_PASSWORD, "no password on standard input");
		st = svc_mailbox_set_password(&cli->svc, cli->c, argv[1], password, len, &message);
		sodium_memzero(password, sizeof(password));
	} else if (strcmp(argv[0], "disable") == 0 || strcmp(argv[0], "enable") == 0) {
		bool active = argv[0][0] == 'e';
		st = svc_mailbox_update(&cli->svc, cli->c, argv[1], &active, NULL, &out);
	} else if (strcmp(argv[0], "purge") == 0) {
		st = svc_mailbox_purge(&cli->svc, cli->c, argv[1]);
	} else {
		return usage_error("unknown user command");
	}
	json_decref(out);
	if (st != SVC_OK)
		return fail(st, message);
	printf("user %s: ok\n", argv[1]);
	return EX_OK;
}

static int
cmd_alias(struct cli *cli, int argc, char **argv)
{
	static const char *const fields[] = {"source", "destinations", NULL};
	const char *message = NULL, *dests[100];
	json_t *out = NULL;
	enum svc_status st;
	size_t n = 0;

	if (argc >= 1 && strcmp(argv[0], "list") == 0 && argc <= 2) {
		if ((st = svc_alias_list(cli->c, argc == 2 ? argv[1] : "", &out)) != SVC_OK)
			return fail(st, NULL);
		return print_json(out, "aliases", fields);
	}
	if (argc == 2 && strcmp(argv[0], "del") == 0) {
		if ((st = svc_alias_delete(cli->c, argv[1])) != SVC_OK)
			return fail(st, NULL);
		printf("alias %s: deleted\n", argv[1]);
		return EX_OK;
	}
	if (argc != 3 || strcmp(argv[0], "add") != 0)
		return usage_error(
		    "alias add SOURCE DEST[,DEST...] | alias list | alias del SOURCE");
	for (char *p = argv[2], *save = NULL, *tok; (tok = strtok_r(p, ",", &save)) != NULL;
	     p = NULL) {
		if (n == N_ELEMENTS(dests))
			return fail(SVC_INVALID_REQUEST, "at most 100 destinations");
		dests[n++] = tok;
	}
	if ((st = svc_alias_add(cli->c, argv[1], dests, n, &out, &message)) != SVC_OK)
		return fail(st, message);
	json_decref(out);
	printf("alias %s: ok\n", argv[1]);
	return EX_OK;
}

static int
cmd_invite(struct cli *cli, int argc, char **argv)
{
	static const char *const list_fields[] = {
	    "id", "status", "created_at", "expires_at", "note", NULL};
	static const char *const code_fields[] = {"code", NULL};
	unsigned long long count = 1, expires = 0, id;
	const char *note = "";
	json_t *out = NULL;
	enum svc_status st;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if ((st = svc_invite_list(cli->c, &out)) != SVC_OK)
			return fail(st, NULL);
		return print_json(out, "invites", list_fields);
	}
	if (argc == 2 && strcmp(argv[0], "revoke") == 0) {
		if (parse_u64(argv[1], 0xffffffffULL, &id) < 0)
			return usage_error("invite revoke ID");
		if ((st = svc_invite_revoke(cli->c, (unsigned)id)) != SVC_OK)
			return fail(st, "no such unused invite");
		printf("invite %llu: revoked\n", id);
		return EX_OK;
	}
	if (argc < 1 || strcmp(argv[0], "create") != 0)
		return usage_error("invite create|list|revoke");
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage_error("option without a value");
		if (strcmp(argv[i], "--count") == 0) {
			if (parse_u64(argv[i + 1], 100, &count) < 0 || count == 0)
				return usage_error("--count takes 1 to 100");
		} else if (strcmp(argv[i], "--expires") == 0) {
			if (parse_u64(argv[i + 1], 365ULL * 86400, &expires) < 0 || expires < 60)
				return usage_error("--expires takes 60 to 31536000 seconds");
		} else if (strcmp(argv[i], "--note") == 0) {
			note = argv[i + 1];
			if (strlen(note) > 255)
				return usage_error("--note is at most 255 characters");
		} else {
			return usage_error("unknown invite option");
		}
	}
	if ((st = svc_invite_create(cli->c, (unsigned)count, (unsigned long)expires, note, &out)) !=
	    SVC_OK)
		return fail(st, NULL);
	return print_json(out, "invites", code_fields);
}

static int
cmd_registration(struct cli *cli, int argc, char **argv)
{
	enum registration_mode mode;
	enum svc_status st;

	if (argc == 0) {
		if ((st = svc_registration_get(&cli->svc, cli->c, &mode)) != SVC_OK)
			return fail(st, NULL);
		printf("%s\n", registration_mode_name(mode));
		return EX_OK;
	}
	if (argc != 1 || registration_mode_parse(argv[0], &mode) < 0)
		return usage_error("registration [open|invite|closed]");
	if ((st = svc_registration_set(cli->c, mode)) != SVC_OK)
		return fail(st, NULL);
	printf("registration: %s\n", registration_mode_name(mode));
	return EX_OK;
}

/* Print a send-limits object as "field<TAB>value" lines. */
static int
print_send_limits(json_t *out)
{
	const char *key;
	json_t *v;

	json_object_foreach(out, key, v)
	{
		if (json_is_string(v))
			printf("%s\t%s\n", key, json_string_value(v));
		else if (json_is_integer(v))
			printf("%s\t%lld\n", key, (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			printf("%s\t%s\n", key, json_is_true(v) ? "yes" : "no");
		else
			printf("%s\tdefault\n", key);
	}
	json_decref(out);
	return EX_OK;
}

/* limits set NAME FIELD=N|default...: the fields not named keep their value. */
static int
cmd_limits_set(
    struct cli *cli, enum send_limits_scope scope, const char *name, int argc, char **argv)
{
	const char *const *fields = svc_send_limit_fields(scope);
	bool set[SEND_LIMIT_FIELDS] = {false};
	unsigned long long value[SEND_LIMIT_FIELDS] = {0};
	json_t *out = NULL;
	enum svc_status st;

	if ((st = svc_send_limits_get(cli->c, scope, name, &out)) != SVC_OK)
		return fail(st, NULL);
	for (size_t f = 0; fields[f] != NULL; f++) {
		json_t *v = json_object_get(out, fields[f]);

		set[f] = json_is_integer(v);
		value[f] = set[f] ? (unsigned long long)json_integer_value(v) : 0;
	}
	json_decref(out);
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t f;

		for (f = 0; fields[f] != NULL && eq != NULL; f++)
			if (strlen(fields[f]) == (size_t)(eq - argv[i]) &&
			    strncmp(fields[f], argv[i], (size_t)(eq - argv[i])) == 0)
				break;
		if (eq == NULL || fields[f] == NULL)
			return usage_error(
			    "limits set: FIELD=N|default, FIELD one of messages_per_hour, "
			    "messages_per_day, recipients_per_message (mailboxes), "
			    "recipients_per_day");
		if (strcmp(eq + 1, "default") == 0) {
			set[f] = false;
		} else if (parse_u64(eq + 1, 100000000ULL, &value[f]) == 0) {
			set[f] = true;
		} else {
			return usage_error(
			    "limits set: a limit is 0 (none) to 100000000, or default");
		}
	}
	if ((st = svc_send_limits_set(cli->c, scope, name, set, value, &out)) != SVC_OK)
		return fail(st, NULL);
	return print_send_limits(out);
}

static int
cmd_limits(struct cli *cli, int argc, char **argv)
{
	enum send_limits_scope scope;
	json_t *out = NULL;
	enum svc_status st;

	if (argc < 2)
		return usage_error("limits show|set|unsuspend EMAIL|DOMAIN ...");
	scope = strchr(argv[1], '@') != NULL ? SEND_LIMITS_MAILBOX : SEND_LIMITS_DOMAIN;
	if (strcmp(argv[0], "show") == 0 && argc == 2)
		st = svc_send_limits_get(cli->c, scope, argv[1], &out);
	else if (strcmp(argv[0], "unsuspend") == 0 && argc == 2 && scope == SEND_LIMITS_MAILBOX)
		st = svc_send_suspension_lift(cli->c, argv[1], &out);
	else if (strcmp(argv[0], "set") == 0 && argc >= 3)
		return cmd_limits_set(cli, scope, argv[1], argc - 2, argv + 2);
	else
		return usage_error(
		    "limits show NAME | limits set NAME FIELD=N... | limits unsuspend EMAIL");
	if (st != SVC_OK)
		return fail(st, NULL);
	return print_send_limits(out);
}

int
cli_main(int argc, char **argv)
{
	struct cli cli;
	char error_buf[512];
	const char *error, *cmd;
	int ret;

	if (argc < 2) {
		usage();
		return EX_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("accountd %s\n", ACCOUNTD_VERSION);
		return EX_OK;
	}
	if (strcmp(cmd, "routes") == 0) {
		routes_print(stdout);
		return EX_OK;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage();
		return EX_OK;
	}
	if (sodium_init() < 0) {
		fputs("accountd: libsodium failed to initialise\n", stderr);
		return EX_SOFTWARE;
	}
	if (config_load(&cli.cfg, error_buf, sizeof(error_buf), &error) < 0) {
		fprintf(stderr, "accountd: config: %s\n", error);
		return EX_CONFIG;
	}
	if (strcmp(cmd, "check-config") == 0 || strcmp(cmd, "-n") == 0) {
		if (cli.cfg.primary_domain[0] == '\0') {
			fputs("accountd: config: ACCOUNTD_PRIMARY_DOMAIN: required by serve\n",
			    stderr);
			return EX_CONFIG;
		}
		puts("configuration ok");
		return EX_OK;
	}
	if (strcmp(cmd, "serve") == 0) {
		if (cli.cfg.primary_domain[0] == '\0') {
			fputs("accountd: config: ACCOUNTD_PRIMARY_DOMAIN: required by serve\n",
			    stderr);
			return EX_CONFIG;
		}
		return http_server_run(&cli.cfg);
	}
	if (service_init(&cli.svc, &cli.cfg, NULL, false) != 0)
		return fail(SVC_INTERNAL, "cannot set up: ACCOUNTD_REVOCATION_PATH (see the log), "
		                          "or hashing with the configured argon2 cost");
	if ((cli.pool = db_pool_new(&cli.cfg, 1, NULL)) == NULL) {
		service_deinit(&cli.svc);
		return fail(SVC_INTERNAL, "out of memory");
	}
	cli.c = db_acquire(cli.pool);
	if (strcmp(cmd, "migrate") == 0)
		ret = cmd_migrate(&cli);
	else if (strcmp(cmd, "domain") == 0)
		ret = cmd_domain(&cli, argc - 2, argv + 2);
	else if (strcmp(cmd, "user") == 0)
		ret = cmd_user(&cli, argc - 2, argv + 2);
	else if (strcmp(cmd, "alias") == 0)
		ret = cmd_alias(&cli, argc - 2, argv + 2);
	else if (strcmp(cmd, "invite") == 0)
		ret = cmd_invite(&cli, argc - 2, argv + 2);
	else if (strcmp(cmd, "registration") == 0)
		ret = cmd_registration(&cli, argc - 2, argv + 2);
	else if (strcmp(cmd, "limits") == 0)
		ret = cmd_limits(&cli, argc - 2, argv + 2);
	else
		ret = usage_error("unknown command");
	db_release(cli.pool, &cli.c);
	db_pool_free(&cli.pool);
	service_deinit(&cli.svc);
	sodium_memzero(&cli.cfg, sizeof(cli.cfg));
	return ret;
}
