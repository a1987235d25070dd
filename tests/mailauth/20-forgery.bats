#!/usr/bin/env bats
# Issue 4, tests 3 and 4: b.test refuses mail forged in a.test's name (SPF
# at RCPT, DMARC at the end of DATA) and mail a.test signed that a relay
# altered in transit (dkim=fail; refused under a.test's p=reject), and none
# of it reaches a mailbox.

# A_EMAIL, B_EMAIL... are set by new_user.
# shellcheck disable=SC2154
load helpers

setup_file() {
	new_user "${TH_A}" "${TH_A_DOMAIN}" A
	new_user "${TH_B}" "${TH_B_DOMAIN}" B
	export A_EMAIL A_PASSWORD B_EMAIL B_PASSWORD
}

teardown() {
	# Test 4b changes a.test's DMARC policy; put the published zone back.
	if [[ -n ${RESTORE_ZONE-} ]]; then twohosts_publish reject; fi
}

# stranger_sends ENVELOPE_FROM MARKER: straight to b.test's port 25 from the
# stranger's address, unsigned, with From: someone@a.test.
stranger_sends() {
	twohosts_exec "${TH_STRANGER}" swaks --server "${TH_B_IP}" --port 25 \
		--helo "mastr.${TH_FWD_DOMAIN}" --from "$1" --to "${B_EMAIL}" \
		--header "From: someone@${TH_A_DOMAIN}" --header "Subject: forged $2" \
		--body "marker $2" --timeout 30
}

@test "3. a forged a.test sender from an address SPF does not list is refused at RCPT (SPF fail)" {
	local mark before
	mark=$(marker)
	before=$(twohosts_imap_count "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}")
	run stranger_sends "someone@${TH_A_DOMAIN}" "${mark}"
	assert_failure
	assert_output --regexp "RCPT TO:<${B_EMAIL}>"
	assert_output --regexp "<\*\* +550 5\.7\.23 .*SPF fail - not authorized.*ip=${TH_STRANGER_IP//./\\.}"
	refute_output --partial "354 "
	# Nothing reached a mailbox: not b's, and no queue file on b.
	refute_delivered "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}" "${before}"
	run twohosts_exec "${TH_B}" postqueue -j
	assert_output ""
}

@test "3b. From: a.test, null envelope sender, unsigned: refused at end of DATA by DMARC p=reject" {
	local mark before
	mark=$(marker)
	before=$(twohosts_imap_count "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}")
	# A null envelope sender: SPF judges only the HELO name, which does not
	# align with a.test; the message has no signature: DMARC fails.
	run stranger_sends "<>" "${mark}"
	assert_failure
	assert_output --partial "354 "
	assert_output --regexp "<\*\* +550 5\.7\.1 rejected by DMARC policy for ${TH_A_DOMAIN//./\\.}"
	refute_delivered "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}" "${before}"
	run log_lines "${TH_B}" "milter-reject: END-OF-MESSAGE" "rejected by DMARC policy for ${TH_A_DOMAIN}"
	assert_output --partial "from=<>"
}

@test "3c. a forged Authentication-Results header claiming spf/dkim/dmarc=pass does not help a forgery" {
	local mark before
	mark=$(marker)
	before=$(twohosts_imap_count "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}")
	run twohosts_exec "${TH_STRANGER}" swaks --server "${TH_B_IP}" --port 25 \
		--helo "mastr.${TH_FWD_DOMAIN}" --from "<>" --to "${B_EMAIL}" \
		--header "From: someone@${TH_A_DOMAIN}" --header "Subject: forged ${mark}" \
		--add-header "Authentication-Results: mail.${TH_B_DOMAIN}; spf=pass smtp.mailfrom=${TH_A_DOMAIN}" \
		--add-header "Authentication-Results: mail.${TH_B_DOMAIN}; dkim=pass header.d=${TH_A_DOMAIN}" \
		--add-header "Authentication-Results: mail.${TH_B_DOMAIN}; dmarc=pass header.from=${TH_A_DOMAIN}" \
		--body "marker ${mark}" --timeout 30
	assert_failure
	assert_output --regexp "<\*\* +550 5\.7\.1 rejected by DMARC policy for ${TH_A_DOMAIN//./\\.}"
	refute_delivered "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}" "${before}"
}

# relayed_send MARKER: a.test's user submits to USER@fwd.test, whose MX is
# the relay; it adds a line to the body and forwards to USER@b.test.
relayed_send() {
	submit - "${TH_A_IP}" "${A_EMAIL}" "${A_PASSWORD}" "${B_EMAIL%@*}@${TH_FWD_DOMAIN}" "$1"
}

relay_log_has() {
	nshost_exec "${TH_RELAY}" grep -F -- "$1" /var/log/relay.log
}

@test "4. a signed message altered by a relay fails DKIM and is refused under p=reject" {
	local mark
	mark=$(marker)
	run relayed_send "${mark}"
	assert_success
	assert_output --partial "250 2.0.0 Ok: queued"
	# The relay reports b.test's answer to the altered message.
	run wait_until 60 relay_log_has "rcpt=${B_EMAIL%@*}@${TH_FWD_DOMAIN} result="
	assert_success
	run nshost_exec "${TH_RELAY}" grep -F "rcpt=${B_EMAIL%@*}@${TH_FWD_DOMAIN} " /var/log/relay.log
	assert_output --regexp "result=550 5\.7\.1 rejected by DMARC policy for ${TH_A_DOMAIN//./\\.}"
	run twohosts_imap_search "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}"
	assert_output ""
	# a.test tells its user (a bounce with b.test's reason).
	run wait_for_mail "${TH_A_IP}" "${A_EMAIL}" "${A_PASSWORD}" "rejected by DMARC policy" 60
	assert_success
}

@test "4b. under p=none the altered message arrives, with dkim=fail (body hash) and dmarc=fail" {
	local mark
	mark=$(marker)
	RESTORE_ZONE=yes
	twohosts_zone_records "${TH_A_DOMAIN}" | sed 's/p=reject;/p=none;/' | twohosts_zone_load "${TH_A_DOMAIN}"
	run relayed_send "${mark}"
	assert_success
	run wait_for_mail "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}" 60
	assert_success
	run twohosts_imap_fetch "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}"
	assert_output --partial "This line was added by a relay after the message was signed."
	run auth_results "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}"
	assert_output --regexp "dkim=fail reason=\"signature verification failed\".* header\.d=${TH_A_DOMAIN//./\\.}"
	assert_output --regexp "dmarc=fail \(p=none [^)]*\) header\.from=${TH_A_DOMAIN//./\\.}"
	# SPF passed, for the relay's own domain only (not aligned with a.test).
	assert_output --regexp "spf=pass [^;]*smtp\.mailfrom=${TH_FWD_DOMAIN//./\\.}"
}
