/* Parsing and validation of every setting; see config.h. Each setting is
 * described once in the table below (name, default, parser) so that the
 * README, the error messages and the code cannot drift apart. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "build_config.h"
#include "config.h"
#include "validate.h"

#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_KEYS_MAX 64

const char *
registration_mode_name(enum registration_mode mode)
{
	switch (mode) {
	case REGISTRATION_OPEN:
		return "open";
	case REGISTRATION_INVITE:
		return "invite";
	case REGISTRATION_CLOSED:
		return "closed";
	}
	return "closed";
}

int
registration_mode_parse(const char *text, enum registration_mode *mode_r)
{
	if (strcmp(text, "open") == 0)
		*mode_r = REGISTRATION_OPEN;
	else if (strcmp(text, "invite") == 0)
		*mode_r = REGISTRATION_INVITE;
	else if (strcmp(text, "closed") == 0)
		*mode_r = REGISTRATION_CLOSED;
	else
		return -1;
	return 0;
}

static int
parse_uint(
    const char *text, unsigned long long min, unsigned long long max, unsigned long long *value_r)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*value_r = v;
	return 0;
}

int
config_parse_rate(const char *text, struct rate *rate_r)
{
	unsigned long long count, seconds;
	char buf[64];
	char *slash;

	if (strlen(text) >= sizeof(buf))
		return -1;
	strcpy(buf, text);
	if ((slash = strchr(buf, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (parse_uint(buf, 1, UINT_MAX, &count) < 0 ||
	    parse_uint(slash + 1, 1, 7 * 86400, &seconds) < 0)
		return -1;
	rate_r->count = (unsigned)count;
	rate_r->seconds = (unsigned)seconds;
	return 0;
}

static int
copy_string(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len >= size)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

/* Secrets may come from a file (first line) so they stay out of `ps` and
 * of the PM2 dump. */
static int
read_secret_file(const char *path, char *dst, size_t size)
{
	FILE *fp;
	size_t len;

	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(dst, (int)size, fp) == NULL) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	len = strcspn(dst, "\r\n");
	dst[len] = '\0';
	return len == 0 ? -1 : 0;
}

static int
parse_listen(struct config *cfg, const char *text)
{
	unsigned long long port;
	const char *colon;
	char host[64];
	unsigned char addr[16];
	size_t hostlen;

	if (strncmp(text, "unix:", 5) == 0) {
		cfg->listen_kind = LISTEN_UNIX;
		if (text[5] != '/')
			return -1;
		return copy_string(cfg->listen_path, sizeof(cfg->listen_path), text + 5);
	}
	cfg->listen_kind = LISTEN_TCP;
	if ((colon = strrchr(text, ':')) == NULL || parse_uint(colon + 1, 1, 65535, &port) < 0)
		return -1;
	hostlen = (size_t)(colon - text);
	if (hostlen >= 2 && text[0] == '[' && text[hostlen - 1] == ']') {
		text++;
		hostlen -= 2;
	}
	if (hostlen == 0 || hostlen >= sizeof(host))
		return -1;
	memcpy(host, text, hostlen);
	host[hostlen] = '\0';
	if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
		return -1;
	strcpy(cfg->listen_host, host);
	cfg->listen_port = (unsigned)port;
	return 0;
}

/* Split a comma list, trimming blanks; calls add() for each non-empty item. */
static int
parse_list(const char *text, int (*add)(struct config *, const char *), struct config *cfg)
{
	char item[256];
	const char *p = text;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		const char *start = p;

		p += len;
		if (*p == ',')
			p++;
		while (len > 0 && isspace((unsigned char)*start)) {
			start++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)start[len - 1]))
			len--;
		if (len == 0)
			continue;
		if (len >= sizeof(item))
			return -1;
		memcpy(item, start, len);
		item[len] = '\0';
		if (add(cfg, item) < 0)
			return -1;
	}
	return 0;
}

