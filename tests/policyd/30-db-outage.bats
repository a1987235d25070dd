#!/usr/bin/env bats
# Issue 7, test 3: with MariaDB stopped, submission gets a temporary failure;
# once it is back the retried message goes through, once: nothing is lost or
# sent twice. And a frozen MariaDB makes policyd answer within a bound.

# X_EMAIL and X_PASSWORD come from new_account X.
# shellcheck disable=SC2154
load lib

teardown() {
	local pid
	pid=$(pgrep -x mariadbd || true)
	[[ -n ${pid} ]] && kill -CONT "${pid}" 2>/dev/null
	service_do mariadb start || true
	wait_until 60 mariadb_is_up || true
}

@test "3. MariaDB stopped: 4xx at submission; back: the retry is delivered exactly once" {
	new_account F
	local marker
	marker=$(random_word)
	run send_many 1 F "$(random_word)"
	assert_output ok
	# the SMTP AUTH cache (30 s) keeps F logging in during the outage
	run service_do mariadb stop
	assert_success
	wait_until 30 mariadb_is_down

	run send_one "${F_EMAIL}" "${F_PASSWORD}" "${F_EMAIL}" "${marker}"
	assert_failure
	assert_output --regexp '<[~*]\* +4[0-9][0-9] 4\.[0-9]\.[0-9]'
	refute_output --regexp '<[~*]\* +5[0-9][0-9] '
	refute_output --partial "Ok: queued"

	run service_do mariadb start
	assert_success
	wait_until 60 mariadb_is_up
	# A client retries until it is accepted (Postfix's own MySQL client
	# leaves a failed server alone for up to 60 s).
	retry() { send_one "${F_EMAIL}" "${F_PASSWORD}" "${F_EMAIL}" "${marker}"; }
	wait_until 150 retry
	delivered_exactly "${F_EMAIL}" "${marker}" 1
	assert_equal "$(db_root "SELECT messages FROM send_usage WHERE subject = '${F_EMAIL}' AND period = 'd'")" 2
}

@test "3. MariaDB frozen: policyd answers 451 within its bound, never permits, never hangs" {
	new_account G
	local pid started elapsed answer
	pid=$(pgrep -x mariadbd)
	kill -STOP "${pid}"
	started=${SECONDS}
	answer=$(printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nsasl_username=%s\ninstance=frozen1\n\n' \
		"${G_EMAIL}" | socat -t 30 -T 30 - "UNIX-CONNECT:${POLICY_SOCKET}")
	elapsed=$((SECONDS - started))
	kill -CONT "${pid}"
	assert_equal "${answer}" "action=451 4.3.0 Sending limits cannot be checked right now; try again later"
	# POLICYD_DB_TIMEOUT=2: pool wait, connect and one statement at most
	((elapsed <= 8)) || fail "answered after ${elapsed} s"
	wait_until 30 policy_socket_answers
}
