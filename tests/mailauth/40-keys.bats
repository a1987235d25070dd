#!/usr/bin/env bats
# DKIM keys: root/opendkim-only files, a key for a domain added later through
# accountd (by the cron job), rotation that switches signing only once DNS
# serves the new key; a dead milter defers mail; a re-run of the installer
# restarts nothing.

# A_EMAIL, B_EMAIL... are set by new_user.
# shellcheck disable=SC2154
load helpers

setup_file() {
	new_user "${TH_A}" "${TH_A_DOMAIN}" A
	new_user "${TH_B}" "${TH_B_DOMAIN}" B
	export A_EMAIL A_PASSWORD B_EMAIL B_PASSWORD
}

# signing_selector HOST DOMAIN
signing_selector() {
	twohosts_exec "$1" mailnest-dkim list | awk -v d="$2" '$1 == d { sub("signing=", "", $2); print $2 }'
}

# selector_of_delivered MARKER: s= of the message b.test received.
selector_of_delivered() {
	dkim_signature "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "$1" | grep -oE ' s=[^;]+' | cut -c4-
}

send_and_wait() {
	local mark=$1
	submit - "${TH_A_IP}" "${A_EMAIL}" "${A_PASSWORD}" "${B_EMAIL}" "${mark}" >/dev/null || return 1
	wait_for_mail "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}" 30
}

@test "keys are readable by opendkim only; the tables by root and opendkim; cron runs the sync" {
	run twohosts_exec "${TH_A}" bash -c 'stat -c "%U:%G %a %n" /etc/opendkim/keys /etc/opendkim/keys/* /etc/opendkim/keys/*/*.private /etc/opendkim/*.table'
	assert_success
	assert_line "opendkim:opendkim 700 /etc/opendkim/keys"
	assert_line "opendkim:opendkim 700 /etc/opendkim/keys/${TH_A_DOMAIN}"
	assert_line --regexp "^opendkim:opendkim 600 /etc/opendkim/keys/${TH_A_DOMAIN//./\\.}/s[0-9]{8}\.private$"
	assert_line "root:opendkim 640 /etc/opendkim/key.table"
	refute_output --regexp " [0-7]{2}[1-7] "
	# Not even Postfix (in the opendkim group, for the socket) reads a key.
	run twohosts_exec "${TH_A}" runuser -u postfix -- cat "/etc/opendkim/keys/${TH_A_DOMAIN}/$(signing_selector "${TH_A}" "${TH_A_DOMAIN}").private"
	assert_failure
	run twohosts_exec "${TH_A}" cat /etc/cron.d/mailnest-dkim
	assert_line --regexp "^\* \* \* \* \* root /usr/local/sbin/mailnest-dkim sync"
}

@test "a domain added through accountd gets a key from the cron job, and its mail is signed" {
	local domain=new$(openssl rand -hex 3).test mark sig
	run twohosts_exec "${TH_A}" runuser -u accountd -- env ACCOUNTD_CONFIG_FILE=/etc/mailnest/accountd.env \
		/opt/mailnest/current/bin/accountd domain add "${domain}"
	assert_success
	# cron runs mailnest-dkim sync every minute.
	run wait_until 75 twohosts_exec "${TH_A}" grep -q "^${domain} " /etc/opendkim/signing.table
	assert_success
	run twohosts_exec "${TH_A}" cat /var/log/mailnest/mailnest-dkim.log
	assert_output --partial "new DKIM key for ${domain}, selector s"
	# A second run changes nothing and reloads nothing.
	run twohosts_exec "${TH_A}" mailnest-dkim sync
	assert_success
	assert_output ""
	new_user "${TH_A}" "${domain}" N
	mark=$(marker)
	run submit - "${TH_A_IP}" "${N_EMAIL}" "${N_PASSWORD}" "${B_EMAIL}" "${mark}"
	assert_success
	run wait_for_mail "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}" 30
	assert_success
	sig=$(dkim_signature "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}")
	[[ ${sig} == *" d=${domain}; s=s"* ]]
}