static int
add_reserved(struct config *cfg, const char *name)
{
	char folded[LOCAL_MAX + 1];
	const char *error;

	if (cfg->n_reserved_extra >= RESERVED_EXTRA_MAX)
		return -1;
	/* Reserved names must be syntactically valid usernames (a built-in
	 * reserved name listed again is harmless). */
	if (validate_username_syntax(name, folded, &error) != 0)
		return -1;
	strcpy(cfg->reserved_extra[cfg->n_reserved_extra++], folded);
	return 0;
}

static int
add_trusted_proxy(struct config *cfg, const char *text)
{
	unsigned char addr[16];
	char *dst;
	int family;

	if (cfg->n_trusted_proxies >= TRUSTED_PROXIES_MAX)
		return -1;
	dst = cfg->trusted_proxies[cfg->n_trusted_proxies];
	if (strcmp(text, "unix") == 0) {
		strcpy(dst, "unix");
	} else {
		family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
		if (inet_pton(family, text, addr) != 1)
			return -1;
		/* ::ffff:a.b.c.d is how an IPv6 socket shows an IPv4 peer; the
		 * peer address is compared in its IPv4 form. */
		if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)(void *)addr)) {
			family = AF_INET;
			memmove(addr, addr + 12, 4);
		}
		if (inet_ntop(family, addr, dst, CLIENT_IP_MAX) == NULL)
			return -1;
	}
	cfg->n_trusted_proxies++;
	return 0;
}

enum setting_kind {
	S_STRING,
	S_SECRET, /* also accepts NAME_FILE */
	S_UINT,
	S_U64,
	S_RATE,
	S_LISTEN,
	S_MODE,
	S_RESERVED,
	S_PROXIES,
	S_PARALLELISM,
	S_BOOL,
};

struct setting {
	const char *name;
	enum setting_kind kind;
	const char *default_value; /* NULL: unset unless given */
	size_t offset;
	size_t size; /* string buffer size */
	unsigned long long min, max;
	const char *help;
};

#define OFF(f) offsetof(struct config, f)
#define SZ(f)  sizeof(((struct config *)0)->f)
#define STR(n, f, d, h)                                                                            \
	{                                                                                          \
		n, S_STRING, d, OFF(f), SZ(f), 0, 0, h                                             \
	}
#define UINT(n, f, d, lo, hi, h)                                                                   \
	{                                                                                          \
		n, S_UINT, d, OFF(f), 0, lo, hi, h                                                 \
	}
#define RATE(n, f, d, h)                                                                           \
	{                                                                                          \
		n, S_RATE, d, OFF(f), 0, 0, 0, h                                                   \
	}

