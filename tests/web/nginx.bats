#!/usr/bin/env bats
# Issue 5, the checks without a browser. They run on the machine, which is a
# stranger to the test host (10.231.0.1 seen from Nginx), with curl and
# openssl s_client against the host's address; what only the host can see
# (accountd's log, file modes, processes) is read inside it with nshost_exec.
# Set by tests/web/run: WEB_HOST, WEB_IP, WEB_HOSTNAME, WEB_CA, WEB_REPO.

# shellcheck disable=SC2154 # WEB_* come from tests/web/run
bats_load_library bats-support
bats_load_library bats-assert

setup() {
	# shellcheck source=tests/lib/nshost.bash
	source "${WEB_REPO}/tests/lib/nshost.bash"
}

in_host() {
	nshost_exec "${WEB_HOST}" "$@"
}

# https PATH [curl args...]: PATH of the test host over HTTPS, the
# certificate verified against the host's own.
https() {
	local path=$1
	shift
	curl -sS --max-time 20 --cacert "${WEB_CA}" --resolve "${WEB_HOSTNAME}:443:${WEB_IP}" \
		"$@" "https://${WEB_HOSTNAME}${path}"
}

status_of() {
	https "$1" -o /dev/null -w '%{http_code}' "${@:2}"
}

@test "HTTP on port 80 redirects to HTTPS, keeping path and query; ACME files are served" {
	run curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
		-H "Host: ${WEB_HOSTNAME}" "http://${WEB_IP}/account.html?x=1"
	assert_success
	assert_output "301 https://${WEB_HOSTNAME}/account.html?x=1"

	run curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' "http://${WEB_IP}/mail/"
	assert_output "301 https://${WEB_HOSTNAME}/mail/"

	in_host bash -c 'echo token-content >/var/lib/mailnest/acme/.well-known/acme-challenge/t0ken'
	run curl -sS --max-time 10 "http://${WEB_IP}/.well-known/acme-challenge/t0ken"
	assert_output token-content
}

@test "TLS 1.2 and 1.3 are accepted with a verified certificate; TLS 1.0 and 1.1 are refused" {
	local v
	for v in -tls1_2 -tls1_3; do
		run openssl s_client -connect "${WEB_IP}:443" -servername "${WEB_HOSTNAME}" "${v}" \
			-CAfile "${WEB_CA}" -verify_hostname "${WEB_HOSTNAME}" -verify_return_error </dev/null
		assert_success
		assert_output --partial "Verify return code: 0 (ok)"
	done
	# The client is told to accept anything old (SECLEVEL 0), so that the
	# refusal is the server's.
	for v in -tls1 -tls1_1; do
		run openssl s_client -connect "${WEB_IP}:443" -servername "${WEB_HOSTNAME}" "${v}" \
			-cipher 'DEFAULT:@SECLEVEL=0' </dev/null
		assert_failure
		assert_output --partial "alert protocol version"
		refute_output --partial "Cipher is ECDHE"
	done
	# Nothing but forward-secret AEAD ciphers on TLS 1.2.
	run openssl s_client -connect "${WEB_IP}:443" -servername "${WEB_HOSTNAME}" -tls1_2 \
		-cipher 'AES128-SHA:AES256-SHA:AES128-GCM-SHA256:@SECLEVEL=0' </dev/null
	assert_failure
}

@test "security headers on the pages, the API and Roundcube" {
	local path headers
	for path in / /account.html /api/v1/me /mail/; do
		headers=$(https "${path}" -D - -o /dev/null)
		assert_regex "${headers}" $'strict-transport-security: max-age=[0-9]{8}'
		assert_regex "${headers}" $'x-content-type-options: nosniff'
		assert_regex "${headers}" $'referrer-policy: same-origin'
		assert_regex "${headers}" $'content-security-policy: [^\r]*frame-ancestors'
	done
	headers=$(https / -D - -o /dev/null)
	assert_regex "${headers}" $'content-security-policy: default-src \'none\'; script-src \'self\';'
	refute_regex "${headers}" 'unsafe-inline'
	refute_regex "${headers}" $'server: nginx/[0-9]'
	headers=$(https /mail/ -D - -o /dev/null)
	assert_regex "${headers}" $'frame-ancestors \'self\''
	assert_regex "${headers}" $'set-cookie: roundcube_sessid=[^\r]*; secure; HttpOnly'
}

