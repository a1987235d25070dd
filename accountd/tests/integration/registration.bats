#!/usr/bin/env bats
# POST /api/v1/accounts in open mode: every validation error, case folding,
# conflicts with mailboxes and aliases, the refusal log line, rate limits.

# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup; }
teardown() { accountd_test_teardown; }

_register_succeeds() {
	register "$1"
	[[ ${status} == 201 ]]
}

@test "registration creates the mailbox: 201 email and created_at, stored lower-case with an argon2id hash" {
	register alice
	assert_status 201
	assert_json_response
	assert_equal "$(json .email)" "alice@${DOMAIN}"
	[[ $(json .created_at) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)$ ]] ||
		fail "created_at is not ISO 8601: $(json .created_at)"
	header X-Request-Id
	run db_sql "SELECT email, active, quota_bytes, local_part FROM mailboxes WHERE email = 'alice@${DOMAIN}'"
	assert_output "$(printf 'alice@%s\t1\t1073741824\talice' "${DOMAIN}")"
	run stored_hash "alice@${DOMAIN}"
	# shellcheck disable=SC2016 # the $ of a PHC string
	assert_output --regexp '^\{ARGON2ID\}\$argon2id\$v=19\$m=4096,t=1,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$'
}

@test "domain defaults to ACCOUNTD_PRIMARY_DOMAIN" {
	api POST /api/v1/accounts "{\"username\":\"nodomain\",\"password\":\"${DEFAULT_PASSWORD}\"}"
	assert_status 201
	assert_equal "$(json .email)" "nodomain@${DOMAIN}"
}

@test "username and domain are case-folded to lower case" {
	register MiXeD.Case "${DEFAULT_PASSWORD}" "${DOMAIN^^}"
	assert_status 201
	assert_equal "$(json .email)" "mixed.case@${DOMAIN}"
	register mixed.case
	assert_error 409 already_exists
}

@test "valid usernames at the edges: 1 char, 64 chars, digits first, . _ -" {
	local u64
	u64=$(printf 'a%.0s' {1..64})
	for u in x 7 "${u64}" 0a.b_c-d a-b a_b; do
		register "${u}"
		assert_status 201
	done
}

@test "invalid_username: 65 characters" {
	register "$(printf 'b%.0s' {1..65})"
	assert_error 422 invalid_username
}

@test "invalid_username: empty, bad first character, forbidden characters" {
	local u
	for u in '' .dot -dash _under 'sp ace' 'plus+tag' 'at@sign' 'slash/x' 'quote"x' 'semi;colon' 'ümlaut' 'tab	x' 'new
line' 'percent%41'; do
		register "${u}"
		assert_error 422 invalid_username
	done
}

@test "invalid_username: '..' anywhere and a trailing '.'" {
	local u
	for u in a..b 'a...b' trailing. 'x.y.' 'ab..'; do
		register "${u}"
		assert_error 422 invalid_username
	done
	register a.b.c
	assert_status 201
}

@test "invalid_username: every reserved name, in any case" {
	local u
	for u in postmaster abuse root admin administrator hostmaster webmaster noreply no-reply \
		mailer-daemon security support PostMaster ADMIN Mailer-Daemon; do
		register "${u}"
		assert_error 422 invalid_username
	done
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email LIKE '%@${DOMAIN}'"
	assert_output 0
}

@test "invalid_username: ACCOUNTD_RESERVED_USERNAMES adds names" {
	accountd_start ACCOUNTD_RESERVED_USERNAMES=billing,Sales,info
	local u
	for u in billing sales SALES info; do
		register "${u}"
		assert_error 422 invalid_username
	done
	register billing2
	assert_status 201
}

@test "weak_password: fewer than 10 characters (code points, not bytes)" {
	register shortpw 'Abc-12345'
	assert_error 422 weak_password
	# 9 characters of 2 bytes each: 18 bytes but still too short
	register shortpw2 'ééééééééé'
	assert_error 422 weak_password
	register okpw 'Abc-123456'
	assert_status 201
	register okpw2 'éééééééééé'
	assert_status 201
}

