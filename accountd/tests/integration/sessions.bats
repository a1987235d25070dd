#!/usr/bin/env bats
# Sessions and the account's own endpoints: login, /me, logout, password
# change, deletion, expiry, login throttling, password hashes (Dovecot
# compatibility and upgrade at login).

# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"
bats_require_minimum_version 1.5.0

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup; }
teardown() { accountd_test_teardown; }

# epoch TIMESTAMP: seconds since the epoch of an ISO 8601 time.
epoch() { date -d "$1" +%s; }

_me_is_401() {
	api_as "$1" GET /api/v1/me
	[[ ${status} == 401 ]]
}

_hash_matches() {
	# shellcheck disable=SC2053 # $2 is a glob on purpose
	[[ $(stored_hash "$1") == $2 ]]
}

# _login_ms EMAIL PASSWORD: milliseconds one login takes.
_login_ms() {
	local t0
	t0=$(_now_ms)
	login "$1" "$2"
	elapsed_ms_since "${t0}"
}

@test "login: 201 with a base64url token of 32 bytes and expires_at now + 24 h" {
	create_account alice
	login_ok "alice@${DOMAIN}"
	assert_json_response
	[[ ${TOKEN} =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "token is not 32 bytes of unpadded base64url: ${TOKEN}"
	local exp now
	exp=$(epoch "$(json .expires_at)")
	now=$(date +%s)
	((exp - now > 86400 - 60 && exp - now <= 86400 + 2)) || fail "expires_at $(json .expires_at) is not now + 86400 s"
}

@test "login: only the SHA-256 of the token is stored" {
	create_account tokenhash
	login_ok "${EMAIL}"
	local stored text raw
	stored=$(db_sql "SELECT LOWER(HEX(s.token_hash)) FROM sessions s JOIN mailboxes m ON m.id = s.mailbox_id WHERE m.email = '${EMAIL}'")
	text=$(printf '%s' "${TOKEN}" | sha256sum | cut -d' ' -f1)
	raw=$(printf '%s=' "${TOKEN}" | basenc --base64url -d | sha256sum | cut -d' ' -f1)
	[[ ${stored} == "${text}" || ${stored} == "${raw}" ]] || fail "stored ${stored} is neither sha256(token) ${text} nor sha256(bytes) ${raw}"
	run db_sql "SELECT COUNT(*) FROM sessions WHERE token_hash = '$(db_sql_escape "${TOKEN}")' OR HEX(token_hash) LIKE '%$(printf '%s' "${TOKEN:0:16}" | od -An -tx1 | tr -d ' \n')%'"
	assert_output 0
}

@test "login: the address is case-insensitive; each login is a new token" {
	create_account casey
	login_ok "CASEY@${DOMAIN^^}"
	local first=${TOKEN}
	login_ok "casey@${DOMAIN}"
	assert_not_equal "${first}" "${TOKEN}"
	api_as "${first}" GET /api/v1/me
	assert_status 200
}

@test "login: 401 with an identical body for unknown address, wrong password, disabled account" {
	create_account known
	create_account disabled
	admin PATCH "/api/v1/admin/mailboxes/disabled@${DOMAIN}" '{"active":false}'
	assert_status 200
	local unknown wrong off
	login "nobody@${DOMAIN}" "${DEFAULT_PASSWORD}"
	assert_error 401 invalid_credentials
	unknown=${body}
	login "known@${DOMAIN}" 'Wrong-Password-99'
	assert_error 401 invalid_credentials
	wrong=${body}
	login "disabled@${DOMAIN}" "${DEFAULT_PASSWORD}"
	assert_error 401 invalid_credentials
	off=${body}
	assert_equal "${unknown}" "${wrong}"
	assert_equal "${unknown}" "${off}"
	login "nobody@nowhere.example" "${DEFAULT_PASSWORD}"
	assert_equal "${body}" "${unknown}"
	login "not-an-address" "${DEFAULT_PASSWORD}"
	assert_status 401
	assert_equal "${body}" "${unknown}"
	wait_until 5 log_has '^accountd auth_failed ip=127\.0\.0\.1 reason=invalid_credentials$'
	run log_grep -c '^accountd auth_failed '
	assert_output 5
}

@test "login: an unknown address takes as long as a wrong password (argon2 on both paths)" {
	skip_under_valgrind "timings are meaningless"
	accountd_start ACCOUNTD_ARGON2_MEMORY_KIB=65536 ACCOUNTD_ARGON2_TIME=3
	create_account timing
	local -a unknown=() wrong=()
	local i
	for i in 1 2 3 4 5; do
		unknown+=("$(_login_ms "ghost${i}@${DOMAIN}" "${DEFAULT_PASSWORD}")")
		wrong+=("$(_login_ms "timing@${DOMAIN}" "Wrong-Password-${i}${i}")")
	done
	local mu mw
	mu=$(printf '%s\n' "${unknown[@]}" | sort -n | sed -n 3p)
	mw=$(printf '%s\n' "${wrong[@]}" | sort -n | sed -n 3p)
	((mw >= 20)) || fail "a wrong password took ${mw} ms: is the hash really verified?"
	((mu * 2 >= mw && mu <= mw * 2)) || fail "median unknown ${mu} ms vs wrong password ${mw} ms"
}

@test "login: malformed or mistyped bodies are 400 invalid_request" {
	local doc
	for doc in '' '{' '[]' '{}' '{"email":"a@b.c"}' '{"password":"x"}' '{"email":1,"password":"xxxxxxxxxxx"}' \
		'{"email":"a@b.c","password":null}' '{"email":["a@b.c"],"password":"xxxxxxxxxxx"}'; do
		api POST /api/v1/sessions "${doc}"
		assert_error 400 invalid_request
	done
}

@test "GET /api/v1/me: the account, 401 unauthorized without a valid Bearer token" {
	create_account meuser
	login_ok "${EMAIL}"
	api_as "${TOKEN}" GET /api/v1/me
	assert_status 200
	assert_json_response
	assert_equal "$(json .email)" "meuser@${DOMAIN}"
	assert_equal "$(json .quota_bytes)" 1073741824
	assert_equal "$(json '.quota_bytes | type')" number
	[[ -n $(json '.created_at | strings') ]]
	[[ $(json '.password_hash // .password // "none"') == none ]] || fail "the hash leaks out of /me"
	api GET /api/v1/me
	assert_error 401 unauthorized
	api_as "x${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
	api_as "${TOKEN:0:42}" GET /api/v1/me
	assert_error 401 unauthorized
	api_as "${ADMIN_TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
	api GET /api/v1/me -H "Authorization: Basic ${TOKEN}"
	assert_error 401 unauthorized
	api GET /api/v1/me -H "Authorization: Bearer"
	assert_error 401 unauthorized
	api GET /api/v1/me -H "Authorization: bearer ${TOKEN}"
	assert_status_in 200 401
}

@test "logout: DELETE /api/v1/sessions/current revokes only that token" {
	create_account leaver
	login_ok "${EMAIL}"
	local other=${TOKEN}
	login_ok "${EMAIL}"
	api_as "${TOKEN}" DELETE /api/v1/sessions/current
	assert_status 204
	[[ -z ${body} ]]
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
	api_as "${TOKEN}" DELETE /api/v1/sessions/current
	assert_error 401 unauthorized
	api_as "${other}" GET /api/v1/me
	assert_status 200
	api DELETE /api/v1/sessions/current
	assert_error 401 unauthorized
}

@test "password change: 204, other sessions revoked, this one kept, old password refused" {
	create_account changer
	login_ok "${EMAIL}"
	local other=${TOKEN} before
	login_ok "${EMAIL}"
	before=$(stored_hash "${EMAIL}")
	api_as "${TOKEN}" PUT /api/v1/me/password "{\"current_password\":\"${DEFAULT_PASSWORD}\",\"new_password\":\"Brand-New-Secret-42\"}"
	remember_secret Brand-New-Secret-42
	assert_status 204
	api_as "${other}" GET /api/v1/me
	assert_error 401 unauthorized
	api_as "${TOKEN}" GET /api/v1/me
	assert_status 200
	login "${EMAIL}" "${DEFAULT_PASSWORD}"
	assert_error 401 invalid_credentials
	login_ok "${EMAIL}" Brand-New-Secret-42
	assert_not_equal "$(stored_hash "${EMAIL}")" "${before}"
}

@test "password change: wrong current password, weak or mistyped new one" {
	create_account changer2
	login_ok "${EMAIL}"
	local before
	before=$(stored_hash "${EMAIL}")
	api_as "${TOKEN}" PUT /api/v1/me/password '{"current_password":"Not-The-Password-1","new_password":"Brand-New-Secret-42"}'
	assert_error 401 invalid_credentials
	api_as "${TOKEN}" PUT /api/v1/me/password "{\"current_password\":\"${DEFAULT_PASSWORD}\",\"new_password\":\"short\"}"
	assert_error 422 weak_password
	api_as "${TOKEN}" PUT /api/v1/me/password "{\"current_password\":\"${DEFAULT_PASSWORD}\",\"new_password\":\"password123\"}"
	assert_error 422 weak_password
	api_as "${TOKEN}" PUT /api/v1/me/password "{\"current_password\":\"${DEFAULT_PASSWORD}\",\"new_password\":\"changer2@${DOMAIN}\"}"
	assert_error 422 weak_password
	api_as "${TOKEN}" PUT /api/v1/me/password "{\"current_password\":\"${DEFAULT_PASSWORD}\"}"
	assert_error 400 invalid_request
	api_as "${TOKEN}" PUT /api/v1/me/password "{\"current_password\":\"${DEFAULT_PASSWORD}\",\"new_password\":1234567890123}"
	assert_error 400 invalid_request
	api PUT /api/v1/me/password "{\"current_password\":\"${DEFAULT_PASSWORD}\",\"new_password\":\"Brand-New-Secret-42\"}"
	assert_error 401 unauthorized
	assert_equal "$(stored_hash "${EMAIL}")" "${before}"
	api_as "${TOKEN}" GET /api/v1/me
	assert_status 200
}

@test "delete account: wrong password refused; then 204, deactivated, sessions revoked, login refused, row kept" {
	create_account quitter
	login_ok "${EMAIL}"
	local other=${TOKEN}
	login_ok "${EMAIL}"
	api_as "${TOKEN}" DELETE /api/v1/me '{"password":"Not-The-Password-1"}'
	assert_error 401 invalid_credentials
	api_as "${TOKEN}" DELETE /api/v1/me '{}'
	assert_error 400 invalid_request
	run db_sql "SELECT active FROM mailboxes WHERE email = '${EMAIL}'"
	assert_output 1
	api_as "${TOKEN}" DELETE /api/v1/me "{\"password\":\"${DEFAULT_PASSWORD}\"}"
	assert_status 204
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
	api_as "${other}" GET /api/v1/me
	assert_error 401 unauthorized
	login "${EMAIL}" "${DEFAULT_PASSWORD}"
	assert_error 401 invalid_credentials
	run db_sql "SELECT active, deactivated_at IS NOT NULL FROM mailboxes WHERE email = '${EMAIL}'"
	assert_output "$(printf '0\t1')"
	run db_sql "SELECT COUNT(*) FROM sessions s JOIN mailboxes m ON m.id = s.mailbox_id WHERE m.email = '${EMAIL}' AND s.expires_at > NOW(3)"
	assert_output 0
}

@test "an admin deactivating a mailbox ends its sessions" {
	create_account suspended
	login_ok "${EMAIL}"
	admin PATCH "/api/v1/admin/mailboxes/${EMAIL}" '{"active":false}'
	assert_status 200
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
}

# _two_processes [OVERRIDE...]: start two more accountd processes, as PM2 runs
# them, with a session cache that would keep a session for a minute (so that
# only a shared revocation can explain a refusal); FIRST and SECOND are their
# URLs, AD_URL is SECOND's.
_two_processes() {
	accountd_start ACCOUNTD_SESSION_CACHE_TTL=60 "$@"
	FIRST=${AD_URL}
	accountd_start ACCOUNTD_SESSION_CACHE_TTL=60 "$@"
	SECOND=${AD_URL}
}

# _cached_in_both: log in and have both processes cache the session.
_cached_in_both() {
	login_ok "${EMAIL}"
	AD_URL=${SECOND}
	api_as "${TOKEN}" GET /api/v1/me
	assert_status 200
	AD_URL=${FIRST}
	api_as "${TOKEN}" GET /api/v1/me
	assert_status 200
}

@test "revocation: without a shared file, another process answers from its cache (what ACCOUNTD_REVOCATION_PATH fixes)" {
	create_account cachedout
	_two_processes
	_cached_in_both
	api_as "${TOKEN}" DELETE /api/v1/sessions/current
	assert_status 204
	AD_URL=${SECOND}
	api_as "${TOKEN}" GET /api/v1/me
	assert_status 200
}

@test "revocation: a logout through one process is refused by the other at once (ACCOUNTD_REVOCATION_PATH)" {
	local file=${BATS_TEST_TMPDIR}/revocations
	create_account crossout
	_two_processes "ACCOUNTD_REVOCATION_PATH=${file}"
	_cached_in_both
	api_as "${TOKEN}" DELETE /api/v1/sessions/current
	assert_status 204
	AD_URL=${SECOND}
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
	run stat -c '%a %U %s' "${file}"
	assert_output "600 $(id -un) 4096"
}

@test "revocation: a password change and a deactivation through the CLI end the sessions cached by the daemons at once" {
	local file=${BATS_TEST_TMPDIR}/revocations
	create_account crosscli
	_two_processes "ACCOUNTD_REVOCATION_PATH=${file}"
	_cached_in_both
	local first_token=${TOKEN}
	printf 'Cli-Changed-Secret-42\n' | accountd_cli "ACCOUNTD_REVOCATION_PATH=${file}" -- user passwd "${EMAIL}"
	remember_secret Cli-Changed-Secret-42
	api_as "${first_token}" GET /api/v1/me
	assert_error 401 unauthorized
	login_ok "${EMAIL}" Cli-Changed-Secret-42
	AD_URL=${SECOND}
	api_as "${TOKEN}" GET /api/v1/me
	assert_status 200
	accountd_cli "ACCOUNTD_REVOCATION_PATH=${file}" -- user disable "${EMAIL}"
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
}

@test "revocation: a revocation file that others may write is refused at start" {
	local file=${BATS_TEST_TMPDIR}/revocations
	: >"${file}"
	chmod 0622 "${file}"
	run --separate-stderr bounded "$(scaled 30)" accountd_cli "ACCOUNTD_LISTEN=127.0.0.1:$(free_port)" \
		"ACCOUNTD_REVOCATION_PATH=${file}" -- serve
	assert_failure
	[[ ${stderr} == *"revocations: ${file} is not a private regular file of this user"* ]] ||
		fail "stderr: ${stderr}"
}

@test "a token stops working at expiry (ACCOUNTD_SESSION_TTL=60, the minimum)" {
	accountd_start ACCOUNTD_SESSION_TTL=60
	create_account shortlived
	login_ok "${EMAIL}"
	local exp now
	exp=$(epoch "$(json .expires_at)")
	now=$(date +%s)
	((exp - now > 55 && exp - now <= 61)) || fail "expires_at $(json .expires_at) is not now + 60 s"
	api_as "${TOKEN}" GET /api/v1/me
	assert_status 200
	wait_until 75 _me_is_401 "${TOKEN}"
	now=$(date +%s)
	((now >= exp)) || fail "the token died before its expires_at"
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
}

@test "throttling per address: failures beyond ACCOUNTD_RATE_LOGIN_ADDRESS are 429 with Retry-After" {
	accountd_start ACCOUNTD_RATE_LOGIN_ADDRESS=3/3600
	create_account victim
	create_account bystander
	local i
	for i in 1 2 3; do
		login "victim@${DOMAIN}" "Guess-Number-${i}${i}${i}"
		assert_error 401 invalid_credentials
	done
	login "victim@${DOMAIN}" 'Guess-Number-444'
	assert_error 429 rate_limited
	assert_retry_after
	# the right password does not get through a locked address either
	login "VICTIM@${DOMAIN}" "${DEFAULT_PASSWORD}"
	assert_error 429 rate_limited
	assert_retry_after
	# another address from the same IP is not affected
	login_ok "bystander@${DOMAIN}"
}

@test "throttling per address: successful logins do not use up the failure budget" {
	accountd_start ACCOUNTD_RATE_LOGIN_ADDRESS=2/3600 ACCOUNTD_RATE_LOGIN_IP=2/3600
	create_account regular
	local i
	for i in 1 2 3 4 5; do
		login_ok "${EMAIL}"
	done
}

@test "throttling per IP: failures beyond ACCOUNTD_RATE_LOGIN_IP across addresses are 429" {
	accountd_start ACCOUNTD_RATE_LOGIN_IP=3/3600
	create_account spray
	local i
	for i in 1 2 3; do
		login "target${i}@${DOMAIN}" 'Some-Password-123'
		assert_error 401 invalid_credentials
	done
	login "target4@${DOMAIN}" 'Some-Password-123'
	assert_error 429 rate_limited
	assert_retry_after
	login "spray@${DOMAIN}" "${DEFAULT_PASSWORD}"
	assert_error 429 rate_limited
	api GET /metrics
	grep -Eq '^accountd_rate_limited_total\{limit="[a-z_]+"\} [1-9]' <<<"${body}" ||
		fail "accountd_rate_limited_total not counted: $(grep rate_limited <<<"${body}")"
}

@test "the hash is Dovecot's: doveadm pw -t accepts the password and rejects a wrong one" {
	accountd_start ACCOUNTD_ARGON2_MEMORY_KIB=19456 ACCOUNTD_ARGON2_TIME=2
	local pw='Dovecot-Compatible "quote" é 1'
	create_account dovecot "${pw}"
	remember_secret "${pw}"
	local hash
	hash=$(stored_hash "${EMAIL}")
	# shellcheck disable=SC2016 # the $ of a PHC string
	[[ ${hash} == '{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$'* ]] || fail "hash format: ${hash}"
	remember_secret "${hash#\{ARGON2ID\}}"
	run doveadm pw -t "${hash}" -p "${pw}"
	assert_success
	assert_output --partial verified
	run doveadm pw -t "${hash}" -p 'Dovecot-Compatible "quote" é 2'
	assert_failure
}

@test "a hash made with an older cost is upgraded at the next successful login" {
	accountd_start ACCOUNTD_ARGON2_TIME=1
	create_account upgrade
	local old new
	old=$(stored_hash "${EMAIL}")
	# shellcheck disable=SC2016 # the $ of a PHC string
	[[ ${old} == *'$m=4096,t=1,p=1$'* ]] || fail "initial hash: ${old}"
	accountd_restart ACCOUNTD_ARGON2_TIME=3 ACCOUNTD_ARGON2_MEMORY_KIB=8192
	# a failed login leaves the hash alone
	login "${EMAIL}" 'Wrong-Password-99'
	assert_status 401
	assert_equal "$(stored_hash "${EMAIL}")" "${old}"
	login_ok "${EMAIL}"
	# shellcheck disable=SC2016 # the $ of a PHC string
	wait_until 10 _hash_matches "${EMAIL}" '*$m=8192,t=3,p=1$*'
	new=$(stored_hash "${EMAIL}")
	assert_not_equal "${new}" "${old}"
	login_ok "${EMAIL}"
	assert_equal "$(stored_hash "${EMAIL}")" "${new}"
	run doveadm pw -t "${new}" -p "${DEFAULT_PASSWORD}"
	assert_success
}

