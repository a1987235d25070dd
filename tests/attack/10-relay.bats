#!/usr/bin/env bats
# shellcheck disable=SC2154 # ATTACK_* come from tests/attack/run, *_EMAIL/*_PASSWORD from new_user
# The relay battery (issue 12, item 7), from stranger 1: every recipient form
# that has ever opened a relay (percent hack, bang paths, quoted local parts,
# source routes, IP literals, trailing dots, upper case, and mixtures) on
# port 25, on 587 without STARTTLS, with STARTTLS but no AUTH, and on 465
# without AUTH. Not one may be accepted (a 2xx to RCPT TO): "accepted" is
# what an open relay answers. With AUTH on 587 an account may send anywhere,
# so there a trick gains nothing over the plain foreign address; the
# authenticated session is the control that the same dialogue does get 250s
# when the client has the right to them.
load lib

# RECIPIENTS: the tricks, each with its <>. elsewhere.test and other.test are
# foreign; example.test and mail.example.test (and the host's address) ours.
recipients() {
	local ours=${ATTACK_DOMAIN} host=${ATTACK_HOSTNAME} ip=${ATTACK_MAIL_IP}
	printf '%s\n' \
		'<user@elsewhere.test>' '<USER@ELSEWHERE.TEST>' '<user@Elsewhere.Test>' \
		"<user%elsewhere.test@${ours}>" "<user%elsewhere.test@${host}>" \
		"<user%elsewhere.test@[${ip}]>" "<user%elsewhere.test@localhost>" \
		"<elsewhere.test!user@${ours}>" "<elsewhere.test!user@${host}>" \
		"<elsewhere.test!user@[${ip}]>" \
		"<\"user@elsewhere.test\"@${ours}>" "<\"user@elsewhere.test\"@${host}>" \
		"<\"user%elsewhere.test\"@${ours}>" "<\"elsewhere.test!user\"@${host}>" \
		"<@${ours}:user@elsewhere.test>" "<@${host}:user@elsewhere.test>" \
		"<@${ours},@${host}:user@elsewhere.test>" "<@[${ip}]:user@elsewhere.test>" \
		'<user@[10.231.0.1]>' '<user@[10.231.0.250]>' '<user@[127.0.0.1]>' "<user@[IPv6:::1]>" \
		'<user@elsewhere.test.>' "<user%elsewhere.test@${ours}.>" "<user@elsewhere.test.${ours}>" \
		"<user@elsewhere.test@${ours}>" "<user@${ours}@elsewhere.test>" \
		"<elsewhere.test!user%other.test@${ours}>" "<user%other.test%elsewhere.test@${host}>" \
		"<elsewhere.test!other.test!user@${host}>" "<other.test!user%elsewhere.test@${ours}>" \
		"<USER%ELSEWHERE.TEST@${ours^^}>" "<ELSEWHERE.TEST!USER@${host^^}>" \
		"<\"USER@ELSEWHERE.TEST\"@${host^^}>" "<@${host^^}:USER@ELSEWHERE.TEST>" \
		"<user%elsewhere.test.@${host}.>" "<postmaster%elsewhere.test@${host}>"
}

# battery PORT MODE USER PASSWORD FROM: one line per recipient, "CODE RCPT
# REPLY"; fails if the dialogue itself could not be held.
battery() {
	local -a rcpts
	mapfile -t rcpts < <(recipients)
	smtp_probe 1 rcpt "${ATTACK_MAIL_IP}" "$1" "$2" "$3" "$4" "$5" "${rcpts[@]}"
}

# accepted: the lines of the last run whose code is 2xx.
accepted() {
	printf '%s\n' "${lines[@]}" | grep -c '^2' || true
}

@test "the relay battery: 0 of all attempts accepted without AUTH on 25, 587 and 465" {
	local door total=0 taken=0 n a
	local -a doors=("25 plain" "587 plain" "587 starttls" "465 tls")
	for door in "${doors[@]}"; do
		# shellcheck disable=SC2086 # PORT MODE
		run battery ${door} - - someone@elsewhere.test
		assert_success
		n=${#lines[@]}
		a=$(accepted)
		echo "# port ${door}: ${n} relay attempts, ${a} accepted" >&3
		printf '%s\n' "${lines[@]}" | grep '^2' | sed 's/^/#   ACCEPTED: /' >&3 || true
		((n == $(recipients | wc -l)))
		total=$((total + n)) taken=$((taken + a))
	done
	echo "# ${total} relay attempts, ${taken} accepted" >&3
	((taken == 0))
	# Nothing for a foreign host waits in the queue either.
	run mail_queue_recipients
	refute_output --regexp 'elsewhere|other\.test|\[10\.'
}

@test "the control: an authenticated session on 587 gets its 250 for a foreign recipient" {
	new_user RELAY
	run smtp_probe 1 rcpt "${ATTACK_MAIL_IP}" 587 starttls "${RELAY_EMAIL}" "${RELAY_PASSWORD}" \
		"${RELAY_EMAIL}" '<user@elsewhere.test>' '<USER@ELSEWHERE.TEST>'
	assert_success
	echo "# authenticated: $(accepted) of ${#lines[@]} foreign recipients accepted" >&3
	assert_line --index 0 --regexp '^250 '
}
