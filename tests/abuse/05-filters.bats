#!/usr/bin/env bats
# The fail2ban filters the jails use, against log lines in the exact formats
# the daemons write on a mailnest host (captured from an installed one), and
# against hostile lines that try to get another address banned.

bats_load_library bats-support
bats_load_library bats-assert

FILTERS=${BATS_TEST_DIRNAME}/../../install/templates/fail2ban/filter.d


# bans ADDRESS FILTER LINE: LINE counts as one failure of ADDRESS.
bans() {
	local filter=$2 out
	printf '%s\n' "$3" >"${BATS_TEST_TMPDIR}/line.log"
	out=$(fail2ban-regex -v "${BATS_TEST_TMPDIR}/line.log" "${filter}" 2>&1)
	grep -q '^Lines: 1 lines, 0 ignored, 1 matched, 0 missed' <<<"${out}" ||
		fail "not matched by ${filter}: $3"
	grep -qE "^\|\s+${1//./\\.}\s" <<<"${out}" ||
		fail "matched, but not for ${1}: ${out}"
}

ignores() {	# FILTER LINE: LINE is no failure at all
	printf '%s\n' "$2" >"${BATS_TEST_TMPDIR}/line.log"
	run fail2ban-regex "${BATS_TEST_TMPDIR}/line.log" "$1"
	assert_success
	assert_output --partial "Lines: 1 lines, 0 ignored, 0 matched, 1 missed"
}

@test "accountd: failed logins, rate-limited logins and wrong admin tokens count, for the client address" {
	local f="${FILTERS}/mailnest-accountd.conf"
	bans 10.231.0.91 "${f}" "2026-11-24T02:06:42: 2026-11-24T02:06:42.553Z accountd auth_failed ip=10.231.0.91 reason=invalid_credentials"
	bans 10.231.0.91 "${f}" "2026-11-24T02:06:43: 2026-11-24T02:06:43.001Z accountd auth_failed ip=10.231.0.91 reason=rate_limited"
	bans 2001:db8::7 "${f}" "2026-11-24T02:06:43: 2026-11-24T02:06:43.001Z accountd auth_failed ip=2001:db8::7 reason=invalid_credentials"
	bans 10.231.0.92 "${f}" "2026-11-24T02:06:44: 2026-11-24T02:06:44.000Z accountd admin_auth_failed ip=10.231.0.92"
	# Without PM2's stamp (accountd run by hand, or PM2's time option off).
	bans 10.231.0.93 "${f}" "2026-11-24T02:06:45.000Z accountd auth_failed ip=10.231.0.93 reason=invalid_credentials"
}

@test "accountd: successful requests and other events do not count as failed logins" {
	local f="${FILTERS}/mailnest-accountd.conf"
	ignores "${f}" "2026-11-24T02:06:42: 2026-11-24T02:06:42.524Z accountd request id=85cc9a917bf3d959 ip=10.231.0.91 method=POST route=/api/v1/sessions status=401 ms=22.61"
	ignores "${f}" "2026-11-24T02:06:42: 2026-11-24T02:06:42.524Z accountd account_created ip=10.231.0.91 email=a@example.test"
	ignores "${f}" "2026-11-24T02:06:42: 2026-11-24T02:06:42.524Z accountd register_refused ip=10.231.0.91 reason=username_taken"
}

@test "accountd: hostile values cannot get another address banned" {
	local f="${FILTERS}/mailnest-accountd.conf"
	# A value carrying a forged event (accountd turns newlines into '?').
	ignores "${f}" "2026-11-24T02:06:45: 2026-11-24T02:06:45.553Z accountd account_created ip=10.231.0.94 email=x?2026-11-24T02:06:45.553Z accountd auth_failed ip=10.231.0.95 reason=x"
	ignores "${f}" "2026-11-24T02:06:45: 2026-11-24T02:06:45.553Z accountd auth_failed ip=10.231.0.96 reason=invalid_credentials auth_failed ip=10.231.0.97"
	ignores "${f}" "2026-11-24T02:06:45: 2026-11-24T02:06:45.553Z accountd auth_failed ip=not-an-address reason=x"
	ignores "${f}" "2026-11-24T02:06:45: 2026-11-24T02:06:45.553Z policyd auth_failed ip=10.231.0.98 reason=x"
	# Oversized.
	ignores "${f}" "2026-11-24T02:06:45: 2026-11-24T02:06:45.553Z accountd auth_failed ip=10.231.0.99 reason=$(printf 'x%.0s' {1..3000}) tail"
}

