#!/usr/bin/env bats
# Issue 7, test 5: ten wrong passwords from one address, on IMAP, on SMTP
# AUTH or on accountd's login, ban that address on every mail and web port;
# an address that never failed keeps them all. One attacker per door, so
# that each jail is proven on its own.

# ABUSE_* come from tests/abuse/run.
# shellcheck disable=SC2154
load lib

setup_file() {
	local port
	# 143 and 110 must be open for their ban to be provable.
	if ! on_mail nft list set inet mailnest public_tcp | grep -q '\<143\>'; then
		set_setting MAILNEST_PLAIN_PORTS yes
		install_mail_host >/dev/null
	fi
	for port in 80 443; do
		listen_on 0.0.0.0 "${port}"
	done
	if ! on_mail bash -c 'mariadb -N -e "SELECT 1 FROM mailnest.mailboxes WHERE email = \"victim@example.test\"" | grep -q 1'; then
		on_mail bash -c 'printf "%s\n" "$0" | runuser -u accountd -- env ACCOUNTD_CONFIG_FILE=/etc/mailnest/accountd.env /opt/mailnest/current/bin/accountd user add victim@example.test' "${ABUSE_PASSWORD}"
	fi
}

# attacker N: host name and address of the Nth attacker (1-5).
attacker() {
	local -a names ips
	read -r -a names <<<"${ABUSE_ATTACKERS}"
	read -r -a ips <<<"${ABUSE_ATTACKER_IPS}"
	ATTACKER=${names[$1 - 1]}
	ATTACKER_IP=${ips[$1 - 1]}
}

# reaches_every_port HOST: HOST connects to every mail and web port.
reaches_every_port() {
	local port
	for port in "${ABUSE_MAIL_WEB_PORTS[@]}"; do
		port_open "$1" "${port}" || fail "$1 cannot reach port ${port}"
	done
}

# shut_out_of_every_port HOST: every connection from HOST fails.
shut_out_of_every_port() {
	local port
	for port in "${ABUSE_MAIL_WEB_PORTS[@]}"; do
		if port_open "$1" "${port}"; then
			fail "$1 still reaches port ${port}"
		fi
	done
}

# ten_times COMMAND...: run COMMAND ten times at once (the way a guesser
# works, and Dovecot's growing delay per failure stays bounded), wait for
# all.
ten_times() {
	local i pids=()
	for i in {1..10}; do
		"$@" >/dev/null 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "${i}" || true
	done
}

# accountd_login_fails HOST IP: one wrong password at accountd's login, from
# IP; prints the HTTP status. Through Nginx on 443 (the real door) when it serves /api/; until then
# from inside the mail host, naming IP in X-Forwarded-For, which accountd
# trusts from loopback only, as it trusts Nginx.
accountd_login_fails() {
	local body='{"email":"victim@example.test","password":"wrong-password-1"}'
	if [[ ${ACCOUNTD_DOOR} == nginx ]]; then
		nshost_exec "$1" curl -sk --max-time 10 -o /dev/null -w '%{http_code}\n' --resolve "mail.example.test:443:${ABUSE_MAIL_IP}" \
			-H 'Content-Type: application/json' -d "${body}" https://mail.example.test/api/v1/sessions
	else
		on_mail curl -s --max-time 10 -o /dev/null -w '%{http_code}\n' -H "X-Forwarded-For: $2" \
			-H 'Content-Type: application/json' -d "${body}" http://127.0.0.1:8080/api/v1/sessions
	fi
}

