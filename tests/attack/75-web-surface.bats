#!/usr/bin/env bats
# shellcheck disable=SC2154 # ATTACK_* come from tests/attack/run
# What the web front end tells and allows a stranger (issue 12, item 6):
# no version of Nginx, PHP or Roundcube in the answers or the login page,
# and the webmail answers only the methods it needs (GET, HEAD, POST); any
# other method is 405 before PHP sees it. Asked on the mail host itself
# (https://127.0.0.1), so that no stranger's ban decides it.
# The admin API is not served to strangers at all (loopback only).
load lib

# web ARGS...: curl on the mail host against its HTTPS site.
web() {
	on_mail curl -sS --insecure --max-time 20 "$@"
}

@test "web: no server or PHP version in the headers, no Roundcube version in the login page" {
	local version
	run web -D - -o /dev/null https://127.0.0.1/mail/
	assert_success
	refute_output --regexp '[Ss]erver: nginx/[0-9]'
	refute_output --regexp '[Xx]-[Pp]owered-[Bb]y'
	# shellcheck disable=SC2016 # dpkg-query's own format
	version=$(on_mail dpkg-query -W -f='${Version}' roundcube-core | sed 's/[+~-].*//')
	run web https://127.0.0.1/mail/
	assert_success
	assert_output --partial 'rcmail'
	echo "# Roundcube ${version}: its version string in the login page: $(grep -c -F "${version}" <<<"${output}" || true) times" >&3
	refute_output --partial "${version}"
	refute_output --regexp '"rcversion":[1-9]'
}

@test "web: /mail/ answers GET, HEAD and POST, and 405 to any other method" {
	local method code
	for method in GET HEAD POST; do
		code=$(web -X "${method}" -o /dev/null -w '%{http_code}' https://127.0.0.1/mail/)
		[[ ${code} != 405 ]] || fail "${method} /mail/: ${code}"
	done
	for method in PUT DELETE PATCH OPTIONS TRACE PROPFIND; do
		for path in /mail/ /mail/index.php /index.html; do
			code=$(web -X "${method}" -o /dev/null -w '%{http_code}' "https://127.0.0.1${path}")
			[[ ${code} == 405 ]] || fail "${method} ${path}: ${code}, not 405"
		done
	done
}

@test "admin API: a stranger cannot create a mailbox, through Nginx (404, even with the admin token) or on accountd's port (closed)" {
	local token code auth out
	token=$(on_mail cat /etc/mailnest/admin-token)
	for auth in "" "Authorization: Bearer ${token}"; do
		code=$(from_stranger 2 curl -sk --max-time 20 --resolve "${ATTACK_HOSTNAME}:443:${ATTACK_MAIL_IP}" \
			-o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' ${auth:+-H "${auth}"} \
			--data "{\"email\":\"intruder@${ATTACK_DOMAIN}\",\"password\":\"Intruder-Pass-1234\"}" \
			"https://${ATTACK_HOSTNAME}/api/v1/admin/mailboxes")
		assert_equal "${code}" 404
	done
	run port_open_from 2 8080
	assert_failure
	out=$(mail_api GET "/api/v1/admin/mailboxes?domain=${ATTACK_DOMAIN}&limit=1000")
	[[ ${out##*$'\n'} == 200 ]] || fail "listing mailboxes: ${out}"
	[[ ${out} != *intruder@* ]] || fail "the stranger's mailbox exists"
}
