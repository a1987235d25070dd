#!/usr/bin/env bats
# Health, readiness, metrics and the HTTP envelope: request ids, the JSON
# error shape, 404/405/413/415, the request log line, a unix socket.

# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup; }
teardown() { accountd_test_teardown; }

@test "GET /healthz answers 200 with status ok and the version" {
	api GET /healthz
	assert_status 200
	assert_json_response
	assert_equal "$(json .status)" ok
	run accountd_cli -- version
	assert_success
	[[ ${output} == *"$(json .version)"* ]] || fail "version '$(json .version)' not in 'accountd version': ${output}"
	header X-Request-Id
}

@test "GET /readyz answers 200 ready while the database answers" {
	api GET /readyz
	assert_status 200
	assert_json_response
	assert_equal "$(json .status)" ready
}

@test "every response carries a distinct X-Request-Id" {
	local a b
	api GET /healthz
	a=$(header X-Request-Id)
	api GET /nope
	b=$(header X-Request-Id)
	[[ -n ${a} && -n ${b} ]]
	assert_not_equal "${a}" "${b}"
}

@test "the request id of a response is the id= of its log line" {
	api GET /api/v1/me
	assert_status 401
	local id
	id=$(header X-Request-Id)
	wait_until 5 log_has "^accountd request id=${id} "
	run log_grep -E "^accountd request id=${id} ip=127\.0\.0\.1 method=GET route=/api/v1/me status=401 ms=[0-9]+(\.[0-9]+)?$"
	assert_success
}

@test "GET /metrics is Prometheus text with the documented families" {
	api GET /healthz
	api GET /api/v1/me
	create_account metrics
	api GET /metrics
	assert_status 200
	[[ $(header Content-Type) == text/plain* ]] || fail "Content-Type: $(header Content-Type)"
	local family
	for family in accountd_http_requests_total accountd_http_request_duration_seconds_bucket \
		accountd_http_request_duration_seconds_sum accountd_http_request_duration_seconds_count \
		accountd_password_hash_duration_seconds_bucket accountd_db_errors_total \
		accountd_hash_jobs_in_flight accountd_rate_limited_total; do
		grep -q "^${family}" <<<"${body}" || fail "no ${family} in /metrics: ${body}"
	done
	grep -q '^# TYPE accountd_http_requests_total counter' <<<"${body}" || fail "no TYPE line for requests"
	grep -q '^# TYPE accountd_http_request_duration_seconds histogram' <<<"${body}" || fail "no TYPE histogram"
	grep -Eq '^accountd_http_requests_total\{[^}]*route="/api/v1/me"[^}]*status="401"[^}]*\} [1-9]' <<<"${body}" ||
		grep -Eq '^accountd_http_requests_total\{[^}]*status="401"[^}]*route="/api/v1/me"[^}]*\} [1-9]' <<<"${body}" ||
		fail "no request counter for GET /api/v1/me 401: $(grep requests_total <<<"${body}")"
	grep -Eq '^accountd_http_request_duration_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} [1-9]' <<<"${body}" ||
		fail "no +Inf bucket"
	grep -Eq '^accountd_password_hash_duration_seconds_count(\{\})? [1-9]' <<<"${body}" ||
		fail "the registration's hash was not counted: $(grep hash_duration <<<"${body}")"
}

@test "metrics label unknown routes without echoing the path (bounded cardinality)" {
	api GET /random-path-4711
	api GET /metrics
	[[ ${body} != *random-path-4711* ]] || fail "the raw unknown path became a metric label"
}

@test "an unknown route is 404 not_found in JSON" {
	api GET /api/v1/nothing-here
	assert_error 404 not_found
	api POST /api/v2/accounts '{}'
	assert_error 404 not_found
	api GET /
	assert_error 404 not_found
}

@test "a wrong method is 405 method_not_allowed with Allow" {
	api DELETE /healthz
	assert_error 405 method_not_allowed
	[[ $(header Allow) == *GET* ]] || fail "Allow: $(header Allow)"
	api GET /api/v1/accounts
	assert_error 405 method_not_allowed
	[[ $(header Allow) == *POST* ]] || fail "Allow: $(header Allow)"
	api PATCH /api/v1/admin/domains '{}' -H "Authorization: Bearer ${ADMIN_TOKEN}"
	assert_error 405 method_not_allowed
	[[ $(header Allow) == *GET* && $(header Allow) == *POST* ]] || fail "Allow: $(header Allow)"
	api POST /api/v1/me '{}'
	assert_error 405 method_not_allowed
	[[ $(header Allow) == *GET* && $(header Allow) == *DELETE* ]] || fail "Allow: $(header Allow)"
}