@test "Roundcube's installer, settings, logs, sources and SQL are not served; its assets and login are" {
	local path code
	in_host bash -c 'echo secret-log-line >>/var/log/roundcube/errors.log'
	for path in /mail/installer/ /mail/installer/index.php /mail/config/config.inc.php \
		/mail/config/defaults.inc.php /mail/logs/errors.log /mail/logs/ /mail/temp/ \
		/mail/SQL/mysql.initial.sql /mail/bin/update.sh /mail/composer.json /mail/.htaccess \
		/mail/program/include/iniset.php /mail/program/lib/Roundcube/rcube.php \
		/mail/plugins/password/config.inc.php /mail/plugins/password/drivers/mailnest.php \
		/mail/plugins/password/password.php /mail/index.php/../config/config.inc.php \
		/mail/%2e%2e/config/config.inc.php /mail/skins/elastic/templates/login.html.php \
		/mail/public_html/index.php /mail/README.md; do
		code=$(status_of "${path}" --path-as-is)
		[[ ${code} == 404 || ${code} == 400 || ${code} == 403 ]] || fail "${path} answered ${code}"
	done
	assert_equal "$(status_of /mail/skins/elastic/deps/bootstrap.min.css)" 200
	assert_equal "$(status_of /mail/program/js/app.min.js)" 200
	run https /mail/
	assert_output --partial 'id="rcmloginuser"'
	# The settings (database password, des_key) are root:roundcube 0640,
	# and neither Nginx's user nor anyone else can read them or the logs.
	run in_host stat -c '%U:%G %a' /etc/roundcube/config.inc.php
	assert_output "root:roundcube 640"
	run in_host runuser -u www-data -- cat /etc/roundcube/config.inc.php
	assert_failure
	run in_host runuser -u www-data -- cat /var/log/roundcube/errors.log
	assert_failure
	run in_host runuser -u nobody -- cat /etc/mailnest/secrets/roundcube-des-key
	assert_failure
}

@test "Roundcube runs as its own user in its own pool; only Nginx may use the socket" {
	https /mail/ -o /dev/null
	run in_host ps -eo user:20,args
	assert_output --regexp 'roundcube +php-fpm: pool roundcube'
	refute_output --regexp 'www-data +php-fpm: pool'
	run in_host stat -c '%U:%G %a' /run/php/mailnest-roundcube.sock
	assert_output "www-data:www-data 660"
	# Roundcube's database user has rights on its own database only.
	run in_host mariadb -N -e "SHOW GRANTS FOR 'roundcube'@'localhost'"
	assert_output --partial "ON \`roundcube\`.*"
	refute_output --partial 'mailnest'
	refute_output --regexp 'GRANT [A-Z, ]*(SELECT|ALL)[A-Z, ]* ON \*\.\*'
	# IMAP and SMTP are verified against the server's certificate by name.
	run in_host grep -E "verify_peer'|peer_name|cafile" /etc/roundcube/config.inc.php
	assert_output --partial "'verify_peer' => true"
	assert_output --partial "'peer_name' => '${WEB_HOSTNAME}'"
}

@test "a forged X-Forwarded-For from outside does not change the address accountd sees" {
	local headers id
	headers=$(https /api/v1/sessions -D - -o /dev/null -X POST -H 'Content-Type: application/json' \
		-H 'X-Forwarded-For: 203.0.113.77' -H 'X-Real-IP: 203.0.113.78' \
		--data '{"email":"nobody@example.test","password":"wrong-password-1"}')
	assert_regex "${headers}" '^HTTP/[0-9.]+ 401'
	id=$(sed -n 's/^x-request-id: *\([^[:space:]]*\).*/\1/Ip' <<<"${headers}" | tr -d '\r')
	[[ -n ${id} ]] || fail "no X-Request-Id in: ${headers}"
	run in_host bash -c "grep -h -- 'id=${id} ' /var/log/mailnest/accountd*.log"
	assert_success
	assert_output --partial "ip=10.231.0.1 "
	refute_output --partial "203.0.113"
	run in_host bash -c "grep -h 'auth_failed' /var/log/mailnest/accountd*.log"
	refute_output --partial "203.0.113"
}

@test "the admin API is not reachable through Nginx" {
	assert_equal "$(status_of /api/v1/admin/registration -H "Authorization: Bearer $(in_host cat /etc/mailnest/admin-token)")" 404
	assert_equal "$(status_of /healthz)" 404
}

@test "oversized and hostile requests are refused by Nginx" {
	local big
	big=$(head -c 20000 /dev/zero | tr '\0' a)
	assert_equal "$(status_of /api/v1/sessions -X POST -H 'Content-Type: application/json' --data "{\"email\":\"${big}\"}")" 413
	assert_equal "$(status_of /.git/config)" 404
	assert_equal "$(status_of /../../etc/passwd --path-as-is)" 400
	assert_equal "$(status_of /index.html -X POST --data 'password=x')" 405
}

@test "a second ./install.sh changes nothing and restarts nothing" {
	run in_host "${WEB_REPO}/install.sh"
	assert_success
	assert_output --partial "[70-nginx] nginx is running and its configuration is unchanged"
	assert_output --regexp "\[71-roundcube\] php[0-9.]+-fpm is running and its configuration is unchanged"
	assert_output --partial "[71-roundcube] nginx is running and its configuration is unchanged"
	refute_output --partial "reloading nginx"
}