static const struct setting settings[] = {
    {"ACCOUNTD_LISTEN", S_LISTEN, "127.0.0.1:8080", 0, 0, 0, 0, "HOST:PORT or unix:/path"},
    {"ACCOUNTD_REUSE_PORT", S_BOOL, "0", OFF(reuse_port), 0, 0, 0, "0 or 1"},
    STR("ACCOUNTD_DB_HOST", db_host, "localhost", "a host name"),
    UINT("ACCOUNTD_DB_PORT", db_port, "3306", 1, 65535, "a port"),
    STR("ACCOUNTD_DB_SOCKET", db_socket, NULL, "a socket path"),
    STR("ACCOUNTD_DB_NAME", db_name, "mailnest", "a database name"),
    STR("ACCOUNTD_DB_USER", db_user, "accountd", "a user name"),
    {"ACCOUNTD_DB_PASSWORD", S_SECRET, NULL, OFF(db_password), SZ(db_password), 0, 0, "a password"},
    UINT("ACCOUNTD_DB_TIMEOUT", db_timeout, "3", 1, 60, "seconds (1-60)"),
    STR("ACCOUNTD_PRIMARY_DOMAIN", primary_domain, NULL, "a domain name"),
    {"ACCOUNTD_ADMIN_TOKEN", S_SECRET, NULL, 0, 0, 32, 512, "at least 32 characters"},
    {"ACCOUNTD_REGISTRATION_DEFAULT", S_MODE, "open", 0, 0, 0, 0, "open, invite or closed"},
    {"ACCOUNTD_RESERVED_USERNAMES", S_RESERVED, "", 0, 0, 0, 0, "a comma list of usernames"},
    {"ACCOUNTD_DEFAULT_QUOTA_BYTES", S_U64, "1073741824", OFF(default_quota_bytes), 0, 0,
        UINT64_MAX / 2, "a byte count (0 = unlimited)"},
    UINT("ACCOUNTD_SESSION_TTL", session_ttl, "86400", 60, 90 * 86400, "seconds (60 to 7776000)"),
    UINT("ACCOUNTD_SESSION_CACHE_TTL", session_cache_ttl, "1", 0, 60,
        "seconds (0 disables, up to 60)"),
    UINT("ACCOUNTD_ARGON2_MEMORY_KIB", argon2_memory_kib, "19456", 8, 4 * 1024 * 1024,
        "KiB (8 to 4194304)"),
    UINT("ACCOUNTD_ARGON2_TIME", argon2_time, "2", 1, 100, "iterations (1-100)"),
    {"ACCOUNTD_ARGON2_PARALLELISM", S_PARALLELISM, "1", 0, 0, 1, 1,
        "1 (libsodium's argon2id is single-lane)"},
    UINT("ACCOUNTD_HASH_WORKERS", hash_workers, NULL, 1, 256, "a count (1-256)"),
    UINT("ACCOUNTD_HASH_QUEUE", hash_queue, NULL, 0, 65536, "a count (0-65536)"),
    UINT("ACCOUNTD_HTTP_THREADS", http_threads, "4", 1, 256, "a count (1-256)"),
    UINT("ACCOUNTD_MAX_CONNECTIONS", max_connections, "1024", 1, 65536, "a count (1-65536)"),
    UINT("ACCOUNTD_CONNECTION_TIMEOUT", connection_timeout, "10", 1, 3600, "seconds (1-3600)"),
    {"ACCOUNTD_TRUSTED_PROXIES", S_PROXIES, "", 0, 0, 0, 0,
        "a comma list of IP addresses or 'unix'"},
    RATE("ACCOUNTD_RATE_REQUESTS", rate_requests, "100/1", "COUNT/SECONDS"),
    RATE("ACCOUNTD_RATE_REGISTER", rate_register, "5/3600", "COUNT/SECONDS"),
    RATE("ACCOUNTD_RATE_LOGIN_IP", rate_login_ip, "20/600", "COUNT/SECONDS"),
    RATE("ACCOUNTD_RATE_LOGIN_ADDRESS", rate_login_address, "5/300", "COUNT/SECONDS"),
    RATE("ACCOUNTD_RATE_ADMIN_FAIL", rate_admin_fail, "5/300", "COUNT/SECONDS"),
    STR("ACCOUNTD_RATE_LIMIT_DIR", rate_limit_dir, NULL, "a directory"),
    STR("ACCOUNTD_MIGRATIONS_DIR", migrations_dir, NULL, "a directory"),
    STR("ACCOUNTD_DOVECOT_AUTH_SOCKET", dovecot_auth_socket, NULL, "a socket path"),
    STR("ACCOUNTD_REVOCATION_PATH", revocation_file, NULL, "a file path"),
};

