#!/usr/bin/env bats
# Issue 13: on each supported system, the mail core works end to end once
# ./install.sh has run from a clone in /root: accounts through accountd's
# API and through Nginx, submission on 587 (STARTTLS) and 465 (implicit
# TLS), reading over IMAPS and POP3S, and the DKIM signature of sent mail,
# verified by dkimpy.

# X_EMAIL and X_PASSWORD come from new_account X.
# shellcheck disable=SC2154
load lib

@test "an account is made through accountd's API" {
	new_account A
	run imap_can_log_in "${A_EMAIL}" "${A_PASSWORD}"
	assert_success
}

@test "an account is made through Nginx (HTTPS)" {
	local user password
	user=$(random_word)
	password=$(strong_password)
	run https /api/v1/accounts -w '\n%{http_code}\n' -X POST -H 'Content-Type: application/json' \
		--data "{\"username\":\"${user}\",\"password\":\"${password}\"}"
	assert_line 201
	run imap_can_log_in "${user}@${E2E_DOMAIN}" "${password}"
	assert_success
}

@test "mail sent on 587 and on 465 is read over IMAPS and POP3S, DKIM-signed" {
	new_account A
	new_account B
	local body m587 m465
	body=$(mktemp)
	m587=$(random_word)
	message_body "${m587}" >"${body}"
	run swaks_submit 587 "${A_EMAIL}" "${A_PASSWORD}" "${B_EMAIL}" "${body}"
	assert_success
	m465=$(random_word)
	message_body "${m465}" >"${body}"
	run swaks_submit 465 "${A_EMAIL}" "${A_PASSWORD}" "${B_EMAIL}" "${body}"
	assert_success
	rm -f -- "${body}"
	wait_until_in_imap "${B_EMAIL}" "${B_PASSWORD}" "${m587}" 30
	wait_until_in_imap "${B_EMAIL}" "${B_PASSWORD}" "${m465}" 30
	run imap_fetch_body "${B_EMAIL}" "${B_PASSWORD}" "${m587}"
	assert_line "end of ${m587}"
	run pop3_fetch_body "${B_EMAIL}" "${B_PASSWORD}" "${m465}"
	assert_line "end of ${m465}"
	run dkim_verify < <(imap_fetch_message "${B_EMAIL}" "${B_PASSWORD}" "${m587}")
	assert_success
	assert_output "dkimpy: pass"
}
