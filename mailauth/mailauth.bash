# shellcheck shell=bash
# Shared functions of mailnest-dkim and mailnest-dns (installed as
# /usr/local/lib/mailnest/mailauth.bash by install/62-opendkim.sh).
#
# Where things are:
#   /etc/opendkim/keys/DOMAIN/SELECTOR.private  a domain's RSA keys (opendkim, 0600)
#   /etc/opendkim/keys/DOMAIN/active            the selector OpenDKIM signs with
#   /etc/opendkim/keys/DOMAIN/pending           a rotated selector waiting for DNS
#   /etc/opendkim/key.table, signing.table      what OpenDKIM reads (made from the above)
# The mail domains are mailnest.conf's MAILNEST_DOMAIN plus the active rows of
# mailnest.domains (accountd adds them).

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
set -Eeuo pipefail
shopt -s inherit_errexit

# Constants of the commands that source this file.
# shellcheck disable=SC2034
readonly MAILAUTH_CONF=/etc/mailnest/mailnest.conf
readonly DKIM_DIR=/etc/opendkim
readonly DKIM_KEYS=${DKIM_DIR}/keys
readonly DNS_TTL=3600

mailauth_die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit "${2:-1}"
}

# mailauth_setting NAME: a value from mailnest.conf (read, never executed).
mailauth_setting() {
	sed -n "s/^$1=//p" "${MAILAUTH_CONF}" 2>/dev/null | tail -n 1
}

mailauth_valid_domain() {
	[[ $1 =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$ ]] && ((${#1} <= 253))
}

# mailauth_domains: every mail domain, one a line, lower case, sorted. Fails
# (status 69) when the database cannot be asked: callers then keep what they
# have instead of dropping domains.
mailauth_domains() {
	local primary rows name
	primary=$(mailauth_setting MAILNEST_DOMAIN)
	rows=$(mariadb --protocol=socket --user=root --batch --skip-column-names \
		--connect-timeout=5 -e 'SELECT name FROM mailnest.domains WHERE active = 1' 2>/dev/null) ||
		return 69
	{
		[[ -n ${primary} ]] && printf '%s\n' "${primary}"
		printf '%s\n' "${rows}"
	} | tr '[:upper:]' '[:lower:]' | sort -u | while IFS= read -r name; do
		if mailauth_valid_domain "${name}"; then printf '%s\n' "${name}"; fi
	done
}

# dkim_selector DOMAIN [active|pending]: the selector, or nothing.
dkim_selector() {
	local file=${DKIM_KEYS}/$1/${2:-active}
	[[ -f ${file} ]] && head -n 1 -- "${file}"
	return 0
}

# dkim_public_key DOMAIN SELECTOR: the base64 public key (the p= value).
dkim_public_key() {
	openssl pkey -in "${DKIM_KEYS}/$1/$2.private" -pubout -outform DER 2>/dev/null | base64 -w 0
}

# dkim_txt_value DOMAIN SELECTOR: the whole TXT value, unquoted.
dkim_txt_value() {
	local key
	key=$(dkim_public_key "$1" "$2") || return 1
	[[ -n ${key} ]] || return 1
	printf 'v=DKIM1; k=rsa; h=sha256; p=%s\n' "${key}"
}

# zone_txt NAME VALUE: a TXT record in zone-file syntax, the value split into
# strings of at most 255 bytes (the DNS limit of one string).
zone_txt() {
	local name=$1 value=$2 parts=() i
	for ((i = 0; i < ${#value}; i += 255)); do
		parts+=("\"${value:i:255}\"")
	done
	if ((${#parts[@]} == 1)); then
		printf '%s\t%s\tIN\tTXT\t%s\n' "${name}" "${DNS_TTL}" "${parts[0]}"
	else
		printf '%s\t%s\tIN\tTXT\t( %s )\n' "${name}" "${DNS_TTL}" "${parts[*]}"
	fi
}

# dns_txt NAME: the TXT records at NAME as DNS serves them, one a line, with
# their strings joined (as a verifier joins them).
dns_txt() {
	dig +short +time=3 +tries=2 TXT "$1" 2>/dev/null | sed -e 's/" "//g' -e 's/^"//' -e 's/"$//'
}

# dkim_published DOMAIN SELECTOR: DNS serves this selector's public key.
dkim_published() {
	local want got
	want=$(dkim_public_key "$1" "$2") || return 1
	got=$(dns_txt "$2._domainkey.$1" | tr -d ' \t' | grep -o 'p=[A-Za-z0-9+/=]*' | head -n 1)
	[[ -n ${want} && ${got} == "p=${want}" ]]
}
