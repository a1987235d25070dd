#!/usr/bin/env bash
# OpenDKIM: DKIM signatures on mail our users send, checks on mail we receive.
#
# OpenDKIM runs as its own user as a Postfix milter, on a unix socket inside
# Postfix's queue directory (so the chrooted smtpd reaches it); Postfix
# (install/68-postfix.sh) defers mail while it does not answer. It signs
# (relaxed/relaxed, rsa-sha256) only mail of authenticated users sent through
# 587/465, and verifies everything else. Each domain has a 2048-bit key under
# a selector named by its date (sYYYYMMDD), made by mailnest-dkim, which this
# script installs with mailnest-dns (the records to publish, and a check of
# them) and runs now and then every minute from cron, so that domains added
# later through accountd get a key too. Keys are readable only by opendkim;
# they are made only when absent, and OpenDKIM reloads only when its tables
# or configuration changed.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly SOCKET_DIR=/var/spool/postfix/opendkim
readonly LIB_DIR=/usr/local/lib/mailnest

install_commands() {
	local changed=1 cmd
	install_if_changed "${MAILNEST_SRC}/mailauth/mailauth.bash" "${LIB_DIR}/mailauth.bash" root:root 0644 && changed=0
	for cmd in mailnest-dkim mailnest-dns; do
		install_if_changed "${MAILNEST_SRC}/mailauth/${cmd}" "/usr/local/sbin/${cmd}" root:root 0755 && changed=0
	done
	return "${changed}"
}

prepare_dirs() {
	install -d -o root -g opendkim -m 0750 -- /etc/opendkim
	install -d -o opendkim -g opendkim -m 0700 -- /etc/opendkim/keys
	# Postfix connects to the socket: it is in the group, which gives it the
	# socket and never the keys (0600 in 0700 directories of opendkim).
	install -d -o opendkim -g opendkim -m 0750 -- "${SOCKET_DIR}"
	if ! id -nG postfix | tr ' ' '\n' | grep -qx opendkim; then
		usermod -a -G opendkim postfix
	fi
	install -d -m 0750 -- "${MAILNEST_LOG}"
}

# resolver_conf: libunbound's configuration for OpenDKIM. On its own it
# ignores /etc/resolv.conf and recurses from the root servers, and it answers
# NXDOMAIN itself for special-use names such as .test; it is made to forward
# everything to the resolvers of /etc/resolv.conf (re-run ./install.sh when
# they change), so that it sees what the rest of the system sees.
resolver_conf() {
	local ns
	printf '%s\n' "# libunbound settings of OpenDKIM, written by install/62-opendkim.sh" "server:" \
		"  do-not-query-localhost: no" '  local-zone: "test." nodefault'
	ns=$(awk '$1 == "nameserver" { sub(/%.*/, "", $2); print "  forward-addr: " $2 }' /etc/resolv.conf 2>/dev/null || true)
	[[ -n ${ns} ]] && printf '%s\n' "forward-zone:" '  name: "."' "${ns}"
	return 0
}

# needs_local_resolver: true when the mail domain is under a special-use
# name that libunbound answers NXDOMAIN itself (.test, .invalid, .localhost)
# and there is DNS to ask: test setups with their own DNS server. Only then
# does OpenDKIM get libunbound's configuration file: OpenDKIM 2.11 parses
# it in every thread that opens a resolver, and libunbound's parser is not
# reentrant (OpenDKIM issue #14), so under concurrent connections it crashes
# (seen with 16 SMTP sessions). Real domains need no file: libunbound
# recurses by itself (also where resolv.conf names 127.0.0.53, which
# libunbound would refuse to forward to).
needs_local_resolver() {
	[[ ${MAILNEST_DNS} == yes && ${MAILNEST_DOMAIN} =~ \.(test|invalid|localhost)$ ]]
}

# OPENDKIM_RESOLVER is read by render (by name).
# shellcheck disable=SC2034
render_config() {
	local changed=1
	OPENDKIM_RESOLVER="# (no ResolverConfiguration: libunbound recurses by itself)"
	if needs_local_resolver; then
		OPENDKIM_RESOLVER="ResolverConfiguration	/etc/opendkim/resolver.conf"
		resolver_conf | write_if_changed /etc/opendkim/resolver.conf root:opendkim 0640 && changed=0
	elif [[ -e /etc/opendkim/resolver.conf ]]; then
		rm -f -- /etc/opendkim/resolver.conf
		changed=0
	fi
	printf '%s\n' "# No host is signed for by its address (see /etc/opendkim.conf)." |
		write_if_changed /etc/opendkim/internal-hosts root:opendkim 0640 && changed=0
	render opendkim/opendkim.conf /etc/opendkim.conf root:root 0644 MAILNEST_HOSTNAME OPENDKIM_RESOLVER && changed=0
	return "${changed}"
}

main() {
	local restart=""
	step "preparing /etc/opendkim and the socket directory" prepare_dirs
	if install_commands; then
		say "installed mailnest-dkim and mailnest-dns in /usr/local/sbin"
	fi
	if render_config; then
		say "installed /etc/opendkim.conf"
		restart=restart
	fi
	# Keys for every domain, and the tables naming them (no reload here:
	# OpenDKIM may not run yet; service_converge starts or restarts it).
	step "DKIM keys for every domain (mailnest-dkim sync)" /usr/local/sbin/mailnest-dkim sync
	step "checking OpenDKIM's configuration (opendkim -n)" opendkim -n -x /etc/opendkim.conf
	service_converge opendkim "${restart}"
	wait_until 10 test -S "${SOCKET_DIR}/opendkim.sock" || die "OpenDKIM did not open ${SOCKET_DIR}/opendkim.sock"
	printf '%s\n' "# mailnest: DKIM keys for new domains, rotations once DNS shows them (install/62-opendkim.sh)" \
		"* * * * * root /usr/local/sbin/mailnest-dkim sync >>${MAILNEST_LOG}/mailnest-dkim.log 2>&1" |
		write_if_changed /etc/cron.d/mailnest-dkim root:root 0644 || true
}

main "$@"
