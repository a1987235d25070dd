#!/usr/bin/env bash
# Postfix: MX on 25, submission on 587 and 465, delivery to Dovecot.
#
# Port 25 receives mail for the active domains from anyone, with
# opportunistic STARTTLS and without AUTH; it relays for nobody (not even for
# 127.0.0.1: mynetworks grants nothing) and refuses unknown local recipients
# at RCPT TO with 550. Ports 587 (STARTTLS required before AUTH) and 465
# (implicit TLS) accept mail only from clients authenticated through
# Dovecot's SASL socket, and only with a MAIL FROM the login owns (the mailbox
# and its aliases, smtpd_sender_login_maps + reject_sender_login_mismatch).
# Domains, mailboxes and aliases are looked up in MariaDB as the read-only
# `postfix` user through proxymap (proxy:mysql:), so the chrooted smtpd
# processes never open the password file; a failing lookup answers 4xx, so a
# database outage defers mail and never bounces it. Mail goes to Dovecot over
# LMTP on a unix socket in the chroot. TLS 1.2+ with the Mozilla
# "intermediate" ciphers. A trial (no real domain) makes no DNS lookups.
# On port 25 postscreen judges clients before smtpd sees them, a stranger
# may not use one of our domains as MAIL FROM, and no client can hold more
# than a few processes (port25_settings has the numbers); no port accepts
# SMTP smuggling (smuggling_settings).
# Settings go through postconf; Postfix is checked with `postfix check` and
# reloaded only when its configuration or certificate changed.
# This runs after every service Postfix is wired to is up (Dovecot's LMTP,
# SASL and quota-status sockets, the OpenDKIM, OpenDMARC and policyd milters,
# policyd's policy socket) and declares the policyd-spf spawn service itself
# before main.cf refers to it: Postfix never points at a service, milter or
# map that does not exist yet, on a first install or an upgrade.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly SQL_DIR=/etc/postfix/sql
# Debian's postfix-policyd-spf-python, started on demand as its own user
# (install/63-spf.sh configures it).
readonly SPF_SPAWN="policyd-spf/unix=policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf"
readonly MAPS=(virtual-mailbox-domains virtual-mailbox-maps virtual-alias-maps sender-login-maps sender-own-domain)
readonly TLS_CIPHERS_INTERMEDIATE="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

grant_postfix() {
	sql "GRANT SELECT (id, name, active) ON mailnest.domains TO 'postfix'@'localhost';
	     GRANT SELECT (domain_id, local_part, email, active) ON mailnest.mailboxes TO 'postfix'@'localhost';
	     GRANT SELECT (domain_id, source, destination, active) ON mailnest.aliases TO 'postfix'@'localhost';"
}

render_maps() {
	local map changed=1
	DB_PASSWORD=$(<"${MAILNEST_SECRETS}/db-postfix.pw")
	export DB_PASSWORD
	install -d -o root -g postfix -m 0750 -- "${SQL_DIR}"
	render postfix/client.cnf "${SQL_DIR}/client.cnf" root:postfix 0640 && changed=0
	for map in "${MAPS[@]}"; do
		render "postfix/${map}.cf" "${SQL_DIR}/${map}.cf" root:postfix 0640 DB_PASSWORD && changed=0
	done
	return "${changed}"
}

postfix_state() {
	postconf -n
	postconf -M
	postconf -P
}

