#!/usr/bin/env bash
# fail2ban: ban addresses that guess passwords or flood sign-ups.
#
# Jails watch every door where a password is tried: SMTP AUTH on submission
# (Postfix), IMAP and POP3 (Dovecot), accountd's logins and admin token, and,
# once Nginx fronts accountd (install/70-nginx.sh), Nginx's rate-limit
# refusals and the 401 answers to API logins; another jail catches bursts of
# refused sign-ups at accountd. A banned address loses every TCP port of the
# host (nftables, table `inet mailnest-bans`, separate from the firewall's
# table so that re-applying the firewall never drops a ban). Each jail reads
# the log its daemon really writes here: a file where there is one (Postfix's
# maillog_file or syslog's mail.log, Dovecot's log_path, PM2's files for
# accountd, Nginx's own files), the systemd journal where the mail daemons
# log only there (Debian 12 without rsyslog). Debian's sshd jail is pointed
# at the journal when there is no auth.log, and turned off where SSH logs
# nowhere fail2ban can read (no syslog, no systemd). The configuration is
# checked with `fail2ban-client -t` before fail2ban is reloaded, and only when
# it changed. Files are polled (backend = polling), which halves fail2ban's
# memory against "auto" (see the jail template).

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly F2B_ETC=/etc/fail2ban
readonly FILTERS=(mailnest-accountd mailnest-dovecot mailnest-nginx-api mailnest-postfix-sasl)
readonly SYSLOG_MAIL=/var/log/mail.log
readonly AUTH_LOG=/var/log/auth.log
readonly NGINX_LOG_DIR=/var/log/nginx
readonly NGINX_SITE=/etc/nginx/conf.d/mailnest.conf

# log_settings FILE JOURNALMATCH: the jail lines that read FILE when it is
# set, else the journal entries matching JOURNALMATCH.
log_settings() {
	local file=$1 match=$2
	if [[ -n ${file} ]]; then
		printf 'backend = polling\nlogpath = %s' "${file}"
	else
		printf 'backend = systemd\njournalmatch = %s' "${match}"
	fi
}

# syslog_writes_mail: true when syslog's mail file is where logs land: with
# no systemd (no journal), or with a syslog daemon running beside journald.
# A mail.log merely left over from before does not count: under systemd with
# no syslog daemon nothing writes it any more.
syslog_writes_mail() {
	! has_systemd || systemctl is-active --quiet syslog.service
}

# postfix_log_file: where Postfix's log lines end up as a file, or nothing
# when they go to the journal only.
postfix_log_file() {
	local file
	file=$(postconf -h maillog_file 2>/dev/null || true)
	if [[ -n ${file} ]]; then
		printf '%s' "${file}"
	elif syslog_writes_mail; then
		printf '%s' "${SYSLOG_MAIL}"
	fi
}

dovecot_log_file() {
	local file
	file=$(doveconf -h log_path 2>/dev/null || true)
	if [[ -n ${file} && ${file} != syslog ]]; then
		printf '%s' "${file}"
	elif syslog_writes_mail; then
		printf '%s' "${SYSLOG_MAIL}"
	fi
}

sshd_settings() {
	if ! command -v sshd >/dev/null 2>&1; then
		printf 'enabled = false'
	elif [[ -f ${AUTH_LOG} ]]; then
		# Polled like our own jails: a single jail left at "auto"
		# costs fail2ban as much memory as all of them (template).
		printf 'enabled = true\nbackend = polling'
	elif has_systemd; then
		printf 'enabled = true\nbackend = systemd'
	else
		printf '%s\n' "# sshd logs neither to ${AUTH_LOG} nor to a journal here." "enabled = false"
	fi
}

# The template's variables are read by render (by name), not here.
# shellcheck disable=SC2034
render_config() {
	local changed=1 filter postfix_file dovecot_file
	postfix_file=$(postfix_log_file)
	dovecot_file=$(dovecot_log_file)
	if [[ -z ${postfix_file} || -z ${dovecot_file} ]] || [[ $(sshd_settings) == *systemd* ]]; then
		python3 -c 'import systemd.journal' 2>/dev/null ||
			die "fail2ban must read the systemd journal here: install python3-systemd (apt-get install python3-systemd) and re-run ./install.sh"
	fi
	POSTFIX_LOG=$(log_settings "${postfix_file}" "_SYSTEMD_UNIT=postfix@-.service")
	DOVECOT_LOG=$(log_settings "${dovecot_file}" "_SYSTEMD_UNIT=dovecot.service")
	ACCOUNTD_LOG=${MAILNEST_LOG}/accountd.log
	NGINX_ERROR_LOG=${NGINX_LOG_DIR}/error.log
	NGINX_ACCESS_LOG=${NGINX_LOG_DIR}/access.log
	# Nginx's jails only where our site is set up and logging (a jail
	# whose file is missing would stop fail2ban from starting).
	NGINX_ENABLED=false
	if [[ -f ${NGINX_SITE} && -f ${NGINX_ERROR_LOG} && -f ${NGINX_ACCESS_LOG} ]]; then
		NGINX_ENABLED=true
	fi
	SSHD_SETTINGS=$(sshd_settings)
	LOG_SOURCES="Postfix ${postfix_file:-journal}, Dovecot ${dovecot_file:-journal}, accountd ${ACCOUNTD_LOG}"
	if [[ ${NGINX_ENABLED} == true ]]; then
		LOG_SOURCES+=", Nginx ${NGINX_LOG_DIR}"
	else
		LOG_SOURCES+=", not Nginx (not set up)"
	fi
	# fail2ban cannot open a log file that does not exist yet.
	[[ -n ${postfix_file} && ! -e ${postfix_file} ]] && install -m 0640 -o root -g adm /dev/null "${postfix_file}"
	[[ -n ${dovecot_file} && ! -e ${dovecot_file} ]] && install -m 0640 -o root -g adm /dev/null "${dovecot_file}"
	[[ -e ${ACCOUNTD_LOG} ]] || die "${ACCOUNTD_LOG} is missing: accountd (install/40-accountd.sh) must run first"

	for filter in "${FILTERS[@]}"; do
		render "fail2ban/filter.d/${filter}.conf" "${F2B_ETC}/filter.d/${filter}.conf" root:root 0644 && changed=0
	done
	render fail2ban/jail.d/mailnest.local "${F2B_ETC}/jail.d/mailnest.local" root:root 0644 \
		POSTFIX_LOG DOVECOT_LOG ACCOUNTD_LOG NGINX_ENABLED NGINX_ERROR_LOG NGINX_ACCESS_LOG \
		SSHD_SETTINGS LOG_SOURCES && changed=0
	say "fail2ban reads: ${LOG_SOURCES}"
	return "${changed}"
}

main() {
	local reload=""
	if render_config; then
		say "installed the jails (${F2B_ETC}/jail.d/mailnest.local) and filters"
		reload=reload
	else
		say "fail2ban's jails and filters are unchanged"
	fi
	step "checking fail2ban's configuration (fail2ban-client -t)" fail2ban-client -t
	service_converge fail2ban "${reload}"
	wait_until 15 fail2ban-client ping ||
		die "fail2ban does not answer; see /var/log/fail2ban.log"
}

main "$@"
