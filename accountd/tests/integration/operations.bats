#!/usr/bin/env bats
# Running it: SIGTERM drain, the hashing pool (busy, fast health while
# hashing), client IPs behind a trusted proxy, and what reaches the logs.

# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup; }
teardown() { accountd_test_teardown; }

# A cost that makes one hash take a good second (under valgrind, where
# argon2 runs ~30 times slower, a lower cost does the same).
slow_cost() {
	if under_valgrind; then
		SLOW=(ACCOUNTD_ARGON2_MEMORY_KIB=65536 ACCOUNTD_ARGON2_TIME=4)
	else
		SLOW=(ACCOUNTD_ARGON2_MEMORY_KIB=65536 ACCOUNTD_ARGON2_TIME=12)
	fi
}

# hashes_in_flight: the accountd_hash_jobs_in_flight gauge.
hashes_in_flight() {
	curl -sS --max-time 5 "${AD_URL}/metrics" | sed -n 's/^accountd_hash_jobs_in_flight \([0-9.e+]*\)$/\1/p'
}
some_hash_in_flight() { [[ $(hashes_in_flight) =~ ^[1-9] ]]; }

# background_login EMAIL PASSWORD OUT: a login in the background; OUT gets
# "HTTP-CODE CURL-EXIT" and OUT.body the body. BG_PID is its pid.
background_login() {
	{
		local code rc=0
		code=$(curl -sS -o "$3.body" -w '%{http_code}' --max-time "$(scaled 60)" -H 'Content-Type: application/json' \
			--data-binary "{\"email\":\"$1\",\"password\":\"$2\"}" "${AD_URL}/api/v1/sessions") || rc=$?
		printf '%s %s\n' "${code}" "${rc}" >"$3"
	} 3>&- &
	BG_PID=$!
}

_new_connection_refused() {
	local rc=0
	curl -sS -o /dev/null --max-time 1 "${AD_URL}/healthz" 2>/dev/null || rc=$?
	((rc == 7))
}