static int
apply_setting(struct config *cfg, const struct setting *s, const char *value)
{
	unsigned long long v;
	char *base = (char *)cfg;

	switch (s->kind) {
	case S_STRING:
		return copy_string(base + s->offset, s->size, value);
	case S_SECRET:
		if (strlen(value) < s->min || (s->max != 0 && strlen(value) > s->max))
			return -1;
		if (s->size == 0) { /* the admin token: keep only its hash */
			crypto_hash_sha256(
			    cfg->admin_token_hash, (const unsigned char *)value, strlen(value));
			cfg->admin_enabled = true;
			return 0;
		}
		return copy_string(base + s->offset, s->size, value);
	case S_UINT:
		if (parse_uint(value, s->min, s->max, &v) < 0)
			return -1;
		*(unsigned *)(void *)(base + s->offset) = (unsigned)v;
		return 0;
	case S_U64:
		if (parse_uint(value, s->min, s->max, &v) < 0)
			return -1;
		*(uint64_t *)(void *)(base + s->offset) = v;
		return 0;
	case S_RATE:
		return config_parse_rate(value, (struct rate *)(void *)(base + s->offset));
	case S_LISTEN:
		return parse_listen(cfg, value);
	case S_MODE:
		return registration_mode_parse(value, &cfg->registration_default);
	case S_RESERVED:
		cfg->n_reserved_extra = 0;
		return parse_list(value, add_reserved, cfg);
	case S_PROXIES:
		cfg->n_trusted_proxies = 0;
		return parse_list(value, add_trusted_proxy, cfg);
	case S_PARALLELISM: /* validated only: libsodium always uses one lane */
		return parse_uint(value, s->min, s->max, &v);
	case S_BOOL:
		if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
			return -1;
		*(bool *)(void *)(base + s->offset) = value[0] == '1';
		return 0;
	}
	return -1;
}

int
config_parse(struct config *cfg, config_lookup_fn *lookup, void *ctx, char *error_buf,
    size_t error_size, const char **error_r)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_ELEMENTS(settings); i++) {
		const struct setting *s = &settings[i];
		const char *value = lookup(ctx, s->name);
		char secret[600];
		char file_key[64];

		if (value == NULL && s->kind == S_SECRET) {
			snprintf(file_key, sizeof(file_key), "%s_FILE", s->name);
			const char *path = lookup(ctx, file_key);
			if (path != NULL) {
				if (read_secret_file(path, secret, sizeof(secret)) < 0) {
					snprintf(error_buf, error_size,
					    "%s: cannot read a non-empty first line from %s",
					    file_key, path);
					*error_r = error_buf;
					return -1;
				}
				value = secret;
			}
		}
		if (value == NULL)
			value = s->default_value;
		if (value == NULL)
			continue;
		int ret = apply_setting(cfg, s, value);
		sodium_memzero(secret, sizeof(secret));
		if (ret < 0) {
			snprintf(error_buf, error_size, "%s: invalid value (expected %s)", s->name,
			    s->help);
			*error_r = error_buf;
			return -1;
		}
	}
	if (cfg->primary_domain[0] != '\0') {
		char folded[DOMAIN_MAX + 1];
		const char *error;

		if (validate_domain(cfg->primary_domain, folded, &error) != 0) {
			snprintf(error_buf, error_size, "ACCOUNTD_PRIMARY_DOMAIN: %s", error);
			*error_r = error_buf;
			return -1;
		}
		strcpy(cfg->primary_domain, folded);
	}
	if (cfg->hash_workers == 0)
		cfg->hash_workers = ncpu > 0 ? (unsigned)ncpu : 1;
	if (lookup(ctx, "ACCOUNTD_HASH_QUEUE") == NULL)
		cfg->hash_queue = 2 * cfg->hash_workers;
	if (cfg->migrations_dir[0] == '\0')
		strcpy(cfg->migrations_dir, ACCOUNTD_MIGRATIONS_DIR);
	return 0;
}

/* The file's settings, parsed once; lookups prefer the environment. */
struct file_settings {
	char *text;
	size_t size; /* bytes allocated, all wiped on free */
	const char *keys[CONFIG_KEYS_MAX];
	const char *values[CONFIG_KEYS_MAX];
	unsigned n;
};

static const char *
lookup_env_then_file(void *ctx, const char *key)
{
	const struct file_settings *fs = ctx;
	const char *value = getenv(key);

	if (value != NULL)
		return value;
	for (unsigned i = 0; i < fs->n; i++)
		if (strcmp(fs->keys[i], key) == 0)
			return fs->values[i];
	return NULL;
}

