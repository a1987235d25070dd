#!/usr/bin/env bash
# Roundcube webmail at https://HOST/mail/, on its own PHP-FPM pool.
#
# Roundcube comes from the distribution's packages (code in
# /usr/share/roundcube, the installation in /var/lib/roundcube, its settings
# in /etc/roundcube), or, when MAILNEST_ROUNDCUBE_URL and
# MAILNEST_ROUNDCUBE_SHA256 are set, from an upstream release tarball that
# is downloaded, refused unless its SHA-256 is the pinned one, and unpacked
# to /opt/mailnest/roundcube/<sha256> (settings in its config/). Either way
# it runs as its own unprivileged user `roundcube` in a PHP-FPM pool of its
# own (the PHP version present is detected), whose socket only Nginx may
# use; Nginx runs nothing else of it (install/templates/nginx/roundcube.conf).
# A release of Roundcube 1.7 or later keeps only index.php and static.php in
# public_html/ and serves every asset (skins, plugins, program) through
# static.php: Nginx then runs those two and nothing else, and serves no file
# itself (nginx/mailnest-roundcube-assets-static.conf; an older layout gets
# its assets served as files by extension, -assets-files.conf). Before
# anything is served, the installer checks that the Roundcube found can run
# on the PHP present: its own PHP floor (1.7: 8.1), and no release before
# 1.6.12 on PHP 8.5 or later.
# It has its own MariaDB database `roundcube`, created here, and the user
# `roundcube` (made by 30-mariadb.sh) has rights on that database only; the
# schema is made and upgraded by Roundcube's own tools, as roundcube
# (bin/initdb.sh --update of a release; Debian's package, which has no
# initdb.sh, gets its SQL/mysql.initial.sql once, then bin/updatedb.sh). Its
# settings (database password, a generated des_key) are readable by root and
# the roundcube group only; it talks to the local Dovecot over IMAPS and to
# Postfix's submission port with STARTTLS and the user's own credentials,
# verifying the server's certificate by its name. Its logs and temporary
# files are outside the web root. Password changes in its settings go to
# accountd's API through a small driver of the password plugin, so that the
# password rules and session revocation stay in accountd. A plugin of ours,
# mailnest_client_ip, hands the browser's address to Dovecot (IMAP ID), so
# that a webmail login counts, is slowed and is banned as that address's.
# Debian's cron job, which would run Roundcube's clean-up as www-data, is
# replaced by one running as roundcube.

# Predicates are called in conditions on purpose; none relies on set -e.
# shellcheck disable=SC2310
# shellcheck source=install/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly USER_NAME=roundcube
readonly HOME_DIR=${MAILNEST_STATE}/roundcube
readonly RC_TEMP_DIR=${HOME_DIR}/temp
readonly RC_LOG_DIR=/var/log/roundcube
readonly RC_FPM_SOCKET=/run/php/mailnest-roundcube.sock
readonly RC_RELEASES=${MAILNEST_OPT}/roundcube
readonly RC_DES_KEY_FILE=${MAILNEST_SECRETS}/roundcube-des-key
readonly NGINX_SNIPPETS=/etc/nginx/snippets
readonly NGINX_APP=/etc/nginx/mailnest.d/roundcube.conf
readonly CRON_FILE=/etc/cron.d/mailnest-roundcube
readonly DEBIAN_CRON=/etc/cron.d/roundcube-core
export RC_TEMP_DIR RC_LOG_DIR RC_FPM_SOCKET NGINX_SNIPPETS

# Set by choose_source: where this Roundcube lives.
RC_ROOT="" RC_PUBLIC="" RC_CONFIG_DIR="" RC_BIN="" RC_CODE_DIRS=""

ensure_user() {
	if ! getent passwd "${USER_NAME}" >/dev/null; then
		useradd --system --user-group --home-dir "${HOME_DIR}" --shell /usr/sbin/nologin \
			--comment "mailnest webmail (Roundcube)" "${USER_NAME}" || return 1
	fi
	install -d -o "${USER_NAME}" -g "${USER_NAME}" -m 0750 -- "${HOME_DIR}" || return 1
	install -d -o "${USER_NAME}" -g "${USER_NAME}" -m 0700 -- "${RC_TEMP_DIR}" || return 1
	install -d -o "${USER_NAME}" -g adm -m 0750 -- "${RC_LOG_DIR}"
}