@test "a body over 16 KiB is 413 payload_too_large" {
	local big
	big=$(head -c 17000 /dev/zero | tr '\0' a)
	api POST /api/v1/accounts "{\"username\":\"a\",\"password\":\"${big}\"}"
	assert_error 413 payload_too_large
	assert_healthy
}

@test "a body of exactly 16 KiB is not refused for its size" {
	local doc pad
	doc='{"username":"sixteen","password":"Sixteen-KiB-pass-1","domain":"'"${DOMAIN}"'","x":""}'
	pad=$(head -c $((16384 - ${#doc})) /dev/zero | tr '\0' a)
	doc='{"username":"sixteen","password":"Sixteen-KiB-pass-1","domain":"'"${DOMAIN}"'","x":"'"${pad}"'"}'
	assert_equal "${#doc}" 16384
	api POST /api/v1/accounts "${doc}"
	assert_status_in 201 400
}

@test "a Content-Length over 16 KiB is refused before the body arrives" {
	api POST /api/v1/accounts '{}' -H 'Content-Length: 100000000' --max-time 10
	assert_status 413
	assert_healthy
}

@test "a chunked body over 16 KiB is 413" {
	local big
	big=$(head -c 40000 /dev/zero | tr '\0' a)
	api POST /api/v1/accounts "{\"username\":\"${big}\"}" -H 'Transfer-Encoding: chunked'
	assert_error 413 payload_too_large
}

@test "a body with a non-JSON Content-Type is 415 unsupported_media_type" {
	API_CONTENT_TYPE=text/plain register ct1
	assert_error 415 unsupported_media_type
	API_CONTENT_TYPE=application/x-www-form-urlencoded api POST /api/v1/sessions 'email=a&password=b'
	assert_error 415 unsupported_media_type
	API_CONTENT_TYPE='application/jsonp' register ct2
	assert_error 415 unsupported_media_type
}

@test "a body without any Content-Type is 415 (contract silent: not guessed as JSON)" {
	# api() always sends a Content-Type; plain curl, whose form type for
	# --data-binary an empty -H removes, sends none.
	run curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type:' \
		--data-binary '{"username":"noct","password":"No-Content-Type-1"}' "${AD_URL}/api/v1/accounts"
	assert_output 415
}

@test "application/json with a charset parameter and odd case is accepted" {
	API_CONTENT_TYPE='Application/JSON; charset=utf-8' register charset
	assert_status 201
}

@test "HEAD /healthz is answered without a body" {
	run curl -sS -o /dev/null -w '%{http_code}' -I --max-time 10 "${AD_URL}/healthz"
	assert_success
	assert_output --regexp '^(200|405)$'
	assert_healthy
}

@test "accountd serves on a unix socket (ACCOUNTD_LISTEN=unix:PATH)" {
	local sock=${BATS_TEST_TMPDIR}/accountd.sock
	accountd_start "ACCOUNTD_LISTEN=unix:${sock}"
	[[ -S ${sock} ]]
	api GET /healthz
	assert_status 200
	api GET /readyz
	assert_status 200
	accountd_stop
}

@test "ACCOUNTD_CONFIG_FILE is read; the environment wins over it" {
	local conf=${BATS_TEST_TMPDIR}/accountd.conf port
	port=$(free_port)
	printf '%s\n' '# a comment' "ACCOUNTD_LISTEN=127.0.0.1:${port}" 'ACCOUNTD_REGISTRATION_DEFAULT=closed' \
		'ACCOUNTD_SESSION_TTL=120' >"${conf}"
	AD_LISTEN=127.0.0.1:${port} accountd_start "ACCOUNTD_CONFIG_FILE=${conf}" -ACCOUNTD_LISTEN ACCOUNTD_SESSION_TTL=3600
	assert_equal "${AD_URL}" "http://127.0.0.1:${port}"
	register cfguser
	assert_error 403 registration_closed
	run accountd_cli -- user add "cfguser@${DOMAIN}" <<<"${DEFAULT_PASSWORD}"
	assert_success
	login_ok "cfguser@${DOMAIN}"
	local exp now
	exp=$(date -d "$(json .expires_at)" +%s)
	now=$(date +%s)
	((exp - now > 3000 && exp - now <= 3601)) || fail "expires_at $(json .expires_at) is not now + 3600 s"
}

@test "accountd serves on IPv6 loopback (ACCOUNTD_LISTEN=[::1]:PORT)" {
	if ! /usr/bin/python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
		skip "no IPv6 loopback on this machine"
	fi
	accountd_start "ACCOUNTD_LISTEN=[::1]:$(free_port)"
	api GET /healthz
	assert_status 200
	api GET /api/v1/me
	assert_error 401 unauthorized
	wait_until 5 log_has '^accountd request id=[^ ]+ ip=::1 method=GET route=/api/v1/me status=401 '
}
