/* Settings from the environment and an optional file; see config.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CONFIG_FILE_MAX (64 * 1024)
#define DAY_SECONDS     86400u

enum setting_kind {
	S_STRING,
	S_SECRET, /* a string that may also come from NAME_FILE (its first line) */
	S_UINT,
};

struct setting {
	const char *name;
	enum setting_kind kind;
	size_t offset;
	size_t size;  /* strings: buffer size */
	unsigned max; /* numbers: largest value */
	unsigned min;
};

#define STR(n, f)                                                                                  \
	{                                                                                          \
		n, S_STRING, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0     \
	}
#define SEC(n, f)                                                                                  \
	{                                                                                          \
		n, S_SECRET, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0     \
	}
#define NUM(n, f, lo, hi)                                                                          \
	{                                                                                          \
		n, S_UINT, offsetof(struct config, f), 0, hi, lo                                   \
	}
#define LIM(n, f) NUM(n, limits.f, 0, 100000000)

static const struct setting settings[] = {
    STR("POLICYD_SOCKET", socket_path),
    STR("POLICYD_METRICS_SOCKET", metrics_socket_path),
    STR("POLICYD_MILTER_SOCKET", milter_socket_path),
    STR("POLICYD_DB_HOST", db_host),
    NUM("POLICYD_DB_PORT", db_port, 1, 65535),
    STR("POLICYD_DB_SOCKET", db_socket),
    STR("POLICYD_DB_NAME", db_name),
    STR("POLICYD_DB_USER", db_user),
    SEC("POLICYD_DB_PASSWORD", db_password),
    NUM("POLICYD_DB_TIMEOUT", db_timeout, 1, 60),
    NUM("POLICYD_DB_CONNECTIONS", db_connections, 1, 256),
    NUM("POLICYD_MAX_CONNECTIONS", max_connections, 1, 10000),
    NUM("POLICYD_REQUEST_TIMEOUT", request_timeout, 1, 3600),
    NUM("POLICYD_IDLE_TIMEOUT", idle_timeout, 1, 86400),
    NUM("POLICYD_NEW_ACCOUNT_DAYS", limits.new_account_seconds, 0, 3650),
    LIM("POLICYD_NEW_MESSAGES_PER_HOUR", young.messages_per_hour),
    LIM("POLICYD_NEW_MESSAGES_PER_DAY", young.messages_per_day),
    LIM("POLICYD_NEW_RECIPIENTS_PER_MESSAGE", young.recipients_per_message),
    LIM("POLICYD_NEW_RECIPIENTS_PER_DAY", young.recipients_per_day),
    LIM("POLICYD_MESSAGES_PER_HOUR", established.messages_per_hour),
    LIM("POLICYD_MESSAGES_PER_DAY", established.messages_per_day),
    LIM("POLICYD_RECIPIENTS_PER_MESSAGE", established.recipients_per_message),
    LIM("POLICYD_RECIPIENTS_PER_DAY", established.recipients_per_day),
    LIM("POLICYD_DOMAIN_MESSAGES_PER_HOUR", domain.messages_per_hour),
    LIM("POLICYD_DOMAIN_MESSAGES_PER_DAY", domain.messages_per_day),
    LIM("POLICYD_DOMAIN_RECIPIENTS_PER_DAY", domain.recipients_per_day),
    LIM("POLICYD_SUSPEND_AFTER", suspend_after),
};

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(
	    cfg->socket_path, sizeof(cfg->socket_path), "%s", "/var/spool/postfix/mailnest/policy");
	snprintf(cfg->milter_socket_path, sizeof(cfg->milter_socket_path), "%s",
	    "/var/spool/postfix/mailnest/milter");
	snprintf(cfg->db_host, sizeof(cfg->db_host), "%s", "localhost");
	cfg->db_port = 3306;
	snprintf(cfg->db_name, sizeof(cfg->db_name), "%s", "mailnest");
	snprintf(cfg->db_user, sizeof(cfg->db_user), "%s", "policyd");
	cfg->db_timeout = 2;
	cfg->db_connections = 8;
	cfg->max_connections = 512;
	cfg->request_timeout = 10;
	cfg->idle_timeout = 600;
	/* Stored in days in the file, in seconds here (converted on load). */
	cfg->limits.new_account_seconds = 7;
	cfg->limits.young = (struct account_limits){10, 50, 20, 200};
	cfg->limits.established = (struct account_limits){100, 500, 100, 1000};
	cfg->limits.domain = (struct domain_limits){1000, 10000, 20000};
	cfg->limits.suspend_after = 20;
}

void
config_wipe(struct config *cfg)
{
	explicit_bzero(cfg->db_password, sizeof(cfg->db_password));
}

static const struct setting *
setting_lookup(const char *key, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(settings); i++)
		if (strlen(settings[i].name) == len && memcmp(settings[i].name, key, len) == 0)
			return &settings[i];
	return NULL;
}

/* Read the first line of path into buf (for NAME_FILE secrets). */
static int
read_first_line(const char *path, char *buf, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t len;

	if (fp == NULL)
		return -1;
	if (fgets(buf, (int)size, fp) == NULL) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	return 0;
}

