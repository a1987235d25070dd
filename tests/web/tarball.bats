#!/usr/bin/env bats
# Issue 5: Roundcube from an upstream-style release tarball instead of the
# distribution's package (MAILNEST_ROUNDCUBE_URL + MAILNEST_ROUNDCUBE_SHA256).
# The test builds the tarball itself inside its own host (web3), laid out as
# an upstream 1.6 release (public_html/, program/, bin/, SQL/, installer/,
# its own config/), from the Roundcube files on the machine
# (tests/lib/roundcube-release), and serves it with python3 -m http.server
# on the host's loopback. A wrong checksum must stop the installer before
# anything is unpacked; the right one must give a working webmail at /mail/
# served from the release. (WEB_TARBALL_HOST and WEB_TARBALL_IP choose
# another host name and address.)
# Set by tests/web/run: WEB_HOSTNAME, WEB_REPO, WEB_ARTIFACTS.

# shellcheck disable=SC2154 # WEB_* come from tests/web/run
bats_load_library bats-support
bats_load_library bats-assert

TARBALL_HOST=${WEB_TARBALL_HOST:-web3}
TARBALL_IP=${WEB_TARBALL_IP:-10.231.0.52}
TARBALL_URL=http://127.0.0.1:8631/roundcubemail-9.9.9-mailnest-test.tar.gz
load tarball

setup_file() {
	nshost_up "${TARBALL_HOST}" "${TARBALL_IP}"
	build_and_serve 1.6 roundcubemail-9.9.9-mailnest-test 8631
}

teardown_file() {
	nshost_down "${TARBALL_HOST}"
}

setup() {
	SHA=$(in_host sha256sum /srv/releases/roundcubemail-9.9.9-mailnest-test.tar.gz | cut -d' ' -f1)
}

@test "tarball: a release whose SHA-256 differs from the pinned one is refused, nothing unpacked" {
	wrong_checksum_is_refused
}

@test "tarball: with the right SHA-256 Roundcube runs from the release at /mail/" {
	settings "${TARBALL_URL}" "${SHA}"
	run in_host "${WEB_REPO}/install.sh"
	assert_success
	assert_output --partial "downloading Roundcube from ${TARBALL_URL} (SHA-256 pinned) ... done"
	in_host cat /etc/mailnest/tls/mailnest.crt >"${BATS_FILE_TMPDIR}/crt"

	run in_host grep -F "alias /opt/mailnest/roundcube/${SHA}/public_html/;" /etc/nginx/mailnest.d/roundcube.conf
	assert_success
	run in_host stat -c '%U:%G %a' "/opt/mailnest/roundcube/${SHA}/config/config.inc.php"
	assert_output "root:roundcube 640"
	run https /mail/skins/elastic/mailnest-marker.css
	assert_output --partial "mailnest-tarball-marker"
	run https /mail/installer/ -o /dev/null -w '%{http_code}'
	assert_output 404

	# A real login through the release's Roundcube (IMAP over verified TLS).
	run webmail_login
	assert_output --regexp '^302 .*_task=mail'
}

@test "tarball: a second run neither downloads nor changes anything" {
	settings "${TARBALL_URL}" "${SHA}"
	run in_host "${WEB_REPO}/install.sh"
	assert_success
	assert_output --partial "is unpacked in /opt/mailnest/roundcube/${SHA}"
	refute_output --partial "downloading Roundcube"
	refute_output --partial "reloading nginx"
}
