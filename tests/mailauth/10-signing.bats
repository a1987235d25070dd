#!/usr/bin/env bats
# Issue 4, tests 1, 2 and 6: mail a user of a.test submits is signed by
# a.test, passes DKIM, SPF and DMARC at b.test, verifies again with an
# independent verifier (dkimpy), and submission is never SPF-checked, from
# wherever the user roams.

# A_EMAIL, A_PASSWORD... are set by new_user.
# shellcheck disable=SC2154
load helpers

setup_file() {
	new_user "${TH_A}" "${TH_A_DOMAIN}" A
	new_user "${TH_A}" "${TH_A_DOMAIN}" C
	new_user "${TH_B}" "${TH_B_DOMAIN}" B
	export A_EMAIL A_PASSWORD B_EMAIL B_PASSWORD C_EMAIL C_PASSWORD
	MARK=$(marker)
	export MARK
	submit - "${TH_A_IP}" "${A_EMAIL}" "${A_PASSWORD}" "${B_EMAIL}" "${MARK}" >/dev/null
}

@test "1. a.test submission to b.test arrives with dkim=pass, spf=pass and dmarc=pass for a.test" {
	run wait_for_mail "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${MARK}" 30
	assert_success
	run auth_results "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${MARK}"
	assert_success
	assert_line --regexp "^Authentication-Results: mail\.${TH_B_DOMAIN//./\\.}; dkim=pass .*header\.d=${TH_A_DOMAIN//./\\.} .*header\.a=rsa-sha256 .*header\.s=s[0-9]{8}"
	assert_line --regexp "^Authentication-Results: mail\.${TH_B_DOMAIN//./\\.}; spf=pass .*smtp\.mailfrom=${TH_A_DOMAIN//./\\.}"
	assert_line --regexp "^Authentication-Results: mail\.${TH_B_DOMAIN//./\\.}; dmarc=pass .*header\.from=${TH_A_DOMAIN//./\\.}"
	refute_output --partial "=fail"
}

@test "1b. the signature is relaxed/relaxed rsa-sha256 with a 2048-bit key and covers From" {
	run dkim_signature "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${MARK}"
	assert_success
	assert_output --regexp "a=rsa-sha256; c=relaxed/relaxed; d=${TH_A_DOMAIN//./\\.}; s=s[0-9]{8}"
	assert_output --regexp "h=[^;]*From"
	run auth_results "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${MARK}"
	assert_output --partial "dkim=pass (2048-bit key"
}

@test "2. an independent verifier (dkimpy) verifies the delivered message's signature" {
	local msg
	msg=$(mktemp)
	twohosts_imap_raw "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${MARK}" >"${msg}"
	run grep -c '^DKIM-Signature:' "${msg}"
	assert_output 1
	# dkimpy in b's host: it fetches the key from the test DNS, as b does.
	run dkimpy_verify "${TH_B}" <"${msg}"
	assert_success
	assert_output "dkimpy: pass"
	# And it is a real check: one changed body byte fails it.
	sed -i 's/^marker mk/marker MK/' "${msg}"
	run dkimpy_verify "${TH_B}" <"${msg}"
	assert_failure
	assert_output "dkimpy: fail"
	rm -f -- "${msg}"
}

@test "6. authenticated submission is not SPF-checked: a roaming user sends from an address no SPF lists" {
	local mark
	mark=$(marker)
	# From the stranger's address, which a.test's SPF (-all) does not list.
	run submit "${TH_STRANGER}" "${TH_A_IP}" "${A_EMAIL}" "${A_PASSWORD}" "${C_EMAIL}" "${mark}"
	assert_success
	assert_output --partial "250 2.0.0 Ok: queued"
	run wait_for_mail "${TH_A_IP}" "${C_EMAIL}" "${C_PASSWORD}" "${mark}" 30
	assert_success
	# No SPF result at all on the submitted message.
	run auth_results "${TH_A_IP}" "${C_EMAIL}" "${C_PASSWORD}" "${mark}"
	refute_output --partial "spf="
	# The same envelope from the same address on port 25 is an SPF failure.
	run twohosts_exec "${TH_STRANGER}" swaks --server "${TH_A_IP}" --port 25 \
		--from "${A_EMAIL}" --to "${C_EMAIL}" --body "marker $(marker)" --timeout 30
	assert_failure
	assert_output --regexp "<\*\* +550 5\.7\.23 .*SPF fail"
	# To another domain too: signed by a.test and passing everything at b.test.
	mark=$(marker)
	run submit "${TH_STRANGER}" "${TH_A_IP}" "${A_EMAIL}" "${A_PASSWORD}" "${B_EMAIL}" "${mark}"
	assert_success
	run wait_for_mail "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}" 30
	assert_success
	run auth_results "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}"
	assert_output --regexp "dkim=pass .*header\.d=${TH_A_DOMAIN//./\\.}"
	assert_output --partial "dmarc=pass"
}
