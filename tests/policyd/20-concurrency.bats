#!/usr/bin/env bats
# Issue 7, test 2: limits hold across two concurrent SMTP sessions of the
# same user and across a restart of the policy daemon.

# X_EMAIL and X_PASSWORD come from new_account X.
# shellcheck disable=SC2154
load lib

@test "2. two sessions of one user sending at once: exactly the limit gets through" {
	new_account D
	set_send_limits "${D_EMAIL}" '{"messages_per_hour": 7}'
	local marker out1 out2
	marker=$(random_word)
	out1=$(mktemp)
	out2=$(mktemp)
	send_many 6 D "${marker}" >"${out1}" &
	local first=$!
	send_many 6 D "${marker}" >"${out2}"
	wait "${first}"
	run cat "${out1}" "${out2}"
	rm -f -- "${out1}" "${out2}"
	assert_equal "$(grep -c '^ok$' <<<"${output}")" 7
	assert_equal "$(grep -c '452 4.7.1 .*: Sending limit reached: 7 messages per hour' <<<"${output}")" 5
	delivered_exactly "${D_EMAIL}" "${marker}" 7
	assert_equal "$(db_root "SELECT messages FROM send_usage WHERE subject = '${D_EMAIL}' AND period = 'd'")" 7
}

@test "2. the counts survive a restart of mailnest-policyd" {
	new_account E
	local marker pid_before
	marker=$(random_word)
	run send_many 6 E "${marker}"
	assert_equal "$(grep -c '^ok$' <<<"${output}")" 6
	pid_before=$(policyd_pid)
	restart_policyd
	[[ $(policyd_pid) != "${pid_before}" ]]
	run send_many 5 E "${marker}"
	assert_line --index 3 ok
	assert_line --index 4 --regexp '^<\*\* +452 4\.7\.1 .*: Sending limit reached: 10 messages per hour'
	delivered_exactly "${E_EMAIL}" "${marker}" 10
}
