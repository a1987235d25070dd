# shellcheck shell=bash
# Helpers of the sending-limit tests (issue 7, tests 1-4), run inside a
# throw-away host where ./install.sh installed the whole stack. On top of
# tests/lib/e2e.bash: sending N messages over 587, counting what reached a
# Maildir, and driving mailnest-policyd (its PM2, its socket, its log).
#   load lib

load ../lib/e2e
# BATS_TEST_DIRNAME is set by bats.
# shellcheck disable=SC2154 source=policyd/tests/lib/policy_client.bash
source "${BATS_TEST_DIRNAME}/../../policyd/tests/lib/policy_client.bash"

POLICY_SOCKET=/var/spool/postfix/mailnest/policy
POLICYD_LOG_DIR=/var/log/mailnest-policyd

# send_one FROM PASSWORD TO MARKER: one message over 587; swaks's output.
send_one() {
	local body
	body=$(mktemp)
	printf 'marker %s\nmessage %s\n' "$4" "${RANDOM}" >"${body}"
	swaks_submit 587 "$1" "$2" "$3" "${body}" --header "Subject: limits $4"
	local rc=$?
	rm -f -- "${body}"
	return "${rc}"
}

# send_many N VAR MARKER: N messages from VAR's account to itself; prints
# one line per message, "ok" or the refusal swaks saw.
send_many() {
	local n=$1 var=$2 marker=$3 i out email password
	email=${var}_EMAIL
	password=${var}_PASSWORD
	for ((i = 0; i < n; i++)); do
		if out=$(send_one "${!email}" "${!password}" "${!email}" "${marker}" 2>&1); then
			echo ok
		else
			# swaks marks a refusal "<**" (or "<~*" inside TLS)
			grep -E '^<[~*]\* ' <<<"${out}" | tail -n 1 | sed 's/^<~\*/<**/'
		fi
	done
}

# maildir_count EMAIL MARKER: messages with MARKER in the mailbox's Maildir.
maildir_count() {
	local domain=${1#*@} user=${1%@*}
	grep -rlF -- "marker $2" "/var/vmail/${domain}/${user}/Maildir/new" \
		"/var/vmail/${domain}/${user}/Maildir/cur" 2>/dev/null | wc -l
}

maildir_count_is() {
	[[ $(maildir_count "$1" "$2") == "$3" ]]
}

queue_is_empty() {
	[[ $(postqueue -j 2>/dev/null | wc -l) == 0 ]]
}

# delivered_exactly EMAIL MARKER N: N messages arrived, the queue drained,
# and no more arrive after it did (a duplicate would show here).
delivered_exactly() {
	wait_until 60 maildir_count_is "$1" "$2" "$3" || {
		echo "expected $3 messages with $2 in $1, found $(maildir_count "$1" "$2")" >&2
		return 1
	}
	wait_until 60 queue_is_empty || { postqueue -p >&2; return 1; }
	[[ $(maildir_count "$1" "$2") == "$3" ]] || {
		echo "found $(maildir_count "$1" "$2") messages with $2 in $1, expected $3" >&2
		return 1
	}
}

# pm2_root ARGS...: mailnest's one PM2 daemon (root's), as the installer
# and an administrator reach it.
pm2_root() {
	mailnest-pm2 "$@" </dev/null 3>&-
}

policyd_pid() {
	pm2_root pid mailnest-policyd 2>/dev/null | grep -E '^[1-9][0-9]*$'
}

policy_socket_answers() {
	printf 'request=smtpd_access_policy\nprotocol_state=CONNECT\n\n' |
		socat -t 5 -T 5 - "UNIX-CONNECT:${POLICY_SOCKET}" | grep -q '^action=DUNNO$'
}

restart_policyd() {
	pm2_root restart mailnest-policyd >/dev/null
	wait_until 20 policy_socket_answers
}

policyd_log() {
	cat "${POLICYD_LOG_DIR}"/*.log 2>/dev/null || true
}

policyd_metrics() {
	socat -t 5 - UNIX-CONNECT:/var/lib/policyd/metrics.sock
}

db_root() {
	mariadb --batch --skip-column-names mailnest -e "$*"
}

# backdate_account EMAIL DAYS: as if it had been created DAYS ago.
backdate_account() {
	db_root "UPDATE mailboxes SET created_at = UTC_TIMESTAMP(3) - INTERVAL $2 DAY WHERE email = '$1'"
}

# set_send_limits EMAIL JSON: through accountd's admin API (200).
set_send_limits() {
	local out
	out=$(admin_api PUT "/api/v1/admin/mailboxes/$1/send-limits" "$2")
	[[ ${out##*$'\n'} == 200 ]] || { echo "send-limits $1: ${out}" >&2; return 1; }
}