@test "accountd signup mode: every refused sign-up counts, nothing else" {
	local f="${FILTERS}/mailnest-accountd.conf[mode=signup]"
	bans 10.231.0.91 "${f}" "2026-11-24T02:06:45: 2026-11-24T02:06:45.553Z accountd register_refused ip=10.231.0.91 reason=rate_limited"
	bans 10.231.0.91 "${f}" "2026-11-24T02:06:45: 2026-11-24T02:06:45.553Z accountd register_refused ip=10.231.0.91 reason=username_taken"
	ignores "${f}" "2026-11-24T02:06:42: 2026-11-24T02:06:42.553Z accountd auth_failed ip=10.231.0.91 reason=invalid_credentials"
	ignores "${f}" "2026-11-24T02:06:42: 2026-11-24T02:06:42.524Z accountd account_created ip=10.231.0.91 email=a@example.test"
}

@test "Nginx: a 401 or 429 to POST /api/v1/sessions counts; other answers and forged requests do not" {
	local f="${FILTERS}/mailnest-nginx-api.conf"
	bans 10.231.0.91 "${f}" '10.231.0.91 - - [24/Nov/2026:02:06:42 +0000] "POST /api/v1/sessions HTTP/1.1" 401 63 "-" "curl/7.88.1"'
	bans 10.231.0.91 "${f}" '10.231.0.91 - - [24/Nov/2026:02:06:43 +0000] "POST /api/v1/sessions HTTP/2.0" 429 70 "-" "curl/7.88.1"'
	ignores "${f}" '10.231.0.92 - - [24/Nov/2026:02:06:42 +0000] "POST /api/v1/sessions HTTP/2.0" 201 63 "-" "curl/7.88.1"'
	ignores "${f}" '10.231.0.93 - - [24/Nov/2026:02:06:42 +0000] "GET /api/v1/me HTTP/1.1" 401 63 "-" "curl/7.88.1"'
	ignores "${f}" '10.231.0.94 - - [24/Nov/2026:02:06:42 +0000] "GET /x\x22 401 1 \x2210.231.0.95 - - [] \x22POST /api/v1/sessions HTTP/1.1\x22 401 1 HTTP/1.1" 404 63 "-" "-"'
}

@test "Nginx: limit_req refusals count (the stock nginx-limit-req filter, our zones)" {
	bans 10.231.0.91 /etc/fail2ban/filter.d/nginx-limit-req.conf '2026/11/24 02:06:42 [warn] 1234#1234: *56 limiting requests, excess: 5.120 by zone "mailnest_login", client: 10.231.0.91, server: mail.example.test, request: "POST /api/v1/sessions HTTP/1.1", host: "mail.example.test"'
}

