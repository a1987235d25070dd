#!/usr/bin/env bats
# Issue 3, tests 1 and 2: accounts created through accountd's API send over
# 587 (STARTTLS + AUTH) and 465 (implicit TLS) to another account and to its
# alias; the recipient reads both over IMAPS and POP3S, bodies intact.

# E2E_* come from tests/lib/e2e.bash; X_EMAIL and X_PASSWORD from new_account X.
# shellcheck disable=SC2153,SC2154
load ../lib/e2e

setup_file() {
	wait_until_port_open 587
	wait_until_port_open 465
	wait_until_port_open 993
	wait_until_port_open 995
}

setup() {
	new_account A
	new_account B
	ALIAS=$(random_word)@${E2E_DOMAIN}
	add_alias "${ALIAS}" "${B_EMAIL}"
	BODIES=$(mktemp -d)
}

teardown() {
	rm -rf -- "${BODIES}"
}

# sends_and_reads PORT: the whole round trip through one submission port.
sends_and_reads() {
	local port=$1 to marker got
	for to in "${B_EMAIL}" "${ALIAS}"; do
		marker=$(random_word)
		message_body "${marker}" >"${BODIES}/${marker}"
		run swaks_submit "${port}" "${A_EMAIL}" "${A_PASSWORD}" "${to}" "${BODIES}/${marker}"
		assert_success
		assert_output --partial "250 2.0.0 Ok: queued"
		wait_until_in_imap "${B_EMAIL}" "${B_PASSWORD}" "${marker}" 30

		got=$(imap_fetch_body "${B_EMAIL}" "${B_PASSWORD}" "${marker}")
		assert_equal "${got}" "$(cat -- "${BODIES}/${marker}")"
		got=$(pop3_fetch_body "${B_EMAIL}" "${B_PASSWORD}" "${marker}")
		assert_equal "${got}" "$(cat -- "${BODIES}/${marker}")"
	done
}

@test "1. 587 STARTTLS+AUTH to a mailbox and to its alias, read over IMAPS and POP3S" {
	sends_and_reads 587
}

@test "2. 465 implicit TLS+AUTH to a mailbox and to its alias, read over IMAPS and POP3S" {
	sends_and_reads 465
}
