#!/usr/bin/env bats
# Issue 3, test 3: what must be refused is refused, each with the right
# SMTP or IMAP/POP3 reply.

# E2E_* come from tests/lib/e2e.bash; X_EMAIL and X_PASSWORD from new_account X.
# shellcheck disable=SC2153,SC2154
load ../lib/e2e

setup_file() {
	wait_until_port_open 25
	wait_until_port_open 587
	wait_until_port_open 993
	new_account A
	new_account B
	export A_EMAIL A_PASSWORD B_EMAIL B_PASSWORD
}

@test "3a. AUTH before STARTTLS on 587 is refused (530) and not even offered" {
	local plain
	plain=$(printf '\0%s\0%s' "${A_EMAIL}" "${A_PASSWORD}" | base64 -w0)
	run smtp_dialogue 587 "EHLO client.example" "AUTH PLAIN ${plain}" "QUIT"
	assert_line --partial "250-STARTTLS"
	refute_line --partial "AUTH"$'\x20'
	refute_line --regexp '^250[- ]AUTH'
	assert_line --regexp '^530 5\.7\.0 .*STARTTLS'
}

@test "3a. IMAP and POP3 offer no login before STARTTLS (LOGINDISABLED, no USER)" {
	# Dovecot treats a client whose address equals the server's as secure,
	# so this comes from 127.0.0.2, as a remote client would.
	run curl -sv --interface 127.0.0.2 -u "${A_EMAIL}:${A_PASSWORD}" "imap://${E2E_HOST}:143/INBOX"
	assert_failure
	assert_output --partial "LOGINDISABLED"
	refute_output --partial "Logged in"
	run curl -sv --interface 127.0.0.2 -u "${A_EMAIL}:${A_PASSWORD}" "pop3://${E2E_HOST}:110/"
	assert_failure
	refute_output --partial "+OK Logged in"
	# With STARTTLS the same login works.
	run curl -sS --ssl-reqd --insecure --interface 127.0.0.2 -u "${A_EMAIL}:${A_PASSWORD}" "imap://${E2E_HOST}:143/INBOX" -X NOOP
	assert_success
}

@test "3b. a wrong password is refused on 587 (535), IMAPS and POP3S" {
	run swaks_submit 587 "${A_EMAIL}" "wrong-${A_PASSWORD}" "${B_EMAIL}" "body" --quit-after AUTH
	assert_failure
	assert_output --regexp '535 5\.7\.8 .*authentication failed'
	run curl -sv --insecure -u "${A_EMAIL}:wrong-${A_PASSWORD}" "imaps://${E2E_HOST}:993/INBOX"
	assert_failure
	assert_output --partial "NO [AUTHENTICATIONFAILED]"
	run curl -sv --insecure -u "${A_EMAIL}:wrong-${A_PASSWORD}" "pop3s://${E2E_HOST}:995/"
	assert_failure
	assert_output --partial "-ERR [AUTH] Authentication failed"
}

@test "3c. relay to an outside domain without AUTH on 25 is refused (554 relay access denied)" {
	run swaks --server "${E2E_HOST}" --port 25 --from someone@outside.invalid \
		--to victim@outside.invalid --quit-after RCPT --timeout 20
	assert_failure
	assert_output --regexp '554 5\.7\.1 .*Relay access denied'
	# Nor from a local sender, nor on 587 without AUTH.
	run swaks --server "${E2E_HOST}" --port 587 --tls --from "${A_EMAIL}" \
		--to victim@outside.invalid --quit-after RCPT --timeout 20
	assert_failure
	assert_output --regexp '554 5\.7\.1 .*(Access denied|Relay access denied)'
}

@test "3d. an authenticated user sending as another user's address is refused (553)" {
	run swaks --server "${E2E_HOST}" --port 587 --tls --auth PLAIN \
		--auth-user "${A_EMAIL}" --auth-password "${A_PASSWORD}" \
		--from "${B_EMAIL}" --to "${B_EMAIL}" --quit-after RCPT --timeout 20
	assert_failure
	assert_output --regexp '553 5\.7\.1 .*Sender address rejected: not owned by user'
	# An address nobody owns is refused as well.
	run swaks --server "${E2E_HOST}" --port 587 --tls --auth PLAIN \
		--auth-user "${A_EMAIL}" --auth-password "${A_PASSWORD}" \
		--from ceo@outside.invalid --to "${B_EMAIL}" --quit-after RCPT --timeout 20
	assert_failure
	assert_output --regexp '553 5\.7\.1 .*Sender address rejected: not owned by user'
}

