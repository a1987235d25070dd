#!/usr/bin/env bats
# The admin API: authorisation, domains, mailboxes, aliases and invites
# (registration mode and invite use are in registration_modes.bats).

bats_require_minimum_version 1.5.0
# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup; }
teardown() { accountd_test_teardown; }

_invite_status_is() {
	admin GET /api/v1/admin/invites
	[[ $(json ".invites[] | select((.id|tostring) == \"$1\") | .status") == "$2" ]]
}

@test "admin: no token, a wrong token, a user's token are 401 unauthorized and logged" {
	create_account plainuser
	login_ok "${EMAIL}"
	api GET /api/v1/admin/domains
	assert_error 401 unauthorized
	api_as "${ADMIN_TOKEN}x" GET /api/v1/admin/domains
	assert_error 401 unauthorized
	api_as "${ADMIN_TOKEN:0:40}" GET /api/v1/admin/domains
	assert_error 401 unauthorized
	api_as "${TOKEN}" GET /api/v1/admin/domains
	assert_error 401 unauthorized
	api GET /api/v1/admin/domains -H "Authorization: Basic ${ADMIN_TOKEN}"
	assert_error 401 unauthorized
	wait_until 5 log_has '^accountd admin_auth_failed ip=127\.0\.0\.1$'
	admin GET /api/v1/admin/domains
	assert_status 200
}

@test "admin: every admin route answers 403 admin_disabled without ACCOUNTD_ADMIN_TOKEN" {
	accountd_start -ACCOUNTD_ADMIN_TOKEN
	local route
	for route in "GET /api/v1/admin/domains" "POST /api/v1/admin/domains" "PATCH /api/v1/admin/domains/x.example" \
		"GET /api/v1/admin/mailboxes" "POST /api/v1/admin/mailboxes" "PATCH /api/v1/admin/mailboxes/a@x.example" \
		"PUT /api/v1/admin/mailboxes/a@x.example/password" "DELETE /api/v1/admin/mailboxes/a@x.example" \
		"POST /api/v1/admin/aliases" "GET /api/v1/admin/aliases" "DELETE /api/v1/admin/aliases/a@x.example" \
		"POST /api/v1/admin/invites" "GET /api/v1/admin/invites" "DELETE /api/v1/admin/invites/1" \
		"GET /api/v1/admin/registration" "PUT /api/v1/admin/registration"; do
		api_as "${ADMIN_TOKEN}" "${route% *}" "${route#* }" '{}'
		[[ ${status} == 403 ]] || fail "${route}: ${status} ${body}"
		assert_error 403 admin_disabled
	done
}

@test "admin: an admin token shorter than 32 characters is a config error" {
	run --separate-stderr accountd_cli ACCOUNTD_ADMIN_TOKEN=short-token-31-characters-long! -- check-config
	assert_equal "${status}" 78
	[[ ${stderr} == *ACCOUNTD_ADMIN_TOKEN* ]] || fail "stderr does not name the setting: ${stderr}"
	[[ ${stderr} != *short-token-31* ]] || fail "stderr shows the secret: ${stderr}"
}

@test "admin: ACCOUNTD_ADMIN_TOKEN_FILE is read" {
	local f=${BATS_TEST_TMPDIR}/admin.token
	printf '%s\n' 'file-admin-token-abcdefghijklmnopqrstuvwxyz-0123' >"${f}"
	accountd_start -ACCOUNTD_ADMIN_TOKEN "ACCOUNTD_ADMIN_TOKEN_FILE=${f}"
	remember_secret file-admin-token-abcdefghijklmnopqrstuvwxyz-0123
	api_as file-admin-token-abcdefghijklmnopqrstuvwxyz-0123 GET /api/v1/admin/domains
	assert_status 200
	admin GET /api/v1/admin/domains
	assert_error 401 unauthorized
}

@test "admin: failed admin auths beyond ACCOUNTD_RATE_ADMIN_FAIL are 429 with Retry-After" {
	accountd_start ACCOUNTD_RATE_ADMIN_FAIL=2/3600
	api_as wrong-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa GET /api/v1/admin/domains
	assert_error 401 unauthorized
	api_as wrong-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb GET /api/v1/admin/domains
	assert_error 401 unauthorized
	api_as wrong-token-cccccccccccccccccccccccccccccccc GET /api/v1/admin/domains
	assert_error 429 rate_limited
	assert_retry_after
}