# php_version: the newest PHP that has FPM installed (8.2 on Debian 12).
php_version() {
	local dir
	dir=$(find /etc/php -mindepth 2 -maxdepth 2 -type d -name fpm 2>/dev/null | sort -V | tail -n 1)
	[[ -n ${dir} ]] || die "no PHP-FPM under /etc/php (the package php-fpm is missing)"
	dir=${dir%/fpm}
	printf '%s\n' "${dir##*/}"
}

# fetch_release: download MAILNEST_ROUNDCUBE_URL, check it against
# MAILNEST_ROUNDCUBE_SHA256 and unpack it once to RC_RELEASES/<sha256>.
fetch_release() {
	local dest=$1 tmp got
	tmp=$(mktemp -d)
	curl -fsSL --proto '=https,http' --max-time 300 -o "${tmp}/roundcube.tar.gz" \
		-- "${MAILNEST_ROUNDCUBE_URL}" || { rm -rf -- "${tmp}"; return 1; }
	got=$(sha256sum -- "${tmp}/roundcube.tar.gz" | cut -d' ' -f1)
	if [[ ${got} != "${MAILNEST_ROUNDCUBE_SHA256,,}" ]]; then
		echo "SHA-256 mismatch: ${MAILNEST_ROUNDCUBE_URL} has ${got}, MAILNEST_ROUNDCUBE_SHA256 is ${MAILNEST_ROUNDCUBE_SHA256}; refusing it"
		rm -rf -- "${tmp}"
		return 1
	fi
	install -d -m 0755 -- "${tmp}/root"
	tar -xzf "${tmp}/roundcube.tar.gz" -C "${tmp}/root" --strip-components=1 --no-same-owner ||
		{ rm -rf -- "${tmp}"; return 1; }
	[[ -f ${tmp}/root/index.php && -f ${tmp}/root/program/include/iniset.php ]] ||
		{ echo "not a Roundcube release (no index.php, program/include/iniset.php)"; rm -rf -- "${tmp}"; return 1; }
	chown -R root:root -- "${tmp}/root"
	chmod -R go-w -- "${tmp}/root"
	install -d -o root -g root -m 0755 -- "${RC_RELEASES}"
	mv -T -- "${tmp}/root" "${dest}"
	rm -rf -- "${tmp}"
}

choose_source() {
	if [[ -z ${MAILNEST_ROUNDCUBE_URL} ]]; then
		RC_ROOT=/var/lib/roundcube
		RC_CONFIG_DIR=/etc/roundcube
		RC_BIN=/usr/share/roundcube/bin
		# Debian's PHP libraries (Guzzle, ...) are in /usr/share/php.
		RC_CODE_DIRS=/var/lib/roundcube/:/usr/share/roundcube/:/etc/roundcube/:/usr/share/php/:/usr/share/javascript/
		local rc_version
		rc_version=$(dpkg-query -W -f='${Version}' roundcube-core 2>/dev/null || echo '?')
		say "Roundcube from the distribution (${rc_version})"
	else
		[[ ${MAILNEST_ROUNDCUBE_SHA256} =~ ^[0-9a-fA-F]{64}$ ]] ||
			die "MAILNEST_ROUNDCUBE_URL needs MAILNEST_ROUNDCUBE_SHA256 (64 hex digits)"
		RC_ROOT=${RC_RELEASES}/${MAILNEST_ROUNDCUBE_SHA256,,}
		if [[ -d ${RC_ROOT} ]]; then
			say "Roundcube release ${MAILNEST_ROUNDCUBE_SHA256:0:12} is unpacked in ${RC_ROOT}"
		else
			step "downloading Roundcube from ${MAILNEST_ROUNDCUBE_URL} (SHA-256 pinned)" fetch_release "${RC_ROOT}"
		fi
		RC_CONFIG_DIR=${RC_ROOT}/config
		RC_BIN=${RC_ROOT}/bin
		# A release brings its libraries in vendor/; the system's PHP
		# libraries stay readable for the plugins that use them.
		RC_CODE_DIRS=${RC_ROOT}/:/usr/share/php/
	fi
	# Releases since 1.5 keep what the web may see in public_html; an older
	# one is served from its root (Nginx runs only index.php and serves only
	# assets by extension either way).
	RC_PUBLIC=${RC_ROOT}/public_html
	[[ -f ${RC_PUBLIC}/index.php ]] || RC_PUBLIC=${RC_ROOT}
}

