#!/usr/bin/env bats
# Issue 13: Roundcube 1.7's layout from a pinned release tarball
# (MAILNEST_ROUNDCUBE_URL + MAILNEST_ROUNDCUBE_SHA256). 1.7 keeps only
# index.php and static.php in public_html/, serves every asset through
# static.php, and makes its schema with bin/initdb.sh. The tests cannot
# download a release: tests/lib/roundcube-release lays the Roundcube files of
# the machine (Debian's 1.6 code) out in 1.7's form, with stand-ins for
# static.php and initdb.sh, in the test's own host (web4), where python3 -m
# http.server serves it on loopback. Checked: a wrong checksum refused before
# anything is unpacked; with the right one a login over HTTPS at /mail/,
# assets through static.php and nothing else of the release reachable
# (config/, temp/, logs/, SQL/, bin/, installer/, vendor/), the schema made by
# the release's own tool; a release that needs a newer PHP refused; a second
# run changes nothing. (WEB_TARBALL17_HOST and WEB_TARBALL17_IP choose
# another host name and address.)
# Set by tests/web/run: WEB_HOSTNAME, WEB_REPO, WEB_ARTIFACTS.

# shellcheck disable=SC2154 # WEB_* come from tests/web/run
bats_load_library bats-support
bats_load_library bats-assert

TARBALL_HOST=${WEB_TARBALL17_HOST:-web4}
TARBALL_IP=${WEB_TARBALL17_IP:-10.231.0.53}
RELEASE=roundcubemail-1.7.99-mailnest-test
TARBALL_URL=http://127.0.0.1:8632/${RELEASE}.tar.gz
load tarball

status_of() {
	https "$1" -o /dev/null -w '%{http_code}' "${@:2}"
}

# snapshot: what a run of the installer could change for Roundcube.
snapshot() {
	in_host bash -c 'find /etc/nginx /etc/php /opt/mailnest/roundcube /etc/cron.d -type f -print0 |
		sort -z | xargs -0 sha256sum; pgrep -x nginx; pgrep -f "php-fpm: master"'
}

setup_file() {
	nshost_up "${TARBALL_HOST}" "${TARBALL_IP}"
	build_and_serve 1.7 "${RELEASE}" 8632
}

teardown_file() {
	nshost_down "${TARBALL_HOST}"
}

setup() {
	SHA=$(in_host sha256sum "/srv/releases/${RELEASE}.tar.gz" | cut -d' ' -f1)
	ROOT=/opt/mailnest/roundcube/${SHA}
}

@test "1.7 tarball: a wrong SHA-256 is refused before anything is unpacked" {
	wrong_checksum_is_refused
}

@test "1.7 tarball: installed from public_html/, schema made by its bin/initdb.sh, a login over HTTPS at /mail/" {
	settings "${TARBALL_URL}" "${SHA}"
	run in_host "${WEB_REPO}/install.sh"
	assert_success
	assert_output --partial "downloading Roundcube from ${TARBALL_URL} (SHA-256 pinned) ... done"
	assert_output --partial "database schema, by its own tools (bin/initdb.sh) ... done"
	in_host cat /etc/mailnest/tls/mailnest.crt >"${BATS_FILE_TMPDIR}/crt"

	run in_host grep -F "alias ${ROOT}/public_html/;" /etc/nginx/mailnest.d/roundcube.conf
	assert_success
	run in_host grep -F "fastcgi_param SCRIPT_FILENAME ${ROOT}/public_html/static.php;" \
		/etc/nginx/snippets/mailnest-roundcube-assets.conf
	assert_success
	run in_host stat -c '%U:%G %a' "${ROOT}/config/config.inc.php"
	assert_output "root:roundcube 640"
	# The schema is there, made as roundcube, with the release's version.
	run in_host mariadb -N roundcube -e "SELECT value FROM system WHERE name = 'roundcube-version'"
	assert_success
	assert_output --regexp '^[0-9]{10}$'

	local jar=${BATS_FILE_TMPDIR}/jar
	run webmail_login
	assert_output --regexp '^302 .*_task=mail'
	run https '/mail/?_task=mail&_mbox=INBOX' -b "${jar}" -o /dev/null -w '%{http_code}'
	assert_output 200
}

