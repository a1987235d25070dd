#!/usr/bin/env bats
# Issue 12, test 5: password guessing on every door ends in a ban on every
# port. One guesser per door (strangers 3-7: IMAP 993, POP3 995, SMTP AUTH
# 587/465, accountd's API login through Nginx, the webmail's login form),
# each trying wrong passwords one connection at a time, alternately for an
# unknown user and for a real one, until the mail host shuts it out. Each is
# banned within the jail's documented number of tries (printed), on 25, 80,
# 443, 465, 587, 993 and 995, while other strangers keep every port; the
# answers to an unknown user and to a wrong password are the same. Stranger
# 8 logs in to the webmail while stranger 7 guesses there, in normal time,
# and Dovecot logs stranger 8's own address for it; a stranger cannot name
# another address itself; a Dovecot restart fails no legitimate SMTP AUTH.

# ATTACK_* come from tests/attack/run, BATS_* from bats.
# shellcheck disable=SC2154
load lib

# Every port a ban closes.
BAN_PORTS=(25 80 443 465 587 993 995)

setup_file() {
	new_user VICTIM
	new_user WEBMAIL
	export VICTIM_EMAIL VICTIM_PASSWORD WEBMAIL_EMAIL WEBMAIL_PASSWORD
}

# ---- one try at each door -----------------------------------------------------
# Each prints the server's answer on one line, or nothing when the
# connection was refused or timed out (the stranger is shut out).

imap_try() {	# N USER PASSWORD
	from_stranger "$1" curl -sk -v --max-time 40 -u "$2:$3" "imaps://${ATTACK_MAIL_IP}:993/" 2>&1 |
		tr -d '\r' | sed -n 's/^< A[0-9]* \(NO .*\)/\1/p' | head -n 1
}

pop3_try() {	# N USER PASSWORD
	from_stranger "$1" curl -sk -v --max-time 40 -u "$2:$3" "pop3s://${ATTACK_MAIL_IP}:995/" 2>&1 |
		tr -d '\r' | sed -n 's/^< \(-ERR .*\)/\1/p' | head -n 1
}

# smtp_try N USER PASSWORD: on 587 (STARTTLS) for odd tries, 465 (implicit
# TLS) for even ones (TRY, set by guess_until_shut_out): both ports feed the
# same jail.
smtp_try() {
	local tls=(--port 587 --tls)
	((TRY % 2 == 0)) && tls=(--port 465 --tls-on-connect)
	from_stranger "$1" swaks --server "${ATTACK_MAIL_IP}" "${tls[@]}" --quit-after AUTH --timeout 40 \
		--auth PLAIN --auth-user "$2" --auth-password "$3" 2>&1 |
		grep -A1 -- '~> AUTH' | sed -n 's/^<~\** *\([0-9][0-9][0-9] .*\)/\1/p' | head -n 1
}

# api_try N USER PASSWORD: accountd's login through Nginx, as the web pages
# call it; prints the HTTP status and the body.
api_try() {
	local out
	out=$(from_stranger "$1" curl -sk --max-time 40 --resolve "${ATTACK_HOSTNAME}:443:${ATTACK_MAIL_IP}" \
		-H 'Content-Type: application/json' -w '\n%{http_code}' \
		-d "{\"email\":\"$2\",\"password\":\"$3\"}" "https://${ATTACK_HOSTNAME}/api/v1/sessions") || return 0
	printf '%s %s\n' "${out##*$'\n'}" "${out%$'\n'*}"
}

# webmail_try N USER PASSWORD: Roundcube's login form over HTTPS, as a
# browser fills it in: the login page (its session cookie and _token), then
# the POST; prints the HTTP status and Roundcube's message (or where a
# successful login is sent).
webmail_try() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	from_stranger "$1" bash -c '
		jar=$(mktemp)
		trap "rm -f -- \"${jar}\" \"${jar}.out\"" EXIT
		c=(curl -sk --max-time 40 --resolve "$0:443:$1" -b "${jar}" -c "${jar}")
		page=$("${c[@]}" "https://$0/mail/") || exit 0
		token=$(sed -n "s/.*name=\"_token\" value=\"\([^\"]*\)\".*/\1/p" <<<"${page}" | head -n 1)
		status=$("${c[@]}" -o "${jar}.out" -w "%{http_code} %{redirect_url}" \
			--data-urlencode "_token=${token}" --data "_task=login&_action=login&_timezone=UTC&_url=" \
			--data-urlencode "_user=$2" --data-urlencode "_pass=$3" "https://$0/mail/?_task=login") || exit 0
		message=$(grep -o "display_message(\"[^\"]*\"" "${jar}.out" | head -n 1)
		printf "%s %s\n" "${status% }" "${message#display_message(}"' \
		"${ATTACK_HOSTNAME}" "${ATTACK_MAIL_IP}" "$2" "$3"
}

