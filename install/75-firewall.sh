#!/usr/bin/env bash
# Firewall: nothing reachable from outside that need not be.
#
# One nftables table of our own, `inet mailnest`, filters incoming traffic
# (IPv4 and IPv6) and lets in only: loopback, replies to connections this
# host made (established/related), the ICMP/ICMPv6 messages IP needs, DHCP
# replies, and new connections to SSH (22, plus every port sshd is configured
# for or listens on), SMTP 25, HTTP 80, HTTPS 443, submission 465 and 587,
# IMAPS 993 and POP3S 995; IMAP 143 and POP3 110 (STARTTLS) only with
# MAILNEST_PLAIN_PORTS=yes. MariaDB, accountd, LMTP and whatever else listens
# stay unreachable from the network. The SSH session running the installer is
# never cut: established connections are let in before anything else, sshd's
# own ports stay open, and the client of $SSH_CONNECTION (read from the
# environment or, under sudo, from the session's processes) may always reach
# the port it came in on. The table is written to /etc/mailnest/firewall.nft
# and applied with one `nft -f` (the whole table, atomically), only when the
# file, the admin's additions in /etc/mailnest/firewall.d/*.nft, or the table
# in the kernel differ from what was applied last; a re-run that changes
# nothing touches nothing. Other tables (fail2ban's bans, Docker) are left
# alone. Where systemd runs, the unit mailnest-firewall loads the file at
# boot; without systemd nothing does: run ./install.sh again after a reboot.
# MAILNEST_FIREWALL=no (a host whose firewall is managed elsewhere) removes
# the table and the unit instead.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly TABLE=mailnest
readonly FIREWALL_FILE=${MAILNEST_ETC}/firewall.nft
readonly FIREWALL_DIR=${MAILNEST_ETC}/firewall.d
readonly APPLIED=${MAILNEST_STATE}/firewall.applied
readonly UNIT=/etc/systemd/system/mailnest-firewall.service
readonly MAIL_WEB_PORTS=(25 80 443 465 587 993 995)
readonly PLAIN_PORTS=(143 110)

valid_port() {
	[[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535))
}

# sshd_ports: 22 and the ports sshd is configured for (sshd -T, or the Port
# lines of its files when sshd -T cannot run) or listens on, one a line.
sshd_ports() {
	printf '22\n'
	if command -v sshd >/dev/null 2>&1; then
		local effective
		if effective=$(sshd -T 2>/dev/null); then
			awk '$1 == "port" { print $2 } $1 == "listenaddress" { n = split($2, a, ":"); print a[n] }' <<<"${effective}"
		else
			cat -- /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf 2>/dev/null |
				awk 'tolower($1) == "port" { print $2 }'
		fi
	fi
	# What sshd listens on right now (a port changed in the configuration
	# but not yet reloaded is in use until then).
	ss -Htlnp 2>/dev/null | awk '/"sshd"/ { n = split($4, a, ":"); print a[n] }'
}

