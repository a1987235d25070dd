#!/usr/bin/env bash
# OpenDMARC: does a message's From domain stand behind it?
#
# OpenDMARC runs as its own user as a Postfix milter after OpenDKIM, on a
# unix socket inside Postfix's queue directory. For mail arriving on port 25
# it combines its own SPF check (never a header's claim) and OpenDKIM's
# result with the From domain's DMARC record: failures of a domain whose
# policy is p=reject are refused at the end of DATA, every result is written
# to an Authentication-Results header, and each message is recorded in the
# history file for aggregate reports. Authenticated submission and local
# programs are not judged. A trial (MAILNEST_DNS=no) has no DNS: the daemon
# is configured, but install/68-postfix.sh does not put it in front of mail.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly SOCKET_DIR=/var/spool/postfix/opendmarc

prepare_dirs() {
	install -d -o root -g opendmarc -m 0750 -- /etc/opendmarc
	install -d -o opendmarc -g opendmarc -m 0750 -- /var/lib/opendmarc "${SOCKET_DIR}"
	# Postfix connects to the socket through the group.
	if ! id -nG postfix | tr ' ' '\n' | grep -qx opendmarc; then
		usermod -a -G opendmarc postfix
	fi
}

render_config() {
	local changed=1
	printf '%s\n' "# Clients whose mail OpenDMARC does not judge: local programs only." 127.0.0.1 ::1 |
		write_if_changed /etc/opendmarc/ignore.hosts root:opendmarc 0640 && changed=0
	render opendmarc/opendmarc.conf /etc/opendmarc.conf root:root 0644 MAILNEST_HOSTNAME && changed=0
	return "${changed}"
}

main() {
	local restart=""
	step "preparing /etc/opendmarc, the history and the socket directory" prepare_dirs
	if render_config; then
		say "installed /etc/opendmarc.conf"
		restart=restart
	fi
	service_converge opendmarc "${restart}"
	wait_until 10 test -S "${SOCKET_DIR}/opendmarc.sock" || die "OpenDMARC did not open ${SOCKET_DIR}/opendmarc.sock"
}

main "$@"
