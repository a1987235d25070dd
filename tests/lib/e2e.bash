# shellcheck shell=bash
# Shared helpers of the end-to-end tests in tests/e2e. They talk to the
# installed system only through the doors a user has: accountd's HTTP API on
# 127.0.0.1:8080, SMTP (swaks, curl), IMAP and POP3 (curl), TLS (openssl
# s_client). Every wait is a bounded poll. Load with:
#   load ../lib/e2e
# Names read as sentences: create_account, send_submission, wait_until_in_imap.

bats_load_library bats-support
bats_load_library bats-assert

E2E_HOST=127.0.0.1
E2E_API=http://127.0.0.1:8080
E2E_DOMAIN=$(sed -n 's/^MAILNEST_DOMAIN=//p' /etc/mailnest/mailnest.conf)
E2E_QUOTA_FULL=$(sed -n 's/^MAILNEST_QUOTA_FULL=//p' /etc/mailnest/mailnest.conf)
export E2E_HOST E2E_API E2E_DOMAIN E2E_QUOTA_FULL

# shellcheck source=tests/lib/wait.bash
source "${BASH_SOURCE[0]%/*}/wait.bash"

port_is_open() {
	(exec 3<>"/dev/tcp/${E2E_HOST}/$1") 2>/dev/null
}

wait_until_port_open() {
	wait_until "${2:-30}" port_is_open "$1"
}

# random_word: 10 lower-case letters and digits, starting with a letter.
random_word() {
	printf 't%s\n' "$(openssl rand -hex 5)"
}

# strong_password: long and random, so that no strength rule refuses it.
strong_password() {
	printf 'Pw-%s-%s\n' "$(openssl rand -hex 6)" "$(openssl rand -hex 6)"
}

# A client address from a documentation range (RFC 5737) per registration:
# accountd trusts X-Forwarded-For from 127.0.0.1 (the local reverse proxy),
# so each test account counts against a different client's registration
# budget, as registrations through the web front end would.
random_client_ip() {
	printf '198.51.100.%d\n' $((RANDOM % 250 + 1))
}

admin_token() {
	cat /etc/mailnest/admin-token
}

# api METHOD PATH [JSON]: call accountd as the admin; prints the body, then a
# last line with the HTTP status.
admin_api() {
	local method=$1 path=$2 body=${3:-}
	local -a args=(-sS -X "${method}" -H "Authorization: Bearer $(admin_token)" -w '\n%{http_code}\n')
	[[ -n ${body} ]] && args+=(-H 'Content-Type: application/json' --data "${body}")
	curl "${args[@]}" "${E2E_API}${path}"
}

