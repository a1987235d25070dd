#!/usr/bin/env bats
# Issue 7, test 1: a new account sends up to its limit over 587 and the next
# message gets a 4xx with the reason; an older account with a higher limit
# is not affected; raising the limit through the admin API lets it send
# again.

# X_EMAIL and X_PASSWORD come from new_account X.
# shellcheck disable=SC2154
load lib

@test "1. a new account sends 10 messages in an hour; the 11th is refused 452 with the reason" {
	new_account A
	local marker
	marker=$(random_word)
	run send_many 10 A "${marker}"
	assert_success
	assert_equal "$(grep -c '^ok$' <<<"${output}")" 10
	run send_many 1 A "${marker}"
	assert_output --regexp '^<\*\* +452 4\.7\.1 .*: Sending limit reached: 10 messages per hour for this account; try again later$'
	delivered_exactly "${A_EMAIL}" "${marker}" 10
	run policyd_log
	assert_output --partial "event=limit_hit user=${A_EMAIL}"
	# the refused message was not counted
	assert_equal "$(db_root "SELECT messages FROM send_usage WHERE subject = '${A_EMAIL}' AND period = 'h' ORDER BY period_start DESC LIMIT 1")" 10
}

@test "1. an account older than 7 days has the higher limit and is not affected" {
	new_account B
	backdate_account "${B_EMAIL}" 8
	local marker
	marker=$(random_word)
	run send_many 12 B "${marker}"
	assert_success
	assert_equal "$(grep -c '^ok$' <<<"${output}")" 12
	delivered_exactly "${B_EMAIL}" "${marker}" 12
}

@test "1. too many recipients for a new account: the 21st RCPT is refused, the message goes to 20" {
	new_account R
	local marker to="" i
	marker=$(random_word)
	for ((i = 0; i < 21; i++)); do to+="${to:+,}${R_EMAIL}"; done
	run send_one "${R_EMAIL}" "${R_PASSWORD}" "${to}" "${marker}"
	assert_output --regexp '<~\* +452 4\.7\.1 .*: Sending limit reached: 20 recipients per message'
	assert_output --partial "250 2.0.0 Ok: queued"
}

@test "1. raising the limit through the admin API lets the account send again" {
	new_account C
	local marker
	marker=$(random_word)
	run send_many 11 C "${marker}"
	assert_equal "$(grep -c '^ok$' <<<"${output}")" 10
	assert_line --regexp '^<\*\* +452 4\.7\.1 '
	set_send_limits "${C_EMAIL}" '{"messages_per_hour": 12}'
	run send_many 3 C "${marker}"
	assert_line --index 0 ok
	assert_line --index 1 ok
	assert_line --index 2 --regexp '^<\*\* +452 4\.7\.1 .*: Sending limit reached: 12 messages per hour'
	delivered_exactly "${C_EMAIL}" "${marker}" 12
}

@test "1. an account that keeps hitting its limit is suspended from sending, not from reading; an admin lifts it" {
	new_account S
	set_send_limits "${S_EMAIL}" '{"messages_per_hour": 1}'
	local marker
	marker=$(random_word)
	run send_many 1 S "${marker}"
	assert_output ok
	# 20 refusals (POLICYD_SUSPEND_AFTER) suspend it
	run send_many 20 S "${marker}"
	assert_equal "$(grep -c '452 4.7.1 .*: Sending limit reached' <<<"${output}")" 20
	run policyd_log
	assert_output --partial "event=suspended user=${S_EMAIL}"
	run policyd_metrics
	assert_output --regexp 'policyd_suspensions_total [1-9]'
	set_send_limits "${S_EMAIL}" '{"messages_per_hour": 100}'
	run send_many 1 S "${marker}"
	assert_output --regexp '^<\*\* +450 4\.7\.1 .*: Sending is suspended for this account'
	# reading still works
	wait_until_in_imap "${S_EMAIL}" "${S_PASSWORD}" "${marker}" 30
	run admin_api DELETE "/api/v1/admin/mailboxes/${S_EMAIL}/send-suspension"
	assert_line --index 1 200
	run send_many 1 S "${marker}"
	assert_output ok
	delivered_exactly "${S_EMAIL}" "${marker}" 2
}
