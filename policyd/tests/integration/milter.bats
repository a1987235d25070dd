#!/usr/bin/env bats
# `mailnest-policyd milter` over the milter protocol (tests/lib/milter_client.py
# plays Postfix), against a MariaDB with accountd's schema and the
# installer's grants: the login's mailbox and its aliases pass, anything
# else is refused with 550 5.7.1, port-25 mail from our own domains too, and
# a database that is gone answers 451 4.3.0, never accept. Run under valgrind
# by `tests/run policyd-valgrind` and against the ASan+UBSan build.

bats_require_minimum_version 1.5.0
# shellcheck source-path=SCRIPTDIR source=../lib/policyd.bash
source "${BATS_TEST_DIRNAME}/../lib/policyd.bash"

setup_file() {
	policyd_db_setup
	add_mailbox carol
	add_mailbox bob
	add_mailbox gone
	pd_sql "UPDATE mailboxes SET active = 0 WHERE email = 'gone@pd.test'"
	pd_sql "INSERT INTO aliases (domain_id, source, destination)
		SELECT id, 'info@pd.test', 'carol@pd.test' FROM domains WHERE name = 'pd.test'"
	pd_sql "INSERT INTO aliases (domain_id, source, destination, active)
		SELECT id, 'old@pd.test', 'carol@pd.test', 0 FROM domains WHERE name = 'pd.test'"
	pd_sql "UPDATE domains SET active = 0 WHERE name = 'other.test'"
}
teardown_file() { policyd_db_teardown; }
setup() { milter_start; }
teardown() { policyd_test_teardown; }

# milter_start: `mailnest-policyd milter` as nobody, on a socket of the test
# (policyd_launch: policyd_start's environment, valgrind and ASan settings).
milter_start() {
	policyd_test_dir
	PD_SOCKET=${PD_DIR}/milter.sock
	PD_LOG=${BATS_TEST_TMPDIR}/milter.log
	policyd_launch milter 20 POLICYD_MILTER_SOCKET="${PD_SOCKET}"
}

# submit LOGIN HEADER...: a message from LOGIN on a submission port.
submit() {
	local login=$1
	shift
	python3 "${BATS_TEST_DIRNAME}/../lib/milter_client.py" "${PD_SOCKET}" --daemon ORIGINATING \
		--login "${login}" --mail "${login}" "$@"
}

# inbound HEADER...: a message on port 25, nobody logged in.
inbound() {
	python3 "${BATS_TEST_DIRNAME}/../lib/milter_client.py" "${PD_SOCKET}" "$@"
}

@test "submission: the login's mailbox and active aliases pass, in any case" {
	run submit carol@pd.test "From: Carol <carol@pd.test>"
	assert_output accept
	run submit Carol@PD.test "From: =?UTF-8?Q?Car=C3=B6l?= <CAROL@pd.test>" "Sender: info@pd.test"
	assert_output accept
	run submit carol@pd.test "From: info@pd.test, carol@pd.test"
	assert_output accept
}

@test "submission: someone else's, an inactive alias, a foreign or display-name address: 550 5.7.1" {
	run submit carol@pd.test "From: Bob <bob@pd.test>"
	assert_output "reply 550 5.7.1 From: header address bob@pd.test is not yours (logged in as carol@pd.test)"
	run submit carol@pd.test "From: old@pd.test"
	assert_output --regexp '^reply 550 5\.7\.1 .*old@pd\.test is not yours'
	run submit carol@pd.test "From: \"bob@pd.test\" <carol@pd.test>"
	assert_output --regexp '^reply 550 5\.7\.1 .*bob@pd\.test is not yours'
	run submit carol@pd.test "From: carol@pd.test" "Sender: someone@elsewhere.test"
	assert_output --regexp '^reply 550 5\.7\.1 Sender: header address someone@elsewhere\.test'
	run submit carol@pd.test "From: carol@pd.test" "From: bob@pd.test"
	assert_output --regexp '^reply 550 5\.7\.1 the message has 2 From: headers'
	run submit carol@pd.test "Subject: no From"
	assert_output --regexp '^reply 550 5\.7\.1 the message has no From: header'
	# An inactive mailbox owns nothing any more.
	run submit gone@pd.test "From: gone@pd.test"
	assert_output --regexp '^reply 550 5\.7\.1 '
	grep -q 'event=from_refused queue_id=4ABCDE login=carol@pd.test' "${PD_LOG}"
}

@test "submission: a long From: is refused, several messages on one connection are judged each" {
	local filler
	filler=$(printf 'x%.0s' {1..5000})
	run submit carol@pd.test "From: \"${filler}\" <carol@pd.test>"
	assert_output --regexp '^reply 550 5\.7\.1 From: header is too long'
	run submit carol@pd.test --messages 3 "From: carol@pd.test"
	assert_output $'accept\naccept\naccept'
	run submit carol@pd.test --messages 2 "From: bob@pd.test"
	assert_output --regexp '^reply 550 .*'$'\n''reply 550 '
}

@test "a submission port without a login: 451 4.3.0, never judged as port-25 mail" {
	run python3 "${BATS_TEST_DIRNAME}/../lib/milter_client.py" "${PD_SOCKET}" --daemon ORIGINATING \
		"From: someone@elsewhere.test"
	assert_output --regexp '^reply 451 4\.3\.0 '
}

@test "port 25: our active domains are refused in From:, others pass" {
	run inbound "From: Carol <carol@PD.test>"
	assert_output --regexp '^reply 550 5\.7\.1 From: header address carol@pd\.test: mail from our own domain must be sent through submission with a login'
	run inbound "From: someone@elsewhere.test" "Sender: x@pd.test"
	assert_output --regexp '^reply 550 5\.7\.1 Sender: header'
	run inbound "From: someone@elsewhere.test"
	assert_output accept
	# An inactive domain is not ours any more; no From: at all is not ours.
	run inbound "From: someone@other.test"
	assert_output accept
	run inbound "Subject: no From"
	assert_output accept
}

@test "MariaDB gone: 451 4.3.0 on submission and on port 25, never accept" {
	local pid
	pid=$(<"${PD_DB_DIR}/mysqld.pid")
	kill -STOP "${pid}"
	run submit carol@pd.test "From: carol@pd.test"
	kill -CONT "${pid}"
	assert_output --regexp '^reply 451 4\.3\.0 '
	kill -STOP "${pid}"
	run inbound "From: someone@elsewhere.test"
	kill -CONT "${pid}"
	assert_output --regexp '^reply 451 4\.3\.0 '
	# And it recovers once MariaDB answers again.
	wait_until 15 submit_accepted
}

submit_accepted() { [[ $(submit carol@pd.test "From: carol@pd.test") == accept ]]; }
