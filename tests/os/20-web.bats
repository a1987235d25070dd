#!/usr/bin/env bats
# Issue 13: on each supported system, Roundcube (the system's own package)
# logs a user in over HTTPS, through IMAPS with a verified certificate.

# X_EMAIL and X_PASSWORD come from new_account X.
# shellcheck disable=SC2154
load lib

@test "a Roundcube login over HTTPS reaches the mailbox" {
	new_account U
	local jar page token
	jar=$(mktemp)
	page=$(https /mail/ -c "${jar}" -b "${jar}")
	token=$(sed -n 's/.*name="_token" value="\([^"]*\)".*/\1/p' <<<"${page}" | head -n 1)
	[[ -n ${token} ]] || fail "no login form at /mail/: ${page:0:300}"
	run https /mail/?_task=login -c "${jar}" -b "${jar}" -o /dev/null -w '%{http_code} %{redirect_url}\n' \
		--data-urlencode _task=login --data-urlencode _action=login --data-urlencode _timezone=UTC \
		--data-urlencode "_token=${token}" --data-urlencode "_user=${U_EMAIL}" \
		--data-urlencode "_pass=${U_PASSWORD}"
	assert_output --regexp '^302 .*_task=mail'
	run https '/mail/?_task=mail&_mbox=INBOX' -c "${jar}" -b "${jar}"
	assert_output --partial "${U_EMAIL}"
	rm -f -- "${jar}"
}
