#!/usr/bin/env bash
# Dovecot: IMAP, POP3, LMTP delivery, SASL for Postfix, quota.
#
# Dovecot serves IMAPS 993 and POP3S 995, and 143/110 with STARTTLS before
# any authentication; it authenticates against the mailboxes table (the
# {ARGON2ID} hashes accountd writes) through the read-only `dovecot` MariaDB
# user, which may SELECT only the columns it needs. Mail is stored as Maildir
# under /var/vmail/<domain>/<user>, owned by the vmail user, created on first
# delivery. Postfix hands mail over by LMTP and authenticates submission
# clients through unix sockets in its chroot (/var/spool/postfix/private).
# Quota comes from mailboxes.quota_bytes. Only loopback (the webmail) may name
# the real client's address in IMAP ID (login_trusted_networks), so that
# Dovecot's log, failure penalty and fail2ban see the browser's address for a
# webmail login, never 127.0.0.1. The whole configuration is one file,
# /etc/dovecot/dovecot.conf, rendered from install/templates; it is checked
# with `doveconf -n` before Dovecot is reloaded, and only when it changed.
#
# Dovecot 2.3 (Debian 12, Ubuntu 22.04 and 24.04) and 2.4 (Debian 13, Ubuntu
# 26.04) speak different configuration languages. The templates hold both:
# the few lines whose syntax differs are tagged "[2.3] " or "[2.4] ", and the
# installed Dovecot's version picks which of them are rendered; everything
# else, and so the behaviour, is shared.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# The Mozilla "intermediate" cipher list (TLS 1.2; TLS 1.3 suites are fixed).
readonly TLS_CIPHERS_INTERMEDIATE="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

ensure_vmail() {
	if ! getent group vmail >/dev/null; then groupadd --system vmail; fi
	if ! getent passwd vmail >/dev/null; then
		useradd --system --gid vmail --home-dir /var/vmail --shell /usr/sbin/nologin \
			--comment "mailnest mail storage" vmail
	fi
	install -d -o vmail -g vmail -m 0750 -- /var/vmail
}

grant_dovecot() {
	sql "GRANT SELECT (id, name, active) ON mailnest.domains TO 'dovecot'@'localhost';
	     GRANT SELECT (domain_id, local_part, email, password_hash, quota_bytes, active)
	       ON mailnest.mailboxes TO 'dovecot'@'localhost';"
}

# dovecot_syntax: the configuration language of the installed Dovecot, "2.3"
# or "2.4" (2.4 and every later 2.x), from `dovecot --version`.
dovecot_syntax() {
	local version major minor
	version=$(dovecot --version)
	IFS=. read -r major minor _ <<<"${version%% *}"
	if [[ ${major} != 2 || ! ${minor} =~ ^[0-9]+$ ]] || ((minor < 3)); then
		die "Dovecot ${version} is not supported (2.3 or 2.4 is)"
	fi
	if ((minor == 3)); then printf '2.3'; else printf '2.4'; fi
}

# render_dovecot SYNTAX TEMPLATE DST OWNER:GROUP MODE VAR...: render as
# render() does, keeping only the lines of SYNTAX's version: a line tagged
# "[SYNTAX] " loses its tag, a line tagged for another version is dropped.
render_dovecot() {
	local syntax=$1 tmpl=$2 dst=$3 owner=$4 mode=$5 var list=""
	shift 5
	[[ -f ${MAILNEST_TEMPLATES}/${tmpl} ]] || die "template ${tmpl} is missing"
	# A mistyped tag would put a line into both versions, or into neither.
	if grep -nE '^\[[^]]*\]' -- "${MAILNEST_TEMPLATES}/${tmpl}" | grep -vE '^[0-9]+:\[2\.[34]\] '; then
		die "template ${tmpl}: the lines above have a tag other than \"[2.3] \" or \"[2.4] \""
	fi
	for var in "$@"; do
		[[ -v ${var} ]] || die "template ${tmpl}: variable ${var} is not set"
		export "${var?}"
		list+="\${${var}} "
	done
	sed -e "s/^\[${syntax//./\.}\] //" -e '/^\[[0-9.]*\] /d' -- "${MAILNEST_TEMPLATES}/${tmpl}" |
		envsubst "${list}" | write_if_changed "${dst}" "${owner}" "${mode}"
}