# ---- the guesser and the ban --------------------------------------------------

# guess_until_shut_out N JAIL MAX TRY_FUNCTION: stranger N tries wrong
# passwords through TRY_FUNCTION, one at a time, alternately for an unknown
# user (odd tries) and for VICTIM (even tries), until JAIL bans it or its
# connections fail, at most MAX + 5 tries. Sets TRIES (the tries the server
# answered), ANSWERS (their answers) and SECONDS_OF (the time each took).
guess_until_shut_out() {
	local n=$1 jail=$2 max=$3 try=$4 ip user answer started
	ip=$(stranger_ip "${n}")
	TRIES=0 ANSWERS=() SECONDS_OF=()
	for ((TRY = 1; TRY <= max + 5; TRY++)); do
		user=${VICTIM_EMAIL}
		((TRY % 2)) && user=nobody${RANDOM}@${ATTACK_DOMAIN}
		started=${EPOCHREALTIME}
		answer=$("${try}" "${n}" "${user}" "wrong-password-${TRY}")
		[[ -n ${answer} ]] || break
		TRIES=${TRY}
		ANSWERS+=("${answer}")
		SECONDS_OF+=("$(bc <<<"${EPOCHREALTIME} - ${started}")")
		# fail2ban reads the log within about a second of the failure.
		wait_until 2 banned_in "${jail}" "${ip}" && break
	done
}

# shut_out N PORT: stranger N's connection to PORT fails.
shut_out() {
	! port_open_from "$1" "$2"
}

# proves_ban N JAIL MAX DOOR: after guess_until_shut_out, JAIL has banned
# stranger N within MAX tries and every port is closed to it; strangers 8
# and 12 (who never guessed) still reach every port.
proves_ban() {
	local n=$1 jail=$2 max=$3 door=$4 ip port other
	ip=$(stranger_ip "${n}")
	printf '# %s: banned by %s after %d wrong passwords (at most %d)\n' "${door}" "${jail}" "${TRIES}" "${max}" >&3
	wait_until 5 banned_in "${jail}" "${ip}" || fail "${jail} did not ban ${ip} after ${TRIES} tries"
	((TRIES <= max)) || fail "${door}: ${TRIES} wrong passwords before the ban, more than ${max}"
	for port in "${BAN_PORTS[@]}"; do
		# fail2ban lists the address just before nft has run.
		wait_until 10 shut_out "${n}" "${port}" || fail "stranger ${n} still reaches port ${port}"
	done
	for other in 8 12; do
		for port in "${BAN_PORTS[@]}"; do
			port_open_from "${other}" "${port}" || fail "stranger ${other} cannot reach port ${port}"
		done
	done
}