@test "admin domains: create, duplicate, list, deactivate, reactivate" {
	local d=new-${DOMAIN}
	admin POST /api/v1/admin/domains "{\"name\":\"${d^^}\"}"
	assert_status 201
	assert_json_response
	assert_equal "$(json .name)" "${d}"
	assert_equal "$(json .active)" true
	[[ -n $(json '.created_at | strings') ]]
	admin POST /api/v1/admin/domains "{\"name\":\"${d}\"}"
	assert_error 409 already_exists
	admin GET /api/v1/admin/domains
	assert_status 200
	assert_equal "$(json '.domains[] | select(.name == "'"${d}"'") | .active')" true
	register newcomer "${DEFAULT_PASSWORD}" "${d}"
	assert_status 201
	admin PATCH "/api/v1/admin/domains/${d}" '{"active":false}'
	assert_status 200
	assert_equal "$(json .name)" "${d}"
	assert_equal "$(json .active)" false
	register another "${DEFAULT_PASSWORD}" "${d}"
	assert_error 422 unknown_domain
	admin GET /api/v1/admin/domains
	assert_equal "$(json '.domains[] | select(.name == "'"${d}"'") | .active')" false
	admin PATCH "/api/v1/admin/domains/${d^^}" '{"active":true}'
	assert_status 200
	assert_equal "$(json .active)" true
	register another "${DEFAULT_PASSWORD}" "${d}"
	assert_status 201
}

@test "admin domains: invalid names are 422 invalid_domain, bad bodies 400" {
	local n
	for n in nodot '-lead.example' 'trail-.example' 'a..b.example' 'sp ace.example' 'under_score.example' \
		"$(printf 'a%.0s' {1..64}).example" '' 'x.example.' "quote'.example"; do
		admin POST /api/v1/admin/domains "$(jq -cn --arg n "${n}" '{name: $n}')"
		[[ ${status} == 422 ]] || fail "name '${n}': ${status} ${body}"
		assert_error 422 invalid_domain
	done
	for n in '{}' '{"name":5}' '{"name":null}' '[]' '{'; do
		admin POST /api/v1/admin/domains "${n}"
		assert_error 400 invalid_request
	done
}

@test "admin domains: PATCH an unknown domain is 404, a bad body 400" {
	admin PATCH "/api/v1/admin/domains/missing-${DOMAIN}" '{"active":false}'
	assert_error 404 not_found
	admin PATCH "/api/v1/admin/domains/${DOMAIN}" '{"active":"no"}'
	assert_error 400 invalid_request
	admin PATCH "/api/v1/admin/domains/${DOMAIN}" '{}'
	assert_error 400 invalid_request
}

@test "admin mailboxes: list by domain with paging" {
	local u
	for u in m1 m2 m3 m4 m5; do
		create_account "${u}"
	done
	admin GET "/api/v1/admin/mailboxes?domain=${DOMAIN}&limit=2"
	assert_status 200
	assert_equal "$(json '.mailboxes | length')" 2
	local next all
	next=$(json .next)
	[[ ${next} != null && -n ${next} ]] || fail "no next cursor: ${body}"
	all=$(json '.mailboxes[].email')
	admin GET "/api/v1/admin/mailboxes?domain=${DOMAIN}&limit=2&after=$(jq -rn --arg c "${next}" '$c|@uri')"
	assert_status 200
	assert_equal "$(json '.mailboxes | length')" 2
	all+=$'\n'$(json '.mailboxes[].email')
	next=$(json .next)
	admin GET "/api/v1/admin/mailboxes?domain=${DOMAIN}&limit=2&after=$(jq -rn --arg c "${next}" '$c|@uri')"
	assert_status 200
	assert_equal "$(json '.mailboxes | length')" 1
	assert_equal "$(json .next)" null
	all+=$'\n'$(json '.mailboxes[].email')
	assert_equal "$(sort <<<"${all}")" "$(printf 'm%s@%s\n' 1 "${DOMAIN}" 2 "${DOMAIN}" 3 "${DOMAIN}" 4 "${DOMAIN}" 5 "${DOMAIN}")"
	assert_equal "$(json '.mailboxes[0] | keys | sort | join(",")')" active,created_at,email,quota_bytes
	admin GET "/api/v1/admin/mailboxes?domain=${DOMAIN}"
	assert_equal "$(json '.mailboxes | length')" 5
	assert_equal "$(json .next)" null
	admin GET /api/v1/admin/mailboxes
	assert_status 200
	[[ $(json '.mailboxes | length') -ge 1 ]]
}