@test "rotation: a new dated selector, signing switches only once DNS serves its record" {
	local old new mark
	old=$(signing_selector "${TH_A}" "${TH_A_DOMAIN}")
	run twohosts_exec "${TH_A}" mailnest-dkim rotate "${TH_A_DOMAIN}"
	assert_success
	assert_line --regexp "^new selector s[0-9]{8}(-[0-9]+)? for ${TH_A_DOMAIN//./\\.}"
	assert_line --regexp "^s[0-9]{8}(-[0-9]+)?\._domainkey\.${TH_A_DOMAIN//./\\.}\.	[0-9]+	IN	TXT	\( \"v=DKIM1; k=rsa; h=sha256; p="
	new=$(grep -oE "^s[0-9]{8}(-[0-9]+)?" <<<"${lines[1]}")
	[[ ${new} != "${old}" ]]
	# Not in DNS yet: still signing with the old key.
	run twohosts_exec "${TH_A}" mailnest-dkim activate "${TH_A_DOMAIN}"
	assert_failure 75
	assert_output --partial "still signing with ${old}"
	mark=$(marker)
	send_and_wait "${mark}"
	run selector_of_delivered "${mark}"
	assert_output "${old}"
	# Published (mailnest-dns prints both keys during a rotation): switch.
	run twohosts_exec "${TH_A}" mailnest-dns --zone "${TH_A_DOMAIN}"
	assert_output --partial "${old}._domainkey.${TH_A_DOMAIN}."
	assert_output --partial "${new}._domainkey.${TH_A_DOMAIN}."
	twohosts_publish reject
	run twohosts_exec "${TH_A}" mailnest-dkim activate "${TH_A_DOMAIN}"
	assert_success
	assert_output --partial "signing with it now"
	run signing_selector "${TH_A}" "${TH_A_DOMAIN}"
	assert_output "${new}"
	mark=$(marker)
	send_and_wait "${mark}"
	run selector_of_delivered "${mark}"
	assert_output "${new}"
	run auth_results "${TH_B_IP}" "${B_EMAIL}" "${B_PASSWORD}" "${mark}"
	assert_output --regexp "dkim=pass .*header\.s=${new}"
	run twohosts_exec "${TH_A}" mailnest-dns --check "${TH_A_DOMAIN}"
	assert_success
}

@test "a dead OpenDKIM defers submitted mail (4xx): nothing leaves unsigned" {
	local mark
	mark=$(marker)
	twohosts_exec "${TH_A}" service opendkim stop >/dev/null 2>&1
	run submit - "${TH_A_IP}" "${A_EMAIL}" "${A_PASSWORD}" "${B_EMAIL}" "${mark}"
	twohosts_exec "${TH_A}" service opendkim start >/dev/null 2>&1
	assert_failure
	# Postfix answers 4xx as soon as it finds the milter gone (here at STARTTLS).
	assert_output --regexp "<\*\* +4[0-9][0-9] 4\.[0-9]\.[0-9]"
	refute_output --partial "queued as"
	run wait_until 10 twohosts_exec "${TH_A}" test -S /var/spool/postfix/opendkim/opendkim.sock
	assert_success
}

@test "a dead OpenDMARC defers mail arriving on port 25 (4xx), it is not let through unchecked" {
	twohosts_exec "${TH_B}" service opendmarc stop >/dev/null 2>&1
	run twohosts_exec "${TH_STRANGER}" swaks --server "${TH_B_IP}" --port 25 --helo "mastr.${TH_FWD_DOMAIN}" \
		--from "<>" --to "${B_EMAIL}" --header "From: someone@${TH_A_DOMAIN}" --body "marker $(marker)" --timeout 30
	twohosts_exec "${TH_B}" service opendmarc start >/dev/null 2>&1
	assert_failure
	assert_output --regexp "<\*\* +4[0-9][0-9] 4\.7\.[0-9]"
}

@test "a re-run of the installer converges: nothing restarted, keys and selectors kept" {
	local before after
	before=$(twohosts_exec "${TH_A}" mailnest-dkim list)
	run twohosts_exec "${TH_A}" ./install.sh
	assert_success
	assert_line "[62-opendkim] opendkim is running and its configuration is unchanged"
	assert_line "[64-opendmarc] opendmarc is running and its configuration is unchanged"
	assert_line "[63-spf] /etc/postfix-policyd-spf-python/policyd-spf.conf is unchanged"
	assert_line "[68-postfix] postfix is running and its configuration is unchanged"
	after=$(twohosts_exec "${TH_A}" mailnest-dkim list)
	assert_equal "${after}" "${before}"
}