# create_account LOCALPART PASSWORD: register through the public API (201).
create_account() {
	local user=$1 password=$2 out
	out=$(curl -sS -X POST -H 'Content-Type: application/json' \
		-H "X-Forwarded-For: $(random_client_ip)" -w '\n%{http_code}' \
		--data "{\"username\":\"${user}\",\"password\":\"${password}\"}" \
		"${E2E_API}/api/v1/accounts")
	[[ ${out##*$'\n'} == 201 ]] || {
		echo "create_account ${user}: ${out}" >&2
		return 1
	}
}

deactivate_mailbox() {
	local out
	out=$(admin_api PATCH "/api/v1/admin/mailboxes/$1" '{"active":false}')
	[[ ${out##*$'\n'} == 200 ]] || { echo "deactivate $1: ${out}" >&2; return 1; }
}

# reactivate_mailbox EMAIL: through accountd's admin API.
reactivate_mailbox() {
	local out
	out=$(admin_api PATCH "/api/v1/admin/mailboxes/$1" '{"active":true}')
	[[ ${out##*$'\n'} == 200 ]] || { echo "reactivate $1: ${out}" >&2; return 1; }
}

set_quota() {
	local out
	out=$(admin_api PATCH "/api/v1/admin/mailboxes/$1" "{\"quota_bytes\":$2}")
	[[ ${out##*$'\n'} == 200 ]] || { echo "quota $1: ${out}" >&2; return 1; }
}

add_alias() {
	local out
	out=$(admin_api POST /api/v1/admin/aliases "{\"source\":\"$1\",\"destinations\":[\"$2\"]}")
	[[ ${out##*$'\n'} == 201 ]] || { echo "alias $1: ${out}" >&2; return 1; }
}

# new_account VAR: create an account and set VAR_EMAIL and VAR_PASSWORD.
new_account() {
	local var=$1 user password
	user=$(random_word)
	password=$(strong_password)
	create_account "${user}" "${password}" || return 1
	printf -v "${var}_EMAIL" '%s@%s' "${user}" "${E2E_DOMAIN}"
	printf -v "${var}_PASSWORD" '%s' "${password}"
}

# message_body MARKER: a body that proves it arrived intact: a marker, a
# line that is a single dot (SMTP dot-stuffing), leading spaces, 8 KiB of
# base64 lines.
message_body() {
	printf 'marker %s\n.\n..leading dots\n  two leading spaces\n' "$1"
	openssl rand -base64 6144
	printf 'end of %s\n' "$1"
}

# swaks_submit PORT FROM PASSWORD TO BODYFILE [swaks args...]: submit over
# 587 (STARTTLS) or 465 (implicit TLS) with AUTH.
swaks_submit() {
	local port=$1 from=$2 password=$3 to=$4 body=$5 tls=--tls
	shift 5
	[[ ${port} == 465 ]] && tls=--tls-on-connect
	swaks --server "${E2E_HOST}" --port "${port}" "${tls}" \
		--auth PLAIN --auth-user "${from}" --auth-password "${password}" \
		--from "${from}" --to "${to}" --header "Subject: e2e $(basename -- "${body}")" \
		--body "${body}" --timeout 30 "$@"
}

# imap_search EMAIL PASSWORD TEXT: print the UIDs of INBOX messages with TEXT.
imap_search() {
	curl -sS --insecure --max-time 20 -u "$1:$2" "imaps://${E2E_HOST}:993/INBOX" \
		-X "UID SEARCH BODY \"$3\"" | tr -d '\r' | sed -n 's/^\* SEARCH//p' | tr ' ' '\n' | sed '/^$/d'
}

imap_has() {
	[[ -n $(imap_search "$@") ]]
}

wait_until_in_imap() {
	wait_until "${4:-30}" imap_has "$1" "$2" "$3"
}

# imap_fetch_body EMAIL PASSWORD TEXT: the body (after the header) of the
# first message containing TEXT, with CRLF turned into LF.
imap_fetch_body() {
	local uid
	uid=$(imap_search "$1" "$2" "$3" | head -n 1)
	[[ -n ${uid} ]] || return 1
	curl -sS --insecure --max-time 20 -u "$1:$2" "imaps://${E2E_HOST}:993/INBOX;UID=${uid}" |
		tr -d '\r' | sed '1,/^$/d'
}

# pop3_fetch_body EMAIL PASSWORD TEXT: the same over POP3S.
pop3_fetch_body() {
	local n count msg
	count=$(curl -sS --insecure --max-time 20 -u "$1:$2" "pop3s://${E2E_HOST}:995/" | wc -l)
	for ((n = 1; n <= count; n++)); do
		msg=$(curl -sS --insecure --max-time 20 -u "$1:$2" "pop3s://${E2E_HOST}:995/${n}" | tr -d '\r')
		if grep -qF -- "$3" <<<"${msg}"; then
			sed '1,/^$/d' <<<"${msg}"
			return 0
		fi
	done
	return 1
}

# smtp_reply: read one (possibly multi-line) SMTP reply from fd 3.
smtp_reply() {
	local line
	while IFS= read -r -t 10 line <&3; do
		printf '%s\n' "${line%$'\r'}"
		[[ ${line:3:1} == - ]] || break
	done
}

# smtp_dialogue PORT COMMAND...: a raw, unencrypted SMTP dialogue over
# bash's /dev/tcp; prints every reply of the server.
smtp_dialogue() {
	local port=$1 command
	shift
	exec 3<>"/dev/tcp/${E2E_HOST}/${port}"
	smtp_reply
	for command in "$@"; do
		printf '%s\r\n' "${command}" >&3
		smtp_reply
	done
	exec 3>&-
}

mail_log() {
	cat /var/log/mail.log 2>/dev/null || journalctl -q -u postfix --no-pager 2>/dev/null || true
}

dovecot_log() {
	cat /var/log/dovecot.log 2>/dev/null || journalctl -q -u dovecot --no-pager 2>/dev/null || true
}

# service_do NAME ACTION: start/stop a daemon as the installer does. The
# daemon must not inherit bats's descriptors (bats would wait for it).
service_do() {
	if [[ -d /run/systemd/system ]]; then
		systemctl "$2" "$1"
	else
		service "$1" "$2"
	fi </dev/null >/dev/null 2>&1 3>&-
}

mariadb_is_up() {
	mariadb-admin --protocol=socket --user=root ping
}

mariadb_is_down() {
	! mariadb_is_up
}

# accountd_pids: the processes of accountd that mailnest's PM2 runs.
accountd_pids() {
	mailnest-pm2 pid accountd 2>/dev/null | grep -E '^[1-9][0-9]*$' | sort -n
}

# accountd_listening PID: that process holds accountd's listening socket.
accountd_listening() {
	ss -Hltnp | grep -F "${E2E_API#http://}" | grep -q "pid=$1,"
}
healthz_answers() {
	curl -fsS --max-time 1 "${E2E_API}/healthz"
}