@test "weak_password: more than 256 characters; 256 is accepted" {
	local p256 p257
	p256=$(printf 'Xy7%.0s' {1..85})z
	p257=${p256}q
	assert_equal "${#p256}" 256
	register longpw "${p257}"
	assert_error 422 weak_password
	register longpw "${p256}"
	assert_status 201
	login_ok "longpw@${DOMAIN}" "${p256}"
}

@test "weak_password: equal to the username or the address, in any case" {
	register username1234 username1234
	assert_error 422 weak_password
	register username1234 USERNAME1234
	assert_error 422 weak_password
	register bob "bob@${DOMAIN}"
	assert_error 422 weak_password
	register bob "BOB@${DOMAIN^^}"
	assert_error 422 weak_password
}

@test "weak_password: common passwords" {
	local p
	for p in password123 1234567890 qwertyuiop Password123 iloveyou12; do
		register common "${p}"
		assert_error 422 weak_password
	done
}

@test "unknown_domain: a domain that does not exist or is not active" {
	register carol "${DEFAULT_PASSWORD}" "nowhere-${RANDOM}.example"
	assert_error 422 unknown_domain
	local off=off-${DOMAIN}
	db_sql "INSERT INTO domains (name, active) VALUES ('${off}', 0)"
	register carol "${DEFAULT_PASSWORD}" "${off}"
	assert_error 422 unknown_domain
	register carol "${DEFAULT_PASSWORD}" "not a domain"
	assert_error 422 unknown_domain
}

@test "already_exists: the same address twice" {
	create_account dave
	register dave 'Another-Password-77'
	assert_error 409 already_exists
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email = 'dave@${DOMAIN}'"
	assert_output 1
}

@test "already_exists: the address is an alias" {
	admin POST /api/v1/admin/aliases "{\"source\":\"info@${DOMAIN}\",\"destinations\":[\"someone@example.net\"]}"
	assert_status 201
	register info
	assert_error 409 already_exists
	register INFO
	assert_error 409 already_exists
}

@test "already_exists: a deactivated mailbox keeps its address" {
	create_account erin
	login_ok "${EMAIL}"
	api_as "${TOKEN}" DELETE /api/v1/me "{\"password\":\"${DEFAULT_PASSWORD}\"}"
	assert_status 204
	register erin
	assert_error 409 already_exists
}

@test "invalid_request: malformed JSON, missing and mistyped fields" {
	local doc
	for doc in '' '{' '{"username":' 'nope' '[]' '"str"' '42' 'null' '{"username":"x","password":"Long-enough-1",}' \
		'{"password":"Long-enough-1"}' '{"username":"frank"}' '{}' \
		'{"username":1,"password":"Long-enough-1"}' '{"username":"frank","password":12345678901}' \
		'{"username":null,"password":"Long-enough-1"}' '{"username":["frank"],"password":"Long-enough-1"}' \
		'{"username":"frank","password":{"a":1}}' '{"username":"frank","password":"Long-enough-1","domain":7}' \
		'{"username":"frank","password":"Long-enough-1","domain":true}' \
		'{"username":"frank","password":"Long-enough-1","invite":5}' \
		'{"username":"frank","password":"Long-enough-1"} trailing' '{"username":"frank","password":"Long-enough-1"}{}'; do
		api POST /api/v1/accounts "${doc}"
		[[ ${status} == 400 ]] || fail "body '${doc}': status ${status} ${body}"
		assert_error 400 invalid_request
	done
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email LIKE 'frank@%'"
	assert_output 0
}

@test "invalid_request: an empty body with a JSON content type" {
	api POST /api/v1/accounts -H 'Content-Type: application/json'
	assert_error 400 invalid_request
}

@test "a refused registration is logged for fail2ban without the password" {
	register root 'Secret-Root-Pass-1'
	assert_error 422 invalid_username
	remember_secret 'Secret-Root-Pass-1'
	wait_until 5 log_has '^accountd register_refused ip=127\.0\.0\.1 reason=invalid_username$'
	register weakling password123
	wait_until 5 log_has '^accountd register_refused ip=127\.0\.0\.1 reason=weak_password$'
}

