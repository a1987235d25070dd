#!/usr/bin/env bats
# The mail host of the attack suite is up and reachable from a stranger.
load lib

@test "the mail host answers on 25, 465, 587, 993, 995 and 443 from a stranger" {
	local port
	for port in 25 465 587 993 995 443; do
		port_open_from 1 "${port}" || fail "port ${port} is closed to a stranger"
	done
}
