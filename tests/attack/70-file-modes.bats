#!/usr/bin/env bats
# shellcheck disable=SC2154 # ATTACK_* come from tests/attack/run, *_EMAIL/*_PASSWORD from new_user
# Logs and secrets are not readable by everyone (issue 12, item 6), on the
# mail host after mail has flowed (a message on 25, one on 587, a failed
# IMAP login, a webmail page): the secrets have the modes the README and
# install/ document, every log of the mail services is 0640 or stricter
# (root and adm), before and after a forced rotation, and nothing under
# /var/log is world-readable but the distribution's package-manager and
# login records, which hold no mail data.
load lib

# The distribution's own world-readable files under /var/log (dpkg, apt,
# update-alternatives, fontconfig, the login records): not ours to change.
readonly DISTRO_LOGS='^/var/log/(dpkg\.log|alternatives\.log|apt/.*|fontconfig\.log|faillog|lastlog|wtmp|btmp)$'

setup_file() {
	local token
	new_user MODES
	token=modes-$(openssl rand -hex 6)
	smtp_probe 2 data "${ATTACK_MAIL_IP}" 25 plain - - someone@elsewhere.test "${MODES_EMAIL}" 0 \
		"From: <someone@elsewhere.test>\r\nSubject: ${token}\r\n\r\n${token}\r\n.\r\n" >/dev/null
	smtp_probe 2 data "${ATTACK_MAIL_IP}" 587 starttls "${MODES_EMAIL}" "${MODES_PASSWORD}" "${MODES_EMAIL}" \
		"${MODES_EMAIL}" 0 "From: <${MODES_EMAIL}>\r\nSubject: ${token}-2\r\n\r\n${token}\r\n.\r\n" >/dev/null
	wait_until 30 imap_has_on_mail "${MODES_EMAIL}" "${MODES_PASSWORD}" "${token}"
	on_mail curl -sS --insecure -o /dev/null "imaps://127.0.0.1:993/" -u "${MODES_EMAIL}:wrong-password" || true
	on_mail curl -sS --insecure -o /dev/null https://127.0.0.1/mail/
}

# mode_is MODE OWNER:GROUP PATH...
mode_is() {
	local want=$1 owner=$2 path got
	shift 2
	for path in "$@"; do
		got=$(on_mail stat -c '%a %U:%G' -- "${path}")
		[[ ${got} == "${want} ${owner}" ]] || { echo "${path}: ${got}, documented ${want} ${owner}"; return 1; }
	done
}

# service_logs: the log files of the mail services on the mail host.
service_logs() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	on_mail bash -c 'shopt -s nullglob
		for f in "$(postconf -h maillog_file)" /var/log/mail.log /var/log/dovecot.log /var/log/fail2ban.log \
			/var/log/mailnest*/*.log /var/log/nginx/*.log /var/log/roundcube/*.log /var/log/php*-fpm.log; do
			[[ -f ${f} ]] && printf "%s\n" "${f}"
		done | sort -u'
}

# logs_at_most_0640: every service log is 0640 or stricter.
logs_at_most_0640() {
	local file mode bad=0
	while IFS= read -r file; do
		mode=$(on_mail stat -c '%a' -- "${file}")
		if ((8#${mode} & 8#027)); then
			echo "${file}: ${mode}"
			bad=1
		fi
	done < <(service_logs)
	return "${bad}"
}

@test "secrets: /etc/mailnest/secrets, the admin token, the TLS key, the DKIM keys and the env files have their documented modes" {
	local -a secrets dkim
	mapfile -t secrets < <(on_mail find /etc/mailnest/secrets -type f)
	((${#secrets[@]} >= 5))
	mode_is 700 root:root /etc/mailnest/secrets /etc/mailnest/tls
	mode_is 600 root:root "${secrets[@]}" /etc/mailnest/tls/mailnest.key /etc/mailnest/mailnest.conf
	mode_is 640 root:accountd /etc/mailnest/admin-token /etc/mailnest/accountd.env
	mode_is 640 root:policyd /etc/mailnest/policyd.env
	mapfile -t dkim < <(on_mail find /etc/opendkim/keys -name '*.private')
	((${#dkim[@]} >= 1))
	mode_is 600 opendkim:opendkim "${dkim[@]}"
	mode_is 700 opendkim:opendkim /etc/opendkim/keys "${dkim[@]%/*}"
	mode_is 640 root:postfix /etc/postfix/sql/client.cnf /etc/postfix/sql/sender-own-domain.cf
	mode_is 640 root:roundcube /etc/roundcube/config.inc.php
}

@test "logs: every log of the mail services is 0640 or stricter after mail has flowed" {
	run service_logs
	echo "# $(wc -l <<<"${output}") service logs: $(tr '\n' ' ' <<<"${output}")" >&3
	assert_output --regexp 'mail|dovecot'
	run logs_at_most_0640
	assert_success
}

@test "logs: still 0640 or stricter after a forced rotation" {
	on_mail logrotate -f /etc/logrotate.d/mailnest
	run logs_at_most_0640
	assert_success
}

@test "logs: nothing under /var/log is world-readable but the distribution's package and login records" {
	run on_mail find /var/log -type f -perm -o+r
	assert_success
	run grep -Ev "${DISTRO_LOGS}" <<<"${output}"
	assert_output ''
}
