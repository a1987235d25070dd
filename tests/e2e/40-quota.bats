#!/usr/bin/env bats
# Issue 3, test 5: delivery to a mailbox over its quota is refused as
# configured (MAILNEST_QUOTA_FULL: reject = 552 5.2.2, defer = 452 4.2.2) and
# reported to the sender; nothing is stored in the full mailbox or lost.

# E2E_* come from tests/lib/e2e.bash; X_EMAIL and X_PASSWORD from new_account X.
# shellcheck disable=SC2153,SC2154
load ../lib/e2e

setup() {
	new_account A
	new_account Q
	# Set before anything looked the mailbox up, so no cache holds the old
	# quota.
	set_quota "${Q_EMAIL}" 4096
	BODY=$(mktemp)
	MARKER=$(random_word)
	message_body "${MARKER}" >"${BODY}"
	if [[ ${E2E_QUOTA_FULL} == defer ]]; then
		CODE='452 4\.2\.2'
	else
		CODE='552 5\.2\.2'
	fi
}

teardown() {
	rm -f -- "${BODY}"
}

@test "5a. over quota, announced with SIZE: refused at RCPT TO as configured" {
	run curl -sv --max-time 30 --url "smtp://${E2E_HOST}:25" --mail-from "x-${MARKER}@outside.invalid" \
		--mail-rcpt "${Q_EMAIL}" --upload-file "${BODY}"
	assert_failure
	assert_output --regexp "> MAIL FROM:<[^>]*> SIZE=[0-9]+"
	assert_output --regexp "< ${CODE} .*Mailbox is full"
	refute imap_has "${Q_EMAIL}" "${Q_PASSWORD}" "${MARKER}"
}

@test "5b. over quota, found at delivery: the sender is told, nothing is stored or lost" {
	run swaks_submit 587 "${A_EMAIL}" "${A_PASSWORD}" "${Q_EMAIL}" "${BODY}"
	assert_success
	if [[ ${E2E_QUOTA_FULL} == defer ]]; then
		# Kept in Postfix's queue with the reason, retried later.
		has_deferred() { postqueue -j | grep -F "${Q_EMAIL}" | grep -q '4\.2\.2'; }
		wait_until 30 has_deferred
	else
		# Bounced: a delivery status notification reaches the sender.
		wait_until_in_imap "${A_EMAIL}" "${A_PASSWORD}" "5.2.2" 30
		run imap_fetch_body "${A_EMAIL}" "${A_PASSWORD}" "5.2.2"
		assert_output --partial "${Q_EMAIL}"
		assert_output --regexp "552[ -]5\.2\.2"
	fi
	refute imap_has "${Q_EMAIL}" "${Q_PASSWORD}" "${MARKER}"
	run curl -sS --insecure -u "${Q_EMAIL}:${Q_PASSWORD}" "imaps://${E2E_HOST}:993/INBOX" -X 'GETQUOTAROOT INBOX'
	assert_output --regexp 'STORAGE 0 4'
}
