#!/usr/bin/env bash
# SPF: who may send mail for a domain, checked on mail arriving on port 25.
#
# Debian's postfix-policyd-spf-python answers Postfix's policy requests; it
# runs as its own user (policyd-spf), started on demand by Postfix's spawn
# service "policyd-spf" that install/68-postfix.sh declares in master.cf
# (this script only configures it); 68-postfix.sh asks it at RCPT
# TO on port 25 only: a sender whose domain's SPF ends in -all and does not
# list the client is refused there (550 5.7.23), a softfail is only marked,
# and the result goes into an Authentication-Results header that OpenDMARC
# reads. Authenticated submission (587/465) has its own restrictions without
# it, so roaming users send from anywhere. In a trial (MAILNEST_DNS=no) there
# is no DNS to ask: 68-postfix.sh then leaves the check out.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly SPF_CONF=/etc/postfix-policyd-spf-python/policyd-spf.conf

main() {
	# Each spawned policyd-spf reads its configuration when it starts: Postfix
	# starts new ones for new connections, so a changed file needs no reload.
	if render spf/policyd-spf.conf "${SPF_CONF}" root:root 0644 MAILNEST_HOSTNAME; then
		say "installed ${SPF_CONF}"
	else
		say "${SPF_CONF} is unchanged"
	fi
}

main "$@"