# check_php_fit PHP_VERSION: refuse a Roundcube that cannot run on this
# PHP, before it is served. Its version and PHP floor are read from its own
# iniset.php (RCMAIL_VERSION; "PHP_VERSION_ID < 80100" in 1.7).
check_php_fit() {
	local php=$1 iniset=${RC_ROOT}/program/include/iniset.php rc floor
	rc=$(sed -n "s/^define('RCMAIL_VERSION', '\([^']*\)');.*/\1/p" -- "${iniset}")
	floor=$(grep -oE 'PHP_VERSION_ID < [0-9]{5}' -- "${iniset}" | head -n 1 | grep -oE '[0-9]+$' || true)
	say "Roundcube ${rc:-?} in ${RC_ROOT}, PHP ${php}"
	if [[ -n ${floor} ]] && dpkg --compare-versions "${php}" lt "$((floor / 10000)).$((floor / 100 % 100))"; then
		die "Roundcube ${rc} needs PHP $((floor / 10000)).$((floor / 100 % 100)) or later; this system has PHP ${php}."
	fi
	# PHP 8.5 has a function array_first() of its own, which Roundcube
	# before 1.6.12 declares again: every page is a fatal error (Ubuntu
	# 26.04 ships 1.6.11 with PHP 8.5). Say so instead of installing a
	# webmail that cannot start.
	if dpkg --compare-versions "${php}" ge 8.5 && [[ ${rc} =~ ^[0-9.]+$ ]] &&
		dpkg --compare-versions "${rc}" lt 1.6.12; then
		die "Roundcube ${rc} does not run on PHP ${php} (fixed upstream in 1.6.12)." \
			"Set MAILNEST_ROUNDCUBE_URL and MAILNEST_ROUNDCUBE_SHA256 in ${MAILNEST_CONF} to a Roundcube release of 1.6.12 or later (README.md, Web) and run ./install.sh again."
	fi
}

create_database() {
	sql "CREATE DATABASE IF NOT EXISTS roundcube CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
	     GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, LOCK TABLES
	     ON roundcube.* TO 'roundcube'@'localhost';"
}

# update_schema: Roundcube's schema made or upgraded by its own tools, as
# roundcube, from / (the installer's directory may be closed to that user).
# A release's bin/initdb.sh --update makes it in an empty database and
# upgrades it otherwise; Debian's package has no initdb.sh: its
# SQL/mysql.initial.sql makes it once, then its bin/updatedb.sh upgrades it.
update_schema() {
	if [[ -f ${RC_BIN}/initdb.sh ]]; then
		(cd / && runuser -u "${USER_NAME}" -- php "${RC_BIN}/initdb.sh" --update --dir="${RC_ROOT}/SQL")
		return
	fi
	if [[ -z $(sql "SHOW TABLES FROM roundcube LIKE 'system'") ]]; then
		mariadb --protocol=socket --user=root roundcube <"${RC_ROOT}/SQL/mysql.initial.sql" || return 1
	fi
	(cd / && runuser -u "${USER_NAME}" -- php "${RC_BIN}/updatedb.sh" --package=roundcube --dir="${RC_ROOT}/SQL")
}

# ca_file: what Roundcube verifies the IMAP/SMTP certificate with: the
# certificate itself when it is self-signed (its own issuer), else the CAs.
ca_file() {
	local crt=${MAILNEST_ETC}/tls/mailnest.crt copy=${RC_CONFIG_DIR}/mailnest-server.crt
	if [[ $(openssl x509 -in "${crt}" -noout -subject -nameopt compat | cut -d= -f2-) == \
		$(openssl x509 -in "${crt}" -noout -issuer -nameopt compat | cut -d= -f2-) ]]; then
		install_if_changed "${crt}" "${copy}" root:root 0644 || true
		printf '%s\n' "${copy}"
	else
		rm -f -- "${copy}"
		printf '%s\n' /etc/ssl/certs/ca-certificates.crt
	fi
}

