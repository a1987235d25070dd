#!/usr/bin/env bats
# Issue 3, test 6: PM2 brings accountd back within 5 s of a SIGKILL, and a
# second run of the installer changes nothing and breaks nothing. Issue 13:
# one PM2 daemon (root's) runs accountd and policyd, each as its own user.

# E2E_* come from tests/lib/e2e.bash; X_EMAIL and X_PASSWORD from new_account X.
# shellcheck disable=SC2153,SC2154
load ../lib/e2e

REPO=$(cd -- "${BATS_TEST_DIRNAME}/../.." && pwd -P)

@test "6a. accountd killed with SIGKILL is back within 5 s under PM2" {
	local old pid table=/var/lib/accountd/ratelimit/register.table inode
	old=$(accountd_pids | head -n 1)
	[[ ${old} =~ ^[1-9][0-9]*$ ]]
	inode=$(stat -c %i "${table}")
	kill -KILL "${old}"
	# Back means: PM2 runs two processes again, neither is the killed one,
	# and each holds the listening socket (the other one kept serving).
	replaced_and_listening() {
		local pids p
		pids=$(accountd_pids)
		[[ $(wc -l <<<"${pids}") -eq 2 ]] || return 1
		! grep -qx -- "${old}" <<<"${pids}" || return 1
		for p in ${pids}; do accountd_listening "${p}" || return 1; done
		healthz_answers
	}
	wait_until 5 replaced_and_listening
	for pid in $(accountd_pids); do
		run ps -o user= -p "${pid}"
		assert_output accountd
		# One rate-limit budget for both: each maps the same table, and
		# the replacement joined it rather than starting a new one.
		run awk -v f="${table}" '$6 == f { print $5 }' "/proc/${pid}/maps"
		assert_output "${inode}"
	done
	run stat -c '%a %U' "${table}"
	assert_output '600 accountd'
}

# status_of PID: its user and group ids, supplementary groups and
# no_new_privs, from /proc (real, effective, saved and fs ids each).
status_of() {
	awk '/^(Uid|Gid|Groups|NoNewPrivs):/' "/proc/$1/status"
}

# expect_runs_as PID USER: all four ids are USER's, its groups are USER's
# (initgroups), and it cannot gain privileges.
expect_runs_as() {
	local pid=$1 user=$2 uid gid groups
	uid=$(id -u "${user}")
	gid=$(id -g "${user}")
	groups=$(id -G "${user}" | tr ' ' '\n' | sort -n | tr '\n' ' ')
	run status_of "${pid}"
	assert_line "Uid:	${uid}	${uid}	${uid}	${uid}"
	assert_line "Gid:	${gid}	${gid}	${gid}	${gid}"
	assert_line 'NoNewPrivs:	1'
	assert_equal "$(awk '/^Groups:/ { $1 = ""; print }' "/proc/${pid}/status" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" "${groups}"
}

@test "6c. one PM2 daemon, root's, runs accountd and policyd, each as its own user" {
	local daemons pid app
	daemons=$(pgrep -f '^PM2 v[0-9.]+: God Daemon')
	assert_equal "$(wc -l <<<"${daemons}")" 1
	assert_equal "$(ps -o user= -p "${daemons}")" root
	grep -qx /var/lib/mailnest/pm2 <(tr '\0' '\n' <"/proc/${daemons}/environ" | sed -n 's/^PM2_HOME=//p')
	# Its RPC sockets are root's only.
	run stat -c '%a %U' /var/lib/mailnest/pm2
	assert_output '700 root'
	# No daemon of the former per-user layout.
	[[ ! -e /var/lib/accountd/.pm2 && ! -e /var/lib/policyd/.pm2 ]]
	for pid in $(accountd_pids); do
		assert_equal "$(ps -o ppid= -p "${pid}" | tr -d ' ')" "${daemons}"
		assert_equal "$(ps -o comm= -p "${pid}")" accountd
		expect_runs_as "${pid}" accountd
	done
	for app in mailnest-policyd mailnest-policyd-milter; do
		pid=$(mailnest-pm2 pid "${app}" | grep -E '^[1-9][0-9]*$')
		assert_equal "$(ps -o ppid= -p "${pid}" | tr -d ' ')" "${daemons}"
		expect_runs_as "${pid}" policyd
	done
	# Exactly the processes PM2 knows: none runs twice.
	assert_equal "$(pgrep -c -x accountd)" 2
	assert_equal "$(pgrep -c -x mailnest-policy)" 2
	# The logs PM2 (root) writes are not for everyone to read.
	run stat -c '%a %U:%G' /var/log/mailnest /var/log/mailnest-policyd
	assert_output $'750 root:accountd\n750 root:policyd'
}

