#!/usr/bin/env bats
# Issue 12 on every supported system: no SMTP smuggling on port 25, whatever
# Postfix the system ships (3.6.4 on Ubuntu 22.04 ... 3.10 on Debian 13 and
# Ubuntu 26.04; install/68-postfix.sh sets smtpd_forbid_bare_newline). The
# full battery runs in tests/attack/20-smuggling.bats on Debian 12; here the
# four classic fake ends of data, each split across TCP segments (the form
# that got through before), from the host's own bridge address: loopback is
# in $mynetworks, which Postfix exempts on purpose.

# X_EMAIL and X_PASSWORD come from new_account X.
# shellcheck disable=SC2154
load lib

queue_is_empty() {
	[[ -z $(in_host postqueue -j) ]]
}

@test "port 25: a message smuggled behind a bare-LF or bare-CR end of data is not delivered" {
	local address variant n=0 run head out
	address=$(osroot_net "${OS_HOST}" ip -4 -o addr show dev eth0 | awk '{ print $4 }' | cut -d/ -f1)
	[[ -n ${address} ]] || fail "the host has no address on its bridge link"
	new_account OUTER
	new_account VICTIM
	run=$(random_word)
	for variant in '\n.\n' '\n.\r\n' '\r\n.\n' '\r.\r'; do
		n=$((n + 1))
		head="From: <someone@elsewhere.test>\r\nTo: <${OUTER_EMAIL}>\r\nSubject: outer-${run}-${n}\r\n\r\nouter body${variant}"
		out=$(osroot_net "${OS_HOST}" python3 "${BATS_TEST_DIRNAME}/../attack/smtp_probe.py" data \
			"${address}" 25 plain - - someone@elsewhere.test "${OUTER_EMAIL}" 0.3 "${head}" \
			"MAIL FROM:<ceo@bank.elsewhere.test>\r\n" "RCPT TO:<${VICTIM_EMAIL}>\r\n" 'DATA\r\n' \
			"From: <ceo@bank.elsewhere.test>\r\nTo: <${VICTIM_EMAIL}>\r\nSubject: smuggled\r\n\r\nsmuggled-${run}\r\n" \
			'.\r\n' 2>&1) || fail "${variant}: no SMTP dialogue on port 25: ${out}"
		echo "# ${variant}: $(tail -n 2 <<<"${out}" | tr '\n' ' ')" >&3
		# Only a probe that got as far as DATA proves anything.
		[[ ${out} == *$'\n354 '* ]] || fail "${variant}: DATA was not accepted: ${out}"
	done
	# The outer messages are delivered (normalize) or refused (yes); either
	# way the queue empties, and nothing reaches the victim.
	wait_until 60 queue_is_empty ||
		fail "mail stays in the queue: $(in_host postqueue -p)"
	run imap_search "${VICTIM_EMAIL}" "${VICTIM_PASSWORD}" "smuggled-${run}"
	assert_success
	assert_output ''
	in_host postconf -h smtpd_forbid_bare_newline | sed 's/^/# smtpd_forbid_bare_newline = /' >&3
}
