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

in_host() {
	nshost_exec "${TARBALL_HOST}" "$@"
}

# The release, built in the host from Debian's installation (see
# tests/lib/roundcube-release), and served on its loopback.
build_release() {
	in_host "${WEB_REPO}/tests/lib/roundcube-release" 1.6 / /srv/releases/roundcubemail-9.9.9-mailnest-test.tar.gz
	# shellcheck disable=SC2016 # expanded by the host's shell
	in_host bash -c 'cd /srv/releases &&
		setsid python3 -m http.server 8631 --bind 127.0.0.1 </dev/null >/srv/http.log 2>&1 &'
	wait_for_http
}

http_answers() {
	in_host curl -fsS -o /dev/null --max-time 2 "${TARBALL_URL}"
}

wait_for_http() {
	local i
	for ((i = 0; i < 50; i++)); do
		http_answers && return 0
		sleep 0.2
	done
	return 1
}

# settings URL SHA256: the two settings in mailnest.conf (install.sh keeps
# unknown-to-it values out; these two it knows).
settings() {
	in_host bash -c "mkdir -p /etc/mailnest && touch /etc/mailnest/mailnest.conf &&
		sed -i '/^MAILNEST_ROUNDCUBE_/d' /etc/mailnest/mailnest.conf &&
		printf 'MAILNEST_ROUNDCUBE_URL=%s\nMAILNEST_ROUNDCUBE_SHA256=%s\n' '$1' '$2' >>/etc/mailnest/mailnest.conf"
}

https() {
	local path=$1
	shift
	curl -sS --max-time 20 --cacert "${BATS_FILE_TMPDIR}/crt" \
		--resolve "${WEB_HOSTNAME}:443:${TARBALL_IP}" "$@" "https://${WEB_HOSTNAME}${path}"
}

setup_file() {
	# shellcheck source=tests/lib/nshost.bash
	source "${WEB_REPO}/tests/lib/nshost.bash"
	nshost_up "${TARBALL_HOST}" "${TARBALL_IP}"
	build_release
}

teardown_file() {
	# shellcheck source=tests/lib/nshost.bash
	source "${WEB_REPO}/tests/lib/nshost.bash"
	nshost_down "${TARBALL_HOST}"
}

setup() {
	# shellcheck source=tests/lib/nshost.bash
	source "${WEB_REPO}/tests/lib/nshost.bash"
	SHA=$(in_host sha256sum /srv/releases/roundcubemail-9.9.9-mailnest-test.tar.gz | cut -d' ' -f1)
}

@test "tarball: a release whose SHA-256 differs from the pinned one is refused, nothing unpacked" {
	local wrong
	wrong=$(printf '%s' "${SHA}" | tr '0-9a-f' '1-9a-f0')
	settings "${TARBALL_URL}" "${wrong}"
	run in_host "${WEB_REPO}/install.sh"
	assert_failure
	assert_output --partial "SHA-256 mismatch"
	assert_output --partial "refusing it"
	run in_host bash -c 'ls -A /opt/mailnest/roundcube 2>/dev/null'
	assert_output ""
	refute_output --partial "Roundcube answers at"
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
	local jar=${BATS_FILE_TMPDIR}/jar user password token
	user=u$(openssl rand -hex 5)
	password=Pw-$(openssl rand -hex 8)
	in_host "${WEB_REPO}/tests/web/helper" create-account "${user}" "${password}"
	token=$(https /mail/ -c "${jar}" | sed -n 's/.*name="_token" value="\([^"]*\)".*/\1/p' | head -n 1)
	[[ -n ${token} ]] || fail "no login token on /mail/"
	run https '/mail/?_task=login' -b "${jar}" -c "${jar}" -o /dev/null -w '%{http_code} %{redirect_url}' \
		--data-urlencode "_token=${token}" --data '_task=login&_action=login&_timezone=UTC' \
		--data-urlencode "_user=${user}" --data-urlencode "_pass=${password}"
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
