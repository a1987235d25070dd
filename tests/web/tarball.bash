# shellcheck shell=bash
# Helpers of tests/web/tarball.bats and tarball17.bats: a host of their own
# (TARBALL_HOST at TARBALL_IP, set by the file before loading this) in which
# a release tarball is built (tests/lib/roundcube-release) and served from
# /srv/releases by python3 -m http.server on the host's loopback, and the
# installer run with the pinned-tarball settings.
# shellcheck disable=SC2154 # WEB_* come from tests/web/run

# shellcheck source=tests/lib/nshost.bash
source "${WEB_REPO}/tests/lib/nshost.bash"
# shellcheck source=tests/lib/wait.bash
source "${WEB_REPO}/tests/lib/wait.bash"

in_host() {
	nshost_exec "${TARBALL_HOST}" "$@"
}

# build_and_serve LAYOUT NAME PORT: the release NAME.tar.gz of LAYOUT (1.6,
# 1.7) from Debian's installation, served at http://127.0.0.1:PORT/.
build_and_serve() {
	local layout=$1 name=$2 port=$3
	in_host "${WEB_REPO}/tests/lib/roundcube-release" "${layout}" / "/srv/releases/${name}.tar.gz"
	# shellcheck disable=SC2016 # expanded by the host's shell
	in_host bash -c 'cd /srv/releases &&
		setsid python3 -m http.server "$1" --bind 127.0.0.1 </dev/null >/srv/http.log 2>&1 &' sh "${port}"
	wait_until 10 in_host curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${port}/${name}.tar.gz"
}

# settings URL SHA256: the two settings in the host's mailnest.conf.
settings() {
	in_host bash -c "mkdir -p /etc/mailnest && touch /etc/mailnest/mailnest.conf &&
		sed -i '/^MAILNEST_ROUNDCUBE_/d' /etc/mailnest/mailnest.conf &&
		printf 'MAILNEST_ROUNDCUBE_URL=%s\nMAILNEST_ROUNDCUBE_SHA256=%s\n' '$1' '$2' >>/etc/mailnest/mailnest.conf"
}

# https PATH [curl args...]: a request to the host's Nginx by the mail name,
# its certificate verified.
https() {
	local path=$1
	shift
	curl -sS --max-time 20 --cacert "${BATS_FILE_TMPDIR}/crt" \
		--resolve "${WEB_HOSTNAME}:443:${TARBALL_IP}" "$@" "https://${WEB_HOSTNAME}${path}"
}

# webmail_login: a new account logs in to Roundcube at /mail/ (302 to the
# mail task), with its cookies in BATS_FILE_TMPDIR/jar.
webmail_login() {
	local jar=${BATS_FILE_TMPDIR}/jar user password token
	user=u$(openssl rand -hex 5)
	password=Pw-$(openssl rand -hex 8)
	in_host "${WEB_REPO}/tests/web/helper" create-account "${user}" "${password}" >/dev/null || return 1
	token=$(https /mail/ -c "${jar}" | sed -n 's/.*name="_token" value="\([^"]*\)".*/\1/p' | head -n 1)
	[[ -n ${token} ]] || { echo "no login token on /mail/"; return 1; }
	https '/mail/?_task=login' -b "${jar}" -c "${jar}" -o /dev/null -w '%{http_code} %{redirect_url}' \
		--data-urlencode "_token=${token}" --data '_task=login&_action=login&_timezone=UTC' \
		--data-urlencode "_user=${user}" --data-urlencode "_pass=${password}"
}

# wrong_checksum_is_refused: the installer, given SHA (the served release's
# checksum) with one digit changed, refuses the release before unpacking
# anything, and serves no webmail from it.
wrong_checksum_is_refused() {
	local wrong
	wrong=$(printf '%s' "${SHA}" | tr '0-9a-f' '1-9a-f0')
	settings "${TARBALL_URL}" "${wrong}"
	run in_host "${WEB_REPO}/install.sh"
	assert_failure
	assert_output --partial "SHA-256 mismatch"
	assert_output --partial "refusing it"
	refute_output --partial "Roundcube answers at"
	run in_host bash -c 'ls -A /opt/mailnest/roundcube 2>/dev/null'
	assert_output ""
}
