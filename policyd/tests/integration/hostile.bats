#!/usr/bin/env bats
# Hostile input on the policy socket: garbage, truncated, oversized, binary,
# many connections at once. Each gets a clear answer or a closed connection,
# nothing crashes (run against the ASan+UBSan build: a report fails the
# test), and policyd keeps serving.

bats_require_minimum_version 1.5.0
# shellcheck source-path=SCRIPTDIR source=../lib/policyd.bash
source "${BATS_TEST_DIRNAME}/../lib/policyd.bash"

setup_file() { policyd_db_setup; }
teardown_file() { policyd_db_teardown; }
setup() { policyd_start POLICYD_MAX_CONNECTIONS=50 POLICYD_REQUEST_TIMEOUT=2; }
teardown() { policyd_test_teardown; }

still_serving() {
	run policy_talk < <(printf 'request=smtpd_access_policy\nprotocol_state=CONNECT\n\n')
	assert_output action=DUNNO
	kill -0 "${PD_PID}"
}

@test "garbage and malformed requests: DEFER_IF_PERMIT naming the fault, connection kept" {
	run policy_talk < <(printf 'garbage\n\n\nrequest=smtpd_access_policy\nprotocol_state=CONNECT\n\n=x\n\n')
	assert_output $'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: line is not name=value\n\naction=DEFER_IF_PERMIT 4.7.1 Malformed policy request: empty request\n\naction=DUNNO\n\naction=DEFER_IF_PERMIT 4.7.1 Malformed policy request: line is not name=value'
	grep -q 'malformed_request reason="line is not name=value"' "${PD_LOG}"
	still_serving
}

@test "binary noise, NUL bytes, CRLF lines" {
	local i
	for ((i = 0; i < 20; i++)); do
		head -c 4000 /dev/urandom | policy_talk >/dev/null || true
	done
	run policy_talk < <(printf 'request=smtpd_access_policy\r\nprotocol_state=CONNECT\r\n\n')
	assert_output action=DUNNO
	still_serving
}

@test "truncated request: logged, nothing to answer" {
	run policy_talk < <(printf 'request=smtpd_access_policy\nprotocol_sta')
	assert_output ''
	wait_until 5 grep -q 'truncated_request bytes=40' "${PD_LOG}"
	still_serving
}

@test "a request that never ends is answered when its time is up" {
	run bash -c "{ printf 'request=smtpd_access_policy\n'; sleep 4; } | socat -t 10 -T 10 - UNIX-CONNECT:${PD_SOCKET}"
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Policy request incomplete (timed out)'
	still_serving
}

@test "oversized: too large answered and closed; overlong line and too many attributes refused" {
	run policy_blast "${PD_SOCKET}" < <(head -c 100000 /dev/zero | tr '\0' 'x')
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Policy request too large'
	run policy_talk < <(printf 'request=smtpd_access_policy\nx=%05000d\n\n' 0)
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: line too long'
	run policy_talk < <(printf 'request=smtpd_access_policy\n'; for i in $(seq 200); do printf 'a%d=1\n' "${i}"; done; printf '\n')
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: too many attributes'
	run policy_talk < <(printf 'request=smtpd_access_policy\nsasl_username=%0400d\n\n' 0)
	assert_output 'action=DEFER_IF_PERMIT 4.7.1 Malformed policy request: sasl_username too long'
	still_serving
}

@test "more connections than POLICYD_MAX_CONNECTIONS: the extra ones are closed, the rest served" {
	local i pids=() release="${BATS_TEST_TMPDIR}/release"
	# Each client holds its connection open until the test has seen the
	# refusals (at most 60 s), however slow the machine (valgrind).
	for ((i = 0; i < 80; i++)); do
		(wait_until 60 test -e "${release}" | socat -t 5 - "UNIX-CONNECT:${PD_SOCKET}" >/dev/null 2>&1) &
		pids+=($!)
	done
	wait_until 30 bash -c "socat -t 2 - UNIX-CONNECT:${PD_METRICS} | grep -Eq '^policyd_connections_refused_total [1-9]'"
	touch "${release}"
	# only the clients: policyd is a child of this shell too
	wait "${pids[@]}"
	still_serving
}

@test "a client that vanishes mid-answer does not hurt (no SIGPIPE)" {
	local i
	for ((i = 0; i < 30; i++)); do
		printf 'request=smtpd_access_policy\nprotocol_state=CONNECT\n\n' |
			socat -t 0 -u - "UNIX-CONNECT:${PD_SOCKET}" || true
	done
	still_serving
}
