#!/usr/bin/env bats
# shellcheck disable=SC2154 # ATTACK_* come from tests/attack/run, *_EMAIL/*_PASSWORD from new_user
# SMTP smuggling (issue 12, item 1; CVE-2023-51764 and its kin), from
# stranger 1. Inside DATA, a non-standard end-of-data (<LF>.<LF> and the
# like) is followed by a second, forged transaction; a server that takes the
# fake end for the real one delivers the forged message. Every variant is
# sent in one TCP segment and split (the fake end, then each smuggled command,
# the smuggled message and the real end in segments of their own, 0.3 s
# apart, as a patient smuggler does), on 25 and on 587 after AUTH. The
# smuggled message goes to another mailbox (VICTIM) than the outer one
# (OUTER): VICTIM must receive nothing, and nothing for it may wait in the
# queue. The outer message's fate is Postfix's: with smtpd_forbid_bare_newline
# = normalize (install/68-postfix.sh) the fake end is no end, so the outer
# message is accepted whole, the smuggled lines being part of its body; with
# "yes" (older Postfix updates) the session is refused with 521. Each session
# prints what the server answered at the end.
load lib

setup_file() {
	new_user OUTER
	new_user VICTIM
	unlimited_sender "${OUTER_EMAIL}"
	RUN=$(openssl rand -hex 5)
	export OUTER_EMAIL OUTER_PASSWORD VICTIM_EMAIL VICTIM_PASSWORD RUN
}

# The fake ends of data: bare LF and bare CR in every position around the
# dot, and mixtures of the two.
readonly VARIANTS=('\n.\n' '\n.\r\n' '\r\n.\n' '\r.\r' '\r\n.\r' '\r.\r\n' '\r.\n' '\n.\r')

# smuggle PORT MODE USER PASSWORD FROM SMUGGLED_FROM: every variant, whole and
# split; prints one line per session: the variant, the way, the last reply.
smuggle() {
	local port=$1 mode=$2 user=$3 password=$4 from=$5 smuggled_from=$6
	local variant split head mail rcpt data body tail out n=0
	for variant in "${VARIANTS[@]}"; do
		for split in whole split; do
			n=$((n + 1))
			head="From: <${from}>\r\nTo: <${OUTER_EMAIL}>\r\nSubject: outer-${RUN}-${port}-${n}\r\n\r\nouter body${variant}"
			mail="MAIL FROM:<${smuggled_from}>\r\n"
			rcpt="RCPT TO:<${VICTIM_EMAIL}>\r\n"
			data='DATA\r\n'
			body="From: <${smuggled_from}>\r\nTo: <${VICTIM_EMAIL}>\r\nSubject: smuggled-${RUN}\r\n\r\nsmuggled-${RUN} ${port} ${n}\r\n"
			tail='.\r\n'
			if [[ ${split} == whole ]]; then
				out=$(smtp_probe 1 data "${ATTACK_MAIL_IP}" "${port}" "${mode}" "${user}" "${password}" \
					"${from}" "${OUTER_EMAIL}" 0 "${head}${mail}${rcpt}${data}${body}${tail}" 2>&1) || true
			else
				# Each smuggled command in its own segment after a pause, as a
				# client waiting for each reply would: pipelining checks
				# (reject_unauth_pipelining) cannot see anything wrong.
				out=$(smtp_probe 1 data "${ATTACK_MAIL_IP}" "${port}" "${mode}" "${user}" "${password}" \
					"${from}" "${OUTER_EMAIL}" 0.3 "${head}" "${mail}" "${rcpt}" "${data}" "${body}" "${tail}" 2>&1) || true
			fi
			# The replies after DATA's 354; a session that never got that far
			# proves nothing and is marked (the tests refuse it).
			if grep -q '^354' <<<"${out}"; then
				out=$(sed '1,/^354/d' <<<"${out}")
			else
				out="NO DATA PHASE: ${out}"
			fi
			printf '%-10s %-5s -> %s\n' "${variant}" "${split}" "$(tr '\n' ' ' <<<"${out}")"
		done
	done
}

# outer_fate: what became of the outer messages (bats's $output of smuggle):
# taken whole (normalize) or refused (yes). Said, not judged.
outer_fate() {
	echo "# outer messages: $(grep -c ' queued as ' <<<"${output}") accepted, $(grep -vc ' queued as ' <<<"${output}") refused" >&3
}

# nothing_smuggled: no message reached VICTIM, none waits for it.
nothing_smuggled() {
	wait_until 60 mail_queue_is_empty || { on_mail postqueue -p; return 1; }
	run imap_search_on_mail "${VICTIM_EMAIL}" "${VICTIM_PASSWORD}" "smuggled-${RUN}"
	assert_success
	assert_output ''
}

@test "port 25: no end-of-data variant, whole or split, smuggles a message" {
	run smuggle 25 plain - - someone@elsewhere.test ceo@bank.elsewhere.test
	printf '# %s\n' "${lines[@]}" >&3
	echo "# ${#lines[@]} smuggling sessions on port 25" >&3
	((${#lines[@]} == 2 * ${#VARIANTS[@]}))
	refute_output --partial 'NO DATA PHASE'
	outer_fate
	nothing_smuggled
}

@test "port 587 after AUTH: no end-of-data variant, whole or split, smuggles a message" {
	run smuggle 587 starttls "${OUTER_EMAIL}" "${OUTER_PASSWORD}" "${OUTER_EMAIL}" "${OUTER_EMAIL}"
	printf '# %s\n' "${lines[@]}" >&3
	echo "# ${#lines[@]} smuggling sessions on port 587" >&3
	((${#lines[@]} == 2 * ${#VARIANTS[@]}))
	refute_output --partial 'NO DATA PHASE'
	outer_fate
	nothing_smuggled
}
