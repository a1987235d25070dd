#!/usr/bin/env bash
# mailnest one-command installer for the mail core.
#
#   sudo ./install.sh [--domain DOMAIN] [--hostname HOST] [--cert FILE --key FILE] [--force-os]
#
# It runs on Debian 12 and 13 and Ubuntu 22.04, 24.04 and 26.04 (from
# /etc/os-release) and refuses any other system before changing anything.
#
# Without options it sets up a local trial for example.test with the host
# name mail.example.test and a self-signed certificate. The settings are
# written once to the root-only /etc/mailnest/mailnest.conf and read again on
# every later run, so re-running the installer (with or without options)
# converges to the same system: it keeps the data and the secrets and
# restarts only what changed. Options given on a later run replace the stored
# settings. The components are installed by the scripts install/NN-*.sh, run
# in the order of their numbers; each says at its top what it sets up.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
set -Eeuo pipefail
shopt -s inherit_errexit

MAILNEST_SRC=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
export MAILNEST_SRC
# shellcheck source=install/lib.sh
source "${MAILNEST_SRC}/install/lib.sh"

usage() {
	cat <<USAGE
usage: sudo ./install.sh [--domain DOMAIN] [--hostname HOST] [--cert FILE --key FILE] [--force-os]
  --domain DOMAIN      the first mail domain (default: example.test, a local trial)
  --hostname HOST      this server's name in DNS, the MX (default: mail.DOMAIN)
  --cert FILE --key FILE
                       PEM certificate chain and private key for HOST
                       (default: a self-signed certificate)
  --force-os           install on a system other than Debian 12/13 and
                       Ubuntu 22.04/24.04/26.04 (untested there)
Settings are kept in ${MAILNEST_CONF}; run again at any time to converge.
USAGE
}