render_config() {
	local changed=1 syntax=$1
	# Variables of the templates.
	VMAIL_UID=$(id -u vmail)
	VMAIL_GID=$(id -g vmail)
	TLS_CERT=${MAILNEST_ETC}/tls/mailnest.crt
	TLS_KEY=${MAILNEST_ETC}/tls/mailnest.key
	TLS_CIPHERS=${TLS_CIPHERS_INTERMEDIATE}
	AUTH_WORKERS=$(nproc)
	AUTH_CACHE_TTL="30 secs"
	DB_PASSWORD=$(<"${MAILNEST_SECRETS}/db-dovecot.pw")
	if [[ -e /proc/net/if_inet6 ]]; then DOVECOT_LISTEN="*, ::"; else DOVECOT_LISTEN="*"; fi
	if [[ -S /dev/log ]]; then
		DOVECOT_LOG_SETTINGS="# Logging goes to syslog (the mail facility)."
	else
		DOVECOT_LOG_SETTINGS="log_path = /var/log/dovecot.log"
	fi
	# The refusal at RCPT TO is Postfix's (install/68-postfix.sh).
	if [[ ${MAILNEST_QUOTA_FULL} == defer ]]; then QUOTA_TEMPFAIL=yes; else QUOTA_TEMPFAIL=no; fi
	export VMAIL_UID VMAIL_GID TLS_CERT TLS_KEY TLS_CIPHERS AUTH_WORKERS AUTH_CACHE_TTL \
		DB_PASSWORD DOVECOT_LISTEN DOVECOT_LOG_SETTINGS QUOTA_TEMPFAIL

	render_dovecot "${syntax}" dovecot-sql.conf.ext /etc/dovecot/mailnest-sql.conf.ext \
		root:dovecot 0640 DB_PASSWORD && changed=0
	render_dovecot "${syntax}" dovecot.conf /etc/dovecot/dovecot.conf root:root 0644 \
		DOVECOT_LISTEN DOVECOT_LOG_SETTINGS VMAIL_UID VMAIL_GID TLS_CERT TLS_KEY \
		TLS_CIPHERS AUTH_WORKERS AUTH_CACHE_TTL MAILNEST_DOMAIN MAILNEST_QUOTA_FULL \
		QUOTA_TEMPFAIL && changed=0
	return "${changed}"
}

main() {
	local reload="" syntax
	syntax=$(dovecot_syntax)
	say "Dovecot $(dovecot --version): configuration in ${syntax} syntax"
	step "vmail user and /var/vmail" ensure_vmail
	step "granting dovecot SELECT on the columns it reads" grant_dovecot
	if render_config "${syntax}"; then
		say "rendered /etc/dovecot/dovecot.conf and mailnest-sql.conf.ext"
		reload=reload
	else
		say "Dovecot's configuration is unchanged"
	fi
	tls_changed_for dovecot && reload=reload
	# Dovecot puts its LMTP, auth and quota-status sockets into Postfix's
	# chroot. Postfix 3.10's package (Debian 13, Ubuntu 26.04) no longer
	# makes its queue directories at install time (postfix check does it
	# later, in 68-postfix): the one we need is made here, as Postfix would.
	step "Postfix's private socket directory" install -d -o postfix -g root -m 0700 /var/spool/postfix/private
	step "checking Dovecot's configuration (doveconf -n)" doveconf -n
	service_converge dovecot "${reload}"
	wait_until 15 test -S /var/spool/postfix/private/dovecot-lmtp ||
		die "Dovecot did not create its LMTP socket; see /var/log/dovecot.log"
}

main "$@"