# Last: fail2ban may ban the machine's address for this burst.
@test "a burst of logins or sign-ups gets 429 from Nginx itself, as JSON" {
	local i code out got429=0
	for ((i = 0; i < 25; i++)); do
		out=$(https /api/v1/sessions -D - -X POST -H 'Content-Type: application/json' --data '{}')
		code=$(sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' <<<"${out}")
		if [[ ${code} == 429 ]]; then
			got429=1
			break
		fi
	done
	((got429)) || fail "25 logins in a burst and no 429"
	# Nginx's answer, not accountd's (accountd adds X-Request-Id to all).
	refute_regex "${out}" '[Xx]-[Rr]equest-[Ii]d'
	assert_regex "${out}" '"error":"rate_limited"'
	assert_regex "${out}" $'[Rr]etry-[Aa]fter: 60'
	assert_regex "${out}" $'content-type: application/json'

	got429=0
	for ((i = 0; i < 12; i++)); do
		code=$(status_of /api/v1/accounts -X POST -H 'Content-Type: application/json' --data '{}')
		if [[ ${code} == 429 ]]; then
			got429=1
			break
		fi
	done
	((got429)) || fail "12 sign-ups in a burst and no 429"
	# Other pages are not limited.
	assert_equal "$(status_of /account.html)" 200
}

@test "mail clients configure themselves: Thunderbird's autoconfig (both places) and Outlook's autodiscover name our TLS ports" {
	local out=${BATS_TEST_TMPDIR}/config.xml
	local -a expect_tb=(
		"imap ${WEB_HOSTNAME} 993 SSL %EMAILADDRESS% password-cleartext"
		"pop3 ${WEB_HOSTNAME} 995 SSL %EMAILADDRESS% password-cleartext"
		"smtp ${WEB_HOSTNAME} 465 SSL %EMAILADDRESS% password-cleartext"
		"smtp ${WEB_HOSTNAME} 587 STARTTLS %EMAILADDRESS% password-cleartext")
	# as Thunderbird asks: http://autoconfig.DOMAIN/ (no certificate for that
	# name yet), then https://DOMAIN/.well-known/ (here: the mail host)
	run curl -sS --max-time 10 -o "${out}" -w '%{http_code} %{content_type}' \
		-H "Host: autoconfig.example.test" "http://${WEB_IP}/mail/config-v1.1.xml?emailaddress=a%40example.test"
	assert_output '200 application/xml'
	run "${WEB_REPO}/tests/web/client-config-check" thunderbird "${out}"
	assert_success
	assert_equal "${output}" "$(printf '%s\n' "${expect_tb[@]}")"
	run https /.well-known/autoconfig/mail/config-v1.1.xml -o "${out}" -w '%{http_code}' -D "${out}.headers"
	assert_output 200
	grep -qi '^strict-transport-security:' "${out}.headers" || fail "no HSTS: $(cat "${out}.headers")"
	run "${WEB_REPO}/tests/web/client-config-check" thunderbird "${out}"
	assert_equal "${output}" "$(printf '%s\n' "${expect_tb[@]}")"
	# as Outlook asks: a POST of its request, the path in any case
	run https /Autodiscover/Autodiscover.xml -o "${out}" -w '%{http_code}' -H 'Content-Type: text/xml' \
		--data-binary '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>a@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>'
	assert_output 200
	run "${WEB_REPO}/tests/web/client-config-check" autodiscover "${out}"
	assert_success
	assert_equal "${output}" "$(printf '%s\n' "IMAP ${WEB_HOSTNAME} 993 SSL - auth" \
		"POP3 ${WEB_HOSTNAME} 995 SSL - auth" "SMTP ${WEB_HOSTNAME} 465 SSL - auth")"
	# other methods are refused
	assert_equal "$(status_of /autodiscover/autodiscover.xml -X PUT --data x)" 405
	assert_equal "$(status_of /.well-known/autoconfig/mail/config-v1.1.xml -X POST --data x)" 405
}

@test "Apple's configuration profile: offered by the account page, a valid profile naming our TLS ports, the same on a re-run" {
	local out=${BATS_TEST_TMPDIR}/profile
	run https /account.html
	assert_output --partial 'href="/mailnest.mobileconfig"'
	run https /mailnest.mobileconfig -o "${out}" -D "${out}.headers" -w '%{http_code} %{content_type}'
	assert_output '200 application/x-apple-aspen-config'
	grep -qi '^content-disposition: attachment; filename="mail.mobileconfig"' "${out}.headers" ||
		fail "headers: $(cat "${out}.headers")"
	run "${WEB_REPO}/tests/web/client-config-check" apple "${out}"
	assert_success
	assert_line "IMAP ${WEB_HOSTNAME} 993 SSL (asked) EmailAuthPassword"
	assert_line "SMTP ${WEB_HOSTNAME} 465 SSL (asked) EmailAuthPassword"
	assert_line --regexp "^profile $(tr '.' '\n' <<<"${WEB_HOSTNAME}" | tac | paste -sd.)\.mailnest [0-9a-f-]{36} [0-9a-f-]{36}$"
	local first=${output}
	in_host "${WEB_REPO}/install.sh" >/dev/null
	https /mailnest.mobileconfig -o "${out}"
	run "${WEB_REPO}/tests/web/client-config-check" apple "${out}"
	assert_equal "${output}" "${first}"
}