@test "SIGTERM: a login hashing when it arrives completes with 201; new connections are refused; exit 0" {
	skip_under_valgrind "valgrind runs one thread at a time: the hash starves the HTTP threads this test polls"
	slow_cost
	accountd_start "${SLOW[@]}"
	create_account drain
	local out=${BATS_TEST_TMPDIR}/drain
	background_login "${EMAIL}" "${DEFAULT_PASSWORD}" "${out}"
	wait_until "$(scaled 10)" some_hash_in_flight
	local pid=${AD_PID}
	kill -TERM "${pid}"
	# while the login is still being served, nobody new gets in
	wait_until 5 _new_connection_refused
	kill -0 "${BG_PID}" 2>/dev/null || fail "the login finished before the check; make the hash slower"
	wait "${BG_PID}"
	run cat "${out}"
	assert_output '201 0'
	[[ $(jq -r .token "${out}.body") =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "no token: $(cat "${out}.body")"
	remember_secret "$(jq -r .token "${out}.body")"
	accountd_reap "${pid}"
	assert_equal "${AD_EXIT}" 0
	run curl -sS -o /dev/null --max-time 5 "${AD_URL}/healthz"
	assert_equal "${status}" 7
}

@test "SIGTERM on an idle daemon exits 0 promptly" {
	local t0
	t0=$(_now_ms)
	accountd_signal_stop
	assert_equal "${AD_EXIT}" 0
	(($(elapsed_ms_since "${t0}") < $(scaled 3) * 1000)) || fail "took $(elapsed_ms_since "${t0}") ms"
}

@test "SIGTERM with an idle keep-alive connection open still exits 0 promptly" {
	local fifo=${BATS_TEST_TMPDIR}/ka
	/usr/bin/python3 - "${AD_PORT}" >"${fifo}" 2>&1 3>&- <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
print(s.recv(4096).split(b"\r\n")[0].decode(), flush=True)
s.settimeout(30)
try:
    while s.recv(4096):
        pass
    print("closed", flush=True)
except Exception as e:
    print("error", e, flush=True)
PY
	local py=$!
	wait_until 10 grep -q 'HTTP/1.1 200' "${fifo}"
	local t0
	t0=$(_now_ms)
	accountd_signal_stop
	assert_equal "${AD_EXIT}" 0
	(($(elapsed_ms_since "${t0}") < $(scaled 5) * 1000)) || fail "took $(elapsed_ms_since "${t0}") ms"
	wait "${py}"
	run cat "${fifo}"
	assert_line closed
}

@test "hashing is off the request loop: /healthz and /api/v1/me stay fast during logins" {
	skip_under_valgrind "latency is meaningless"
	slow_cost
	accountd_start "${SLOW[@]}" ACCOUNTD_HASH_WORKERS=2 ACCOUNTD_HASH_QUEUE=8
	create_account busybee
	login_ok "${EMAIL}"
	local token=${TOKEN} i
	local -a pids=()
	for i in 1 2; do
		background_login "${EMAIL}" "${DEFAULT_PASSWORD}" "${BATS_TEST_TMPDIR}/bg${i}"
		pids+=("${BG_PID}")
	done
	wait_until 10 some_hash_in_flight
	local t
	for i in 1 2 3 4 5; do
		t=$(curl -sS -o /dev/null -w '%{time_total}' --max-time 5 "${AD_URL}/healthz")
		awk -v t="${t}" 'BEGIN { exit !(t < 0.2) }' || fail "/healthz took ${t} s while hashing"
		t=$(curl -sS -o /dev/null -w '%{time_total}' --max-time 5 -H "Authorization: Bearer ${token}" "${AD_URL}/api/v1/me")
		awk -v t="${t}" 'BEGIN { exit !(t < 0.2) }' || fail "/api/v1/me took ${t} s while hashing"
	done
	some_hash_in_flight || fail "the hashes finished before the measurement; make them slower"
	wait "${pids[@]}"
	run cat "${BATS_TEST_TMPDIR}/bg1" "${BATS_TEST_TMPDIR}/bg2"
	assert_output "$(printf '201 0\n201 0')"
}

@test "a full hashing queue answers 503 busy with Retry-After at once" {
	skip_under_valgrind "valgrind runs one thread at a time: the hash starves the HTTP threads this test polls"
	slow_cost
	accountd_start "${SLOW[@]}" ACCOUNTD_HASH_WORKERS=1 ACCOUNTD_HASH_QUEUE=0
	create_account queued
	background_login "${EMAIL}" "${DEFAULT_PASSWORD}" "${BATS_TEST_TMPDIR}/first"
	wait_until "$(scaled 10)" some_hash_in_flight
	local t0
	t0=$(_now_ms)
	login "${EMAIL}"
	local took
	took=$(elapsed_ms_since "${t0}")
	assert_error 503 busy
	assert_retry_after
	((took < $(scaled 1) * 1000)) || fail "the refusal took ${took} ms"
	register queued2
	assert_error 503 busy
	wait "${BG_PID}"
	run cat "${BATS_TEST_TMPDIR}/first"
	assert_output '201 0'
	remember_secret "$(jq -r .token "${BATS_TEST_TMPDIR}/first.body")"
}

# metric NAME: its value in /metrics.
metric() {
	curl -fsS --max-time 5 "${AD_URL}/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
no_hash_in_flight() { [[ $(hashes_in_flight) == 0 ]]; }

@test "password jobs whose client has left are dropped before they hash" {
	# one hash of about a second (three under valgrind), far longer than
	# the clients below wait
	local -a cost=(ACCOUNTD_ARGON2_MEMORY_KIB=65536 ACCOUNTD_ARGON2_TIME=48)
	! under_valgrind || cost=(ACCOUNTD_ARGON2_MEMORY_KIB=65536 ACCOUNTD_ARGON2_TIME=4)
	accountd_start "${cost[@]}" ACCOUNTD_HASH_WORKERS=1 ACCOUNTD_HASH_QUEUE=8
	create_account leftbehind
	local hashed_before i
	local -a leavers=()
	hashed_before=$(metric "accountd_password_hash_duration_seconds_count{}")
	# one client that waits, holding the only worker ...
	background_login "${EMAIL}" "${DEFAULT_PASSWORD}" "${BATS_TEST_TMPDIR}/stays"
	local stays=${BG_PID}
	wait_until "$(scaled 10)" some_hash_in_flight
	# ... and five that give up after 0.2 s, queued behind it
	for i in 1 2 3 4 5; do
		{ curl -sS -o /dev/null --max-time 0.2 -H 'Content-Type: application/json' \
			--data-binary "{\"email\":\"${EMAIL}\",\"password\":\"${DEFAULT_PASSWORD}\"}" \
			"${AD_URL}/api/v1/sessions" 2>/dev/null || true; } 3>&- &
		leavers+=("$!")
	done
	wait "${leavers[@]}"
	some_hash_in_flight || fail "the first hash ended before the others left; make it slower"
	wait "${stays}"
	run cat "${BATS_TEST_TMPDIR}/stays"
	assert_output '201 0'
	remember_secret "$(jq -r .token "${BATS_TEST_TMPDIR}/stays.body")"
	wait_until "$(scaled 30)" no_hash_in_flight
	assert_equal "$(metric accountd_hash_jobs_dropped_total)" 5
	# only the waiting client's password was hashed
	assert_equal "$(metric "accountd_password_hash_duration_seconds_count{}")" "$((hashed_before + 1))"
	assert_equal "$(log_grep -c '^accountd job_dropped ip=127\.0\.0\.1 reason=client_left$')" 5
	# and the server answers as before
	login_ok "${EMAIL}"
}

# log_ip_of REQUEST-ID: the ip= of that request's log line.
log_ip_of() {
	wait_until 5 log_has "^accountd request id=$1 " || return 1
	sed -n "s/^accountd request id=$1 ip=\\([^ ]*\\) .*/\\1/p" < <(log_text)
}

@test "X-Forwarded-For is ignored from a peer that is not a trusted proxy" {
	api GET /healthz -H 'X-Forwarded-For: 203.0.113.7'
	assert_status 200
	run log_ip_of "$(header X-Request-Id)"
	assert_output 127.0.0.1
}

@test "X-Forwarded-For from a trusted proxy gives the client IP (the rightmost untrusted entry)" {
	accountd_start ACCOUNTD_TRUSTED_PROXIES=127.0.0.1
	api GET /healthz -H 'X-Forwarded-For: 203.0.113.7'
	run log_ip_of "$(header X-Request-Id)"
	assert_output 203.0.113.7
	api GET /healthz -H 'X-Forwarded-For: 198.51.100.1, 203.0.113.9'
	run log_ip_of "$(header X-Request-Id)"
	assert_output 203.0.113.9
	api GET /healthz -H 'X-Forwarded-For: 2001:db8::1'
	run log_ip_of "$(header X-Request-Id)"
	assert_output 2001:db8::1
	api GET /healthz
	run log_ip_of "$(header X-Request-Id)"
	assert_output 127.0.0.1
}

@test "a forged X-Forwarded-For cannot inject into the log line" {
	accountd_start ACCOUNTD_TRUSTED_PROXIES=127.0.0.1
	local xff
	for xff in 'not-an-ip' '1.2.3.4 method=POST status=200' '1.2.3.4%0aaccountd auth_failed ip=6.6.6.6' \
		"$(printf 'x%.0s' {1..2000})" '999.1.1.1' ', ,' '1.2.3.4:5678'; do
		api GET /healthz -H "X-Forwarded-For: ${xff}"
		assert_status 200
		run log_ip_of "$(header X-Request-Id)"
		assert_success
		[[ ${output} =~ ^[0-9a-fA-F.:]+$ ]] || fail "XFF '${xff}' gave ip=${output}"
	done
	run log_grep -c 'method=POST status=200\|6\.6\.6\.6'
	assert_output 0
	run log_grep -vc '^accountd '
	assert_output 0
}

@test "rate limits key on the forwarded IP only behind a trusted proxy" {
	accountd_start ACCOUNTD_TRUSTED_PROXIES=127.0.0.1 ACCOUNTD_RATE_LOGIN_IP=2/3600
	local trusted=${AD_PID} i
	for i in 1 2; do
		login "nobody${i}@${DOMAIN}" 'Wrong-Password-99' -H 'X-Forwarded-For: 203.0.113.10'
		assert_error 401 invalid_credentials
	done
	login "nobody3@${DOMAIN}" 'Wrong-Password-99' -H 'X-Forwarded-For: 203.0.113.10'
	assert_error 429 rate_limited
	wait_until 5 log_has '^accountd auth_failed ip=203\.0\.113\.10 reason=invalid_credentials$'
	login "nobody4@${DOMAIN}" 'Wrong-Password-99' -H 'X-Forwarded-For: 203.0.113.11'
	assert_error 401 invalid_credentials
	accountd_stop "${trusted}"
	# the same game against an instance that trusts nobody: the header is no way out
	accountd_start ACCOUNTD_RATE_LOGIN_IP=2/3600
	for i in 1 2; do
		login "nobody${i}@${DOMAIN}" 'Wrong-Password-99' -H "X-Forwarded-For: 203.0.113.2${i}"
		assert_error 401 invalid_credentials
	done
	login "nobody3@${DOMAIN}" 'Wrong-Password-99' -H 'X-Forwarded-For: 203.0.113.23'
	assert_error 429 rate_limited
	wait_until 5 log_has '^accountd auth_failed ip=127\.0\.0\.1 reason=invalid_credentials$'
	run log_grep -c 'ip=203\.0\.113'
	assert_output 0
}

@test "logs never contain a password, a token, an invite code or a hash" {
	local p1='Log-Secret-One-111' p2='Log-Secret-Two-222' p3='Log-Secret-Three-333' p4='Log-Secret-Four-444'
	create_account logged "${p1}"
	login_ok "${EMAIL}" "${p1}"
	local t1=${TOKEN}
	api_as "${t1}" PUT /api/v1/me/password "{\"current_password\":\"${p1}\",\"new_password\":\"${p2}\"}"
	assert_status 204
	admin PUT "/api/v1/admin/mailboxes/${EMAIL}/password" "{\"password\":\"${p3}\"}"
	assert_status 204
	login "${EMAIL}" "${p4}"
	assert_status 401
	api POST /api/v1/sessions "{\"email\":\"${EMAIL}\",\"password\":\"${p4}\""
	assert_status 400
	login_ok "${EMAIL}" "${p3}"
	local t2=${TOKEN}
	admin POST /api/v1/admin/invites '{}'
	local code
	code=$(json '.invites[0].code')
	api_as "${t2}" DELETE /api/v1/me "{\"password\":\"${p3}\"}"
	assert_status 204
	local hash logs s
	hash=$(stored_hash "${EMAIL}")
	run log_text
	assert_output --partial 'route=/api/v1/sessions status=201'
	logs=$(all_logs)
	for s in "${p1}" "${p2}" "${p3}" "${p4}" "${t1}" "${t2}" "${code}" "${hash}" "${hash#\{ARGON2ID\}}" "${ADMIN_TOKEN}"; do
		[[ ${logs} != *"${s}"* ]] || fail "the logs contain a secret: ${s}"
	done
	[[ ${logs} != *argon2id* ]] || fail "the logs mention a hash"
}

@test "log lines name the route template, not the address in the path" {
	create_account templated
	admin PATCH "/api/v1/admin/mailboxes/${EMAIL}" '{"quota_bytes":1}'
	assert_status 200
	local id
	id=$(header X-Request-Id)
	wait_until 5 log_has "^accountd request id=${id} "
	run log_grep "^accountd request id=${id} "
	assert_output --regexp 'method=PATCH route=/api/v1/admin/mailboxes/\{email\} status=200 ms=[0-9.]+$'
}