@test "Postfix (maillog_file format): every failed SASL login counts, also when Postfix stopped waiting for Dovecot" {
	local f="${FILTERS}/mailnest-postfix-sasl.conf"
	bans 10.231.0.91 "${f}" "Nov 24 02:07:53 mail postfix/submission/smtpd[1299]: warning: unknown[10.231.0.91]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice@example.test"
	bans 10.231.0.91 "${f}" "Nov 24 02:07:53 mail postfix/submissions/smtpd[1299]: warning: unknown[10.231.0.91]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=alice@example.test"
	# Dovecot's penalty for the guessing address outlasted Postfix's 10 s.
	bans 10.231.0.91 "${f}" "Nov 24 02:07:41 mail postfix/submission/smtpd[1299]: warning: unknown[10.231.0.91]: SASL PLAIN authentication failed: Connection lost to authentication server, sasl_username=(unavailable)"
	bans 2001:db8::7 "${f}" "Nov 24 02:07:41 mail postfix/submissions/smtpd[1299]: warning: host.example.org[2001:db8::7]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice@example.test"
	# the client's address comes first: a user name cannot name another
	bans 10.231.0.91 "${f}" "Nov 24 02:07:53 mail postfix/submission/smtpd[1299]: warning: unknown[10.231.0.91]: SASL LOGIN authentication failed: x, sasl_username=a unknown[10.231.0.92]: SASL PLAIN authentication failed: x"
	# No password guessed.
	ignores "${f}" "Nov 24 02:07:41 mail postfix/submission/smtpd[1299]: warning: unknown[10.231.0.91]: SASL FOO authentication failed: Invalid authentication mechanism"
	ignores "${f}" "Nov 24 02:07:41 mail postfix/submission/smtpd[1299]: disconnect from unknown[10.231.0.91] ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5"
	ignores "${f}" "Nov 24 02:07:41 mail postfix/smtpd[1299]: warning: hostname x does not resolve to address 10.231.0.91"
}

# dovecot_filter: our IMAP/POP3 filter beside Debian's dovecot filter, which it
# includes (prints its path).
dovecot_filter() {
	local dir=${BATS_TEST_TMPDIR}/filter.d
	mkdir -p -- "${dir}"
	cp -- /etc/fail2ban/filter.d/common.conf /etc/fail2ban/filter.d/dovecot.conf \
		"${FILTERS}/mailnest-dovecot.conf" "${dir}/"
	printf '%s' "${dir}/mailnest-dovecot.conf"
}

@test "Dovecot (auth_verbose): every failed password or unknown user counts, for the client address" {
	local f
	f=$(dovecot_filter)
	bans 10.231.0.91 "${f}" "Nov 24 06:28:42 auth-worker(2147): Info: conn unix:auth-worker (pid=2142,uid=103): auth-worker<1>: sql(v@example.test,10.231.0.91,<1FhV0v9grqV/AAAB>): Password mismatch"
	bans 10.231.0.91 "${f}" "Nov 24 06:28:58 auth-worker(2147): Info: conn unix:auth-worker (pid=2142,uid=103): auth-worker<3>: sql(nosuch@example.test,10.231.0.91,<k/LQ0v9gdOZ/AAAB>): unknown user"
	bans 10.231.0.91 "${f}" "Nov 24 06:31:28 auth: Info: sql(nosuch2@example.test,10.231.0.91,<lCRF1/9g9Ip/AAAB>): unknown user"
	# a user name cannot name another address: the client's comes last
	bans 10.231.0.91 "${f}" "Nov 24 06:31:28 auth: Info: sql(x,10.231.0.92,10.231.0.91,<lCRF1/9g9Ip/AAAB>): unknown user"
}

@test "Dovecot (log_path format): a connection that failed to log in counts" {
	local f
	f=$(dovecot_filter)
	bans 10.231.0.91 "${f}" "Nov 24 02:10:20 imap-login: Info: Disconnected: Connection closed (auth failed, 6 attempts in 69 secs): user=<nobody@example.test>, method=PLAIN, rip=10.231.0.91, lip=10.231.0.90, TLS: Connection closed, session=<tM0/MvxgWp0K5wBb>"
	# A webmail login: Roundcube connects from loopback and names the
	# browser's address (IMAP ID), which Dovecot logs as rip.
	bans 10.231.0.91 "${f}" "Dec 03 12:43:06 imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<alice@example.test>, method=PLAIN, rip=10.231.0.91, lip=127.0.0.1, TLS, session=<RBW/GbphAt8K5wDG>"
	bans 10.231.0.91 "${f}" "Nov 24 02:07:15 pop3-login: Info: Disconnected: Aborted login by logging out (auth failed, 2 attempts in 8 secs): user=<nobody@example.test>, method=PLAIN, rip=10.231.0.91, lip=10.231.0.90, TLS, session=<FpjhKvxg0M0K5wBb>"
	ignores "${f}" "Nov 24 01:55:20 pop3-login: Info: Disconnected: Connection closed (no auth attempts in 0 secs): user=<>, rip=10.231.0.91, lip=10.231.0.90, TLS, session=<YJLBAPxg2qV/AAAB>"
}

