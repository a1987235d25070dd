#!/usr/bin/env bash
# Nginx: HTTPS for the mail host name, the sign-up pages, /api/ to accountd.
#
# Port 443 serves, for MAILNEST_HOSTNAME, the sign-up and account pages of
# web/ (copied to /opt/mailnest/web), proxies /api/ to accountd on loopback
# and includes the locations other components put in /etc/nginx/mailnest.d
# (Roundcube at /mail/, install/71-roundcube.sh). Port 80 only redirects to
# HTTPS and serves /.well-known/acme-challenge/ from /var/lib/mailnest/acme.
# TLS follows Mozilla's "intermediate" profile (TLS 1.2 and 1.3, the same
# ciphers as Postfix), with HSTS and OCSP stapling when the certificate names
# an OCSP responder (a self-signed one does not). Every answer carries
# nosniff, Referrer-Policy and a Content-Security-Policy that forbids framing.
# accountd sees the client's address in X-Forwarded-For, which Nginx sets to
# the peer's address alone (never a value the client sent), and Nginx limits
# bursts of sign-ups and logins itself (429) before they cost a hash. The
# admin API is not proxied: it stays on loopback. Debian's default site is
# disabled. The configuration is checked with `nginx -t` before a reload.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly NGINX_CONF=/etc/nginx/conf.d/mailnest.conf
readonly NGINX_SNIPPETS=/etc/nginx/snippets
readonly NGINX_APPS=/etc/nginx/mailnest.d
readonly WEB_ROOT=${MAILNEST_OPT}/web
readonly ACME_ROOT=${MAILNEST_STATE}/acme
readonly DHPARAM=/etc/nginx/mailnest-ffdhe2048.pem
readonly TLS_CERT=${MAILNEST_ETC}/tls/mailnest.crt
readonly TLS_KEY=${MAILNEST_ETC}/tls/mailnest.key
readonly TLS_CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
export NGINX_SNIPPETS NGINX_APPS WEB_ROOT ACME_ROOT DHPARAM TLS_CERT TLS_KEY TLS_CIPHERS