static int
known_key(const char *key)
{
	char base[64];
	size_t len = strlen(key);

	if (strcmp(key, "ACCOUNTD_CONFIG_FILE") == 0)
		return 1;
	if (len > 5 && strcmp(key + len - 5, "_FILE") == 0 && len - 5 < sizeof(base)) {
		memcpy(base, key, len - 5);
		base[len - 5] = '\0';
		key = base;
	}
	for (size_t i = 0; i < N_ELEMENTS(settings); i++)
		if (strcmp(settings[i].name, key) == 0)
			return 1;
	return 0;
}

/* KEY=VALUE lines; blank lines and '#' comments allowed; optional quotes
 * around the value (as systemd EnvironmentFile and shells write them). */
static int
file_settings_read(struct file_settings *fs, const char *path, char *error_buf, size_t error_size,
    const char **error_r)
{
	FILE *fp;
	size_t len;
	unsigned lineno = 0;
	char *line, *next;

	memset(fs, 0, sizeof(*fs));
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(error_buf, error_size, "ACCOUNTD_CONFIG_FILE: cannot open %s: %s", path,
		    strerror(errno));
		*error_r = error_buf;
		return -1;
	}
	if ((fs->text = calloc(1, CONFIG_FILE_MAX + 2)) == NULL) {
		fclose(fp);
		*error_r = "out of memory";
		return -1;
	}
	fs->size = CONFIG_FILE_MAX + 2;
	len = fread(fs->text, 1, CONFIG_FILE_MAX + 1, fp);
	fclose(fp);
	if (len > CONFIG_FILE_MAX) {
		snprintf(error_buf, error_size, "ACCOUNTD_CONFIG_FILE: %s is over 64 KiB", path);
		*error_r = error_buf;
		return -1;
	}
	fs->text[len] = '\0';
	for (line = fs->text; line != NULL; line = next) {
		char *eq, *value, *end;

		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		while (isspace((unsigned char)*line))
			line++;
		end = line + strlen(line);
		while (end > line && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (strncmp(line, "export ", 7) == 0)
			line += 7;
		if ((eq = strchr(line, '=')) == NULL || eq == line) {
			snprintf(error_buf, error_size, "%s:%u: expected KEY=VALUE", path, lineno);
			*error_r = error_buf;
			return -1;
		}
		*eq = '\0';
		value = eq + 1;
		if (!known_key(line)) {
			snprintf(
			    error_buf, error_size, "%s:%u: unknown setting %s", path, lineno, line);
			*error_r = error_buf;
			return -1;
		}
		len = strlen(value);
		if (len >= 2 && (value[0] == '"' || value[0] == '\'') &&
		    value[len - 1] == value[0]) {
			value[len - 1] = '\0';
			value++;
		}
		for (unsigned k = 0; k < fs->n; k++) {
			if (strcmp(fs->keys[k], line) == 0) {
				snprintf(error_buf, error_size, "%s:%u: %s is set twice", path,
				    lineno, line);
				*error_r = error_buf;
				return -1;
			}
		}
		if (fs->n >= CONFIG_KEYS_MAX) {
			snprintf(error_buf, error_size, "%s: too many settings", path);
			*error_r = error_buf;
			return -1;
		}
		fs->keys[fs->n] = line;
		fs->values[fs->n++] = value;
	}
	return 0;
}

static void
file_settings_free(struct file_settings *fs)
{
	/* Wipe the whole buffer: parsing put NULs inside it, so strlen()
	 * would stop at the first line and leave later secrets behind. */
	if (fs->text != NULL) {
		sodium_memzero(fs->text, fs->size);
		free(fs->text);
	}
	fs->text = NULL;
}

int
config_load(struct config *cfg, char *error_buf, size_t error_size, const char **error_r)
{
	struct file_settings fs;
	const char *path = getenv("ACCOUNTD_CONFIG_FILE");
	int ret;

	memset(&fs, 0, sizeof(fs));
	if (path != NULL && *path != '\0' &&
	    file_settings_read(&fs, path, error_buf, error_size, error_r) < 0) {
		file_settings_free(&fs);
		return -1;
	}
	ret = config_parse(cfg, lookup_env_then_file, &fs, error_buf, error_size, error_r);
	file_settings_free(&fs);
	return ret;
}