# accountd_door: ACCOUNTD_DOOR=nginx when Nginx serves accountd's API on
# 443 (an empty login is answered by accountd's JSON error), else loopback.
accountd_door() {
	local answer
	answer=$(nshost_exec "${ABUSE_INNOCENT}" curl -sk --max-time 10 -w ' %{http_code}' \
		--resolve "mail.example.test:443:${ABUSE_MAIL_IP}" -H 'Content-Type: application/json' \
		-d '{}' https://mail.example.test/api/v1/sessions || true)
	if [[ ${answer} == *'"error"'*' 400' ]]; then
		ACCOUNTD_DOOR=nginx
	else
		ACCOUNTD_DOOR=loopback
	fi
}

in_ban_set() {	# JAIL IP: IP is in the jail's nftables set
	on_mail nft list set inet mailnest-bans "addr-set-$1" | grep -q "\<$2\>"
}

# proves_ban JAIL N: after the failures of attacker N, JAIL bans it (within
# 30 s) on every port, in nftables, and the innocent keeps every port.
proves_ban() {
	local jail=$1
	wait_until_banned "${jail}" "${ATTACKER_IP}" || fail "${jail} did not ban ${ATTACKER_IP} within 30 s"
	# fail2ban lists the address before its action has run nft.
	wait_until 10 in_ban_set "${jail}" "${ATTACKER_IP}" ||
		fail "${ATTACKER_IP} is not in nftables' set of ${jail}"
	shut_out_of_every_port "${ATTACKER}"
	reaches_every_port "${ABUSE_INNOCENT}"
	run on_mail fail2ban-client banned
	assert_success
	assert_output --partial "'${ATTACKER_IP}'"
	refute_output --partial "'${ABUSE_INNOCENT_IP}'"
}

@test "5. ten wrong passwords on IMAP ban the address on every mail and web port, and only it" {
	attacker 1
	reaches_every_port "${ATTACKER}"
	# The innocent logs in with the right password, once.
	run nshost_exec "${ABUSE_INNOCENT}" curl -sk --max-time 30 -u "victim@example.test:${ABUSE_PASSWORD}" "imaps://${ABUSE_MAIL_IP}/INBOX" -X 'EXAMINE INBOX'
	assert_success
	ten_times nshost_exec "${ATTACKER}" curl -sk --max-time 60 -u victim@example.test:wrong-password-1 "imaps://${ABUSE_MAIL_IP}/INBOX"
	proves_ban mailnest-imap-pop3
}

@test "5. ten wrong passwords on SMTP AUTH (587) ban the address on every mail and web port, and only it" {
	attacker 2
	reaches_every_port "${ATTACKER}"
	ten_times nshost_exec "${ATTACKER}" swaks --server "${ABUSE_MAIL_IP}" --port 587 --tls --quit-after AUTH \
		--auth PLAIN --auth-user victim@example.test --auth-password wrong-password-1 --timeout 60
	proves_ban mailnest-smtp-auth
}

@test "5. ten wrong passwords at accountd's login ban the address on every mail and web port, and only it" {
	attacker 3
	accountd_door
	echo "# accountd's door: ${ACCOUNTD_DOOR}" >&3
	reaches_every_port "${ATTACKER}"
	# One after the other: accountd answers 503 (no failure logged) when
	# more hashes wait than its pool takes, which a burst on a loaded
	# machine can reach. Each must be refused as a wrong password (401) or
	# by accountd's own limit (429): both are logged as auth_failed.
	local i codes=""
	for i in {1..10}; do
		codes+=" $(accountd_login_fails "${ATTACKER}" "${ATTACKER_IP}")"
	done
	[[ ${codes} =~ ^(\ (401|429)){10}$ ]] || fail "accountd answered:${codes}"
	proves_ban mailnest-accountd-login
	if [[ ${ACCOUNTD_DOOR} == nginx ]]; then
		wait_until_banned mailnest-nginx-api-auth "${ATTACKER_IP}" ||
			fail "Nginx's API-login jail did not ban ${ATTACKER_IP}"
	fi
}

@test "a burst of refused sign-ups at accountd bans the address everywhere (signup jail)" {
	local i
	attacker 4
	reaches_every_port "${ATTACKER}"
	# Straight to accountd, naming the attacker as Nginx would: Nginx's
	# own limit would stop a burst before accountd sees it.
	for i in {1..12}; do
		on_mail curl -s --max-time 10 -o /dev/null -H "X-Forwarded-For: ${ATTACKER_IP}" \
			-H 'Content-Type: application/json' -d "{\"username\":\"bot${i}\",\"password\":\"x\"}" \
			http://127.0.0.1:8080/api/v1/accounts
	done
	proves_ban mailnest-accountd-signup
}

@test "Nginx's rate limit on sign-ups bans the address everywhere (limit_req jail)" {
	local i
	[[ $(on_mail bash -c 'ls /etc/nginx/conf.d/mailnest.conf 2>/dev/null') ]] || skip "Nginx is not set up (install/70-nginx.sh)"
	attacker 5
	reaches_every_port "${ATTACKER}"
	for i in {1..25}; do
		nshost_exec "${ATTACKER}" curl -sk --max-time 10 -o /dev/null --resolve "mail.example.test:443:${ABUSE_MAIL_IP}" \
			-H 'Content-Type: application/json' -d "{\"username\":\"bot${i}\",\"password\":\"x\"}" \
			https://mail.example.test/api/v1/accounts || true
	done
	proves_ban mailnest-nginx-limit
}
