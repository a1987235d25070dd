# shellcheck shell=bash
# Helpers of the mail authentication tests (issue 4). The hosts are up
# already (tests/mailauth/run called twohosts_up); these only use them.
# Load with: load helpers

bats_load_library bats-support
bats_load_library bats-assert

# shellcheck source=tests/lib/twohosts.bash
source "${BATS_TEST_DIRNAME:?run by bats}/../lib/twohosts.bash"

# new_user HOST DOMAIN VAR: a fresh mailbox; sets VAR_EMAIL, VAR_PASSWORD.
new_user() {
	local email password
	email="u$(openssl rand -hex 4)@$2"
	password="Pw-$(openssl rand -hex 8)"
	twohosts_add_user "$1" "${email}" "${password}" >/dev/null || return 1
	printf -v "$3_EMAIL" '%s' "${email}"
	printf -v "$3_PASSWORD" '%s' "${password}"
}

marker() {
	printf 'mk%s\n' "$(openssl rand -hex 6)"
}

# submit FROM_HOST SERVER_IP EMAIL PASSWORD TO MARKER: authenticated
# submission on 587 with STARTTLS, from inside FROM_HOST (or from the
# machine when FROM_HOST is "-").
submit() {
	local from_host=$1 server=$2 email=$3 password=$4 to=$5 mark=$6
	local -a cmd=(swaks --server "${server}" --port 587 --tls --auth PLAIN
		--auth-user "${email}" --auth-password "${password}" --from "${email}" --to "${to}"
		--header "Subject: test ${mark}" --body "marker ${mark}" --timeout 30)
	if [[ ${from_host} == - ]]; then "${cmd[@]}"; else twohosts_exec "${from_host}" "${cmd[@]}"; fi
}

# wait_for_mail IP EMAIL PASSWORD MARKER [SECONDS]
wait_for_mail() {
	wait_until "${5:-30}" twohosts_imap_has "$1" "$2" "$3" "$4"
}

# auth_results IP EMAIL PASSWORD MARKER: the Authentication-Results fields.
auth_results() {
	twohosts_imap_fetch "$@" | twohosts_header Authentication-Results
}

# mail_log HOST: Postfix's log in that host.
mail_log() {
	nshost_exec "$1" cat /var/log/mail.log
}

# dkim_signature IP EMAIL PASSWORD MARKER: the DKIM-Signature field(s).
dkim_signature() {
	twohosts_imap_fetch "$@" | twohosts_header DKIM-Signature
}

# dkimpy_verify HOST < MESSAGE: dkimpy (python3-dkim) checks the message's
# signature from inside HOST, with the keys that host's DNS serves.
dkimpy_verify() {
	twohosts_exec "$1" /usr/bin/python3 -c '
import dkim, sys
ok = dkim.verify(sys.stdin.buffer.read())
print("dkimpy:", "pass" if ok else "fail")
sys.exit(0 if ok else 1)'
}

# log_lines HOST PATTERN...: lines of Postfix's log in HOST that contain
# every PATTERN (fixed strings).
log_lines() {
	local host=$1 lines
	shift
	lines=$(mail_log "${host}")
	for pattern in "$@"; do
		lines=$(grep -F -- "${pattern}" <<<"${lines}" || true)
	done
	printf '%s' "${lines}"
}

# refute_delivered IP EMAIL PASSWORD MARKER COUNT_BEFORE: no message with
# MARKER in the mailbox, which still holds COUNT_BEFORE messages.
refute_delivered() {
	run twohosts_imap_search "$1" "$2" "$3" "$4"
	assert_output ""
	run twohosts_imap_count "$1" "$2" "$3"
	assert_output "$5"
}
