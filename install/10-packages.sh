#!/usr/bin/env bash
# Distribution packages and PM2.
#
# Installs, from the distribution's archive only, the daemons of the mail core
# (MariaDB, Postfix with its MySQL map type, Dovecot's IMAP, POP3, LMTP and
# MySQL parts), what is needed to build accountd from this repository (meson,
# ninja, gcc and the -dev packages of its libraries), and the tools the other
# scripts use (envsubst, openssl, logrotate, cron); mail authentication
# (OpenDKIM, OpenDMARC, the SPF policy daemon); the web side (Nginx, PHP-FPM,
# Roundcube); abuse resistance (fail2ban, nftables). Debconf questions are
# answered beforehand: Postfix with "No configuration" (install/60-postfix.sh
# writes the whole configuration itself), Roundcube without dbconfig (its
# database is made by our own script). PM2, which supervises accountd, comes from
# npm (a pinned version), the only source outside the distribution; Node.js is taken from the
# distribution when it is missing. apt is asked only when something is absent,
# so a re-run does not touch the network.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly PACKAGES=(
	mariadb-server mariadb-client
	postfix postfix-mysql
	dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-mysql
	meson ninja-build pkg-config gcc libc6-dev
	libmicrohttpd-dev libjansson-dev libmariadb-dev libsodium-dev libcmocka-dev
	# policyd's milter (the From: check): libmilter and GMime 3, with their
	# runtime libraries (libmilter1.0.1, libgmime-3.0-0) as dependencies.
	libmilter-dev libgmime-3.0-dev
	gettext-base openssl ca-certificates ssl-cert curl logrotate cron procps
	opendkim opendkim-tools opendmarc postfix-policyd-spf-python
	nginx php-fpm php-mysql php-intl php-mbstring php-xml php-zip php-gd php-curl
	roundcube-core roundcube-mysql roundcube-plugins
	# python3-systemd: fail2ban's journal backend (only recommended by
	# fail2ban; Debian 12 has no syslog file to read by default).
	fail2ban python3-systemd nftables
)

# PM2, pinned: the newest release whose package.json `engines` accepts the
# oldest Node.js of the supported systems (Ubuntu 22.04's 12.22; PM2 6
# wants Node.js 16). `npm view pm2@VERSION engines` shows it.
readonly PM2_VERSION=5.4.3

missing_packages() {
	local pkg status
	for pkg in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)
		[[ ${status} == installed ]] || printf '%s\n' "${pkg}"
	done
}

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confold "$@"
}

preseed_postfix() {
	debconf-set-selections <<SEL
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string ${MAILNEST_HOSTNAME}
roundcube-core roundcube/dbconfig-install boolean false
SEL
}

main() {
	local -a missing
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} > 0)); then
		step "answering the packages' questions (postfix, roundcube)" preseed_postfix
		step "updating the package lists" apt-get update -q
		step "installing ${#missing[@]} packages: ${missing[*]}" apt_install "${missing[@]}"
	else
		say "all ${#PACKAGES[@]} distribution packages are installed"
	fi

	if ! command -v npm >/dev/null 2>&1; then
		step "installing Node.js and npm" apt_install nodejs npm
	fi
	if ! command -v pm2 >/dev/null 2>&1; then
		step "installing PM2 ${PM2_VERSION} from npm" npm install -g --no-fund --no-audit "pm2@${PM2_VERSION}"
	else
		say "PM2 is installed"
	fi
}

main "$@"