static int
setting_apply(struct config *cfg, const struct setting *s, const char *value, size_t len,
    bool from_file_key, char *error_buf, size_t error_size)
{
	char *field = (char *)cfg + s->offset;
	char text[256];
	char *end;
	unsigned long n;

	if (from_file_key) {
		if (len >= sizeof(text))
			goto bad;
		memcpy(text, value, len);
		text[len] = '\0';
		if (read_first_line(text, field, s->size) != 0) {
			snprintf(error_buf, error_size, "%s_FILE: cannot read %s", s->name, text);
			return -1;
		}
		return 0;
	}
	switch (s->kind) {
	case S_STRING:
	case S_SECRET:
		if (len >= s->size || memchr(value, '\0', len) != NULL)
			goto bad;
		memcpy(field, value, len);
		field[len] = '\0';
		return 0;
	case S_UINT:
		if (len == 0 || len >= sizeof(text))
			goto bad;
		memcpy(text, value, len);
		text[len] = '\0';
		if (text[0] < '0' || text[0] > '9')
			goto bad;
		errno = 0;
		n = strtoul(text, &end, 10);
		if (errno != 0 || *end != '\0' || n < s->min || n > s->max)
			goto bad;
		*(unsigned *)(void *)field = (unsigned)n;
		return 0;
	}
bad:
	if (s->kind == S_UINT)
		snprintf(error_buf, error_size, "%s: expected a whole number from %u to %u",
		    s->name, s->min, s->max);
	else
		snprintf(error_buf, error_size, "%s: value too long or invalid", s->name);
	return -1;
}

/* Apply KEY or KEY_FILE with value; unknown keys are errors. */
static int
apply_key(struct config *cfg, const char *key, size_t key_len, const char *value, size_t len,
    char *error_buf, size_t error_size)
{
	const struct setting *s = setting_lookup(key, key_len);

	if (s != NULL)
		return setting_apply(cfg, s, value, len, false, error_buf, error_size);
	if (key_len > 5 && memcmp(key + key_len - 5, "_FILE", 5) == 0 &&
	    (s = setting_lookup(key, key_len - 5)) != NULL && s->kind == S_SECRET)
		return setting_apply(cfg, s, value, len, true, error_buf, error_size);
	snprintf(
	    error_buf, error_size, "unknown setting %.*s", (int)(key_len > 64 ? 64 : key_len), key);
	return -1;
}

static bool
in_environment(const char *key, size_t len)
{
	char name[128];

	if (len >= sizeof(name))
		return false;
	memcpy(name, key, len);
	name[len] = '\0';
	return getenv(name) != NULL;
}

int
config_parse_text(
    struct config *cfg, const char *text, size_t len, char *error_buf, size_t error_size)
{
	size_t pos = 0;
	unsigned line_no = 0;

	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos), *eq;
		size_t line_len = nl != NULL ? (size_t)(nl - line) : len - pos;

		pos += line_len + (nl != NULL);
		line_no++;
		if (line_len > 0 && line[line_len - 1] == '\r')
			line_len--;
		while (line_len > 0 && (line[0] == ' ' || line[0] == '\t')) {
			line++;
			line_len--;
		}
		if (line_len == 0 || line[0] == '#')
			continue;
		if ((eq = memchr(line, '=', line_len)) == NULL || eq == line) {
			snprintf(error_buf, error_size, "config file line %u: expected KEY=VALUE",
			    line_no);
			return -1;
		}
		if (in_environment(line, (size_t)(eq - line))) {
			/* the environment wins, but the key must still be known */
			const struct setting *s = setting_lookup(line, (size_t)(eq - line));
			if (s != NULL)
				continue;
		}
		if (apply_key(cfg, line, (size_t)(eq - line), eq + 1,
		        line_len - (size_t)(eq - line) - 1, error_buf, error_size) != 0)
			return -1;
	}
	return 0;
}

static int
load_file(struct config *cfg, const char *path, char *error_buf, size_t error_size)
{
	FILE *fp = fopen(path, "r");
	char *text;
	size_t len;
	int rc;

	if (fp == NULL) {
		snprintf(error_buf, error_size, "POLICYD_CONFIG_FILE: cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((text = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		snprintf(error_buf, error_size, "out of memory");
		return -1;
	}
	len = fread(text, 1, CONFIG_FILE_MAX + 1, fp);
	fclose(fp);
	if (len > CONFIG_FILE_MAX) {
		snprintf(error_buf, error_size, "POLICYD_CONFIG_FILE: %s is over 64 KiB", path);
		rc = -1;
	} else {
		rc = config_parse_text(cfg, text, len, error_buf, error_size);
	}
	explicit_bzero(text, CONFIG_FILE_MAX + 1);
	free(text);
	return rc;
}

int
config_load(struct config *cfg, char *error_buf, size_t error_size)
{
	const char *path = getenv("POLICYD_CONFIG_FILE");
	char file_key[128];

	config_defaults(cfg);
	if (path != NULL && path[0] != '\0' && load_file(cfg, path, error_buf, error_size) != 0)
		return -1;
	for (size_t i = 0; i < N_ELEMENTS(settings); i++) {
		const struct setting *s = &settings[i];
		const char *value = getenv(s->name);

		if (value != NULL &&
		    setting_apply(cfg, s, value, strlen(value), false, error_buf, error_size) != 0)
			return -1;
		snprintf(file_key, sizeof(file_key), "%s_FILE", s->name);
		if (s->kind == S_SECRET && value == NULL && (value = getenv(file_key)) != NULL &&
		    setting_apply(cfg, s, value, strlen(value), true, error_buf, error_size) != 0)
			return -1;
	}
	if (cfg->socket_path[0] == '\0') {
		snprintf(error_buf, error_size, "POLICYD_SOCKET: must name a path");
		return -1;
	}
	if (cfg->milter_socket_path[0] == '\0') {
		snprintf(error_buf, error_size, "POLICYD_MILTER_SOCKET: must name a path");
		return -1;
	}
	cfg->limits.new_account_seconds *= DAY_SECONDS;
	return 0;
}
