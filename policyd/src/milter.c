/* libmilter glue of the From:/Sender: check; see milter.h. Each SMTP
 * connection is served by a libmilter thread and owns its struct session
 * (smfi_setpriv); the database pool is shared by those threads. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "db.h"
#include "from_check.h"
#include "log.h"
#include "milter.h"

/* The most headers of one name a message may have that are counted; the
 * check refuses more than one From: anyway. */
#define HEADER_COUNT_MAX 1000

struct session {
	bool submission_service; /* 587/465: Postfix names them ORIGINATING */
	bool authenticated;
	char login[EMAIL_MAX + 1];
	unsigned from_count, sender_count;
	char *from, *sender; /* first value of each, at most FROM_HEADER_MAX + 1 bytes */
};

/* Set once in milter_run() before libmilter starts its threads, read only
 * afterwards: libmilter's callbacks take no argument of ours. */
static struct db_pool *milter_pool;

static void
session_clear_message(struct session *s)
{
	free(s->from);
	free(s->sender);
	s->from = s->sender = NULL;
	s->from_count = s->sender_count = 0;
}

static struct session *
session_get(SMFICTX *ctx)
{
	struct session *s = smfi_getpriv(ctx);

	if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL &&
	    smfi_setpriv(ctx, s) != MI_SUCCESS) {
		free(s);
		s = NULL;
	}
	return s;
}

static bool
is_ascii(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text > 0x7e)
			return false;
	return true;
}

/* from_owner_fn over MariaDB. The address columns are ASCII: a non-ASCII
 * address is nobody's here (and would only make MariaDB complain). */
static enum from_owner
owner_lookup(void *ctx, const char *login, const char *address_or_domain)
{
	struct db_conn *c;
	enum db_status st;
	bool yes = false;

	(void)ctx;
	if (!is_ascii(address_or_domain) || strlen(address_or_domain) > EMAIL_MAX)
		return FROM_OWNER_NO;
	if ((c = db_acquire(milter_pool)) == NULL) {
		log_warnx("milter db=no_connection");
		return FROM_OWNER_ERROR;
	}
	if (login != NULL)
		st = db_sender_owns(c, login, address_or_domain, &yes);
	else
		st = db_domain_is_ours(c, address_or_domain, &yes);
	db_release(milter_pool, &c);
	if (st != DB_OK) {
		log_warnx("milter db=%s", db_status_name(st));
		return FROM_OWNER_ERROR;
	}
	return yes ? FROM_OWNER_YES : FROM_OWNER_NO;
}

/* Postfix sends the connect macros ({daemon_name}) only with the connect
 * step, so there is one. */
static sfsistat
on_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *address)
{
	struct session *s = session_get(ctx);
	const char *daemon;

	(void)hostname;
	(void)address;
	if (s == NULL)
		return SMFIS_TEMPFAIL;
	daemon = smfi_getsymval(ctx, "{daemon_name}");
	s->submission_service = daemon != NULL && strcmp(daemon, "ORIGINATING") == 0;
	return SMFIS_CONTINUE;
}

static sfsistat
on_envfrom(SMFICTX *ctx, char **argv)
{
	struct session *s = session_get(ctx);
	const char *login;

	(void)argv;
	if (s == NULL)
		return SMFIS_TEMPFAIL;
	session_clear_message(s);
	login = smfi_getsymval(ctx, "{auth_authen}");
	s->authenticated = login != NULL && login[0] != '\0';
	s->login[0] = '\0';
	if (s->authenticated && strlen(login) <= EMAIL_MAX)
		memcpy(s->login, login, strlen(login) + 1);
	return SMFIS_CONTINUE;
}

/* Keep a bounded copy of value: a longer one keeps FROM_HEADER_MAX + 1
 * bytes, enough for the check to see it is too long. */
static int
keep_first(char **slot, unsigned *count, const char *value)
{
	size_t len = strnlen(value, FROM_HEADER_MAX + 1);

	if (*count < HEADER_COUNT_MAX)
		(*count)++;
	if (*slot != NULL)
		return 0;
	if ((*slot = malloc(len + 1)) == NULL)
		return -1;
	memcpy(*slot, value, len);
	(*slot)[len] = '\0';
	return 0;
}

static sfsistat
on_header(SMFICTX *ctx, char *name, char *value)
{
	struct session *s = smfi_getpriv(ctx);
	int rc = 0;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	if (strcasecmp(name, "From") == 0)
		rc = keep_first(&s->from, &s->from_count, value);
	else if (strcasecmp(name, "Sender") == 0)
		rc = keep_first(&s->sender, &s->sender_count, value);
	return rc == 0 ? SMFIS_CONTINUE : SMFIS_TEMPFAIL;
}

