#!/usr/bin/env bats
# Registration modes (open, invite, closed), set by ACCOUNTD_REGISTRATION_DEFAULT
# or by an admin, and single-use invites. The mode is global, so every test
# resets the settings table when it ends.

# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup; }
teardown() {
	local rc=0
	accountd_test_teardown || rc=1
	db_sql "DELETE FROM settings" || rc=1
	return "${rc}"
}

# set_mode MODE: PUT /api/v1/admin/registration, asserting 200.
set_mode() {
	admin PUT /api/v1/admin/registration "{\"mode\":\"$1\"}"
	assert_status 200
	assert_equal "$(json .mode)" "$1"
}

# new_invite [JSON]: one invite code in CODE, its id in INVITE_ID.
new_invite() {
	local doc=${1:-'{}'}
	admin POST /api/v1/admin/invites "${doc}"
	assert_status 201
	CODE=$(json '.invites[0].code')
	INVITE_ID=$(json '.invites[0].id')
	remember_secret "${CODE}"
}

# register_with USERNAME INVITE [PASSWORD]
register_with() {
	api POST /api/v1/accounts "$(jq -cn --arg u "$1" --arg i "$2" --arg p "${3:-${DEFAULT_PASSWORD}}" \
		'{username: $u, password: $p, invite: $i}')"
}

invite_status() {
	admin GET /api/v1/admin/invites
	json ".invites[] | select((.id|tostring) == \"$1\") | .status"
}

_status_is() { [[ $(invite_status "$1") == "$2" ]]; }

@test "invite mode: one invite used by concurrent registrations gives exactly one account" {
	accountd_start ACCOUNTD_HASH_QUEUE=64
	set_mode invite
	new_invite
	local i
	local -a pids=()
	for i in 1 2 3 4 5 6; do
		curl -sS -o /dev/null -w '%{http_code}\n' --max-time "$(scaled 30)" -H 'Content-Type: application/json' \
			--data-binary "{\"username\":\"racer${i}\",\"password\":\"${DEFAULT_PASSWORD}\",\"invite\":\"${CODE}\"}" \
			"${AD_URL}/api/v1/accounts" >"${BATS_TEST_TMPDIR}/race.${i}" 3>&- &
		pids+=($!)
	done
	wait "${pids[@]}"
	run sort "${BATS_TEST_TMPDIR}"/race.1 "${BATS_TEST_TMPDIR}"/race.2 "${BATS_TEST_TMPDIR}"/race.3 \
		"${BATS_TEST_TMPDIR}"/race.4 "${BATS_TEST_TMPDIR}"/race.5 "${BATS_TEST_TMPDIR}"/race.6
	assert_output "$(printf '201\n422\n422\n422\n422\n422')"
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email LIKE 'racer_@${DOMAIN}'"
	assert_output 1
}

@test "admin registration: PUT changes the mode at once, GET reports it; bad modes refused" {
	set_mode closed
	admin GET /api/v1/admin/registration
	assert_equal "$(json .mode)" closed
	register shut
	assert_error 403 registration_closed
	set_mode open
	register shut
	assert_status 201
	local doc
	for doc in '{"mode":"OPENED"}' '{"mode":""}' '{"mode":1}' '{}' '{"mode":null}'; do
		admin PUT /api/v1/admin/registration "${doc}"
		[[ ${status} == 400 || ${status} == 422 ]] || fail "${doc}: ${status} ${body}"
		assert_json_response
	done
	admin GET /api/v1/admin/registration
	assert_equal "$(json .mode)" open
}

@test "the mode set by an admin survives a restart and beats ACCOUNTD_REGISTRATION_DEFAULT" {
	set_mode closed
	accountd_restart ACCOUNTD_REGISTRATION_DEFAULT=open
	register later
	assert_error 403 registration_closed
	admin GET /api/v1/admin/registration
	assert_equal "$(json .mode)" closed
}

@test "ACCOUNTD_REGISTRATION_DEFAULT=closed: 403 registration_closed, logged" {
	accountd_start ACCOUNTD_REGISTRATION_DEFAULT=closed
	register nobody
	assert_error 403 registration_closed
	wait_until 5 log_has '^accountd register_refused ip=127\.0\.0\.1 reason=registration_closed$'
	admin GET /api/v1/admin/registration
	assert_equal "$(json .mode)" closed
}

@test "closed mode refuses even a valid invite" {
	new_invite
	set_mode closed
	register_with closedinv "${CODE}"
	assert_error 403 registration_closed
	assert_equal "$(invite_status "${INVITE_ID}")" unused
}

@test "invite mode: no invite is 422 invite_required, a bad one invalid_invite" {
	accountd_start ACCOUNTD_REGISTRATION_DEFAULT=invite
	register uninvited
	assert_error 422 invite_required
	register_with uninvited ''
	assert_status 422
	[[ $(json .error) == invite_required || $(json .error) == invalid_invite ]]
	register_with uninvited 'not-a-real-invite-code'
	assert_error 422 invalid_invite
	wait_until 5 log_has '^accountd register_refused ip=127\.0\.0\.1 reason=invalid_invite$'
	run db_sql "SELECT COUNT(*) FROM mailboxes WHERE email = 'uninvited@${DOMAIN}'"
	assert_output 0
}

@test "invite mode: a valid invite registers once and only once" {
	set_mode invite
	new_invite
	register_with guest "${CODE}"
	assert_status 201
	assert_equal "$(json .email)" "guest@${DOMAIN}"
	assert_equal "$(invite_status "${INVITE_ID}")" used
	run db_sql "SELECT m.email FROM invites i JOIN mailboxes m ON m.id = i.used_by WHERE i.id = ${INVITE_ID}"
	assert_output "guest@${DOMAIN}"
	register_with guest2 "${CODE}"
	assert_error 422 invalid_invite
}

@test "invite mode: a registration refused for another reason does not use up the invite" {
	set_mode invite
	new_invite
	register_with weakguest "${CODE}" password123
	assert_error 422 weak_password
	register_with root "${CODE}"
	assert_error 422 invalid_username
	assert_equal "$(invite_status "${INVITE_ID}")" unused
	register_with weakguest "${CODE}"
	assert_status 201
}

@test "invite mode: revoked and expired invites are invalid_invite" {
	set_mode invite
	new_invite
	local revoked=${CODE}
	admin DELETE "/api/v1/admin/invites/${INVITE_ID}"
	assert_status 204
	register_with revokedguest "${revoked}"
	assert_error 422 invalid_invite
	new_invite '{"expires_in":60}'
	local id=${INVITE_ID}
	# let a minute pass
	db_sql "UPDATE invites SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ${id}"
	wait_until 5 _status_is "${id}" expired
	register_with lateguest "${CODE}"
	assert_error 422 invalid_invite
}

@test "open mode ignores an invite field" {
	set_mode open
	register_with openguest 'whatever'
	assert_status 201
}
