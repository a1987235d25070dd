#!/usr/bin/env bats
# Issue 7, test 6: after ./install.sh only the listed ports are reachable
# from another host; a re-run changes nothing; the SSH session running the
# installer is never locked out.

# ABUSE_* come from tests/abuse/run.
# shellcheck disable=SC2154
load lib

# Services that must stay unreachable, each made to listen on the host's
# network address (what listens there already keeps its own socket): MariaDB,
# accountd, LMTP, ManageSieve, and a stray daemon on 0.0.0.0.
CLOSED_PORTS=(3306 8080 24 4190 12345)

setup_file() {
	local port
	for port in 3306 8080 24 4190; do
		listen_on "${ABUSE_MAIL_IP}" "${port}"
	done
	listen_on 0.0.0.0 12345
	# Something must listen on 22, 80 and 443 for "open" to be provable.
	for port in 22 80 443; do
		listen_on 0.0.0.0 "${port}"
	done
}

@test "6. ports outside the list are closed from another host, though something listens on them" {
	local port
	for port in "${CLOSED_PORTS[@]}" 143 110; do
		# It listens (seen from the host itself) ...
		listens_on "${ABUSE_MAIL_IP}" "${port}" || fail "nothing listens on ${port} inside the host"
		# ... but not from outside.
		if port_open "${ABUSE_INNOCENT}" "${port}"; then
			fail "port ${port} is reachable from ${ABUSE_INNOCENT_IP}"
		fi
	done
}

@test "6. the listed ports are open: 22 25 80 443 465 587 993 995" {
	local port
	for port in 22 25 80 443 465 587 993 995; do
		port_open "${ABUSE_INNOCENT}" "${port}" || fail "port ${port} is closed"
	done
}

@test "6. a re-run of the installer changes nothing: same ruleset (same handles), fail2ban not restarted" {
	local before after pid_before pid_after log
	before=$(on_mail nft -a list ruleset)
	pid_before=$(on_mail cat /run/fail2ban/fail2ban.pid)
	log=$(install_mail_host)
	after=$(on_mail nft -a list ruleset)
	pid_after=$(on_mail cat /run/fail2ban/fail2ban.pid)
	assert_equal "${after}" "${before}"
	assert_equal "${pid_after}" "${pid_before}"
	run grep -E '^\[7[56]-' "${log}"
	assert_output --partial "firewall (table inet mailnest) is in force and unchanged"
	assert_output --partial "fail2ban's jails and filters are unchanged"
	assert_output --partial "fail2ban is running and its configuration is unchanged"
	refute_output --partial "applying the firewall"
}

@test "6. MAILNEST_PLAIN_PORTS=yes opens IMAP 143 and POP3 110, and only them" {
	set_setting MAILNEST_PLAIN_PORTS yes
	install_mail_host >/dev/null
	port_open "${ABUSE_INNOCENT}" 143 || fail "143 is closed"
	port_open "${ABUSE_INNOCENT}" 110 || fail "110 is closed"
	if port_open "${ABUSE_INNOCENT}" 3306; then fail "3306 is open"; fi
}

@test "6. SSH: a non-22 sshd Port is opened and the installer's SSH client keeps its port" {
	# sshd moved to 2222; the installer runs in an SSH session from
	# ABUSE_SSH_IP that came in on 2200 (a port nothing else opens), and
	# under sudo, which drops SSH_CONNECTION: only a parent process has it.
	on_mail bash -c 'mkdir -p /etc/ssh/sshd_config.d && echo "Port 2222" >/etc/ssh/sshd_config.d/abuse-test.conf'
	listen_on 0.0.0.0 2222
	listen_on 0.0.0.0 2200
	local connection="${ABUSE_SSH_IP} 50022 ${ABUSE_MAIL_IP} 2200"
	on_mail env SSH_CONNECTION="${connection}" bash -c 'env -u SSH_CONNECTION ./install.sh; exit "$?"' </dev/null >"${ABUSE_LOG_DIR}/install.ssh" 2>&1 ||
		fail "$(cat "${ABUSE_LOG_DIR}/install.ssh")"
	port_open "${ABUSE_INNOCENT}" 2222 || fail "sshd's port 2222 is closed"
	port_open "${ABUSE_INNOCENT}" 22 || fail "22 is closed"
	port_open "${ABUSE_SSH}" 2200 || fail "the SSH client lost its port 2200"
	if port_open "${ABUSE_INNOCENT}" 2200; then fail "2200 is open to everyone"; fi
	if port_open "${ABUSE_SSH}" 3306; then fail "the SSH client may reach more than its port"; fi
}

@test "6. SSH: a malformed SSH_CONNECTION is ignored with a warning, never written into the rules" {
	run on_mail env SSH_CONNECTION='10.231.0.95 1 10.231.0.90 22; flush ruleset' ./install.sh </dev/null
	assert_success
	assert_output --partial "ignoring a malformed SSH_CONNECTION"
	run on_mail env SSH_CONNECTION="$(printf 'x%.0s' {1..5000}) 1 2 3" ./install.sh </dev/null
	assert_success
	assert_output --partial "ignoring a malformed SSH_CONNECTION"
	run on_mail cat /etc/mailnest/firewall.nft
	refute_output --partial "flush"
	refute_output --partial "xxxx"
	# Back to no session: its rule is gone.
	install_mail_host >/dev/null
	if port_open "${ABUSE_SSH}" 2200; then fail "2200 still open after the session ended"; fi
	on_mail rm -f /etc/ssh/sshd_config.d/abuse-test.conf
	install_mail_host >/dev/null
	if port_open "${ABUSE_INNOCENT}" 2222; then fail "2222 still open after sshd left it"; fi
}

@test "6. MAILNEST_FIREWALL=no removes the table (a firewall managed elsewhere); yes puts it back" {
	set_setting MAILNEST_FIREWALL no
	install_mail_host >/dev/null
	run on_mail nft list table inet mailnest
	assert_failure
	port_open "${ABUSE_INNOCENT}" 12345 || fail "12345 is still filtered"
	set_setting MAILNEST_FIREWALL yes
	install_mail_host >/dev/null
	if port_open "${ABUSE_INNOCENT}" 12345; then fail "12345 is open again"; fi
}