main_settings() {
	local p="proxy:mysql:${SQL_DIR}" protocols=ipv4
	# Mail authentication (install/62-64): OpenDKIM signs submitted mail and
	# verifies the rest, then OpenDMARC judges port-25 mail; SPF is asked at
	# RCPT on port 25 only. A trial has no DNS to check SPF or DMARC against:
	# there only OpenDKIM (signing needs no DNS) stands in front of mail.
	# First of all, policyd's milter (install/66-policyd.sh) refuses a
	# From:/Sender: the login does not own (587/465) or in one of our
	# domains (25), so that a refused message never reaches OpenDKIM.
	local milters="unix:mailnest/milter, unix:opendkim/opendkim.sock, unix:opendmarc/opendmarc.sock" spf_check=", check_policy_service unix:private/policyd-spf"
	if [[ ${MAILNEST_DNS} == no ]]; then
		milters="unix:mailnest/milter, unix:opendkim/opendkim.sock"
		spf_check=""
	fi
	[[ -e /proc/net/if_inet6 ]] && protocols=all
	# Dovecot's quota-status answers "mailnest_mailbox_full" for a full
	# mailbox (install/templates/dovecot.conf says why not the reply itself):
	# permanent or temporary as MAILNEST_QUOTA_FULL says.
	local mailbox_full="552 5.2.2 Mailbox is full"
	[[ ${MAILNEST_QUOTA_FULL} == defer ]] && mailbox_full="452 4.2.2 Mailbox is full"
	local -a s=(
		"compatibility_level = 3.6"
		"myhostname = ${MAILNEST_HOSTNAME}"
		"mydomain = ${MAILNEST_DOMAIN}"
		"myorigin = \$myhostname"
		"mydestination = \$myhostname, localhost.\$mydomain, localhost"
		"mynetworks = 127.0.0.0/8 [::1]/128"
		"inet_interfaces = all"
		"inet_protocols = ${protocols}"
		"smtpd_banner = \$myhostname ESMTP"
		"biff = no"
		"append_dot_mydomain = no"
		"readme_directory = no"
		"alias_maps = hash:/etc/aliases"
		"alias_database = hash:/etc/aliases"
		"recipient_delimiter = +"
		"message_size_limit = ${MAILNEST_MESSAGE_SIZE_LIMIT}"
		"mailbox_size_limit = 0"
		"virtual_mailbox_domains = ${p}/virtual-mailbox-domains.cf"
		"virtual_mailbox_maps = ${p}/virtual-mailbox-maps.cf"
		"virtual_alias_maps = ${p}/virtual-alias-maps.cf"
		# Our domains are all virtual mailbox domains: without this, every
		# address would also be looked up (uselessly) as an alias domain.
		"virtual_alias_domains ="
		"virtual_transport = lmtp:unix:private/dovecot-lmtp"
		"smtpd_sender_login_maps = ${p}/sender-login-maps.cf"
		"smtpd_sasl_type = dovecot"
		"smtpd_sasl_path = private/auth"
		"smtpd_sasl_auth_enable = no"
		"smtpd_sasl_security_options = noanonymous, noplaintext"
		"smtpd_sasl_tls_security_options = noanonymous"
		"smtpd_tls_auth_only = yes"
		"smtpd_tls_chain_files = ${MAILNEST_ETC}/tls/mailnest.key, ${MAILNEST_ETC}/tls/mailnest.crt"
		"smtpd_tls_cert_file ="
		"smtpd_tls_key_file ="
		"smtpd_tls_security_level = may"
		"smtpd_tls_protocols = >=TLSv1.2"
		"smtpd_tls_mandatory_protocols = >=TLSv1.2"
		"smtpd_tls_ciphers = medium"
		"smtpd_tls_mandatory_ciphers = medium"
		"tls_medium_cipherlist = ${TLS_CIPHERS_INTERMEDIATE}"
		"tls_preempt_cipherlist = no"
		"smtpd_tls_loglevel = 1"
		"smtpd_tls_received_header = yes"
		"smtpd_tls_session_cache_database = btree:\${data_directory}/smtpd_scache"
		"smtp_tls_security_level = may"
		"smtp_tls_protocols = >=TLSv1.2"
		"smtp_tls_mandatory_protocols = >=TLSv1.2"
		"smtp_tls_loglevel = 1"
		"smtp_tls_session_cache_database = btree:\${data_directory}/smtp_scache"
		"smtpd_helo_required = yes"
		"disable_vrfy_command = yes"
		"smtpd_client_restrictions ="
		"smtpd_helo_restrictions = reject_invalid_helo_hostname"
		"smtpd_sender_restrictions = reject_non_fqdn_sender"
		"smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination"
		# Port 25, last: a stranger may not use one of our own domains as MAIL
		# FROM (sender-own-domain.cf, 550 5.7.1); the box itself may. After
		# SPF, which (with DNS) refuses most such forgeries first and says
		# why; this catches the rest (SPF none/softfail/temperror, trials).
		"smtpd_recipient_restrictions = reject_non_fqdn_recipient, reject_unlisted_recipient, check_policy_service { unix:private/quota-status, default_action=DUNNO }${spf_check}, permit_mynetworks, check_sender_access ${p}/sender-own-domain.cf"
		"smtpd_data_restrictions = reject_unauth_pipelining"
		"smtpd_restriction_classes = mailnest_mailbox_full"
		"mailnest_mailbox_full = check_recipient_access static:{${mailbox_full}}"
		"mailnest_submission_recipient_restrictions = reject_non_fqdn_recipient, reject_unlisted_recipient, check_policy_service { unix:private/quota-status, default_action=DUNNO }, check_policy_service { unix:mailnest/policy, default_action=DEFER_IF_PERMIT, timeout=10s }"
		# Sending limits (mailnest-policyd, install/66-policyd.sh): the
		# message is counted once it is whole, so a refused one never counts.
		"mailnest_submission_eod_restrictions = check_policy_service { unix:mailnest/policy, default_action=DEFER_IF_PERMIT, timeout=10s }"
		"smtpd_reject_unlisted_recipient = yes"
		"unknown_virtual_mailbox_reject_code = 550"
		# A milter that does not answer defers the mail (4xx): nothing goes
		# out unsigned or comes in unchecked. Local programs (sendmail) are
		# not signed: they send as the host, users submit on 587/465.
		"smtpd_milters = ${milters}"
		"non_smtpd_milters ="
		"milter_default_action = tempfail"
		"milter_protocol = 6"
		"policyd-spf_time_limit = 3600"
	)
	if [[ ${MAILNEST_DNS} == no ]]; then
		# No DNS: the trial delivers only locally (LMTP over a unix socket)
		# and must not wait on a resolver that is not there.
		s+=("smtp_dns_support_level = disabled" "smtpd_peername_lookup = no")
	else
		s+=("smtp_dns_support_level =" "smtpd_peername_lookup = yes")
	fi
	if [[ -S /dev/log ]]; then
		s+=("maillog_file =")
	else
		s+=("maillog_file = /var/log/mail.log")
	fi
	postconf -e "${s[@]}" || return 1
}

