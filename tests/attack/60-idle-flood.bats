#!/usr/bin/env bats
# shellcheck disable=SC2154 # ATTACK_* come from tests/attack/run, *_EMAIL/*_PASSWORD from new_user
# Idle connections cannot close port 25 or 587 (issue 12, item 3). Strangers
# 9, 10 and 11 open 150 connections in all (50 each) and say nothing; the
# fourth address, stranger 12, must still get its banner within 2 s (on 25
# postscreen's "220-" counts: it is the first line of the greeting) and get
# its mail through: on 25 a message delivered, on 587 AUTH and a message
# submitted. Then the idle connections are closed and the mail host must be
# back to no connection held and mail accepted. The per-client limit (10
# connections per address and service) and the process limits are in
# install/68-postfix.sh.
load lib

readonly IDLE_STRANGERS=(9 10 11)
readonly IDLE_PER_STRANGER=50

setup_file() {
	new_user FLOOD
	export FLOOD_EMAIL FLOOD_PASSWORD
}

teardown() {
	stop_idle
}

# start_idle PORT: 50 idle connections from each of strangers 9-11.
start_idle() {
	local n
	for n in "${IDLE_STRANGERS[@]}"; do
		# shellcheck disable=SC2016 # expanded by the inner bash
		from_stranger "${n}" bash -c 'echo $$ >/tmp/mailnest-idle.pid
			exec /usr/bin/python3 "$1" idle "$2" "$3" "$4" 600 >/tmp/mailnest-idle.out 2>&1' \
			idle "${BATS_TEST_DIRNAME}/smtp_probe.py" "${ATTACK_MAIL_IP}" "$1" "${IDLE_PER_STRANGER}" \
			</dev/null >/dev/null 2>&1 3>&- &
	done
	for n in "${IDLE_STRANGERS[@]}"; do
		wait_until 30 from_stranger "${n}" test -s /tmp/mailnest-idle.out ||
			fail "stranger ${n} did not open its connections"
		echo "# stranger ${n}: $(from_stranger "${n}" cat /tmp/mailnest-idle.out) of ${IDLE_PER_STRANGER} connections opened to port $1" >&3
	done
}

# stop_idle: end the holders (by their PID, in their own hosts).
stop_idle() {
	local n
	for n in "${IDLE_STRANGERS[@]}"; do
		# shellcheck disable=SC2016 # expanded by the inner bash
		from_stranger "${n}" bash -c '[[ -s /tmp/mailnest-idle.pid ]] || exit 0
			kill "$(cat /tmp/mailnest-idle.pid)" 2>/dev/null || true
			rm -f /tmp/mailnest-idle.pid /tmp/mailnest-idle.out' || true
	done
}

# held PORT: connections to PORT the mail host has established now.
held() {
	on_mail ss -Htn state established "( sport = :$1 )" | wc -l
}

# held_at_most PORT N
held_at_most() {
	(($(held "$1") <= $2))
}

# a_held_idle_crowd PORT: the crowd is at its steady state: the connections
# beyond the per-client limit have been closed by the server, those within it
# are held (on 25 by smtpd, once postscreen's greeting wait has passed).
a_held_idle_crowd() {
	local port=$1 before now
	before=$(held "${port}")
	sleep 1
	now=$(held "${port}")
	((now == before && now > 0))
}

# banner_in_time PORT: stranger 12's first banner line within 2 s.
banner_in_time() {
	run smtp_probe 12 banner "${ATTACK_MAIL_IP}" "$1"
	assert_success
	echo "# stranger 12, port $1: banner after ${output}" >&3
	assert_output --regexp '^[0-9.]+ 220[ -]'
	awk -v t="${output%% *}" 'BEGIN { exit !(t < 2) }' || fail "banner after ${output%% *} s"
}

@test "150 idle connections from 3 addresses on port 25: a fourth address gets its banner in 2 s and delivers" {
	local token
	start_idle 25
	# postscreen hands the survivors to smtpd after its 6 s greeting wait.
	sleep 7
	wait_until 30 a_held_idle_crowd 25
	echo "# the mail host holds $(held 25) of the 150 idle connections on port 25" >&3
	banner_in_time 25
	token=flood25-$(openssl rand -hex 6)
	run smtp_probe 12 data "${ATTACK_MAIL_IP}" 25 plain - - someone@elsewhere.test "${FLOOD_EMAIL}" 0 \
		"From: <someone@elsewhere.test>\r\nTo: <${FLOOD_EMAIL}>\r\nSubject: ${token}\r\n\r\n${token}\r\n.\r\n"
	assert_output --regexp '250 2\.0\.0 Ok: queued'
	wait_until 30 imap_has_on_mail "${FLOOD_EMAIL}" "${FLOOD_PASSWORD}" "${token}"
	stop_idle
	wait_until 30 held_at_most 25 0
	run smtp_probe 12 rcpt "${ATTACK_MAIL_IP}" 25 plain - - someone@elsewhere.test "<${FLOOD_EMAIL}>"
	assert_output --regexp '^250 '
}

@test "150 idle connections from 3 addresses on port 587: a fourth address gets its banner in 2 s, logs in and submits" {
	local token
	start_idle 587
	wait_until 30 a_held_idle_crowd 587
	echo "# the mail host holds $(held 587) of the 150 idle connections on port 587" >&3
	banner_in_time 587
	token=flood587-$(openssl rand -hex 6)
	run smtp_probe 12 data "${ATTACK_MAIL_IP}" 587 starttls "${FLOOD_EMAIL}" "${FLOOD_PASSWORD}" \
		"${FLOOD_EMAIL}" "${FLOOD_EMAIL}" 0 "From: <${FLOOD_EMAIL}>\r\nTo: <${FLOOD_EMAIL}>\r\nSubject: ${token}\r\n\r\n${token}\r\n.\r\n"
	assert_output --regexp '250 2\.0\.0 Ok: queued'
	wait_until 30 imap_has_on_mail "${FLOOD_EMAIL}" "${FLOOD_PASSWORD}" "${token}"
	stop_idle
	wait_until 30 held_at_most 587 0
	run smtp_probe 12 rcpt "${ATTACK_MAIL_IP}" 587 starttls "${FLOOD_EMAIL}" "${FLOOD_PASSWORD}" \
		"${FLOOD_EMAIL}" "<${FLOOD_EMAIL}>"
	assert_output --regexp '^250 '
}