render_settings() {
	local changed=1
	secret_file "${RC_DES_KEY_FILE}" root:root 0600
	RC_DB_PASSWORD=$(<"${MAILNEST_SECRETS}/db-roundcube.pw")
	RC_DES_KEY=$(head -c 32 -- "${RC_DES_KEY_FILE}")
	RC_CA_FILE=$(ca_file)
	RC_ACCOUNTD_URL=http://${MAILNEST_ACCOUNTD_LISTEN}
	RC_MAX_MESSAGE_SIZE=$((MAILNEST_MESSAGE_SIZE_LIMIT * 3 / 4))
	export RC_DB_PASSWORD RC_DES_KEY RC_CA_FILE RC_ACCOUNTD_URL RC_MAX_MESSAGE_SIZE
	render roundcube/config.inc.php "${RC_CONFIG_DIR}/config.inc.php" "root:${USER_NAME}" 0640 \
		RC_DB_PASSWORD MAILNEST_HOSTNAME RC_CA_FILE MAILNEST_DOMAIN RC_MAX_MESSAGE_SIZE \
		RC_DES_KEY RC_LOG_DIR RC_TEMP_DIR RC_ACCOUNTD_URL && changed=0
	install_if_changed "${MAILNEST_TEMPLATES}/roundcube/mailnest.php" \
		"${RC_ROOT}/plugins/password/drivers/mailnest.php" root:root 0644 && changed=0
	# Our plugin that gives Dovecot the browser's address (see its file).
	install -d -o root -g root -m 0755 -- "${RC_ROOT}/plugins/mailnest_client_ip"
	install_if_changed "${MAILNEST_TEMPLATES}/roundcube/plugins/mailnest_client_ip/mailnest_client_ip.php" \
		"${RC_ROOT}/plugins/mailnest_client_ip/mailnest_client_ip.php" root:root 0644 && changed=0
	return "${changed}"
}

# divert_away FILE: keep the package's FILE under another name that its
# reader ignores (cron skips names with a dot, PHP-FPM reads only *.conf),
# so that a package upgrade neither brings it back nor asks about it.
divert_away() {
	local file=$1
	[[ -f ${file} ]] || return 0
	dpkg-divert --list "${file}" | grep -q . && return 0
	dpkg-divert --quiet --local --rename --divert "${file}.mailnest-disabled" --add "${file}"
}

render_pool() {
	local version=$1 changed=1
	RC_UPLOAD_MAX=$(((MAILNEST_MESSAGE_SIZE_LIMIT + 1048575) / 1048576))M
	RC_OPEN_BASEDIR=${RC_CODE_DIRS}:${RC_LOG_DIR}/:${RC_TEMP_DIR}/:${MAILNEST_STATE}/roundcube/:/dev/urandom
	export RC_UPLOAD_MAX RC_OPEN_BASEDIR
	install -d -m 0755 -- /run/php
	render php-fpm/mailnest-roundcube.conf "/etc/php/${version}/fpm/pool.d/mailnest-roundcube.conf" \
		root:root 0644 RC_FPM_SOCKET RC_OPEN_BASEDIR RC_LOG_DIR RC_UPLOAD_MAX RC_TEMP_DIR && changed=0
	# Debian's default pool (www-data) serves nothing here.
	if [[ -f /etc/php/${version}/fpm/pool.d/www.conf ]]; then
		divert_away "/etc/php/${version}/fpm/pool.d/www.conf" || die "cannot divert Debian's www pool away"
		changed=0
	fi
	return "${changed}"
}

render_nginx() {
	local changed=1 assets=files
	export RC_PUBLIC
	# 1.7's layout: assets only through public_html/static.php.
	[[ -f ${RC_PUBLIC}/static.php ]] && assets=static
	render "nginx/mailnest-roundcube-assets-${assets}.conf" "${NGINX_SNIPPETS}/mailnest-roundcube-assets.conf" \
		root:root 0644 NGINX_SNIPPETS RC_PUBLIC RC_FPM_SOCKET && changed=0
	render nginx/mailnest-roundcube-headers.conf "${NGINX_SNIPPETS}/mailnest-roundcube-headers.conf" \
		root:root 0644 NGINX_SNIPPETS && changed=0
	render nginx/mailnest-roundcube-php.conf "${NGINX_SNIPPETS}/mailnest-roundcube-php.conf" \
		root:root 0644 NGINX_SNIPPETS RC_PUBLIC RC_FPM_SOCKET && changed=0
	render nginx/roundcube.conf "${NGINX_APP}" root:root 0644 \
		RC_PUBLIC NGINX_SNIPPETS RC_UPLOAD_MAX && changed=0
	return "${changed}"
}