submission_settings() {
	local service=$1
	postconf -M "${service}/inet=${service} inet n - y - - smtpd"
	local -a o=(
		"syslog_name=postfix/${service}"
		"smtpd_tls_security_level=encrypt"
		"smtpd_sasl_auth_enable=yes"
		"smtpd_tls_auth_only=yes"
		"smtpd_client_restrictions=permit_sasl_authenticated,reject"
		"smtpd_sender_restrictions=reject_non_fqdn_sender,reject_sender_login_mismatch"
		"smtpd_relay_restrictions=permit_sasl_authenticated,reject"
		# Submission has its own recipient checks (defined in main.cf,
		# since master.cf values cannot hold spaces): the inbound-only ones
		# (SPF and the like, for strangers on port 25) never apply to an
		# authenticated user sending from wherever they roam.
		"smtpd_recipient_restrictions=\$mailnest_submission_recipient_restrictions"
		"smtpd_end_of_data_restrictions=\$mailnest_submission_eod_restrictions"
		"milter_macro_daemon_name=ORIGINATING"
	)
	[[ ${service} == submissions ]] && o+=("smtpd_tls_wrappermode=yes")
	local opt
	for opt in "${o[@]}"; do
		postconf -P "${service}/inet/${opt}" || return 1
	done
}

