#!/usr/bin/env bats
# Issue 7, test 4: garbage, truncated and oversized policy requests on
# policyd's socket get clear answers (or a closed connection when nothing can
# be answered), are logged, and the daemon keeps serving without a restart.
# (The same inputs against an ASan+UBSan build: policyd/tests/integration.)

load lib

setup() {
	PID_BEFORE=$(policyd_pid)
}

# talk: standard input to the socket on one connection; the answer.
talk() {
	socat -t 10 -T 10 - "UNIX-CONNECT:${POLICY_SOCKET}"
}

still_serving() {
	run policy_socket_answers
	assert_success
	assert_equal "$(policyd_pid)" "${PID_BEFORE}"
}

@test "4. garbage lines get a DEFER_IF_PERMIT naming the fault; the connection goes on" {
	run talk < <(printf 'hello world\n\nrequest=smtpd_access_policy\nprotocol_state=CONNECT\n\n')
	assert_line --index 0 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: line is not name=value'
	assert_line --index 1 'action=DUNNO'
	run talk < <(printf '\n')
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: empty request'
	run talk < <(printf 'request=smtpd_access_policy\nrecipient_count=lots\n\n')
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: recipient_count is not a number'
	run talk < <(printf 'request=sendmail\nprotocol_state=RCPT\n\n')
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: not request=smtpd_access_policy'
	run talk < <(printf 'request=smtpd_access_policy\nsasl_username=a\0b\n\n')
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: NUL byte in request'
	run talk < <(head -c 3000 /dev/urandom | tr -d '\n'; printf '\n\n')
	assert_output --regexp '^action=DEFER_IF_PERMIT 4\.7\.1 Malformed policy request: '
	run policyd_log
	assert_output --partial 'malformed_request reason="line is not name=value"'
	still_serving
}

@test "4. an unknown sender account is refused, never permitted" {
	run talk < <(printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nsasl_username=nobody@nowhere.invalid\n\n')
	assert_output 'action=450 4.7.1 Sending account not found or not active'
	still_serving
}

@test "4. a truncated request (closed before its empty line) is logged; the daemon serves on" {
	run talk < <(printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nsasl_user')
	assert_output ''
	wait_until 10 bash -c "grep -q 'truncated_request' ${POLICYD_LOG_DIR}/*.log"
	still_serving
}

@test "4. an oversized request is answered 'too large' and the connection closed" {
	run policy_blast "${POLICY_SOCKET}" < <(printf 'request=smtpd_access_policy\n'; head -c 40000 /dev/zero | tr '\0' 'a')
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Policy request too large'
	run talk < <(printf 'request=smtpd_access_policy\nccert=%05000d\n\n' 0)
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: line too long'
	still_serving
}

@test "4. a hundred hostile connections at once, then a normal one is served" {
	local i
	for ((i = 0; i < 100; i++)); do
		head -c $((RANDOM % 20000)) /dev/urandom | socat -t 5 -T 5 - "UNIX-CONNECT:${POLICY_SOCKET}" \
			>/dev/null 2>&1 &
	done
	wait
	run policyd_metrics
	assert_output --regexp 'policyd_decisions_total\{action="defer_malformed"\} [1-9]'
	still_serving
}