# load_settings: read KEY=VALUE lines of the known settings from the config
# file without executing it.
load_settings() {
	local key value known
	[[ -f ${MAILNEST_CONF} ]] || return 0
	while IFS='=' read -r key value; do
		[[ -z ${key} || ${key} == \#* ]] && continue
		for known in "${MAILNEST_SETTINGS[@]}"; do
			if [[ ${key} == "${known}" ]]; then
				printf -v "${key}" '%s' "${value}"
			fi
		done
	done <"${MAILNEST_CONF}"
}

save_settings() {
	local key
	{
		printf '# mailnest settings, written by install.sh; read again on every run.\n'
		printf '# Edit and re-run ./install.sh to apply. Secrets live in %s.\n' "${MAILNEST_SECRETS}"
		for key in "${MAILNEST_SETTINGS[@]}"; do
			printf '%s=%s\n' "${key}" "${!key}"
		done
	} | write_if_changed "${MAILNEST_CONF}" root:root 0600 || true
}

valid_hostname() {
	[[ $1 =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$ ]] && ((${#1} <= 253))
}

main() {
	local opt_domain="" opt_hostname="" opt_cert="" opt_key="" opt_force_os=no script
	while (($# > 0)); do
		case $1 in
		--domain) opt_domain=${2:?--domain needs a value}; shift 2 ;;
		--hostname) opt_hostname=${2:?--hostname needs a value}; shift 2 ;;
		--cert) opt_cert=${2:?--cert needs a file}; shift 2 ;;
		--key) opt_key=${2:?--key needs a file}; shift 2 ;;
		--force-os) opt_force_os=yes; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; exit 64 ;;
		esac
	done
	((EUID == 0)) || die "run as root: sudo ./install.sh"
	os_check "${opt_force_os}"
	if [[ -n ${opt_cert} || -n ${opt_key} ]]; then
		[[ -n ${opt_cert} && -n ${opt_key} ]] || die "--cert and --key go together"
		[[ -r ${opt_cert} && -r ${opt_key} ]] || die "cannot read ${opt_cert} or ${opt_key}"
		opt_cert=$(realpath -- "${opt_cert}")
		opt_key=$(realpath -- "${opt_key}")
	fi

	MAILNEST_DOMAIN=""
	MAILNEST_HOSTNAME=""
	MAILNEST_TRIAL=""
	MAILNEST_TLS_CERT=""
	MAILNEST_TLS_KEY=""
	MAILNEST_DNS=""
	MAILNEST_MESSAGE_SIZE_LIMIT=26214400
	MAILNEST_QUOTA_FULL=reject
	MAILNEST_DEFAULT_QUOTA_BYTES=1073741824
	MAILNEST_ACCOUNTD_LISTEN=127.0.0.1:8080
	# Empty: Roundcube from the distribution; else an upstream release
	# tarball, refused unless its SHA-256 is MAILNEST_ROUNDCUBE_SHA256.
	MAILNEST_ROUNDCUBE_URL=""
	MAILNEST_ROUNDCUBE_SHA256=""
	# yes: the firewall also opens IMAP 143 and POP3 110 (STARTTLS);
	# no: only the implicit-TLS ports 993 and 995 (RFC 8314).
	MAILNEST_PLAIN_PORTS=no
	# no: install/75-firewall.sh removes its table instead (a host whose
	# firewall is managed elsewhere).
	MAILNEST_FIREWALL=yes
	load_settings

	if [[ -n ${opt_domain} ]]; then
		MAILNEST_DOMAIN=${opt_domain,,}
		MAILNEST_TRIAL=no
		[[ -n ${opt_hostname} ]] || MAILNEST_HOSTNAME=""
	fi
	[[ -n ${opt_hostname} ]] && MAILNEST_HOSTNAME=${opt_hostname,,}
	[[ -n ${opt_cert} ]] && MAILNEST_TLS_CERT=${opt_cert} && MAILNEST_TLS_KEY=${opt_key}
	if [[ -z ${MAILNEST_DOMAIN} ]]; then
		MAILNEST_DOMAIN=example.test
		MAILNEST_TRIAL=yes
	fi
	[[ -n ${MAILNEST_HOSTNAME} ]] || MAILNEST_HOSTNAME=mail.${MAILNEST_DOMAIN}
	if [[ -z ${MAILNEST_TRIAL} ]]; then
		if [[ ${MAILNEST_DOMAIN} == example.test ]]; then MAILNEST_TRIAL=yes; else MAILNEST_TRIAL=no; fi
	fi
	# A trial has no DNS of its own: Postfix must not try to resolve anything.
	if [[ -z ${MAILNEST_DNS} || -n ${opt_domain} ]]; then
		if [[ ${MAILNEST_TRIAL} == yes ]]; then MAILNEST_DNS=no; else MAILNEST_DNS=yes; fi
	fi
	valid_hostname "${MAILNEST_DOMAIN}" || die "not a domain name: ${MAILNEST_DOMAIN}"
	valid_hostname "${MAILNEST_HOSTNAME}" || die "not a host name: ${MAILNEST_HOSTNAME}"
	[[ ${MAILNEST_QUOTA_FULL} == reject || ${MAILNEST_QUOTA_FULL} == defer ]] ||
		die "MAILNEST_QUOTA_FULL must be reject or defer"
	[[ ${MAILNEST_PLAIN_PORTS} == yes || ${MAILNEST_PLAIN_PORTS} == no ]] ||
		die "MAILNEST_PLAIN_PORTS must be yes or no"
	[[ ${MAILNEST_FIREWALL} == yes || ${MAILNEST_FIREWALL} == no ]] ||
		die "MAILNEST_FIREWALL must be yes or no"

	install -d -o root -g root -m 0755 -- "${MAILNEST_ETC}"
	save_settings
	say "settings: domain ${MAILNEST_DOMAIN}, host ${MAILNEST_HOSTNAME}, trial ${MAILNEST_TRIAL}, in ${MAILNEST_CONF}"
	export "${MAILNEST_SETTINGS[@]}"

	for script in "${MAILNEST_SRC}"/install/[0-9][0-9]-*.sh; do
		MAILNEST_COMPONENT=$(basename -- "${script}" .sh) bash "${script}"
	done
	say "mailnest is installed: IMAPS ${MAILNEST_HOSTNAME}:993, submission :587/:465, accountd http://${MAILNEST_ACCOUNTD_LISTEN}"
	say "admin token: ${MAILNEST_ETC}/admin-token (root only)"
}

main "$@"