# smuggling_settings: no SMTP smuggling (CVE-2023-51764 and its kin). A
# smuggler ends the DATA of one message with a non-standard end-of-data
# (<LF>.<LF>, <LF>.<CR><LF>, <CR><LF>.<LF>) that Postfix, reading bare <LF> as
# a line end, takes for the real one, and makes it look like the start of a
# second message with a forged sender. What the Postfix at hand supports is
# asked of Postfix itself (postconf -d lists the parameters it knows, the
# smtpd program the values it accepts), never guessed from its version:
#   - smtpd_forbid_bare_newline = normalize where smtpd knows that value
#     (Postfix 3.9+, and the 3.5-3.8 updates that got it): a bare <LF> counts
#     as <CR><LF> again only where <CR><LF> is required, i.e. <LF>.<LF> no
#     longer ends DATA anywhere a smuggler could use it, and honest clients
#     that send bare <LF> keep working;
#   - yes where only yes/no exist (the first updates, e.g. Ubuntu's 3.6.4):
#     a command or DATA line ending in a bare <LF> is refused (521);
#   - both with smtpd_forbid_bare_newline_exclusions = $mynetworks, so that
#     local programs that write bare <LF> are left alone.
# A Postfix without the parameter gets Postfix's own short-term workaround:
# reject_unauth_pipelining (always set here anyway) refuses a client that
# sends the smuggled commands right behind the data without waiting for the
# reply, and with CHUNKING (BDAT) no longer offered there is no second way to
# frame a message. That stops the smuggling that arrives in one go; it does
# NOT stop a smuggler who sends the smuggled part in a later TCP segment after
# a pause: only an updated Postfix stops that, and we say so.
smuggling_settings() {
	local daemon_dir known
	if [[ -z $(postconf -dh smtpd_forbid_bare_newline 2>/dev/null) ]]; then
		warn "this Postfix has no smtpd_forbid_bare_newline: using the short-term workaround against SMTP smuggling, which misses smuggling split across TCP segments; update Postfix"
		postconf -e "smtpd_data_restrictions = reject_unauth_pipelining" \
			"smtpd_discard_ehlo_keywords = chunking" || return 1
		return 0
	fi
	known=yes
	daemon_dir=$(postconf -xh daemon_directory) || return 1
	if [[ $(postconf -dh smtpd_forbid_bare_newline) == normalize ]] ||
		grep -qzxF normalize -- "${daemon_dir}/smtpd"; then
		known=normalize
	fi
	postconf -e "smtpd_forbid_bare_newline = ${known}" \
		"smtpd_forbid_bare_newline_exclusions = \$mynetworks" \
		"smtpd_discard_ehlo_keywords =" || return 1
}

