#!/usr/bin/env bats
# Header From:/Sender: forgeries (issue 12, items 1 and 3): a signed-up
# stranger (stranger 1) logs in on 587 or 465 and may show only its own
# addresses (its mailbox, its aliases) in From: and Sender:; every forged
# form is refused with 550 5.7.1 by policyd's milter before OpenDKIM could
# sign it, and what is accepted carries our DKIM signature. On port 25
# (stranger 2) a From: in our own domain is refused, an outside one is
# delivered unsigned by us. A dead milter defers submissions (4xx).
# shellcheck disable=SC2154 # ATTACK_* come from tests/attack/run
load lib

setup_file() {
	new_user SENDER
	new_user VICTIM
	ALIAS_EMAIL=alias-$(openssl rand -hex 4)@${ATTACK_DOMAIN}
	add_alias "${ALIAS_EMAIL}" "${SENDER_EMAIL}"
	# A refused forgery still counts against the sender's sending limits
	# (policyd counts at END-OF-MESSAGE, before Postfix hears the milter's
	# verdict); a new account may send 10 an hour: room for this file's 40.
	local out
	out=$(mail_api PUT "/api/v1/admin/mailboxes/${SENDER_EMAIL}/send-limits" \
		'{"messages_per_hour": 200, "messages_per_day": 500}')
	[[ ${out##*$'\n'} == 200 ]] || { echo "send-limits: ${out}" >&2; return 1; }
	export SENDER_EMAIL SENDER_PASSWORD VICTIM_EMAIL VICTIM_PASSWORD ALIAS_EMAIL
}

# message TOKEN HEADER_LINE...: a message (CRLF lines) with the given
# header lines, a To:, a Subject: and a body holding TOKEN, on stdout (the
# strangers have a /tmp of their own: swaks reads it from its stdin).
message() {
	local token=$1 line
	shift
	for line in "$@"; do printf '%s\r\n' "${line}"; done
	printf 'To: <%s>\r\nSubject: forged-from %s\r\n\r\nbody %s\r\n' \
		"${VICTIM_EMAIL}" "${token}" "${token}"
}

# submit PORT ENVELOPE_FROM TOKEN HEADER_LINE...: stranger 1 logs in as
# SENDER and submits the message to VICTIM; prints swaks's dialogue.
submit() {
	local port=$1 envelope=$2 token=$3
	shift 3
	local -a tls=(--tls)
	[[ ${port} == 465 ]] && tls=(--tlsc)
	message "${token}" "$@" |
		from_stranger 1 swaks --server "${ATTACK_MAIL_IP}" --port "${port}" "${tls[@]}" \
			--auth PLAIN --auth-user "${SENDER_EMAIL}" --auth-password "${SENDER_PASSWORD}" \
			--from "${envelope}" --to "${VICTIM_EMAIL}" --data - --timeout 30
}

# unfolded_message TOKEN: VICTIM's message holding TOKEN, headers unfolded.
unfolded_message() {
	imap_message_on_mail "${VICTIM_EMAIL}" "${VICTIM_PASSWORD}" "$1" |
		sed -e ':a' -e 'N' -e '$!ba' -e 's/\n[ \t]\+/ /g'
}

assert_refused_5_7_1() {
	assert_failure
	assert_output --regexp '<[*~]\* +550 5\.7\.1 '
	refute_output --partial 'queued as'
}

assert_signed_delivery() {
	local token=$1
	wait_until 30 imap_has_on_mail "${VICTIM_EMAIL}" "${VICTIM_PASSWORD}" "${token}"
	run unfolded_message "${token}"
	assert_output --regexp 'DKIM-Signature: [^'$'\n'']*d=example\.test;'
}

@test "587 and 465: every forged From:/Sender: is refused with 550 5.7.1 and a reason, nothing delivered" {
	local -a tokens=()
	local port token own=${SENDER_EMAIL} victim=${VICTIM_EMAIL} encoded filler c name envelope
	local -a parts
	encoded=$(printf '%s' "${victim}" | base64 -w0)
	filler=$(printf 'x%.0s' {1..100})
	for port in 587 465; do
		# name|envelope|header lines (separated by "|")
		local -a cases=(
			"foreign address|${own}|From: Bob <${victim}>"
			"foreign address, null envelope sender|<>|From: Bob <${victim}>"
			"no domain, with Sender|${own}|From: alice|Sender: alice"
			"two From headers|${own}|From: <${own}>|From: <${victim}>"
			"no From header|${own}|Reply-To: <${own}>"
			"two addresses in one From|${own}|From: <${own}>, <${victim}>"
			"group syntax|${own}|From: friends: ${victim};"
			"display name holding an address|${own}|From: \"${victim}\" <${own}>"
			"encoded word holding an address|${own}|From: =?UTF-8?B?${encoded}?= <${own}>"
			"comment holding an address|${own}|From: ${own} (${victim})"
			"odd case and spacing|${own}|From:    ${victim^^}   "
			"foreign Sender|${own}|From: <${own}>|Sender: <${victim}>"
		)
		for c in "${cases[@]}"; do
			IFS='|' read -r -a parts <<<"${c}"
			name=${parts[0]} envelope=${parts[1]}
			token=forged-$(openssl rand -hex 6)
			tokens+=("${token}")
			run submit "${port}" "${envelope}" "${token}" "${parts[@]:2}"
			echo "# ${port} ${name}: $(grep -m1 -E '<[*~]\* ' <<<"${output}" || true)" >&3
			assert_refused_5_7_1
		done
		# A From: header longer than the milter reads (4096 bytes) is
		# refused too: 50 folded lines of 100 bytes.
		token=forged-$(openssl rand -hex 6)
		tokens+=("${token}")
		local -a long=("From: \"${filler}")
		for _ in {1..48}; do long+=(" ${filler}"); done
		long+=(" ${filler}\" <${own}>")
		run submit "${port}" "${own}" "${token}" "${long[@]}"
		assert_refused_5_7_1
		assert_output --partial 'too long'
	done
	# The reason names the address and the login.
	run submit 587 "${own}" "forged-$(openssl rand -hex 6)" "From: Bob <${victim}>"
	assert_output --partial "From: header address ${victim} is not yours (logged in as ${own})"
	# Nothing was delivered nor left queued: an honest message sent after
	# the forgeries arrives, and none of them did.
	token=honest-$(openssl rand -hex 6)
	run submit 587 "${own}" "${token}" "From: <${own}>"
	assert_success
	wait_until 30 imap_has_on_mail "${VICTIM_EMAIL}" "${VICTIM_PASSWORD}" "${token}"
	for token in "${tokens[@]}"; do
		run imap_search_on_mail "${VICTIM_EMAIL}" "${VICTIM_PASSWORD}" "${token}"
		assert_output ""
	done
	wait_mail_queue_empty 30
}

@test "587 and 465: the login's own address and its alias are accepted, delivered and signed d=example.test" {
	local token
	token=own-$(openssl rand -hex 6)
	run submit 587 "${SENDER_EMAIL}" "${token}" "From: =?UTF-8?Q?S=C3=A9nder?= <${SENDER_EMAIL^^}>"
	assert_success
	assert_output --partial 'queued as'
	assert_signed_delivery "${token}"

	token=alias-$(openssl rand -hex 6)
	run submit 465 "${ALIAS_EMAIL}" "${token}" "From: Desk <${ALIAS_EMAIL}>" "Sender: <${SENDER_EMAIL}>"
	assert_success
	assert_signed_delivery "${token}"

	# Its own address in the display name is its own business.
	token=own-name-$(openssl rand -hex 6)
	run submit 465 "<>" "${token}" "From: \"${SENDER_EMAIL}\" <${SENDER_EMAIL}>"
	assert_success
	assert_signed_delivery "${token}"
}

# deliver_25 TOKEN FROM_HEADER: stranger 2 sends to VICTIM on port 25 with an
# outside envelope sender and the given From: header; swaks's dialogue.
deliver_25() {
	message "$1" "From: $2" |
		from_stranger 2 swaks --server "${ATTACK_MAIL_IP}" --port 25 --from someone@elsewhere.test \
			--to "${VICTIM_EMAIL}" --data - --timeout 60
}

@test "port 25: an outside From: is delivered and not signed by us; From: one of our users is refused" {
	local token
	token=outside-$(openssl rand -hex 6)
	run deliver_25 "${token}" "Someone <someone@elsewhere.test>"
	assert_success
	wait_until 30 imap_has_on_mail "${VICTIM_EMAIL}" "${VICTIM_PASSWORD}" "${token}"
	run unfolded_message "${token}"
	refute_output --regexp 'DKIM-Signature: [^'$'\n'']*d=example\.test'

	token=own-domain-$(openssl rand -hex 6)
	run deliver_25 "${token}" "Sender <${SENDER_EMAIL}>"
	assert_failure
	assert_output --regexp '<[*~]\* +550 5\.7\.1 .*our own domain must be sent through submission'
	refute_output --partial 'queued as'
}

# pm2_on_mail ARGS...: mailnest's one PM2 daemon (root's) on the mail host.
pm2_on_mail() {
	on_mail mailnest-pm2 "$@"
}

milter_socket_is_there() {
	on_mail test -S /var/spool/postfix/mailnest/milter
}

@test "a stopped milter defers submissions (4xx); they go through again after its restart" {
	local token
	pm2_on_mail stop mailnest-policyd-milter >/dev/null
	token=down-$(openssl rand -hex 6)
	run submit 587 "${SENDER_EMAIL}" "${token}" "From: <${SENDER_EMAIL}>"
	pm2_on_mail start mailnest-policyd-milter >/dev/null
	assert_failure
	assert_output --regexp '<[*~]\* +4[0-9][0-9] 4\.[0-9]\.[0-9]'
	refute_output --partial 'queued as'
	wait_until 20 milter_socket_is_there
	token=back-$(openssl rand -hex 6)
	run submit 587 "${SENDER_EMAIL}" "${token}" "From: <${SENDER_EMAIL}>"
	assert_success
	assert_signed_delivery "${token}"
}
