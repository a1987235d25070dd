#!/usr/bin/env bash
# TLS certificate and key for Postfix and Dovecot.
#
# Both daemons read one certificate chain and one key from /etc/mailnest/tls,
# a root-only directory (they load them as root before dropping privileges,
# so no key is readable by any other user). With --cert/--key the given files
# are checked (they must match, the key must be RSA of 2048 bits or more or
# an EC key) and copied there; re-run the installer after renewing them.
# Without them a self-signed certificate for the host name is made once, and
# made again only when the host name changes or it expires within 30 days.
# The daemons are reloaded by their own scripts when the files change.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly TLS_DIR=${MAILNEST_ETC}/tls
readonly CERT=${TLS_DIR}/mailnest.crt
readonly KEY=${TLS_DIR}/mailnest.key

check_key_strength() {
	local key=$1 text bits
	text=$(openssl pkey -in "${key}" -noout -text 2>/dev/null | head -n 1)
	case ${text} in
	*"RSA Private-Key"* | *"Private-Key: ("*)
		bits=$(grep -o '[0-9]\+ bit' <<<"${text}" | grep -o '[0-9]\+')
		if [[ ${text} == *RSA* ]] && ((bits < 2048)); then
			die "${key}: RSA key of ${bits} bits; 2048 or more are required"
		fi
		;;
	*) die "${key}: not a private key openssl can read" ;;
	esac
}

install_given() {
	local pub_cert pub_key changed=0
	pub_cert=$(openssl x509 -in "${MAILNEST_TLS_CERT}" -noout -pubkey) ||
		die "${MAILNEST_TLS_CERT}: not a PEM certificate"
	pub_key=$(openssl pkey -in "${MAILNEST_TLS_KEY}" -pubout) ||
		die "${MAILNEST_TLS_KEY}: not a PEM private key"
	[[ ${pub_cert} == "${pub_key}" ]] || die "the certificate does not match the key"
	check_key_strength "${MAILNEST_TLS_KEY}"
	install_if_changed "${MAILNEST_TLS_CERT}" "${CERT}" root:root 0644 && changed=1
	install_if_changed "${MAILNEST_TLS_KEY}" "${KEY}" root:root 0600 && changed=1
	if ((changed)); then say "installed the given certificate and key"; else say "the given certificate is installed"; fi
}

self_signed_is_current() {
	[[ -s ${CERT} && -s ${KEY} ]] || return 1
	openssl x509 -in "${CERT}" -noout -checkend $((30 * 86400)) >/dev/null || return 1
	openssl x509 -in "${CERT}" -noout -ext subjectAltName 2>/dev/null |
		grep -qF "DNS:${MAILNEST_HOSTNAME}" || return 1
}

make_self_signed() {
	local tmp
	tmp=$(mktemp -d)
	openssl req -x509 -newkey rsa:3072 -sha256 -days 825 -nodes \
		-subj "/CN=${MAILNEST_HOSTNAME}" \
		-addext "subjectAltName=DNS:${MAILNEST_HOSTNAME},DNS:${MAILNEST_DOMAIN}" \
		-keyout "${tmp}/key" -out "${tmp}/crt"
	install -o root -g root -m 0600 -- "${tmp}/key" "${KEY}"
	install -o root -g root -m 0644 -- "${tmp}/crt" "${CERT}"
	rm -rf -- "${tmp}"
}

main() {
	install -d -o root -g root -m 0700 -- "${TLS_DIR}"
	if [[ -n ${MAILNEST_TLS_CERT} ]]; then
		install_given
	elif self_signed_is_current; then
		say "the self-signed certificate for ${MAILNEST_HOSTNAME} is current"
	else
		step "making a self-signed certificate for ${MAILNEST_HOSTNAME} (RSA 3072)" make_self_signed
	fi
	chmod 0600 -- "${KEY}"
}

main "$@"