# _admin_create EMAIL [PASSWORD [EXTRA-JSON-FIELDS]]: POST /api/v1/admin/mailboxes.
_admin_create() {
	local doc
	doc=$(jq -cn --arg e "$1" --arg p "${2:-${DEFAULT_PASSWORD}}" '{email: $e, password: $p}')
	[[ -z ${3:-} ]] || doc=$(jq -c ". + $3" <<<"${doc}")
	admin POST /api/v1/admin/mailboxes "${doc}"
}

@test "admin mailboxes: POST creates a mailbox (default or given quota) that can log in; logged" {
	_admin_create "made1@${DOMAIN}"
	assert_status 201
	assert_equal "$(json .email)" "made1@${DOMAIN}"
	assert_equal "$(json .active)" true
	assert_equal "$(json .quota_bytes)" 1073741824
	[[ $(json .created_at) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || fail "created_at: ${body}"
	_admin_create "Made2@${DOMAIN}" "${DEFAULT_PASSWORD}" '{"quota_bytes": 5000000}'
	assert_status 201
	assert_equal "$(json .email)" "made2@${DOMAIN}"
	assert_equal "$(json .quota_bytes)" 5000000
	admin GET "/api/v1/admin/mailboxes?domain=${DOMAIN}"
	assert_equal "$(json '.mailboxes[] | select(.email == "made2@'"${DOMAIN}"'") | .quota_bytes')" 5000000
	login_ok "made2@${DOMAIN}"
	wait_until 5 log_has "^accountd mailbox_created ip=127\.0\.0\.1 email=made1@${DOMAIN//./\\.} by=admin$"
	# stored as an argon2id hash, never the password
	# shellcheck disable=SC2016 # a literal prefix
	[[ $(stored_hash "made1@${DOMAIN}") == '{ARGON2ID}$argon2id$'* ]] || fail "hash: $(stored_hash "made1@${DOMAIN}")"
}

@test "admin mailboxes: POST is bound by neither the registration mode nor the sign-up limit" {
	accountd_start ACCOUNTD_RATE_REGISTER=1/3600
	admin PUT /api/v1/admin/registration '{"mode":"closed"}'
	assert_status 200
	register closedpublic
	assert_error 403 registration_closed
	local i
	for i in 1 2 3; do
		_admin_create "bulk${i}@${DOMAIN}"
		assert_status 201
	done
	# the mode is the database's, shared by this file's tests
	admin PUT /api/v1/admin/registration '{"mode":"open"}'
	assert_status 200
}

@test "admin mailboxes: POST refuses duplicates, aliases, weak passwords, unknown domains, bad addresses and bodies" {
	_admin_create "dup@${DOMAIN}"
	assert_status 201
	_admin_create "DUP@${DOMAIN}"
	assert_error 409 already_exists
	admin POST /api/v1/admin/aliases "{\"source\":\"alias@${DOMAIN}\",\"destinations\":[\"dup@${DOMAIN}\"]}"
	assert_status 201
	_admin_create "alias@${DOMAIN}"
	assert_error 409 already_exists
	_admin_create "weak@${DOMAIN}" password
	assert_error 422 weak_password
	_admin_create "x@unknown-${RANDOM}.example"
	assert_error 422 unknown_domain
	local bad
	for bad in "nodomain" "@${DOMAIN}" "trailing@" "bad user@${DOMAIN}" "$(printf 'a%.0s' {1..65})@${DOMAIN}"; do
		_admin_create "${bad}"
		[[ ${status} == 422 ]] || fail "${bad}: ${status} ${body}"
		assert_error 422 invalid_username
	done
	admin POST /api/v1/admin/mailboxes "{\"email\":\"ok@${DOMAIN}\"}"
	assert_error 400 invalid_request
	_admin_create "ok@${DOMAIN}" "${DEFAULT_PASSWORD}" '{"quota_bytes": -1}'
	assert_error 400 invalid_request
	_admin_create "ok@${DOMAIN}" "${DEFAULT_PASSWORD}" '{"quota_bytes": "5"}'
	assert_error 400 invalid_request
	_admin_create "ok@${DOMAIN}" "${DEFAULT_PASSWORD}" '{"active": false}'
	assert_error 400 invalid_request
	api POST /api/v1/admin/mailboxes "{\"email\":\"ok@${DOMAIN}\",\"password\":\"${DEFAULT_PASSWORD}\"}"
	assert_error 401 unauthorized
	# nothing of the refused ones was written
	admin GET "/api/v1/admin/mailboxes?domain=${DOMAIN}"
	assert_equal "$(json '[.mailboxes[].email] | sort | join(",")')" "dup@${DOMAIN}"
}

@test "admin mailboxes: a bad limit or cursor is 400 invalid_request" {
	local q
	create_account cursor
	for q in limit=0 limit=-1 limit=abc limit=100000000000000000000 limit=; do
		admin GET "/api/v1/admin/mailboxes?domain=${DOMAIN}&${q}"
		[[ ${status} == 400 ]] || fail "?${q}: ${status} ${body}"
		assert_error 400 invalid_request
	done
	# a forged cursor: refused, or read as a plain (harmless) position
	admin GET "/api/v1/admin/mailboxes?domain=${DOMAIN}&after=%27%20OR%201%3D1--"
	if [[ ${status} != 400 ]]; then
		assert_status 200
		assert_json_response
		[[ $(json '.mailboxes | length') -le 1 ]] || fail "a forged cursor listed: ${body}"
	fi
}

@test "admin mailboxes: PATCH active and quota, 404 for unknown, 400 for bad types" {
	create_account patched
	login_ok "${EMAIL}"
	admin PATCH "/api/v1/admin/mailboxes/${EMAIL}" '{"quota_bytes":5000000}'
	assert_status 200
	assert_equal "$(json .email)" "${EMAIL}"
	assert_equal "$(json .quota_bytes)" 5000000
	assert_equal "$(json .active)" true
	api_as "${TOKEN}" GET /api/v1/me
	assert_equal "$(json .quota_bytes)" 5000000
	admin PATCH "/api/v1/admin/mailboxes/${EMAIL^^}" '{"active":false,"quota_bytes":0}'
	assert_status 200
	assert_equal "$(json .active)" false
	assert_equal "$(json .quota_bytes)" 0
	login "${EMAIL}"
	assert_error 401 invalid_credentials
	admin PATCH "/api/v1/admin/mailboxes/${EMAIL}" '{"active":true}'
	assert_status 200
	login_ok "${EMAIL}"
	admin PATCH "/api/v1/admin/mailboxes/missing@${DOMAIN}" '{"active":false}'
	assert_error 404 not_found
	local doc
	for doc in '{"quota_bytes":-1}' '{"quota_bytes":"5"}' '{"quota_bytes":1.5}' '{"active":1}' '{"active":null}' '[]'; do
		admin PATCH "/api/v1/admin/mailboxes/${EMAIL}" "${doc}"
		[[ ${status} == 400 ]] || fail "${doc}: ${status} ${body}"
		assert_error 400 invalid_request
	done
	run db_sql "SELECT quota_bytes, active FROM mailboxes WHERE email = '${EMAIL}'"
	assert_output "$(printf '0\t1')"
}

@test "admin mailboxes: password reset revokes sessions; weak 422; unknown 404" {
	create_account resetme
	login_ok "${EMAIL}"
	admin PUT "/api/v1/admin/mailboxes/${EMAIL}/password" '{"password":"Admin-Set-Password-7"}'
	remember_secret Admin-Set-Password-7
	assert_status 204
	api_as "${TOKEN}" GET /api/v1/me
	assert_error 401 unauthorized
	login "${EMAIL}"
	assert_error 401 invalid_credentials
	login_ok "${EMAIL}" Admin-Set-Password-7
	admin PUT "/api/v1/admin/mailboxes/${EMAIL}/password" '{"password":"password123"}'
	assert_error 422 weak_password
	admin PUT "/api/v1/admin/mailboxes/${EMAIL}/password" '{"password":"resetme"}'
	assert_error 422 weak_password
	admin PUT "/api/v1/admin/mailboxes/${EMAIL}/password" '{"password":7}'
	assert_error 400 invalid_request
	admin PUT "/api/v1/admin/mailboxes/missing@${DOMAIN}/password" '{"password":"Admin-Set-Password-7"}'
	assert_error 404 not_found
}

@test "admin mailboxes: purge needs a deactivated mailbox, then removes it and queues its Maildir" {
	create_account purged
	admin DELETE "/api/v1/admin/mailboxes/${EMAIL}"
	assert_error 409 mailbox_active
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email = '${EMAIL}'"
	assert_output 1
	admin PATCH "/api/v1/admin/mailboxes/${EMAIL}" '{"active":false}'
	assert_status 200
	admin DELETE "/api/v1/admin/mailboxes/${EMAIL}"
	assert_status 204
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email = '${EMAIL}'"
	assert_output 0
	run db_sql "SELECT COUNT(*) FROM maildir_purge_queue WHERE email = '${EMAIL}'"
	assert_output 1
	admin DELETE "/api/v1/admin/mailboxes/${EMAIL}"
	assert_error 404 not_found
	register purged
	assert_status 201
}

@test "admin aliases: create, duplicate, list, delete" {
	local src="list@${DOMAIN}"
	admin POST /api/v1/admin/aliases "{\"source\":\"${src^^}\",\"destinations\":[\"A@example.net\",\"b@example.net\"]}"
	assert_status 201
	assert_json_response
	assert_equal "$(json .source)" "${src}"
	assert_equal "$(json '.destinations | sort | join(",")')" a@example.net,b@example.net
	run db_sql "SELECT destination FROM aliases WHERE source = '${src}' ORDER BY destination"
	assert_output "$(printf 'a@example.net\nb@example.net')"
	admin POST /api/v1/admin/aliases "{\"source\":\"${src}\",\"destinations\":[\"c@example.net\"]}"
	assert_error 409 already_exists
	admin GET "/api/v1/admin/aliases?domain=${DOMAIN}"
	assert_status 200
	assert_equal "$(json '.aliases | length')" 1
	assert_equal "$(json '.aliases[0].source')" "${src}"
	assert_equal "$(json '.aliases[0].destinations | sort | join(",")')" a@example.net,b@example.net
	admin GET /api/v1/admin/aliases
	assert_status 200
	[[ $(json "[.aliases[] | select(.source == \"${src}\")] | length") == 1 ]]
	admin DELETE "/api/v1/admin/aliases/${src}"
	assert_status 204
	run db_sql "SELECT COUNT(*) FROM aliases WHERE source = '${src}'"
	assert_output 0
	admin DELETE "/api/v1/admin/aliases/${src}"
	assert_error 404 not_found
}

@test "admin aliases: a mailbox's address, a foreign or unknown domain, bad addresses are refused" {
	create_account taken
	admin POST /api/v1/admin/aliases "{\"source\":\"taken@${DOMAIN}\",\"destinations\":[\"x@example.net\"]}"
	assert_error 409 already_exists
	admin POST /api/v1/admin/aliases '{"source":"x@not-local.example","destinations":["x@example.net"]}'
	assert_status 422
	assert_json_response
	local doc
	for doc in "{\"source\":\"no-at-sign\",\"destinations\":[\"x@example.net\"]}" \
		"{\"source\":\"a@${DOMAIN}\",\"destinations\":[\"not an address\"]}" \
		"{\"source\":\"a b@${DOMAIN}\",\"destinations\":[\"x@example.net\"]}"; do
		admin POST /api/v1/admin/aliases "${doc}"
		[[ ${status} == 422 ]] || fail "${doc}: ${status} ${body}"
		assert_json_response
	done
	for doc in '{}' "{\"source\":\"a@${DOMAIN}\"}" "{\"source\":\"a@${DOMAIN}\",\"destinations\":\"x@example.net\"}" \
		"{\"source\":\"a@${DOMAIN}\",\"destinations\":[1]}" "{\"source\":5,\"destinations\":[\"x@example.net\"]}"; do
		admin POST /api/v1/admin/aliases "${doc}"
		[[ ${status} == 400 ]] || fail "${doc}: ${status} ${body}"
		assert_error 400 invalid_request
	done
	admin POST /api/v1/admin/aliases "{\"source\":\"a@${DOMAIN}\",\"destinations\":[]}"
	assert_status_in 400 422
	run db_sql "SELECT COUNT(*) FROM aliases WHERE source LIKE '%@${DOMAIN}'"
	assert_output 0
}

@test "admin invites: create with count, expiry and note; list shows no codes; revoke" {
	admin POST /api/v1/admin/invites '{"count":3,"expires_in":3600,"note":"for the team"}'
	assert_status 201
	assert_json_response
	assert_equal "$(json '.invites | length')" 3
	assert_equal "$(json '[.invites[].code] | unique | length')" 3
	local id code exp now
	id=$(json '.invites[0].id')
	code=$(json '.invites[0].code')
	remember_secret "${code}"
	[[ ${#code} -ge 16 ]] || fail "invite code too short to be unguessable: ${code}"
	exp=$(date -d "$(json '.invites[0].expires_at')" +%s)
	now=$(date +%s)
	((exp - now > 3500 && exp - now <= 3601)) || fail "expires_at $(json '.invites[0].expires_at')"
	run db_sql "SELECT COUNT(*) FROM invites WHERE code_hash = '$(db_sql_escape "${code}")' OR note LIKE '%$(db_sql_escape "${code}")%'"
	assert_output 0
	run db_sql "SELECT note FROM invites WHERE id = ${id}"
	assert_output 'for the team'
	admin GET /api/v1/admin/invites
	assert_status 200
	[[ ${body} != *"${code}"* ]] || fail "the invite list shows a code"
	assert_equal "$(json ".invites[] | select((.id|tostring) == \"${id}\") | .status")" unused
	assert_equal "$(json ".invites[] | select((.id|tostring) == \"${id}\") | .note")" 'for the team'
	admin DELETE "/api/v1/admin/invites/${id}"
	assert_status 204
	admin GET /api/v1/admin/invites
	assert_equal "$(json ".invites[] | select((.id|tostring) == \"${id}\") | .status")" revoked
	admin DELETE /api/v1/admin/invites/999999999
	assert_error 404 not_found
}

@test "admin invites: default count 1; count outside 1..100 and bad types are refused" {
	admin POST /api/v1/admin/invites '{}'
	assert_status 201
	assert_equal "$(json '.invites | length')" 1
	remember_secret "$(json '.invites[0].code')"
	admin POST /api/v1/admin/invites '{"count":100}'
	assert_status 201
	assert_equal "$(json '.invites | length')" 100
	local doc
	for doc in '{"count":0}' '{"count":101}' '{"count":-1}' '{"count":"3"}' '{"expires_in":"x"}' '{"expires_in":-5}' '{"note":5}'; do
		admin POST /api/v1/admin/invites "${doc}"
		[[ ${status} == 400 || ${status} == 422 ]] || fail "${doc}: ${status} ${body}"
		assert_json_response
	done
}

@test "admin invites: an expired invite is listed as expired" {
	admin POST /api/v1/admin/invites '{"expires_in":60}'
	assert_status 201
	local id
	id=$(json '.invites[0].id')
	remember_secret "$(json '.invites[0].code')"
	_invite_status_is "${id}" unused
	# let a minute pass
	db_sql "UPDATE invites SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ${id}"
	wait_until 5 _invite_status_is "${id}" expired
}

@test "admin registration: GET shows the default mode" {
	admin GET /api/v1/admin/registration
	assert_status 200
	assert_equal "$(json .mode)" open
}