# Roundcube's clean-up (expired sessions, caches, deleted records) as its
# own user. Debian's job runs it as www-data, which cannot read the settings:
# it is diverted away (a name with a dot is ignored by cron).
install_cron() {
	divert_away "${DEBIAN_CRON}" || return 1
	write_if_changed "${CRON_FILE}" root:root 0644 <<CRON || true
# Roundcube's clean-up, written by install/71-roundcube.sh.
5,35 * * * * ${USER_NAME} php ${RC_BIN}/gc.sh >/dev/null
15 5 * * * ${USER_NAME} php ${RC_BIN}/cleandb.sh >/dev/null
CRON
}

# Log files made before Roundcube and PHP make them (with PHP-FPM's umask,
# 0644): root, the adm group and Roundcube only (0640 roundcube:adm).
# Debian's logrotate file for them would make the new files www-data's, which
# our pool cannot write: it is diverted away (logrotate skips *.disabled) and
# install/templates/logrotate-mailnest rotates them as roundcube instead.
RC_LOG_FILES=(errors.log sendmail.log userlogins.log php-errors.log)
log_files() {
	local name file
	for name in "${RC_LOG_FILES[@]}"; do
		file=${RC_LOG_DIR}/${name}
		[[ -e ${file} ]] || : >"${file}" || return 1
		chown "${USER_NAME}:adm" -- "${file}" && chmod 0640 -- "${file}" || return 1
	done
	if [[ -f /etc/logrotate.d/roundcube-core ]] && ! dpkg-divert --list /etc/logrotate.d/roundcube-core | grep -q .; then
		dpkg-divert --quiet --local --rename --divert /etc/logrotate.d/roundcube-core.disabled \
			--add /etc/logrotate.d/roundcube-core || return 1
	fi
}

# The plugin that keeps Roundcube's version out of its pages (see its file).
install_no_version_plugin() {
	local name=mailnest_no_version
	install -d -o root -g root -m 0755 -- "${RC_ROOT}/plugins/${name}"
	install_if_changed "${MAILNEST_TEMPLATES}/roundcube/plugins/${name}/${name}.php" \
		"${RC_ROOT}/plugins/${name}/${name}.php" root:root 0644 || true
}

main() {
	local version fpm_restart="" nginx_reload="" schema_tool=updatedb
	version=$(php_version)
	say "PHP ${version} with FPM"
	step "system user ${USER_NAME}, its temp and log directories" ensure_user
	choose_source
	check_php_fit "${version}"
	[[ -f ${RC_BIN}/initdb.sh ]] && schema_tool=initdb
	step "the plugin that keeps Roundcube's version out of its pages" install_no_version_plugin
	step "database roundcube and the rights of its user" create_database
	if render_settings; then
		say "wrote ${RC_CONFIG_DIR}/config.inc.php and the password driver"
		fpm_restart=reload
	fi
	step "Roundcube's database schema, by its own tools (bin/${schema_tool}.sh)" update_schema
	render_pool "${version}" && fpm_restart=restart
	step "checking PHP-FPM's configuration (php-fpm${version} -t)" "php-fpm${version}" -t
	# OPcache re-reads changed files (validate_timestamps): a reload is enough.
	service_converge "php${version}-fpm" "${fpm_restart}"
	if render_nginx; then
		say "wrote ${NGINX_APP}"
		nginx_reload=reload
	fi
	step "checking Nginx's configuration (nginx -t)" nginx -t -q
	service_converge nginx "${nginx_reload}"
	step "Roundcube's clean-up job, as ${USER_NAME}" install_cron
	step "Roundcube's log files, 0640 ${USER_NAME}:adm" log_files
	say "Roundcube answers at https://${MAILNEST_HOSTNAME}/mail/"
}

main "$@"
