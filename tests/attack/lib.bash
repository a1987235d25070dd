# shellcheck shell=bash disable=SC2154 # ATTACK_* come from tests/attack/run, BATS_* from bats
# Helpers of the attack suite (tests/attack/*.bats). tests/attack/run starts
# the hosts and exports:
#   ATTACK_MAIL / ATTACK_MAIL_IP        the mail host, installed as a trial
#   ATTACK_DOMAIN / ATTACK_HOSTNAME     example.test / mail.example.test
#   ATTACK_STRANGERS / ATTACK_STRANGER_IPS  twelve other hosts, by number:
#     1  relay battery, smuggling, forged From (logs in as a signed-up user)
#     2  own domain as sender on port 25, and the honest outside sender
#     3-7  one password guesser per door: IMAP, POP3, SMTP AUTH, API, webmail
#     8  an innocent webmail user, while 7 guesses
#     9-11 idle connections; 12 the fourth address that must still get in
#   ATTACK_LOG_DIR                      scratch space, removed at the end

bats_load_library bats-support
bats_load_library bats-assert
# shellcheck source=tests/lib/nshost.bash
source "${BATS_TEST_DIRNAME}/../lib/nshost.bash"
# shellcheck source=tests/lib/wait.bash
source "${BATS_TEST_DIRNAME}/../lib/wait.bash"

# stranger N / stranger_ip N: the name / address of stranger N (1-12).
stranger() {
	local -a s
	read -r -a s <<<"${ATTACK_STRANGERS}"
	printf '%s\n' "${s[$1 - 1]}"
}
stranger_ip() {
	local -a s
	read -r -a s <<<"${ATTACK_STRANGER_IPS}"
	printf '%s\n' "${s[$1 - 1]}"
}

# on_mail COMMAND...: run COMMAND on the mail host (nshost_exec_detached: a
# daemon it starts does not keep bats waiting).
on_mail() {
	nshost_exec_detached "${ATTACK_MAIL}" "$@"
}

# from_stranger N COMMAND...: run COMMAND on stranger N.
from_stranger() {
	local host
	host=$(stranger "$1")
	shift
	nshost_exec "${host}" "$@"
}

# mail_api METHOD PATH [JSON]: accountd's API as the administrator, on the
# mail host; prints the body, then a last line with the HTTP status.
mail_api() {
	local method=$1 path=$2 body=${3:-}
	# shellcheck disable=SC2016 # expanded by the inner bash
	on_mail bash -c '
		args=(-sS -X "$1" -H "Authorization: Bearer $(cat /etc/mailnest/admin-token)" -w "\n%{http_code}\n")
		[[ -n $3 ]] && args+=(-H "Content-Type: application/json" --data "$3")
		curl "${args[@]}" "http://127.0.0.1:8080$2"' mail_api "${method}" "${path}" "${body}"
}

# new_user VAR: a signed-up stranger's account (through the public sign-up,
# as anyone can); sets VAR_EMAIL and VAR_PASSWORD.
new_user() {
	local var=$1 user password out
	user=t$(openssl rand -hex 5)
	password=Pw-$(openssl rand -hex 6)-$(openssl rand -hex 6)
	out=$(on_mail curl -sS -X POST -H 'Content-Type: application/json' \
		-H "X-Forwarded-For: 198.51.100.$((RANDOM % 250 + 1))" -w '\n%{http_code}' \
		--data "{\"username\":\"${user}\",\"password\":\"${password}\"}" \
		http://127.0.0.1:8080/api/v1/accounts)
	[[ ${out##*$'\n'} == 201 ]] || { echo "new_user ${user}: ${out}" >&2; return 1; }
	printf -v "${var}_EMAIL" '%s@%s' "${user}" "${ATTACK_DOMAIN}"
	printf -v "${var}_PASSWORD" '%s' "${password}"
}

# add_alias SOURCE DESTINATION: through accountd's admin API.
add_alias() {
	local out
	out=$(mail_api POST /api/v1/admin/aliases "{\"source\":\"$1\",\"destinations\":[\"$2\"]}")
	[[ ${out##*$'\n'} == 201 ]] || { echo "alias $1: ${out}" >&2; return 1; }
}

# imap_search_on_mail EMAIL PASSWORD TEXT: UIDs of INBOX messages holding
# TEXT (asked on the mail host itself, so no stranger's ban decides it).
imap_search_on_mail() {
	on_mail curl -sS --insecure --max-time 20 -u "$1:$2" "imaps://127.0.0.1:993/INBOX" \
		-X "UID SEARCH BODY \"$3\"" | tr -d '\r' | sed -n 's/^\* SEARCH//p' | tr ' ' '\n' | sed '/^$/d'
}
imap_has_on_mail() {
	[[ -n $(imap_search_on_mail "$@") ]]
}

# imap_message_on_mail EMAIL PASSWORD TEXT: the whole first message holding
# TEXT, CRLF turned into LF.
imap_message_on_mail() {
	local uid
	uid=$(imap_search_on_mail "$1" "$2" "$3" | head -n 1)
	[[ -n ${uid} ]] || return 1
	on_mail curl -sS --insecure --max-time 20 -u "$1:$2" "imaps://127.0.0.1:993/INBOX;UID=${uid}" | tr -d '\r'
}

# mail_queue_is_empty: nothing waits in Postfix's queue on the mail host.
mail_queue_is_empty() {
	[[ $(on_mail postqueue -j | wc -l) == 0 ]]
}

# banned_in JAIL IP: fail2ban on the mail host has banned IP in JAIL.
banned_in() {
	on_mail fail2ban-client status "$1" | grep -q "Banned IP list:.*\<$2\>"
}

# port_open_from N PORT: stranger N's TCP connection to the mail host is
# accepted within 3 seconds.
port_open_from() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	from_stranger "$1" timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "${ATTACK_MAIL_IP}" "$2" 2>/dev/null
}

# ---- relay, smuggling, own domain, idle flood (issue 12, items 2/3/6/7) ----

# smtp_probe N ARGS...: tests/attack/smtp_probe.py run on stranger N (its
# usage says what ARGS are).
smtp_probe() {
	local n=$1
	shift
	from_stranger "${n}" /usr/bin/python3 "${BATS_TEST_DIRNAME}/smtp_probe.py" "$@"
}

# mail_queue_recipients: one recipient a line of every message in Postfix's
# queue on the mail host.
mail_queue_recipients() {
	on_mail postqueue -j | grep -o '"address": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
}

# wait_mail_queue_empty SECONDS: Postfix's queue on the mail host drains.
wait_mail_queue_empty() {
	wait_until "$1" mail_queue_is_empty
}

# unlimited_sender EMAIL: no sending limits for EMAIL (mailnest-policyd would
# otherwise stop a young account after 10 messages an hour).
unlimited_sender() {
	local out
	out=$(mail_api PUT "/api/v1/admin/mailboxes/$1/send-limits" \
		'{"messages_per_hour":0,"messages_per_day":0,"recipients_per_message":0,"recipients_per_day":0}')
	[[ ${out##*$'\n'} == 200 ]] || { echo "send-limits $1: ${out}" >&2; return 1; }
}
