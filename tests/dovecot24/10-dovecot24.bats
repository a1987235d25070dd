#!/usr/bin/env bats
# Dovecot 2.4 with the configuration install/50-dovecot.sh writes, inside the
# Debian 13 root of tests/dovecot24/run (which has run the installer step):
# the same behaviour the e2e suite checks on 2.3, through the same doors
# (IMAPS, POP3S, the LMTP and quota-status sockets Postfix uses, accountd's
# command line, the log fail2ban reads).

bats_load_library bats-support
bats_load_library bats-assert
load ../lib/wait.bash

readonly LMTP=/var/spool/postfix/private/dovecot-lmtp
readonly QUOTA_STATUS=/var/spool/postfix/private/quota-status
readonly PW=Correct-horse-24

# as_accountd ARGS...: accountd's command line as the accountd user, with the
# installed settings (so its cache flush uses the socket's group access).
as_accountd() {
	(set -a && source /etc/mailnest/accountd.env && runuser -u accountd -- accountd "$@")
}

# imap_login USER PASSWORD / pop3_login USER PASSWORD: a login over TLS.
imap_login() { curl -sS -k --max-time 20 imaps://127.0.0.1/ -u "$1:$2" -X NOOP; }
pop3_login() { curl -sS -k --max-time 20 pop3s://127.0.0.1/ -u "$1:$2" -X NOOP; }

# lmtp_deliver RCPT SUBJECT: one message by LMTP, as Postfix hands it over;
# prints the server's replies.
lmtp_deliver() {
	printf 'LHLO mail.example.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\nSubject: %s\r\n\r\nhello\r\n.\r\nQUIT\r\n' \
		"$1" "$2" | timeout 20 nc -N -U "${LMTP}"
}

# quota_status RCPT SIZE: quota-status's answer to Postfix's RCPT request
# (-N: the end of the request closes our half, quota-status answers and
# closes).
quota_status() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=%s\nsize=%s\n\n' "$1" "$2" |
		timeout 20 nc -N -U "${QUOTA_STATUS}"
}

log_has() { grep -qF -- "$1" /var/log/dovecot.log; }

setup_file() {
	printf '%s\n' "${PW}" | as_accountd user add made-by-accountd@example.test >/dev/null
	printf '%s\n' "${PW}" | as_accountd user add made-by-doveadm@example.test >/dev/null
	printf '%s\n' "${PW}" | as_accountd user add unlimited@example.test --quota 0 >/dev/null
	local hash
	hash=$(doveadm pw -s ARGON2ID -p "${PW}")
	mariadb -e "UPDATE mailnest.mailboxes SET password_hash = '${hash}'
		WHERE email = 'made-by-doveadm@example.test'"
}

@test "doveconf -n reads the rendered configuration without a warning; 2.4's two versions come first" {
	run doveconf -n
	assert_success
	refute_output --partial Warning
	refute_output --regexp '(^|\s)\[2\.[34]\] '
	run grep -m 1 -v -e '^#' -e '^$' /etc/dovecot/dovecot.conf
	assert_output 'dovecot_config_version = 2.4.0'
	run doveconf -h dovecot_storage_version
	assert_output 2.4.0
	run doveconf -h protocols
	assert_output 'imap pop3 lmtp'
}

# tls PORT ARGS...: the handshake's summary line ("New, TLSv1.2, Cipher is ...").
tls() {
	local port=$1
	shift
	openssl s_client -connect "127.0.0.1:${port}" "$@" </dev/null 2>&1 | grep -E '^New, |^subject='
}

@test "IMAPS and POP3S: our certificate, TLS 1.2 with the intermediate ciphers only (DHE with our DH file), TLS 1.3" {
	run tls 993 -tls1_2
	assert_output --partial 'subject=CN=mail.example.test'
	assert_output --regexp 'New, TLSv1\.2, Cipher is ECDHE-'
	run tls 995 -tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256
	assert_output --partial 'New, TLSv1.2, Cipher is DHE-RSA-AES128-GCM-SHA256'
	run tls 993 -tls1_2 -cipher AES128-SHA
	refute_output --partial 'Cipher is AES128-SHA'
	run tls 995 -tls1_3
	assert_output --partial 'New, TLSv1.3, Cipher is TLS_'
}

@test "IMAPS and POP3S logins with the {ARGON2ID} hash accountd stored; a wrong password fails" {
	run mariadb -N -e "SELECT password_hash FROM mailnest.mailboxes WHERE email = 'made-by-accountd@example.test'"
	assert_output --regexp '^\{ARGON2ID\}\$argon2id\$v=19\$m=19456,t=2,p=1\$'
	run imap_login made-by-accountd@example.test "${PW}"
	assert_success
	run pop3_login made-by-accountd@example.test "${PW}"
	assert_success
	run imap_login made-by-accountd@example.test wrong-password
	assert_failure
}

@test "IMAPS login with a hash made by doveadm pw -s ARGON2ID" {
	run imap_login made-by-doveadm@example.test "${PW}"
	assert_success
	run imap_login made-by-doveadm@example.test wrong-password
	assert_failure
}

@test "LMTP delivers into the mailbox's Maildir, owned by vmail, and IMAP finds it" {
	run lmtp_deliver made-by-accountd@example.test "lmtp on 2.4"
	assert_output --regexp '250 2\.0\.0 <made-by-accountd@example.test> .* Saved'
	run find /var/vmail/example.test/made-by-accountd/Maildir/new -type f -user vmail
	assert_output --partial /new/
	run curl -sS -k --max-time 20 imaps://127.0.0.1/INBOX -u "made-by-accountd@example.test:${PW}" \
		-X 'SEARCH SUBJECT "lmtp on 2.4"'
	assert_output --partial '* SEARCH 1'
}

@test "quota: the limit comes from the database; quota-status answers as Postfix expects; LMTP refuses over quota" {
	run curl -sS -k --max-time 20 imaps://127.0.0.1/ -u "made-by-doveadm@example.test:${PW}" \
		-X 'GETQUOTAROOT INBOX'
	assert_output --partial '"User quota" (STORAGE 0 1048576)'
	run quota_status made-by-doveadm@example.test 1000
	assert_output action=DUNNO
	# larger than the whole quota: refused at RCPT already, as on 2.3
	run quota_status made-by-doveadm@example.test 2000000000
	assert_output action=mailnest_mailbox_full
	run quota_status nobody@example.test 1000
	assert_output action=DUNNO
	# quota 0 is no limit
	run quota_status unlimited@example.test 2000000000
	assert_output action=DUNNO
	run lmtp_deliver made-by-doveadm@example.test "fills the quota"
	assert_output --partial Saved
	as_accountd user quota made-by-doveadm@example.test 100
	doveadm auth cache flush made-by-doveadm@example.test
	run quota_status made-by-doveadm@example.test 10
	assert_output action=mailnest_mailbox_full
	run lmtp_deliver made-by-doveadm@example.test "over quota"
	assert_output --partial '552 5.2.2 <made-by-doveadm@example.test> Mailbox is full (quota exceeded)'
}

@test "the auth cache keeps a deactivated user in; accountd flushes it through auth-master, so deactivation takes effect at once" {
	local u=made-by-accountd@example.test
	run imap_login "${u}" "${PW}"
	assert_success
	# deactivated behind accountd's back: the cached entry still logs in
	mariadb -e "UPDATE mailnest.mailboxes SET active = 0 WHERE email = '${u}'"
	run imap_login "${u}" "${PW}"
	assert_success
	run doveadm auth cache flush "${u}"
	assert_success
	run imap_login "${u}" "${PW}"
	assert_failure
	mariadb -e "UPDATE mailnest.mailboxes SET active = 1 WHERE email = '${u}'"
	doveadm auth cache flush "${u}"
	run imap_login "${u}" "${PW}"
	assert_success
	# through accountd: at once, both ways
	as_accountd user disable "${u}"
	run imap_login "${u}" "${PW}"
	assert_failure
	as_accountd user enable "${u}"
	run imap_login "${u}" "${PW}"
	assert_success
}

@test "every failed password is logged with the client address, as the fail2ban IMAP/POP3 filter counts it" {
	install -m 0644 install/templates/fail2ban/filter.d/mailnest-dovecot.conf /etc/fail2ban/filter.d/
	: >/var/log/dovecot.log
	imap_login made-by-accountd@example.test guess-1 || true
	pop3_login made-by-accountd@example.test guess-2 || true
	imap_login nosuch@example.test guess-3 || true
	wait_until 10 log_has 'Password mismatch'
	wait_until 10 log_has 'unknown user'
	# each attempt: the auth worker's line and the closed connection's
	wait_until 10 test "$(grep -c 'Login aborted' /var/log/dovecot.log)" -ge 3
	run fail2ban-regex -v /var/log/dovecot.log mailnest-dovecot
	assert_output --regexp 'Lines: [0-9]+ lines, 0 ignored, 6 matched'
	run grep -cE '^\|\s+127\.0\.0\.1\s' <<<"${output}"
	assert_output 6
}

@test "re-running install/50-dovecot.sh changes nothing" {
	run env MAILNEST_DOMAIN=example.test MAILNEST_QUOTA_FULL=reject bash install/50-dovecot.sh
	assert_success
	assert_output --partial "Dovecot's configuration is unchanged"
	assert_output --partial 'dovecot is running and its configuration is unchanged'
}
