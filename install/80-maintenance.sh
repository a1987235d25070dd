#!/usr/bin/env bash
# Log rotation and the periodic root jobs.
#
# Rotates the logs under /var/log/mailnest (accountd's, written by PM2) and,
# on hosts without syslog, the files Postfix and Dovecot then log to, with
# logrotate run daily by cron (or by logrotate.timer under systemd). Installs
# the root job that removes the Maildirs of mailboxes purged through
# accountd, which itself cannot touch /var/vmail. Makes every log of the mail
# services readable by root and the adm group only (0640 or stricter). Sets
# the sysctl that lets deploys restart accountd without dropping queued
# connections. Without systemd it makes sure cron runs, since nothing else
# would start it.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# log_modes: every log of the mail services readable by root and the adm
# group only (0640 at most; those made stricter by their daemon stay so).
# Postfix's own maillog_file (postlogd, used without syslog) is made 0644
# by Postfix before 3.9: it is made here first, 0640 root:adm, and postlogd
# appends to it as it is. Rotation keeps the modes (copytruncate keeps the
# file, create makes the new one 0640); a file a daemon makes anew later
# (PM2 after its log was deleted) is put right by the next ./install.sh.
log_modes() {
	local file maillog
	maillog=$(postconf -h maillog_file 2>/dev/null || true)
	if [[ -n ${maillog} ]]; then
		[[ -e ${maillog} ]] || : >"${maillog}" || return 1
		chown root:adm -- "${maillog}" || return 1
	fi
	# mailnest-dkim's cron job (install/62-opendkim.sh) appends to its log
	# with root's umask: made first, as the other files of the directory.
	if [[ -d ${MAILNEST_LOG} && ! -e ${MAILNEST_LOG}/mailnest-dkim.log ]]; then
		install -o accountd -g adm -m 0640 /dev/null "${MAILNEST_LOG}/mailnest-dkim.log" || return 1
	fi
	for file in ${maillog:+"${maillog}"} /var/log/mail.log /var/log/mail.err /var/log/mail.warn \
		/var/log/dovecot.log /var/log/fail2ban.log "${MAILNEST_LOG}"/*.log \
		/var/log/mailnest-*/*.log /var/log/nginx/*.log /var/log/roundcube/*.log; do
		[[ -f ${file} ]] || continue
		chmod u-x,g-wx,o-rwx -- "${file}" || return 1
	done
}

main() {
	EXTRA_LOGS=""
	if [[ ! -S /dev/log ]]; then
		EXTRA_LOGS="/var/log/mail.log /var/log/dovecot.log {
	weekly
	rotate 8
	maxsize 100M
	compress
	delaycompress
	missingok
	notifempty
	copytruncate
	create 0640 root adm
}"
	fi
	export EXTRA_LOGS
	if render logrotate-mailnest /etc/logrotate.d/mailnest root:root 0644 EXTRA_LOGS; then
		say "installed /etc/logrotate.d/mailnest"
	else
		say "log rotation is configured"
	fi
	step "checking the logrotate configuration" logrotate --debug /etc/logrotate.d/mailnest
	step "log files readable by root and adm only (0640)" log_modes

	render mailnest-purge-maildirs /usr/local/sbin/mailnest-purge-maildirs root:root 0755 || true
	printf '%s\n' "# mailnest: remove Maildirs of purged mailboxes (install/80-maintenance.sh)" \
		"*/5 * * * * root /usr/local/sbin/mailnest-purge-maildirs" |
		write_if_changed /etc/cron.d/mailnest root:root 0644 || true
	# Two accountd processes may share its port (SO_REUSEPORT) so that
	# deploy/deploy.sh restarts them one at a time; with tcp_migrate_req the
	# connections queued on the socket of the one stopping are handed over.
	if printf '%s\n' "# mailnest (install/80-maintenance.sh): see deploy/deploy.sh" \
		"net.ipv4.tcp_migrate_req = 1" | write_if_changed /etc/sysctl.d/60-mailnest.conf root:root 0644; then
		say "installed /etc/sysctl.d/60-mailnest.conf"
		sysctl -q -p /etc/sysctl.d/60-mailnest.conf >/dev/null 2>&1 ||
			warn "could not set net.ipv4.tcp_migrate_req now (read-only /proc/sys?); it applies at boot"
	fi
	if has_systemd; then
		service_converge cron ""
	elif ! service_is_running cron; then
		step "starting cron" service cron start
	else
		say "cron is running"
	fi
}

main "$@"
