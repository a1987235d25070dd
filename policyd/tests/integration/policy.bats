#!/usr/bin/env bats
# policyd's decisions against a real MariaDB with accountd's schema and the
# installer's grants: counting at END-OF-MESSAGE, refusing at RCPT, the
# overrides, domain totals, suspension, concurrency, restarts, outages.

bats_require_minimum_version 1.5.0
# shellcheck source-path=SCRIPTDIR source=../lib/policyd.bash
source "${BATS_TEST_DIRNAME}/../lib/policyd.bash"

setup_file() { policyd_db_setup; }
teardown_file() { policyd_db_teardown; }
teardown() { policyd_test_teardown; }

# new_user [DOMAIN [AGE_DAYS]]: a new mailbox; sets USER.
new_user() {
	local name="u${BATS_TEST_NUMBER}x${RANDOM}"
	add_mailbox "${name}" "$@"
	USER="${name}@${1:-pd.test}"
}

# sends_ok USER: a one-recipient message is accepted whole.
sends_ok() { [[ $(send_message "$1" 1 | grep -c '^action=DUNNO$') == 2 ]]; }

@test "a message is counted once, at END-OF-MESSAGE, with its recipients" {
	new_user
	policyd_start
	run send_message "${USER}" 3
	assert_equal "${#lines[@]}" 4
	refute_output --partial 452
	assert_equal "$(pd_sql "SELECT CONCAT(period, messages, '/', recipients) FROM send_usage WHERE subject = '${USER}' ORDER BY period")" $'d1/3\nh1/3'
	assert_equal "$(pd_sql "SELECT messages FROM send_usage WHERE subject = 'pd.test' AND period = 'h'")" 1
}

@test "the young-account limit refuses at RCPT with the reason; refused messages do not count" {
	new_user
	policyd_start POLICYD_NEW_MESSAGES_PER_HOUR=2
	send_message "${USER}" 1 >/dev/null
	send_message "${USER}" 1 >/dev/null
	run send_message "${USER}" 1
	assert_line --index 0 'action=452 4.7.1 Sending limit reached: 2 messages per hour for this account; try again later'
	assert_equal "$(pd_sql "SELECT messages FROM send_usage WHERE subject = '${USER}' AND period = 'h'")" 2
	grep -q "event=limit_hit user=${USER}" "${PD_LOG}"
}

@test "an established account has the higher defaults; a mailbox override wins over both" {
	new_user pd.test 30
	policyd_start POLICYD_NEW_MESSAGES_PER_HOUR=1 POLICYD_MESSAGES_PER_HOUR=3
	local i
	for i in 1 2 3; do run send_message "${USER}" 1; assert_line --index 1 action=DUNNO; done
	run send_message "${USER}" 1
	assert_line --index 0 --partial '3 messages per hour'
	pd_sql "INSERT INTO send_limits_mailbox (mailbox_id, messages_per_hour) SELECT id, 4 FROM mailboxes WHERE email = '${USER}'"
	run send_message "${USER}" 1
	assert_line --index 1 action=DUNNO
	run send_message "${USER}" 1
	assert_line --index 0 --partial '4 messages per hour'
}

@test "recipients per message: refused at the RCPT past the limit" {
	new_user
	policyd_start POLICYD_NEW_RECIPIENTS_PER_MESSAGE=2
	run send_message "${USER}" 3
	assert_line --index 0 action=DUNNO
	assert_line --index 1 action=DUNNO
	assert_line --index 2 --partial '2 recipients per message'
}

@test "domain totals count every mailbox of the domain" {
	new_user other.test
	local first=${USER}
	new_user other.test
	pd_sql "INSERT INTO send_limits_domain (domain_id, messages_per_hour) SELECT id, 2 FROM domains WHERE name = 'other.test'"
	policyd_start
	send_message "${first}" 1 >/dev/null
	send_message "${USER}" 1 >/dev/null
	run send_message "${first}" 1
	assert_line --index 0 --partial '2 messages per hour for this domain'
}

@test "two connections ending messages at once: the limit holds exactly" {
	new_user
	policyd_start POLICYD_NEW_MESSAGES_PER_HOUR=5
	local i pids=()
	for ((i = 0; i < 10; i++)); do
		send_message "${USER}" 1 >"${PD_DIR}/out.${i}" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "${i}"; done
	assert_equal "$(pd_sql "SELECT messages FROM send_usage WHERE subject = '${USER}' AND period = 'h'")" 5
	# all ten passed RCPT at once; END-OF-MESSAGE let exactly five through
	assert_equal "$(grep -l '5 messages per hour' "${PD_DIR}"/out.* | wc -l)" 5
}

@test "repeated limit hits suspend the account; the suspension is logged and counted" {
	new_user
	policyd_start POLICYD_NEW_MESSAGES_PER_HOUR=1 POLICYD_SUSPEND_AFTER=3
	send_message "${USER}" 1 >/dev/null
	local i
	for i in 1 2 3; do send_message "${USER}" 1 >/dev/null; done
	grep -q "event=suspended user=${USER} limit_hits_today=3" "${PD_LOG}"
	assert_equal "$(pd_sql "SELECT send_suspended_at IS NOT NULL FROM mailboxes WHERE email = '${USER}'")" 1
	run send_message "${USER}" 1
	assert_line --index 0 --partial 'action=450 4.7.1 Sending is suspended'
	run metrics
	assert_line 'policyd_suspensions_total 1'
}

@test "counts survive a restart; SIGTERM exits 0" {
	new_user
	policyd_start POLICYD_NEW_MESSAGES_PER_HOUR=2
	send_message "${USER}" 1 >/dev/null
	policyd_stop
	policyd_start POLICYD_NEW_MESSAGES_PER_HOUR=2
	send_message "${USER}" 1 >/dev/null
	run send_message "${USER}" 1
	assert_line --index 0 --partial '2 messages per hour'
}

@test "MariaDB down: 451 within the bound, never a permit; back: served again" {
	new_user
	policyd_start
	kill -STOP "$(<"${PD_DB_DIR}/mysqld.pid")"
	local started=${SECONDS}
	run send_message "${USER}" 1
	kill -CONT "$(<"${PD_DB_DIR}/mysqld.pid")"
	assert_line --index 0 'action=451 4.3.0 Sending limits cannot be checked right now; try again later'
	refute_line action=DUNNO
	((SECONDS - started <= 10))
	wait_until 20 sends_ok "${USER}"
}
