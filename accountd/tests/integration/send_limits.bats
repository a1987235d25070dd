#!/usr/bin/env bats
# Sending limits (issue 7): the per-mailbox and per-domain overrides that
# mailnest-policyd enforces, and lifting a sending suspension, through the
# admin API and the CLI. (policyd's own tests are in policyd/tests.)

bats_require_minimum_version 1.5.0
# shellcheck source-path=SCRIPTDIR source=../lib/accountd.bash
source "${BATS_TEST_DIRNAME}/../lib/accountd.bash"

setup_file() { accountd_db_setup; }
teardown_file() { accountd_db_teardown; }
setup() { accountd_test_setup; }
teardown() { accountd_test_teardown; }

cli() { bounded "$(scaled 60)" accountd_cli -- "$@"; }

@test "send limits: a mailbox starts on the defaults (null) and not suspended" {
	create_account sender1
	admin GET "/api/v1/admin/mailboxes/${EMAIL}/send-limits"
	assert_status 200
	assert_json_response
	assert_equal "$(json .email)" "${EMAIL}"
	assert_equal "$(json '[.messages_per_hour, .messages_per_day, .recipients_per_message, .recipients_per_day] | map(tostring) | join(",")')" "null,null,null,null"
	assert_equal "$(json .send_suspended)" false
	assert_equal "$(json .send_suspended_at)" null
}

@test "send limits: PUT stores overrides (0 = none); absent and null fall back to the default" {
	create_account sender2
	admin PUT "/api/v1/admin/mailboxes/${EMAIL^^}/send-limits" \
		'{"messages_per_hour": 40, "messages_per_day": 0, "recipients_per_day": null}'
	assert_status 200
	assert_equal "$(json .email)" "${EMAIL}"
	assert_equal "$(json .messages_per_hour)" 40
	assert_equal "$(json .messages_per_day)" 0
	assert_equal "$(json .recipients_per_message)" null
	assert_equal "$(json .recipients_per_day)" null
	assert_equal "$(db_sql "SELECT CONCAT_WS(',', l.messages_per_hour, l.messages_per_day, IFNULL(l.recipients_per_day, 'NULL'))
		FROM send_limits_mailbox l JOIN mailboxes m ON m.id = l.mailbox_id WHERE m.email = '${EMAIL}'")" "40,0,NULL"
	# PUT replaces the whole set
	admin PUT "/api/v1/admin/mailboxes/${EMAIL}/send-limits" '{"recipients_per_message": 5}'
	assert_status 200
	assert_equal "$(json .messages_per_hour)" null
	assert_equal "$(json .recipients_per_message)" 5
	admin GET "/api/v1/admin/mailboxes/${EMAIL}/send-limits"
	assert_equal "$(json .recipients_per_message)" 5
}

@test "send limits: bad values, unknown fields and unknown mailboxes are refused" {
	create_account sender3
	local bad
	for bad in '{"messages_per_hour": -1}' '{"messages_per_hour": "10"}' \
		'{"messages_per_hour": 100000001}' '{"messages_per_hour": 1.5}' \
		'{"sent": 1}' '{"recipients_per_message": true}' '[1]'; do
		admin PUT "/api/v1/admin/mailboxes/${EMAIL}/send-limits" "${bad}"
		assert_error 400 invalid_request
	done
	admin PUT "/api/v1/admin/domains/${DOMAIN}/send-limits" '{"recipients_per_message": 5}'
	assert_error 400 invalid_request
	admin GET "/api/v1/admin/mailboxes/nobody@${DOMAIN}/send-limits"
	assert_error 404 not_found
	admin PUT "/api/v1/admin/mailboxes/not-an-address/send-limits" '{}'
	assert_error 404 not_found
	admin DELETE "/api/v1/admin/mailboxes/nobody@${DOMAIN}/send-suspension"
	assert_error 404 not_found
	api GET "/api/v1/admin/mailboxes/${EMAIL}/send-limits"
	assert_error 401 unauthorized
	# nothing was stored by the refused requests
	assert_equal "$(db_sql "SELECT COUNT(*) FROM send_limits_mailbox l JOIN mailboxes m ON m.id = l.mailbox_id WHERE m.email = '${EMAIL}'")" 0
}

@test "send limits: domain totals through the API" {
	admin GET "/api/v1/admin/domains/${DOMAIN}/send-limits"
	assert_status 200
	assert_equal "$(json .domain)" "${DOMAIN}"
	assert_equal "$(json .messages_per_hour)" null
	admin PUT "/api/v1/admin/domains/${DOMAIN}/send-limits" '{"messages_per_hour": 500, "recipients_per_day": 9000}'
	assert_status 200
	assert_equal "$(json .messages_per_hour)" 500
	assert_equal "$(json .messages_per_day)" null
	assert_equal "$(json .recipients_per_day)" 9000
	refute [ "$(json 'has("send_suspended")')" = true ]
	admin GET "/api/v1/admin/domains/no-such-${DOMAIN}/send-limits"
	assert_error 404 not_found
}

@test "send limits: DELETE send-suspension lets a suspended mailbox send again and resets its hits" {
	create_account sender4
	db_sql "UPDATE mailboxes SET send_suspended_at = UTC_TIMESTAMP(3) WHERE email = '${EMAIL}';
		INSERT INTO send_usage (subject, period, period_start, limit_hits) VALUES ('${EMAIL}', 'd', UTC_DATE(), 20)"
	admin GET "/api/v1/admin/mailboxes/${EMAIL}/send-limits"
	assert_equal "$(json .send_suspended)" true
	[[ $(json .send_suspended_at) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$ ]]
	admin DELETE "/api/v1/admin/mailboxes/${EMAIL}/send-suspension"
	assert_status 200
	assert_equal "$(json .send_suspended)" false
	assert_equal "$(db_sql "SELECT IFNULL(send_suspended_at, 'NULL') FROM mailboxes WHERE email = '${EMAIL}'")" NULL
	assert_equal "$(db_sql "SELECT limit_hits FROM send_usage WHERE subject = '${EMAIL}'")" 0
	log_has "send_suspension_lifted email=${EMAIL}"
}

@test "send limits: the CLI shows, sets (other fields kept) and lifts" {
	create_account sender5
	run -0 cli limits set "${EMAIL}" messages_per_hour=25 recipients_per_day=300
	assert_line $'messages_per_hour\t25'
	assert_line $'recipients_per_day\t300'
	run -0 cli limits set "${EMAIL}" messages_per_day=70
	assert_line $'messages_per_hour\t25'
	assert_line $'messages_per_day\t70'
	run -0 cli limits set "${EMAIL}" messages_per_hour=default
	assert_line $'messages_per_hour\tdefault'
	run -0 cli limits set "${DOMAIN}" messages_per_day=1234
	assert_line $'messages_per_day\t1234'
	run -0 cli limits show "${DOMAIN}"
	assert_line $'messages_per_day\t1234'
	db_sql "UPDATE mailboxes SET send_suspended_at = UTC_TIMESTAMP(3) WHERE email = '${EMAIL}'"
	run -0 cli limits show "${EMAIL}"
	assert_line $'send_suspended\tyes'
	run -0 cli limits unsuspend "${EMAIL}"
	assert_line $'send_suspended\tno'
	run -64 cli limits set "${EMAIL}" messages_per_hour=-3
	run -64 cli limits set "${EMAIL}" bogus=3
	run -64 cli limits unsuspend "${DOMAIN}"
	run -65 cli limits show "nobody@${DOMAIN}"
}