# same_answers DOOR ALLOWED_REGEX: the answer to the first unknown user and
# to the first wrong password are the same, and every answer matches
# ALLOWED_REGEX (one of the door's answers for any failed login). Prints the
# mean time of each kind of try (the unknown users' tries come first in each
# pair, so Dovecot's penalty, which grows with every failure of the address
# whoever the user, makes them the shorter) and how often each answer came.
same_answers() {
	local door=$1 allowed=$2 i unknown=0 known=0 count_unknown=0 count_known=0
	((${#ANSWERS[@]} >= 2)) || fail "${door}: fewer than two answers"
	[[ ${ANSWERS[0]} == "${ANSWERS[1]}" ]] ||
		fail "${door}: an unknown user got '${ANSWERS[0]}', a wrong password '${ANSWERS[1]}'"
	for i in "${!ANSWERS[@]}"; do
		[[ ${ANSWERS[i]} =~ ${allowed} ]] || fail "${door}: unexpected answer '${ANSWERS[i]}'"
		if ((i % 2 == 0)); then
			unknown=$(bc <<<"${unknown} + ${SECONDS_OF[i]}")
			count_unknown=$((count_unknown + 1))
		else
			known=$(bc <<<"${known} + ${SECONDS_OF[i]}")
			count_known=$((count_known + 1))
		fi
	done
	printf '# %s: the same first answer to both, mean %.2f s for an unknown user, %.2f s for a wrong password; answers:\n' \
		"${door}" "$(bc -l <<<"${unknown} / ${count_unknown}")" "$(bc -l <<<"${known} / ${count_known}")" >&3
	printf '%s\n' "${ANSWERS[@]}" | sort | uniq -c | sed 's/^ */#   /' >&3
}

# dovecot_log: Dovecot's log on the mail host (its log_path, else syslog's).
dovecot_log() {
	local file
	file=$(on_mail doveconf -h log_path)
	[[ -n ${file} && ${file} != syslog ]] || file=/var/log/mail.log
	on_mail cat -- "${file}"
}

@test "a stranger cannot name another address to Dovecot: IMAP ID's x-originating-ip is believed from loopback only" {
	local ip8
	ip8=$(stranger_ip 8)
	# shellcheck disable=SC2016 # Python
	run from_stranger 8 python3 -c '
import imaplib, ssl, sys
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
imap = imaplib.IMAP4_SSL(sys.argv[1], 993, ssl_context=context)
print(imap.xatom("ID", "(\"x-originating-ip\" \"192.0.2.99\" \"x-originating-port\" \"4242\")"))
try:
    imap.login(sys.argv[2], "wrong-password-0")
except imaplib.IMAP4.error as e:
    print("refused:", e)
imap.logout()' "${ATTACK_MAIL_IP}" "forged-${RANDOM}@${ATTACK_DOMAIN}"
	assert_success
	assert_output --partial "refused:"
	wait_until 5 dovecot_logged "rip=${ip8}, lip=${ATTACK_MAIL_IP}, TLS" ||
		fail "Dovecot did not log ${ip8} for its failed login"
	if dovecot_logged "rip=192.0.2.99"; then
		fail "Dovecot believed a stranger's x-originating-ip"
	fi
}

@test "5. wrong passwords on IMAP (993) ban the guesser on every port; unknown user and wrong password answer alike" {
	guess_until_shut_out 3 mailnest-imap-pop3 10 imap_try
	proves_ban 3 mailnest-imap-pop3 10 IMAP
	same_answers IMAP '^NO \[AUTHENTICATIONFAILED\] Authentication failed\.$'
}

@test "5. wrong passwords on POP3 (995) ban the guesser on every port; unknown user and wrong password answer alike" {
	guess_until_shut_out 4 mailnest-imap-pop3 10 pop3_try
	proves_ban 4 mailnest-imap-pop3 10 POP3
	same_answers POP3 '^-ERR \[AUTH\] Authentication failed\.$'
}

@test "5. wrong passwords on SMTP AUTH (587, 465) ban the guesser on every port, also once Postfix stops waiting for Dovecot" {
	guess_until_shut_out 5 mailnest-smtp-auth 5 smtp_try
	proves_ban 5 mailnest-smtp-auth 5 "SMTP AUTH"
	# 454 once Dovecot's penalty outlasts Postfix's 10 s wait: the same for
	# unknown users and wrong passwords.
	same_answers "SMTP AUTH" '^(535 5\.7\.8 Error: authentication failed: .*|454 4\.7\.0 Temporary authentication failure: .*)$'
}

@test "5. wrong passwords at the API login (443, through Nginx) ban the guesser on every port; unknown user and wrong password answer alike" {
	guess_until_shut_out 6 mailnest-accountd-login 10 api_try
	proves_ban 6 mailnest-accountd-login 10 "API login"
	# 429 once accountd's or Nginx's own limit refuses more tries.
	same_answers "API login" '^(401|429) \{.*\}$'
}

# dovecot_logged TEXT: Dovecot's log on the mail host holds TEXT (fixed).
dovecot_logged() {
	dovecot_log | grep -qF -- "$1"
}

# webmail_failures_of IP: the failed webmail logins Dovecot logged for IP.
webmail_failures_of() {
	dovecot_log | grep -c "(auth failed, .*rip=$1, lip=127\.0\.0\.1," || true
}

# enough_failures_of IP COUNT: Dovecot logged COUNT failed webmail logins of IP.
enough_failures_of() {
	(($(webmail_failures_of "$1") >= $2))
}

# timed_webmail_login N: once stranger 7 has failed three times (Dovecot's
# penalty then delays its every try by 8 s or more), stranger 8 logs in with
# the right password; prints the seconds it took, then the answer.
timed_webmail_login() {
	local started answer
	wait_until 120 enough_failures_of "$(stranger_ip 7)" 3 || { echo "stranger 7 never failed 3 times"; return 1; }
	started=${EPOCHREALTIME}
	answer=$(webmail_try 8 "${WEBMAIL_EMAIL}" "${WEBMAIL_PASSWORD}")
	bc <<<"${EPOCHREALTIME} - ${started}"
	printf '%s\n' "${answer}"
}

@test "5. wrong passwords at the webmail login ban the guesser on every port and slow only the guesser: another address logs in in normal time" {
	local ip8 elapsed answer
	ip8=$(stranger_ip 8)
	timed_webmail_login >"${BATS_TEST_TMPDIR}/innocent" 2>&1 &
	local innocent=$!
	guess_until_shut_out 7 mailnest-imap-pop3 10 webmail_try
	wait "${innocent}" || fail "stranger 8: $(cat -- "${BATS_TEST_TMPDIR}/innocent")"
	{ read -r elapsed && read -r answer; } <"${BATS_TEST_TMPDIR}/innocent"
	printf '# webmail: stranger 8 logged in in %.2f s while stranger 7 guessed\n' "${elapsed}" >&3
	proves_ban 7 mailnest-imap-pop3 10 webmail
	same_answers webmail '^401 "Login failed\."$'
	[[ ${answer} == "302 https://${ATTACK_HOSTNAME}/mail/?_task=mail"* ]] || fail "stranger 8's login: ${answer}"
	(($(bc <<<"${elapsed} < 3") == 1)) || fail "stranger 8's webmail login took ${elapsed} s"
	# Dovecot logged that webmail login with stranger 8's own address.
	dovecot_log | grep -qF "Login: user=<${WEBMAIL_EMAIL}>, method=PLAIN, rip=${ip8}, lip=127.0.0.1" ||
		fail "Dovecot did not log stranger 8's address (${ip8}) for the webmail login"
}

# smtp_auth_ok N EMAIL PASSWORD: stranger N's SMTP AUTH on 587 succeeds.
smtp_auth_ok() {
	from_stranger "$1" swaks --server "${ATTACK_MAIL_IP}" --port 587 --tls --quit-after AUTH --timeout 30 \
		--auth PLAIN --auth-user "$2" --auth-password "$3" 2>&1 | grep -q '^<~ *235 '
}

# dovecot_serves: Dovecot answers IMAPS and Postfix's SASL socket is there.
dovecot_serves() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	on_mail bash -c 'test -S /var/spool/postfix/private/auth && exec 3<>/dev/tcp/127.0.0.1/993'
}

@test "a Dovecot restart does not make a legitimate SMTP user fail (nor get banned): Postfix reconnects before the next AUTH" {
	local i ip8
	ip8=$(stranger_ip 8)
	# Postfix's smtpd processes hold their connection to Dovecot's auth
	# socket between clients: two of them now know the Dovecot to go.
	smtp_auth_ok 8 "${WEBMAIL_EMAIL}" "${WEBMAIL_PASSWORD}" || fail "AUTH before the restart failed"
	smtp_auth_ok 8 "${WEBMAIL_EMAIL}" "${WEBMAIL_PASSWORD}" || fail "AUTH before the restart failed"
	on_mail service dovecot restart >/dev/null 2>&1
	wait_until 30 dovecot_serves || fail "Dovecot did not come back"
	for i in 1 2 3 4 5 6; do
		smtp_auth_ok 8 "${WEBMAIL_EMAIL}" "${WEBMAIL_PASSWORD}" || fail "AUTH ${i} after the restart failed"
	done
	if on_mail grep -q "\[${ip8}\]: SASL .* authentication failed" /var/log/mail.log; then
		fail "Postfix logged a failed AUTH for ${ip8}"
	fi
	if banned_in mailnest-smtp-auth "${ip8}"; then
		fail "${ip8} was banned"
	fi
}

@test "the webmail answers a known webmail user's wrong password as it answers an unknown user, also after three of them" {
	local limit i answer
	# shellcheck disable=SC2016 # PHP's variables
	limit=$(on_mail php -r 'foreach (glob("{/etc/roundcube,/opt/mailnest/roundcube/*/config}/config.inc.php", GLOB_BRACE) as $f) { include $f; }
		echo (int) ($config["login_rate_limit"] ?? 3);' 2>/dev/null || echo 3)
	((limit == 0)) ||
		fail "Roundcube's login_rate_limit is ${limit}: after ${limit} failures in a minute it refuses a user it knows with 'Too many failed login attempts' (unknown users never), without asking Dovecot"
	for i in 1 2 3 4; do
		answer=$(webmail_try 8 "${WEBMAIL_EMAIL}" "wrong-password-${i}")
		[[ ${answer} == '401 "Login failed."' ]] || fail "wrong password ${i}: ${answer}"
	done
}
