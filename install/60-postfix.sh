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
# Settings go through postconf; Postfix is checked with `postfix check` and
# reloaded only when its configuration or certificate changed.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly SQL_DIR=/etc/postfix/sql
readonly MAPS=(virtual-mailbox-domains virtual-mailbox-maps virtual-alias-maps sender-login-maps)
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
		"smtpd_recipient_restrictions = reject_non_fqdn_recipient, reject_unlisted_recipient, check_policy_service { unix:private/quota-status, default_action=DUNNO }${spf_check}"
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

configure() {
	# step runs this in a condition, where set -e does not apply: every
	# failure must be returned by hand.
	main_settings || return 1
	submission_settings submission || return 1
	submission_settings submissions || return 1
	printf '%s\n' "${MAILNEST_HOSTNAME}" >/etc/mailname
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
		printf '%s\n' "# Postfix main.cf of mailnest: every setting is made by install/60-postfix.sh." \
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