# Dovecot 2.4 (Debian 13), captured from an installed one: other prefixes, and
# "Login aborted" where 2.3 says "Disconnected".
@test "Dovecot 2.4: every failed password, unknown user and failed connection counts, for the client address" {
	local f
	f=$(dovecot_filter)
	bans 10.231.0.91 "${f}" "Dec 03 12:41:47 auth-worker(v@example.test,10.231.0.91)<168><4AkrFbph9oZ/AAAB>: request [6]: Info: Password mismatch"
	bans 10.231.0.91 "${f}" "Dec 03 12:42:30 auth-worker(v@example.test,10.231.0.91)<168><JBB9F7phEr9/AAAB>: request [14]: Info: sql: Password mismatch"
	bans 10.231.0.91 "${f}" "Dec 03 12:42:18 auth-worker(nosuch@example.test,10.231.0.91)<168><xNkMF7phrOh/AAAB>: request [10]: Info: sql: unknown user"
	bans 10.231.0.91 "${f}" "Dec 03 12:41:49 imap-login: Info: Login aborted: Connection closed (auth failed, 1 attempts in 2 secs) (auth_failed): user=<v@example.test>, method=PLAIN, rip=10.231.0.91, lip=10.231.0.90, TLS: Connection closed, session=<4AkrFbph9oZ/AAAB>"
	bans 10.231.0.91 "${f}" "Dec 03 12:42:32 pop3-login: Info: Login aborted: Connection closed (auth failed, 1 attempts in 6 secs) (auth_failed): user=<v@example.test>, method=PLAIN, rip=10.231.0.91, lip=10.231.0.90, TLS, session=<JBB9F7phEr9/AAAB>"
	# through syslog or the journal: "dovecot: " in front, no "Info: "
	bans 10.231.0.91 "${f}" "Dec  3 12:42:30 mail dovecot: auth-worker(v@example.test,10.231.0.91)<168><JBB9F7phEr9/AAAB>: request [14]: sql: Password mismatch"
	bans 10.231.0.91 "${f}" "Dec  3 12:42:32 mail dovecot: imap-login: Login aborted: Connection closed (auth failed, 1 attempts in 6 secs) (auth_failed): user=<v@example.test>, method=PLAIN, rip=10.231.0.91, lip=10.231.0.90, TLS, session=<JBB9F7phEr9/AAAB>"
	ignores "${f}" "Dec 03 12:41:53 imap-login: Info: Logged in: user=<v@example.test>, method=PLAIN, rip=10.231.0.91, lip=10.231.0.90, mpid=180, TLS, session=<7MJLFbphzth/AAAB>"
}

@test "Dovecot 2.4: a user name cannot get another address banned" {
	local f
	f=$(dovecot_filter)
	# the user name comes before rip=: the last rip= of the line is the client's
	bans 10.231.0.91 "${f}" "Dec 03 12:42:33 imap-login: Info: Login aborted: Connection closed (auth failed, 1 attempts in 6 secs) (auth_failed): user=<a>, method=PLAIN, rip=10.231.0.92, lip=10.231.0.90, TLS, session=<x>>, method=PLAIN, rip=10.231.0.91, lip=10.231.0.90, TLS, session=<JBB9F7phEr9/AAAB>"
	ignores "${f}" "Dec 03 12:41:47 auth-worker(x,10.231.0.92,10.231.0.91)<168><4AkrFbph9oZ/AAAB>: request [6]: Info: Password mismatch"
	ignores "${f}" "Dec 03 12:41:47 auth-worker(x)<y,10.231.0.92)<168><4AkrFbph9oZ/AAAB>: request [6]: Info: Password mismatch"
}
