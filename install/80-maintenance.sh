#!/usr/bin/env bash
# Log rotation and the periodic root jobs.
#
# Rotates the logs under /var/log/mailnest (accountd's, written by PM2) and,
# on hosts without syslog, the files Postfix and Dovecot then log to, with
# logrotate run daily by cron (or by logrotate.timer under systemd). Installs
# the root job that removes the Maildirs of mailboxes purged through
# accountd, which itself cannot touch /var/vmail. Sets the sysctl that lets
# deploys restart accountd without dropping queued connections. Without
# systemd it makes sure cron runs, since nothing else would start it.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

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
}"
	fi
	export EXTRA_LOGS
	if render logrotate-mailnest /etc/logrotate.d/mailnest root:root 0644 EXTRA_LOGS; then
		say "installed /etc/logrotate.d/mailnest"
	else
		say "log rotation is configured"
	fi
	step "checking the logrotate configuration" logrotate --debug /etc/logrotate.d/mailnest

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
