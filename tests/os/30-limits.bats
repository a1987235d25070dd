#!/usr/bin/env bats
# Issue 13: on each supported system, mailnest-policyd enforces a sending
# limit, and a mailbox over its quota is refused at RCPT already.

# X_EMAIL and X_PASSWORD come from new_account X.
# shellcheck disable=SC2154
load lib

@test "policyd: the 21st recipient of a new account's message is refused 452" {
	new_account R
	local body to="" i
	body=$(mktemp)
	message_body "$(random_word)" >"${body}"
	for ((i = 0; i < 21; i++)); do to+="${to:+,}${R_EMAIL}"; done
	run swaks_submit 587 "${R_EMAIL}" "${R_PASSWORD}" "${to}" "${body}"
	rm -f -- "${body}"
	assert_output --regexp '<~?\* +452 4\.7\.1 .*Sending limit reached: 20 recipients per message'
	assert_output --partial "250 2.0.0 Ok: queued"
}

@test "quota: a mailbox over its quota is refused at RCPT (552 5.2.2)" {
	new_account A
	new_account Q
	set_quota "${Q_EMAIL}" 4096
	local body marker
	body=$(mktemp)
	marker=$(random_word)
	message_body "${marker}" >"${body}"
	run curl -sv --max-time 30 --url "smtp://${E2E_HOST}:25" --mail-from "x-${marker}@outside.invalid" \
		--mail-rcpt "${Q_EMAIL}" --upload-file "${body}"
	rm -f -- "${body}"
	assert_failure
	assert_output --regexp "< 552 5\.2\.2 .*Mailbox is full"
	refute imap_has "${Q_EMAIL}" "${Q_PASSWORD}" "${marker}"
}