# install_web_pages: copy web/ to WEB_ROOT (root-owned, world-readable),
# removing files no longer in web/. Returns 1 when nothing changed.
install_web_pages() {
	local src=${MAILNEST_SRC}/web file rel changed=1
	install -d -o root -g root -m 0755 -- "${WEB_ROOT}"
	while IFS= read -r -d '' file; do
		rel=${file#"${src}/"}
		install_if_changed "${file}" "${WEB_ROOT}/${rel}" root:root 0644 && changed=0
	done < <(find "${src}" -type f -not -name 'README.md' -print0)
	# The pages learn the host and domain names from site.json.
	printf '{"hostname":"%s","domain":"%s"}\n' "${MAILNEST_HOSTNAME}" "${MAILNEST_DOMAIN}" |
		write_if_changed "${WEB_ROOT}/site.json" root:root 0644 && changed=0
	write_mobileconfig && changed=0
	while IFS= read -r -d '' file; do
		rel=${file#"${WEB_ROOT}/"}
		if [[ ${rel} != site.json && ${rel} != mailnest.mobileconfig && ! -f ${src}/${rel} ]]; then
			rm -f -- "${file}"
			changed=0
		fi
	done < <(find "${WEB_ROOT}" -type f -print0)
	return "${changed}"
}

# write_mobileconfig: Apple's configuration profile for a mail account here
# (the account page offers it). Its UUIDs are derived from the host name
# (UUID version 5), so a re-run writes the same file and a device sees the
# same profile. Returns 1 when it did not change.
# MOBILECONFIG_* are read by render (the template).
# shellcheck disable=SC2034
write_mobileconfig() {
	local host_reversed
	host_reversed=$(tr '.' '\n' <<<"${MAILNEST_HOSTNAME}" | tac | paste -sd.)
	MOBILECONFIG_ID="${host_reversed}.mailnest"
	MOBILECONFIG_UUID=$(uuid5 "profile.${MAILNEST_HOSTNAME}")
	MOBILECONFIG_ACCOUNT_UUID=$(uuid5 "account.${MAILNEST_HOSTNAME}")
	render apple/mailnest.mobileconfig "${WEB_ROOT}/mailnest.mobileconfig" root:root 0644 \
		MAILNEST_HOSTNAME MAILNEST_DOMAIN MOBILECONFIG_ID MOBILECONFIG_UUID MOBILECONFIG_ACCOUNT_UUID
}

# uuid5 NAME: the name-based UUID of NAME in the DNS namespace.
uuid5() {
	python3 -c 'import sys, uuid; print(str(uuid.uuid5(uuid.NAMESPACE_DNS, sys.argv[1])).upper())' "$1"
}

# ocsp_stapling_lines: stapling only when the certificate names a responder
# (and its issuer is in the chain file, which Nginx verifies the answer with).
ocsp_stapling_lines() {
	local uri
	uri=$(openssl x509 -in "${TLS_CERT}" -noout -ocsp_uri 2>/dev/null || true)
	if [[ -n ${uri} ]]; then
		printf 'ssl_stapling on;\nssl_stapling_verify on;\nssl_trusted_certificate %s;\n' "${TLS_CERT}"
	else
		printf '# No OCSP responder in the certificate (self-signed?): no stapling.\nssl_stapling off;\n'
	fi
}

make_dhparam() {
	openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out "${DHPARAM}.tmp" &&
		chmod 0644 -- "${DHPARAM}.tmp" && mv -f -- "${DHPARAM}.tmp" "${DHPARAM}"
}

render_config() {
	local changed=1
	ACCOUNTD_UPSTREAM=${MAILNEST_ACCOUNTD_LISTEN}
	LISTEN_V6_80="" LISTEN_V6_443=""
	if [[ -e /proc/net/if_inet6 ]]; then
		LISTEN_V6_80=$'\tlisten [::]:80 default_server;'
		LISTEN_V6_443=$'\tlisten [::]:443 ssl http2 default_server;'
	fi
	OCSP_STAPLING=$(ocsp_stapling_lines)
	export ACCOUNTD_UPSTREAM LISTEN_V6_80 LISTEN_V6_443 OCSP_STAPLING
	install -d -o root -g root -m 0755 -- "${NGINX_APPS}"
	render nginx/mailnest-tls.conf "${NGINX_SNIPPETS}/mailnest-tls.conf" root:root 0644 \
		TLS_CERT TLS_KEY TLS_CIPHERS DHPARAM OCSP_STAPLING && changed=0
	render nginx/mailnest-headers.conf "${NGINX_SNIPPETS}/mailnest-headers.conf" root:root 0644 && changed=0
	render nginx/mailnest-autoconfig.conf "${NGINX_SNIPPETS}/mailnest-autoconfig.conf" root:root 0644 \
		MAILNEST_HOSTNAME MAILNEST_DOMAIN && changed=0
	render nginx/mailnest-autodiscover.conf "${NGINX_SNIPPETS}/mailnest-autodiscover.conf" root:root 0644 \
		MAILNEST_HOSTNAME && changed=0
	render nginx/mailnest-api.conf "${NGINX_SNIPPETS}/mailnest-api.conf" root:root 0644 \
		NGINX_SNIPPETS && changed=0
	render nginx/mailnest.conf "${NGINX_CONF}" root:root 0644 \
		ACCOUNTD_UPSTREAM LISTEN_V6_80 LISTEN_V6_443 MAILNEST_HOSTNAME ACME_ROOT NGINX_SNIPPETS \
		WEB_ROOT NGINX_APPS && changed=0
	# Debian's welcome site would also claim port 80 as default_server.
	if [[ -L /etc/nginx/sites-enabled/default ]]; then
		rm -f -- /etc/nginx/sites-enabled/default
		changed=0
	fi
	return "${changed}"
}

main() {
	local reload=""
	install -d -o root -g root -m 0755 -- "${ACME_ROOT}" "${ACME_ROOT}/.well-known" \
		"${ACME_ROOT}/.well-known/acme-challenge"
	[[ -s ${DHPARAM} ]] || step "writing the ffdhe2048 DH group (RFC 7919) for DHE ciphers" make_dhparam
	if install_web_pages; then
		say "installed the sign-up and account pages in ${WEB_ROOT}"
	else
		say "the sign-up and account pages in ${WEB_ROOT} are current"
	fi
	if render_config; then
		say "wrote ${NGINX_CONF} and its snippets"
		reload=reload
	fi
	tls_changed_for nginx && reload=reload
	step "checking Nginx's configuration (nginx -t)" nginx -t -q
	service_converge nginx "${reload}"
}

main "$@"