# port25_settings: postscreen in front of smtpd on port 25, and limits per
# client so that a few addresses cannot take every SMTP process.
#
# The box this is sized for has 1 GiB of RAM. An smtpd process costs about
# 2 MiB of its own (measured on Debian 12, Postfix 3.7: RSS 13.8 MiB, of
# which 1.7 MiB private, PSS 2.1 MiB, for an idle session; count up to 3 MiB
# with a TLS session), the rest being shared libraries.
#   - postscreen (one process for all of port 25) greets every client with
#     "220-" and waits postscreen_greet_wait (6 s, 2 s under stress): a client
#     that talks before the real "220 " is a spam robot (pregreet test,
#     enforced: it is refused). No DNSBL (none is reachable from a trial, and
#     a real box chooses its own). Passed clients are remembered for a day in
#     postscreen_cache in Postfix's data directory. An idle client costs
#     postscreen a file descriptor, not a process.
#   - smtpd_client_connection_count_limit = 10 per address and service (on
#     25 postscreen applies it too while it judges): 3 addresses holding 150
#     idle connections get 30 smtpd processes, and everyone else still gets
#     the rest: port 25's smtpd (smtpd/pass) may run 60, 587 and 465 40 each,
#     140 in all, about 0.4 GiB in the worst case, which leaves MariaDB,
#     Dovecot and PHP their share of 1 GiB. The defaults (50 per address,
#     100 processes a service) let 2 addresses close a port.
#   - smtpd_client_connection_rate_limit = 60 connections a minute per
#     address (anvil_rate_time_unit): a reconnecting flood is told 421.
#   - $mynetworks is exempt (smtpd_client_event_limit_exceptions): Roundcube
#     submits from 127.0.0.1, and bench/mail.sh's 16 smtp-source sessions
#     come from 127.0.0.1 too; postscreen lets $mynetworks straight through.
#   - timeouts that shrink when Postfix is under stress (a service at its
#     process limit): 300 s a command as RFC 5321 asks, 10 s under stress;
#     per-record deadline and fewer errors allowed under stress as well.
port25_settings() {
	postconf -e "postscreen_access_list = permit_mynetworks" \
		"postscreen_greet_action = enforce" \
		"postscreen_greet_wait = \${stress?{2}:{6}}s" \
		"postscreen_dnsbl_sites =" \
		"postscreen_dnsbl_action = ignore" \
		"postscreen_pipelining_enable = no" \
		"postscreen_non_smtp_command_enable = no" \
		"postscreen_bare_newline_enable = no" \
		"postscreen_cache_map = btree:\${data_directory}/postscreen_cache" \
		"postscreen_client_connection_count_limit = \$smtpd_client_connection_count_limit" \
		"smtpd_client_connection_count_limit = 10" \
		"smtpd_client_connection_rate_limit = 60" \
		"smtpd_client_event_limit_exceptions = \$mynetworks" \
		"anvil_rate_time_unit = 60s" \
		"smtpd_timeout = \${stress?{10}:{300}}s" \
		"smtpd_per_record_deadline = \${stress?{yes}:{no}}" \
		"smtpd_hard_error_limit = \${stress?{1}:{10}}" \
		"smtpd_soft_error_limit = \${stress?{1}:{3}}" \
		"smtpd_junk_command_limit = \${stress?{1}:{100}}" || return 1
	postconf -M "smtp/inet=smtp inet n - y - 1 postscreen" \
		"smtpd/pass=smtpd pass - - y - 60 smtpd" \
		"tlsproxy/unix=tlsproxy unix - - y - 0 tlsproxy" || return 1
	postconf -F "submission/inet/process_limit=40" "submissions/inet/process_limit=40"
}

configure() {
	# step runs this in a condition, where set -e does not apply: every
	# failure must be returned by hand. Services first, then what refers to
	# them.
	postconf -M "${SPF_SPAWN}" || return 1
	main_settings || return 1
	submission_settings submission || return 1
	submission_settings submissions || return 1
	smuggling_settings || return 1
	port25_settings || return 1
	printf '%s\n' "${MAILNEST_HOSTNAME}" >/etc/mailname
	# Postfix 3.10's package (Debian 13, Ubuntu 26.04) no longer writes
	# /etc/aliases; the local system accounts' mail goes to root.
	[[ -f /etc/aliases ]] || printf '%s\n' "postmaster: root" >/etc/aliases
	if [[ ! -f /etc/aliases.db || /etc/aliases -nt /etc/aliases.db ]]; then
		newaliases
	fi
}

main() {
	local before after reload=""
	step "granting postfix SELECT on the columns it looks up" grant_postfix
	if render_maps; then
		say "rendered the MariaDB lookup tables in ${SQL_DIR}"
		reload=reload
	fi
	if [[ ! -f /etc/postfix/main.cf ]]; then
		printf '%s\n' "# Postfix main.cf of mailnest: every setting is made by install/68-postfix.sh." \
			"# Change the script (or /etc/mailnest/mailnest.conf) and re-run ./install.sh." \
			>/etc/postfix/main.cf
	fi
	before=$(postfix_state)
	step "applying main.cf and master.cf settings (postconf)" configure
	after=$(postfix_state)
	[[ ${before} != "${after}" ]] && reload=reload
	tls_changed_for postfix && reload=reload
	step "checking Postfix's configuration (postfix check)" postfix check
	service_converge postfix "${reload}"
}

main "$@"