static sfsistat
on_eoh(SMFICTX *ctx)
{
	struct session *s = smfi_getpriv(ctx);
	char reason[FROM_REASON_MAX];
	struct from_check_input in;
	enum from_verdict v;
	const char *queue_id;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	/* Submission always has a login (Postfix refuses MAIL FROM before
	 * AUTH there); without one, something is wrong: never judge it as
	 * port-25 mail. */
	if (s->submission_service && !s->authenticated) {
		session_clear_message(s);
		log_warnx("event=from_deferred reason=\"submission without a login\"");
		(void)smfi_setreply(
		    ctx, "451", "4.3.0", "no login on a submission port, try again later");
		return SMFIS_TEMPFAIL;
	}
	in = (struct from_check_input){
	    .mode = s->authenticated ? FROM_CHECK_SUBMISSION : FROM_CHECK_INBOUND,
	    .login = s->login,
	    .from_count = s->from_count,
	    .sender_count = s->sender_count,
	    .from = s->from,
	    .sender = s->sender,
	};
	v = from_check(&in, owner_lookup, NULL, reason, sizeof(reason));
	session_clear_message(s);
	queue_id = smfi_getsymval(ctx, "i");
	switch (v) {
	case FROM_ACCEPT:
		return SMFIS_ACCEPT;
	case FROM_REJECT:
		log_info("event=from_refused queue_id=%s login=%s reason=\"%s\"",
		    queue_id != NULL ? queue_id : "-", s->authenticated ? s->login : "-", reason);
		/* reason is "5.7.1 text": the code, then the text. */
		if (smfi_setreply(ctx, "550", "5.7.1", reason + 6) != MI_SUCCESS)
			return SMFIS_TEMPFAIL;
		return SMFIS_REJECT;
	case FROM_TEMPFAIL:
		log_warnx("event=from_deferred queue_id=%s login=%s reason=\"%s\"",
		    queue_id != NULL ? queue_id : "-", s->authenticated ? s->login : "-", reason);
		(void)smfi_setreply(ctx, "451", "4.3.0", reason + 6);
		return SMFIS_TEMPFAIL;
	}
	return SMFIS_TEMPFAIL;
}

static sfsistat
on_abort(SMFICTX *ctx)
{
	struct session *s = smfi_getpriv(ctx);

	if (s != NULL)
		session_clear_message(s);
	return SMFIS_CONTINUE;
}

static sfsistat
on_close(SMFICTX *ctx)
{
	struct session *s = smfi_getpriv(ctx);

	if (s != NULL) {
		session_clear_message(s);
		free(s);
		(void)smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

int
milter_run(const struct config *cfg)
{
	struct smfiDesc desc = {
	    .xxfi_name = "mailnest-policyd",
	    .xxfi_version = SMFI_VERSION,
	    .xxfi_flags = 0, /* it changes nothing in the message */
	    .xxfi_connect = on_connect,
	    .xxfi_envfrom = on_envfrom,
	    .xxfi_header = on_header,
	    .xxfi_eoh = on_eoh,
	    .xxfi_abort = on_abort,
	    .xxfi_close = on_close,
	};
	char conn[sizeof(cfg->milter_socket_path) + 8];
	int status = 0;

	snprintf(conn, sizeof(conn), "unix:%s", cfg->milter_socket_path);
	from_check_init();
	if ((milter_pool = db_pool_new(cfg)) == NULL) {
		log_warnx("milter: cannot allocate the database pool");
		from_check_shutdown();
		return 1;
	}
	/* Postfix's smtpd (user postfix) must connect; the directory (policyd
	 * and group postfix only) keeps everyone else out. */
	umask(0111);
	if (smfi_register(desc) != MI_SUCCESS || smfi_setconn(conn) != MI_SUCCESS ||
	    smfi_setbacklog(256) != MI_SUCCESS || smfi_opensocket(true) != MI_SUCCESS) {
		log_warnx("milter: cannot listen on %s", cfg->milter_socket_path);
		status = 1;
	} else {
		log_info("event=milter_started socket=%s", cfg->milter_socket_path);
		if (smfi_main() != MI_SUCCESS)
			status = 1;
		log_info("event=milter_stopped");
	}
	unlink(cfg->milter_socket_path);
	db_pool_free(&milter_pool);
	from_check_shutdown();
	return status;
}
