#!/usr/bin/env bats
# shellcheck disable=SC2154 # ATTACK_* come from tests/attack/run, *_EMAIL/*_PASSWORD from new_user
# Our own domains as envelope sender from outside (issue 12, item 2): on port
# 25 a stranger (stranger 2) may not claim to be one of our users in MAIL
# FROM; a real outside sender and a bounce (MAIL FROM:<>) still get through.
load lib

setup_file() {
	new_user OWN
	export OWN_EMAIL OWN_PASSWORD
}

# deliver_from SENDER TOKEN: stranger 2 sends a message holding TOKEN to
# OWN_EMAIL on port 25 with MAIL FROM:<SENDER>; prints the dialogue.
deliver_from() {
	smtp_probe 2 data "${ATTACK_MAIL_IP}" 25 plain - - "$1" "${OWN_EMAIL}" 0 \
		"From: <someone@elsewhere.test>\r\nTo: <${OWN_EMAIL}>\r\nSubject: $2\r\n\r\n$2\r\n.\r\n"
}

@test "port 25: a stranger's MAIL FROM in our own domain is refused with 550 5.7.1 and a reason" {
	local sender
	for sender in "alice@${ATTACK_DOMAIN}" "${OWN_EMAIL}" "ALICE@${ATTACK_DOMAIN^^}" "postmaster@${ATTACK_DOMAIN}."; do
		run deliver_from "${sender}" "own-$(openssl rand -hex 6)"
		# smtpd_delay_reject: the sender is judged at RCPT TO.
		echo "# MAIL FROM:<${sender}>: ${lines[1]:-${lines[0]:-}}" >&3
		assert_line --regexp '^550 5\.7\.1 .*Sender address rejected: .*authenticated'
		refute_output --partial 'queued'
	done
}

@test "port 25: a real outside sender is delivered" {
	local token
	token=outside-$(openssl rand -hex 6)
	run deliver_from someone@elsewhere.test "${token}"
	assert_output --regexp '250 2\.0\.0 Ok: queued'
	wait_until 30 imap_has_on_mail "${OWN_EMAIL}" "${OWN_PASSWORD}" "${token}"
}

@test "port 25: a bounce (MAIL FROM:<>) is delivered" {
	local token
	token=bounce-$(openssl rand -hex 6)
	run deliver_from "" "${token}"
	assert_output --regexp '250 2\.0\.0 Ok: queued'
	wait_until 30 imap_has_on_mail "${OWN_EMAIL}" "${OWN_PASSWORD}" "${token}"
}