# ssh_connection: the SSH_CONNECTION of this installer's session, from the
# environment or, when sudo dropped it, from the nearest ancestor process
# that has it. Prints nothing when the installer does not run over SSH.
ssh_connection() {
	local pid=${PPID} value
	if [[ -n ${SSH_CONNECTION-} ]]; then
		printf '%s\n' "${SSH_CONNECTION}"
		return 0
	fi
	while [[ ${pid} =~ ^[0-9]+$ ]] && ((pid > 1)); do
		value=$(tr '\0' '\n' <"/proc/${pid}/environ" 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p' | head -n 1)
		if [[ -n ${value} ]]; then
			printf '%s\n' "${value}"
			return 0
		fi
		pid=$(awk '{ print $4 }' "/proc/${pid}/stat" 2>/dev/null || true)
	done
}

# session_rule "CLIENT CLIENT_PORT SERVER SERVER_PORT": the nft rule that lets
# CLIENT reach SERVER_PORT; nothing (and a warning) for a malformed value.
session_rule() {
	local client port rest
	read -r client _ _ port rest <<<"$1"
	client=${client%%\%*}
	client=${client#::ffff:}
	if [[ -n ${rest} ]] || ! valid_port "${port:-x}"; then
		warn "ignoring a malformed SSH_CONNECTION: $1"
	elif [[ ${client} =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]]; then
		printf '\t\tip saddr %s tcp dport %s accept\n' "${client}" "${port}"
	elif [[ ${client} =~ ^[0-9a-fA-F:]+$ && ${client} == *:*:* && ${#client} -le 39 ]]; then
		printf '\t\tip6 saddr %s tcp dport %s accept\n' "${client}" "${port}"
	else
		warn "ignoring a malformed SSH_CONNECTION: $1"
	fi
}

# The template's variables are read by render (by name), not here.
# shellcheck disable=SC2034
render_ruleset() {
	local -a public=("${MAIL_WEB_PORTS[@]}") ssh=()
	local port connection
	[[ ${MAILNEST_PLAIN_PORTS} == yes ]] && public+=("${PLAIN_PORTS[@]}")
	while IFS= read -r port; do
		valid_port "${port}" && ssh+=("${port}")
	done < <(sshd_ports | sort -n -u)
	PUBLIC_TCP_PORTS=$(IFS=,; printf '%s' "${public[*]}")
	PUBLIC_TCP_PORTS=${PUBLIC_TCP_PORTS//,/, }
	SSH_TCP_PORTS=$(IFS=,; printf '%s' "${ssh[*]}")
	SSH_TCP_PORTS=${SSH_TCP_PORTS//,/, }
	SSH_SESSION_RULES=""
	connection=$(ssh_connection)
	[[ -n ${connection} ]] && SSH_SESSION_RULES=$(session_rule "${connection}")
	install -d -o root -g root -m 0700 -- "${FIREWALL_DIR}"
	render nftables/mailnest.nft "${FIREWALL_FILE}" root:root 0600 \
		PUBLIC_TCP_PORTS SSH_TCP_PORTS SSH_SESSION_RULES
}

# wanted_state: what must be in force, the file and the admin's additions;
# live_state: the table as the kernel has it (without counters).
wanted_state() {
	cat -- "${FIREWALL_FILE}" "${FIREWALL_DIR}"/*.nft 2>/dev/null | sha256sum
}

live_state() {
	nft -s list table inet "${TABLE}" 2>/dev/null || true
}

recorded_state() {
	wanted_state
	live_state
}

apply_ruleset() {
	nft -c -f "${FIREWALL_FILE}" || return 1
	nft -f "${FIREWALL_FILE}" || return 1
	install -d -m 0755 -- "${MAILNEST_STATE}"
	recorded_state >"${APPLIED}"
}

# persist: where systemd runs, a unit loads the file at boot. It is started
# too (loading the same file again changes nothing), so that systemd reports
# it active from the first install on, not only after a reboot.
persist() {
	local changed=""
	if ! has_systemd; then
		say "no systemd here: nothing reloads the firewall at boot; run ./install.sh again after a reboot"
		return 0
	fi
	export FIREWALL_FILE
	render nftables/mailnest-firewall.service "${UNIT}" root:root 0644 FIREWALL_FILE && changed=yes
	[[ -n ${changed} ]] && step "reloading systemd's units" systemctl daemon-reload
	if ! systemctl is-enabled --quiet mailnest-firewall 2>/dev/null; then
		step "loading the firewall at boot (unit mailnest-firewall)" systemctl enable --quiet --now mailnest-firewall
	fi
}

# remove_firewall: MAILNEST_FIREWALL=no; take away what an earlier run made.
remove_firewall() {
	if nft list table inet "${TABLE}" >/dev/null 2>&1; then
		step "removing the firewall (MAILNEST_FIREWALL=no)" nft delete table inet "${TABLE}"
	else
		say "no firewall (MAILNEST_FIREWALL=no)"
	fi
	rm -f -- "${APPLIED}"
	if has_systemd && [[ -f ${UNIT} ]]; then
		systemctl disable --quiet mailnest-firewall || true
		rm -f -- "${UNIT}"
	fi
}

main() {
	local ports="${MAIL_WEB_PORTS[*]}"
	[[ ${MAILNEST_PLAIN_PORTS} == yes ]] && ports+=" ${PLAIN_PORTS[*]}"
	if [[ ${MAILNEST_FIREWALL} == no ]]; then
		remove_firewall
		return 0
	fi
	if render_ruleset; then
		say "wrote ${FIREWALL_FILE}"
	fi
	if [[ -f ${APPLIED} ]] && [[ $(recorded_state) == "$(<"${APPLIED}")" ]]; then
		say "firewall (table inet ${TABLE}) is in force and unchanged"
	else
		step "applying the firewall: TCP ${ports} and SSH open, the rest closed (nft -f, table inet ${TABLE})" apply_ruleset
	fi
	persist
}

main "$@"