@test "3e. RCPT to an unknown local address is refused at RCPT with 550" {
	run swaks --server "${E2E_HOST}" --port 25 --from someone@outside.invalid \
		--to "nobody-$(random_word)@${E2E_DOMAIN}" --quit-after RCPT --timeout 20
	assert_failure
	assert_output --regexp '<[*~]\* +550 5\.1\.1 .*User unknown'
}

@test "3f. TLS 1.0 and 1.1 handshakes fail on every TLS port; TLS 1.2 and 1.3 work" {
	local port starttls
	for port in 25 587 465 993 995 143 110; do
		case ${port} in
		25 | 587) starttls=(-starttls smtp) ;;
		143) starttls=(-starttls imap) ;;
		110) starttls=(-starttls pop3) ;;
		*) starttls=() ;;
		esac
		for proto in -tls1 -tls1_1; do
			# SECLEVEL=0: let the client offer the old protocols at all.
			run timeout 20 openssl s_client -connect "${E2E_HOST}:${port}" "${starttls[@]}" \
				"${proto}" -cipher 'DEFAULT:@SECLEVEL=0' </dev/null
			assert_failure
			refute_output --regexp '(Protocol *: TLSv1(\.1)?$|New, TLSv1(\.1)?,)'
		done
		run timeout 20 openssl s_client -connect "${E2E_HOST}:${port}" "${starttls[@]}" -tls1_2 </dev/null
		assert_success
		assert_output --regexp '(Protocol *: |New, )TLSv1\.2'
		run timeout 20 openssl s_client -connect "${E2E_HOST}:${port}" "${starttls[@]}" -tls1_3 </dev/null
		assert_success
		assert_output --regexp '(Protocol *: |New, )TLSv1\.3'
	done
}

@test "3g. a deactivated account can no longer log in (IMAPS, POP3S, SMTP AUTH), at once" {
	new_account C
	run curl -sS --insecure -u "${C_EMAIL}:${C_PASSWORD}" "imaps://${E2E_HOST}:993/INBOX" -X NOOP
	assert_success
	# The success above is in Dovecot's auth cache (TTL 30 s); accountd
	# flushes it when the mailbox is deactivated, so the refusal is
	# immediate: no polling here.
	deactivate_mailbox "${C_EMAIL}"
	run curl -sv --insecure -u "${C_EMAIL}:${C_PASSWORD}" "imaps://${E2E_HOST}:993/INBOX"
	assert_failure
	assert_output --partial "NO [AUTHENTICATIONFAILED]"
	run curl -sv --insecure -u "${C_EMAIL}:${C_PASSWORD}" "pop3s://${E2E_HOST}:995/"
	assert_failure
	assert_output --partial "-ERR [AUTH] Authentication failed"
	run swaks_submit 587 "${C_EMAIL}" "${C_PASSWORD}" "${A_EMAIL}" "body" --quit-after AUTH
	assert_failure
	assert_output --regexp '535 5\.7\.8'
	# and the cached failures go as soon as it is enabled again
	reactivate_mailbox "${C_EMAIL}"
	run curl -sS --insecure -u "${C_EMAIL}:${C_PASSWORD}" "imaps://${E2E_HOST}:993/INBOX" -X NOOP
	assert_success
}

@test "3h. delivery to a deactivated account is refused at RCPT with 550" {
	new_account D
	deactivate_mailbox "${D_EMAIL}"
	run swaks --server "${E2E_HOST}" --port 25 --from someone@outside.invalid \
		--to "${D_EMAIL}" --quit-after RCPT --timeout 20
	assert_failure
	assert_output --regexp '<[*~]\* +550 5\.1\.1 .*User unknown'
	run swaks_submit 587 "${A_EMAIL}" "${A_PASSWORD}" "${D_EMAIL}" "body" --quit-after RCPT
	assert_failure
	assert_output --regexp '<[*~]\* +550 5\.1\.1 .*User unknown'
}