@test "1.7 tarball: assets come through static.php only (GET and HEAD), with their type" {
	run https /mail/static.php/skins/elastic/mailnest-marker.css -D "${BATS_TEST_TMPDIR}/headers"
	assert_output --partial "mailnest-tarball-marker"
	run grep -i '^content-type: text/css' "${BATS_TEST_TMPDIR}/headers"
	assert_success
	run status_of /mail/static.php/program/js/app.min.js
	assert_output 200
	run status_of /mail/static.php/plugins/password/password.min.js -I
	assert_output 200
	# Not as files, and no other method.
	run status_of /mail/skins/elastic/mailnest-marker.css
	assert_output 404
	run status_of /mail/static.php/skins/elastic/mailnest-marker.css -X POST
	assert_output 403
}

@test "1.7 tarball: config/, temp/, logs/, SQL/, bin/, installer/, vendor/ are never reachable" {
	local path code
	in_host bash -c "echo secret >${ROOT}/temp/secret.txt; echo secret >${ROOT}/logs/secret.log"
	for path in config/config.inc.php config/ temp/secret.txt logs/secret.log SQL/mysql.initial.sql \
		bin/initdb.sh installer/ installer/index.php installer.php vendor/autoload.php composer.json \
		public_html/index.php index.php/../config/config.inc.php \
		static.php/config/config.inc.php static.php/temp/secret.txt static.php/logs/secret.log \
		static.php/SQL/mysql.initial.sql static.php/bin/initdb.sh static.php/composer.json \
		static.php/program/include/iniset.php static.php/skins/elastic/templates/login.html \
		'static.php/skins/../config/config.inc.php' 'static.php/skins/%2e%2e/config/config.inc.php'; do
		code=$(status_of "/mail/${path}")
		[[ ${code} == 404 ]] || fail "/mail/${path} answered ${code}, not 404"
	done
	run https /mail/static.php/config/config.inc.php
	refute_output --partial "db_dsnw"
}

@test "1.7 tarball: a second run neither downloads nor changes anything" {
	settings "${TARBALL_URL}" "${SHA}"
	local before after
	before=$(snapshot)
	run in_host "${WEB_REPO}/install.sh"
	assert_success
	assert_output --partial "is unpacked in ${ROOT}"
	refute_output --partial "downloading Roundcube"
	refute_output --partial "reloading nginx"
	after=$(snapshot)
	[[ ${before} == "${after}" ]] || fail "$(diff <(printf '%s\n' "${before}") <(printf '%s\n' "${after}"))"
}

@test "1.7 tarball: a release that needs a newer PHP than the system's is refused before it is served" {
	local sha
	# shellcheck disable=SC2016 # expanded by the host's shell
	in_host bash -c '
		set -eu
		d=$(mktemp -d) && cd "${d}"
		tar -xzf "/srv/releases/$1.tar.gz"
		sed -i -E "s/PHP_VERSION_ID < [0-9]{5}/PHP_VERSION_ID < 99900/" "$1/program/include/iniset.php"
		tar -czf /srv/releases/needs-php-99.tar.gz "$1"
		rm -rf "${d}"' sh "${RELEASE}"
	sha=$(in_host sha256sum /srv/releases/needs-php-99.tar.gz | cut -d' ' -f1)
	settings http://127.0.0.1:8632/needs-php-99.tar.gz "${sha}"
	run in_host "${WEB_REPO}/install.sh"
	assert_failure
	assert_output --partial "needs PHP 9.99 or later"
	refute_output --partial "Roundcube answers at"
	# What is served is still the release before.
	run in_host grep -F "alias ${ROOT}/public_html/;" /etc/nginx/mailnest.d/roundcube.conf
	assert_success
	settings "${TARBALL_URL}" "${SHA}"
}