@test "rate_limited: ACCOUNTD_RATE_REGISTER counts attempts per IP, 429 with Retry-After" {
	accountd_start ACCOUNTD_RATE_REGISTER=3/3600
	register rl1
	assert_status 201
	register root
	assert_error 422 invalid_username
	register rl2
	assert_status 201
	register rl3
	assert_error 429 rate_limited
	assert_retry_after
	local ra
	ra=$(header Retry-After)
	((ra <= 3600)) || fail "Retry-After ${ra} is beyond the window"
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email = 'rl3@${DOMAIN}'"
	assert_output 0
	wait_until 5 log_has '^accountd register_refused ip=127\.0\.0\.1 reason=rate_limited$'
	api GET /metrics
	grep -Eq '^accountd_rate_limited_total\{limit="[a-z_]+"\} [1-9]' <<<"${body}" ||
		fail "no accountd_rate_limited_total: $(grep rate_limited <<<"${body}")"
}

@test "rate_limited: two processes sharing ACCOUNTD_RATE_LIMIT_DIR give a client one budget, not two" {
	local dir=${BATS_TEST_TMPDIR}/ratelimit first second
	mkdir -m 0700 "${dir}"
	# as PM2 runs them: two processes, one client spreading over both
	accountd_start ACCOUNTD_RATE_REGISTER=3/3600 "ACCOUNTD_RATE_LIMIT_DIR=${dir}"
	first=${AD_URL}
	accountd_start ACCOUNTD_RATE_REGISTER=3/3600 "ACCOUNTD_RATE_LIMIT_DIR=${dir}"
	second=${AD_URL}
	register shared1
	assert_status 201
	AD_URL=${first}
	register shared2
	assert_status 201
	AD_URL=${second}
	register shared3
	assert_status 201
	register shared4
	assert_error 429 rate_limited
	AD_URL=${first}
	register shared5
	assert_error 429 rate_limited
	run stat -c '%a %U' "${dir}/register.table"
	assert_output "600 $(id -un)"
}

@test "rate_limited: the register bucket refills after its window" {
	accountd_start ACCOUNTD_RATE_REGISTER=1/2
	register refill1
	assert_status 201
	register refill2
	assert_error 429 rate_limited
	wait_until 6 _register_succeeds refill2
}

@test "rate_limited: ACCOUNTD_RATE_REQUESTS limits every request per IP" {
	# a client IP of its own (via a trusted proxy): start-up polling of
	# /healthz from 127.0.0.1 does not count against it
	accountd_start ACCOUNTD_RATE_REQUESTS=5/3600 ACCOUNTD_TRUSTED_PROXIES=127.0.0.1
	local i
	for i in 1 2 3 4 5; do
		api GET /api/v1/me -H 'X-Forwarded-For: 203.0.113.50'
		assert_status 401
	done
	api GET /api/v1/me -H 'X-Forwarded-For: 203.0.113.50'
	assert_error 429 rate_limited
	assert_retry_after
	api GET /healthz -H 'X-Forwarded-For: 203.0.113.50'
	assert_error 429 rate_limited
	api GET /api/v1/me -H 'X-Forwarded-For: 203.0.113.51'
	assert_status 401
}

@test "concurrent registrations of the same address: exactly one 201, the rest 409" {
	accountd_start ACCOUNTD_HASH_QUEUE=64
	local i codes
	local -a pids=()
	for i in 1 2 3 4 5 6 7 8; do
		curl -sS -o /dev/null -w '%{http_code}\n' --max-time "$(scaled 30)" -H 'Content-Type: application/json' \
			--data-binary "{\"username\":\"race\",\"password\":\"${DEFAULT_PASSWORD}\"}" "${AD_URL}/api/v1/accounts" \
			>"${BATS_TEST_TMPDIR}/race.${i}" 3>&- &
		pids+=($!)
	done
	wait "${pids[@]}"
	codes=$(cat "${BATS_TEST_TMPDIR}"/race.* | sort | uniq -c | tr -s ' ' | sed 's/^ //')
	assert_equal "${codes}" "$(printf '1 201\n7 409')"
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email = 'race@${DOMAIN}'"
	assert_output 1
}

@test "ACCOUNTD_DEFAULT_QUOTA_BYTES sets the quota of new mailboxes" {
	accountd_start ACCOUNTD_DEFAULT_QUOTA_BYTES=2048
	create_account quotaed
	run db_sql "SELECT quota_bytes FROM mailboxes WHERE email = '${EMAIL}'"
	assert_output 2048
}
