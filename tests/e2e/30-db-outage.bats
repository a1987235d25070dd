#!/usr/bin/env bats
# Issue 3, test 4: with MariaDB stopped, mail from outside on port 25 is
# answered with a temporary error (4xx), never bounced or accepted and lost;
# once MariaDB is back the sender's retry is delivered.

# E2E_* come from tests/lib/e2e.bash; X_EMAIL and X_PASSWORD from new_account X.
# shellcheck disable=SC2153,SC2154
load ../lib/e2e

setup() {
	new_account B
	MARKER=$(random_word)
	BODY=$(mktemp)
	message_body "${MARKER}" >"${BODY}"
}

teardown() {
	service_do mariadb start || true
	wait_until 60 mariadb_is_up || true
	rm -f -- "${BODY}"
}

send_from_outside() {
	swaks --server "${E2E_HOST}" --port 25 --from "sender-${MARKER}@outside.invalid" \
		--to "${B_EMAIL}" --header "Subject: outage ${MARKER}" --body "${BODY}" --timeout 30
}

@test "4. MariaDB down: port 25 answers 4xx; after MariaDB is back the retry is delivered" {
	run service_do mariadb stop
	assert_success
	wait_until 30 mariadb_is_down

	run send_from_outside
	assert_failure
	assert_output --regexp '<\*\* +4[0-9][0-9] 4\.[0-9]\.[0-9]'
	refute_output --regexp '<\*\* +5[0-9][0-9] '
	refute_output --partial "250 2.0.0 Ok: queued"

	run service_do mariadb start
	assert_success
	wait_until 60 mariadb_is_up
	local back_at=${SECONDS}
	# Each Postfix process that saw MariaDB fail leaves it alone for 60 s
	# (fixed in Postfix's mysql client): until then some lookups still
	# answer 4xx, which senders take as "retry later". Real servers retry
	# after minutes; we retry once that time is over.
	wait_until 120 postfix_has_recovered "${back_at}"
	# An smtpd process also keeps the failed answer for this sender and
	# recipient in its resolve cache for as long as it lives (up to 100
	# connections, or 100 s idle): a retry that reaches the same process
	# gets 4xx again. A real sender retries minutes later; here the retries
	# come back-to-back, so they go on until that process is replaced.
	wait_until 150 send_from_outside
	wait_until_in_imap "${B_EMAIL}" "${B_PASSWORD}" "${MARKER}" 30
	run imap_fetch_body "${B_EMAIL}" "${B_PASSWORD}" "${MARKER}"
	assert_success
	assert_equal "${output}" "$(cat -- "${BODY}")"
}

rcpt_is_accepted() {
	swaks --server "${E2E_HOST}" --port 25 --from "probe@outside.invalid" --to "${B_EMAIL}" \
		--quit-after RCPT --timeout 10
}

lookups_all_succeed() {
	local i
	for ((i = 0; i < 20; i++)); do
		rcpt_is_accepted || return 1
	done
}

# postfix_has_recovered BACK_AT: 62 s after MariaDB came back (at
# $SECONDS = BACK_AT), 20 lookups in a row succeed.
postfix_has_recovered() {
	local back_at=$1
	((SECONDS - back_at >= 62)) && lookups_all_succeed
}
