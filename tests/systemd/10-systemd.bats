#!/usr/bin/env bats
# The installer on a host whose PID 1 is systemd (tests/lib/sdhost.bash):
# every unit of the stack enabled and active, PM2 owned by systemd, crashes
# repaired, and everything back after a reboot without running the
# installer again. The tests run in order and share one host.

bats_load_library bats-support
bats_load_library bats-assert

# shellcheck source=tests/lib/sdhost.bash
load ../lib/sdhost

SD_NAME=${SD_NAME:-sd1}
SD_IP=${SD_IP:-10.231.0.120}
# What install.sh must leave enabled (started at boot) and running.
SD_UNITS=(mariadb postfix dovecot mailnest-pm2 nginx php8.2-fpm
	opendkim opendmarc fail2ban cron mailnest-firewall logrotate.timer)

sd() { nshost_exec "${SD_NAME}" "$@"; }

# shellcheck source=tests/lib/wait.bash
load ../lib/wait

accountd_healthy() { sd curl -fsS --max-time 2 http://127.0.0.1:8080/healthz; }

# pids_of_unit UNIT COMMAND: PIDs (as the host sees them) of COMMAND in UNIT.
pids_of_unit() {
	sd systemctl show -P ControlGroup "$1" | {
		read -r cg
		sd cat "/sys/fs/cgroup${cg}/cgroup.procs"
	} | while read -r pid; do
		if [[ $(sd cat "/proc/${pid}/comm" 2>/dev/null) == "$2" ]]; then
			printf '%s\n' "${pid}"
		fi
	done
}

assert_stack_up() {
	local unit state
	run sd systemctl is-system-running
	assert_output running
	for unit in "${SD_UNITS[@]}"; do
		run sd systemctl is-enabled "${unit}"
		assert_output --partial enabled
		state=$(sd systemctl is-active "${unit}" || true)
		[[ ${state} == active ]] || fail "${unit} is ${state}"
	done
	wait_until 20 accountd_healthy || fail "accountd does not answer"
}

@test "1. install.sh completes on a systemd host" {
	run sdhost_boot "${SD_NAME}" "${SD_IP}"
	assert_success
	run sd ./install.sh --domain sd1.test --hostname mail.sd1.test
	assert_success
}

@test "2. every unit of the stack is enabled and active, none failed" {
	assert_stack_up
	run sd systemctl --failed --plain --no-legend
	assert_output ''
}

@test "3. accountd and policyd run under the one PM2 inside its systemd unit" {
	run pids_of_unit mailnest-pm2 accountd
	assert_success
	[[ $(wc -l <<<"${output}") -eq 2 ]] || fail "accountd processes in mailnest-pm2: ${output}"
	run pids_of_unit mailnest-pm2 mailnest-policy # comm: 15 characters
	assert_success
	[[ $(wc -l <<<"${output}") -eq 2 ]] || fail "policyd processes (policy, milter) in mailnest-pm2: ${output}"
	# PM2's V8 settings reached its daemon (the unit's drop-in).
	run sd grep -qz '^PM2_NODE_OPTIONS=--' "/proc/$(sd cat /var/lib/mailnest/pm2/pm2.pid)/environ"
	assert_success
	# No unit of the former per-user daemons.
	run sd systemctl list-unit-files --no-legend 'pm2-*'
	assert_output ''
}

@test "4. kill -9 of an accountd process: PM2 starts another" {
	local victim
	victim=$(pids_of_unit mailnest-pm2 accountd | head -n 1)
	[[ -n ${victim} ]]
	sd kill -KILL "${victim}"
	# shellcheck disable=SC2317 # called through wait_until
	two_new() { [[ $(pids_of_unit mailnest-pm2 accountd | grep -cvx "${victim}") -eq 2 ]]; }
	wait_until 20 two_new || fail "PM2 did not replace accountd ${victim}"
	wait_until 20 accountd_healthy
}

@test "5. kill -9 of PM2 itself: systemd restarts mailnest-pm2, accountd and policyd, once each" {
	local god
	god=$(sd cat /var/lib/mailnest/pm2/pm2.pid)
	sd kill -KILL "${god}"
	# shellcheck disable=SC2317 # called through wait_until
	pm2_back() {
		local now
		now=$(sd cat /var/lib/mailnest/pm2/pm2.pid) && [[ ${now} != "${god}" ]] &&
			sd systemctl is-active --quiet mailnest-pm2 &&
			[[ $(pids_of_unit mailnest-pm2 accountd | wc -l) -eq 2 ]] &&
			[[ $(pids_of_unit mailnest-pm2 mailnest-policy | wc -l) -eq 2 ]]
	}
	wait_until 30 pm2_back || fail "mailnest-pm2 is $(sd systemctl is-active mailnest-pm2)"
	# The old processes went with their daemon's unit: none runs twice.
	[[ $(sd pgrep -c -x accountd) -eq 2 ]] || fail "$(sd pgrep -a -x accountd)"
	[[ $(sd pgrep -c -x mailnest-policy) -eq 2 ]] || fail "$(sd pgrep -a -x mailnest-policy)"
	wait_until 20 accountd_healthy
}

# jail_failures JAIL: fail2ban's "Total failed" count of JAIL.
jail_failures() {
	sd fail2ban-client status "$1" | sed -n 's/.*Total failed:[[:space:]]*//p'
}

# jail_counts_more JAIL BEFORE: JAIL counted a failure since BEFORE.
jail_counts_more() {
	local now
	now=$(jail_failures "$1")
	((now > $2))
}

@test "6. fail2ban reads the journal: failed SMTP AUTH and IMAP logins count" {
	local smtp imap
	run sd grep -A6 '^\[mailnest-smtp-auth\]' /etc/fail2ban/jail.d/mailnest.local
	assert_output --partial 'backend = systemd'
	smtp=$(jail_failures mailnest-smtp-auth)
	imap=$(jail_failures mailnest-imap-pop3)
	# From the machine (fail2ban ignores loopback), with a wrong password.
	run swaks --server "${SD_IP}" --port 587 --tls --auth PLAIN --auth-user nobody@sd1.test \
		--auth-password wrong --from nobody@sd1.test --to nobody@sd1.test --timeout 20
	assert_failure
	run curl -sS --insecure --max-time 20 -u nobody@sd1.test:wrong "imaps://${SD_IP}:993/INBOX"
	assert_failure
	wait_until 20 jail_counts_more mailnest-smtp-auth "${smtp}" || fail "SMTP AUTH failure not counted"
	wait_until 20 jail_counts_more mailnest-imap-pop3 "${imap}" || fail "IMAP failure not counted"
}

@test "7. after a reboot (same disk, no installer run) the stack is up" {
	run sdhost_stop "${SD_NAME}"
	assert_success
	run sdhost_boot "${SD_NAME}" "${SD_IP}"
	assert_success
	assert_stack_up
	run sd nft list table inet mailnest
	assert_success
	# The network namespace is new: systemd-sysctl applied 60-mailnest.conf.
	run sd sysctl -n net.ipv4.tcp_migrate_req
	assert_output 1
}

@test "8. after the reboot mail flows: 587 and 465 to IMAPS and POP3S" {
	run sd bats --tap tests/e2e/10-delivery.bats
	assert_success
	refute_output --partial 'not ok'
}

@test "9. after the reboot install.sh converges: nothing started, restarted or reloaded" {
	run sd ./install.sh --domain sd1.test --hostname mail.sd1.test
	assert_success
	refute_output --regexp '\] (re)?starting |\] reloading '
}