# state: what a re-run must leave alone: configuration files and the
# daemons' process ids.
state() {
	sha256sum /etc/mailnest/* /etc/mailnest/tls/* /etc/mailnest/secrets/* \
		/etc/postfix/main.cf /etc/postfix/master.cf /etc/postfix/sql/* \
		/etc/dovecot/dovecot.conf /etc/dovecot/mailnest-sql.conf.ext 2>/dev/null
	stat -c '%n %U:%G %a' /etc/mailnest/* /etc/mailnest/tls/* /etc/postfix/sql/*
	printf 'postfix %s\n' "$(cat /var/spool/postfix/pid/master.pid)"
	printf 'dovecot %s\n' "$(cat /run/dovecot/master.pid)"
	printf 'mariadb %s\n' "$(pgrep -o -x mariadbd)"
	printf 'accountd %s\n' "$(accountd_pids | tr '\n' ' ')"
	printf 'pm2 %s\n' "$(cat /var/lib/mailnest/pm2/pm2.pid)"
	printf 'policyd %s\n' "$(mailnest-pm2 pid mailnest-policyd) $(mailnest-pm2 pid mailnest-policyd-milter)"
	readlink /opt/mailnest/current
}

# me_status TOKEN: the status of GET /api/v1/me on a new connection; the
# kernel spreads new connections over both accountd processes (SO_REUSEPORT).
me_status() {
	curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "${E2E_API}/api/v1/me"
}

@test "6d. a logout is refused at once by both accountd processes, whichever had the session cached" {
	local token i
	new_account R
	token=$(curl -sS -H 'Content-Type: application/json' -H "X-Forwarded-For: $(random_client_ip)" \
		--data "{\"email\":\"${R_EMAIL}\",\"password\":\"${R_PASSWORD}\"}" \
		"${E2E_API}/api/v1/sessions" | jq -r .token)
	[[ ${#token} -ge 40 ]]
	# Twenty new connections: both processes answer and cache the session
	# (all on one process: a chance of 2^-19).
	for ((i = 0; i < 20; i++)); do
		assert_equal "$(me_status "${token}")" 200
	done
	run curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer ${token}" \
		"${E2E_API}/api/v1/sessions/current"
	assert_output 204
	for ((i = 0; i < 20; i++)); do
		assert_equal "$(me_status "${token}")" 401
	done
	run stat -c '%a %U' /var/lib/accountd/revocations
	assert_output '600 accountd'
}

@test "6b. running the installer a second time changes nothing and breaks nothing" {
	local before
	before=$(state)
	run "${REPO}/install.sh" </dev/null 3>&-
	assert_success
	refute_output --regexp '(starting|reloading|restarting|rendered|wrote |installed /|installed the|making a|building)'
	assert_equal "$(state)" "${before}"

	# And mail still flows.
	new_account A
	new_account B
	local marker body
	marker=$(random_word)
	body=$(mktemp)
	message_body "${marker}" >"${body}"
	run swaks_submit 587 "${A_EMAIL}" "${A_PASSWORD}" "${B_EMAIL}" "${body}"
	assert_success
	wait_until_in_imap "${B_EMAIL}" "${B_PASSWORD}" "${marker}" 30
	rm -f -- "${body}"
}
